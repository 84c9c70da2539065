//! The server port's plain HTTP: request heads, routing, `/healthz` and
//! `/metrics`. Pure functions over bytes, so every case is unit-tested.

use std::fmt::Write as _;

use tcpws_protocol::Stats;

use crate::handle::Status;

/// The largest request head we read; a longer one is answered with 431.
pub(crate) const MAX_HEAD: usize = 8 * 1024;

/// A parsed HTTP/1.x request head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RequestHead {
    pub(crate) method: String,
    pub(crate) target: String,
    headers: Vec<(String, String)>,
}

impl RequestHead {
    /// The first header named `name` (case-insensitive), trimmed.
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The target without its query string.
    pub(crate) fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or("")
    }

    /// Whether a comma-separated header lists `token` (case-insensitive).
    fn header_has_token(&self, name: &str, token: &str) -> bool {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .flat_map(|(_, v)| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    }
}

/// Why bytes are not a request head we accept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum HeadError {
    /// No end of head within [`MAX_HEAD`] bytes.
    TooLarge,
    /// Not HTTP/1.x; the text says what is wrong.
    Malformed(&'static str),
}

impl std::fmt::Display for HeadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HeadError::TooLarge => write!(f, "request head longer than {MAX_HEAD} bytes"),
            HeadError::Malformed(why) => write!(f, "not an HTTP request: {why}"),
        }
    }
}

/// Parses the request head at the start of `buf`.
///
/// `Ok(None)`: incomplete, read more (nothing is consumed). `Ok(Some((head,
/// len)))`: the head took `len` bytes, including its blank line; bytes after
/// it belong to the connection (e.g. early WebSocket frames). Garbage is
/// reported as soon as it is seen, without waiting for more bytes.
pub(crate) fn parse_head(buf: &[u8]) -> Result<Option<(RequestHead, usize)>, HeadError> {
    if buf.first() == Some(&0x16) {
        return Err(HeadError::Malformed(
            "looks like a TLS handshake on a plain port",
        ));
    }
    let end = find_head_end(buf);
    let head_bytes = match end {
        Some(end) => &buf[..end],
        None => {
            let scan = &buf[..buf.len().min(MAX_HEAD)];
            check_bytes(scan)?;
            check_partial_request_line(scan)?;
            if buf.len() >= MAX_HEAD {
                return Err(HeadError::TooLarge);
            }
            return Ok(None);
        }
    };
    let consumed = head_bytes.len() + head_terminator_len(buf, head_bytes.len());
    if consumed > MAX_HEAD {
        return Err(HeadError::TooLarge);
    }
    check_bytes(head_bytes)?;
    // Only visible ASCII, tabs and line ends remain, so this is valid UTF-8.
    let text = std::str::from_utf8(head_bytes).map_err(|_| HeadError::Malformed("not UTF-8"))?;
    let mut lines = text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
    let request_line = lines.next().unwrap_or("");
    let mut parts = request_line.split(' ');
    let (method, target, version) = match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(m), Some(t), Some(v), None) => (m, t, v),
        _ => return Err(HeadError::Malformed("bad request line")),
    };
    if method.is_empty() || !method.bytes().all(is_token_byte) {
        return Err(HeadError::Malformed("bad method"));
    }
    if !target.starts_with('/') {
        return Err(HeadError::Malformed("bad request target"));
    }
    if version != "HTTP/1.1" && version != "HTTP/1.0" {
        return Err(HeadError::Malformed("not HTTP/1.0 or HTTP/1.1"));
    }
    let mut headers = Vec::new();
    for line in lines.filter(|l| !l.is_empty()) {
        let (name, value) = line
            .split_once(':')
            .ok_or(HeadError::Malformed("header line without a colon"))?;
        if name.is_empty() || !name.bytes().all(is_token_byte) {
            return Err(HeadError::Malformed("bad header name"));
        }
        headers.push((name.to_string(), value.trim().to_string()));
    }
    Ok(Some((
        RequestHead {
            method: method.to_string(),
            target: target.to_string(),
            headers,
        },
        consumed,
    )))
}

/// Where the head ends: the index of the line end that precedes the blank
/// line (CRLF CRLF, or bare LF LF as lenient servers accept).
fn find_head_end(buf: &[u8]) -> Option<usize> {
    let mut i = 0;
    while i < buf.len() {
        if buf[i] == b'\n' {
            let rest = &buf[i + 1..];
            if rest.starts_with(b"\r\n") || rest.starts_with(b"\n") {
                return Some(if i > 0 && buf[i - 1] == b'\r' {
                    i - 1
                } else {
                    i
                });
            }
        }
        i += 1;
    }
    None
}

/// How many bytes the line ends at `end` take (the last header's end plus
/// the blank line).
fn head_terminator_len(buf: &[u8], end: usize) -> usize {
    let mut n = 0;
    for _ in 0..2 {
        if buf.get(end + n) == Some(&b'\r') {
            n += 1;
        }
        if buf.get(end + n) == Some(&b'\n') {
            n += 1;
        }
    }
    n
}

fn check_bytes(bytes: &[u8]) -> Result<(), HeadError> {
    let ok = |b: u8| matches!(b, b'\t' | b'\r' | b'\n' | 0x20..=0x7e);
    if bytes.iter().all(|&b| ok(b)) {
        Ok(())
    } else {
        Err(HeadError::Malformed("binary bytes in the request head"))
    }
}

/// Rejects a request line that cannot become valid, before its end arrives.
fn check_partial_request_line(buf: &[u8]) -> Result<(), HeadError> {
    let line_end = buf.iter().position(|&b| b == b'\r' || b == b'\n');
    let line = &buf[..line_end.unwrap_or(buf.len())];
    let method_len = line.iter().position(|&b| b == b' ').unwrap_or(line.len());
    if !line[..method_len].iter().all(|&b| is_token_byte(b)) {
        return Err(HeadError::Malformed("bad method"));
    }
    if line_end.is_some() && line.iter().filter(|&&b| b == b' ').count() != 2 {
        return Err(HeadError::Malformed("bad request line"));
    }
    Ok(())
}

fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// What to do with a complete request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Route {
    Health,
    Metrics,
    /// A valid WebSocket upgrade on our path, with its `Sec-WebSocket-Key`.
    Upgrade {
        key: String,
    },
    /// Answer with this status and close; `why` goes to the log and the body.
    Reject {
        status: u16,
        why: String,
    },
}

/// Routes a request for a server whose WebSocket lives at `ws_path`.
pub(crate) fn route(head: &RequestHead, ws_path: &str) -> Route {
    let path = head.path();
    let wants_upgrade = head.header_has_token("Upgrade", "websocket");
    if path == ws_path && (wants_upgrade || !matches!(path, "/healthz" | "/metrics")) {
        return route_upgrade(head);
    }
    if head.method != "GET" {
        return Route::Reject {
            status: 405,
            why: format!("method {} is not allowed", head.method),
        };
    }
    match path {
        "/healthz" => Route::Health,
        "/metrics" => Route::Metrics,
        _ => Route::Reject {
            status: 404,
            why: format!("no such path: {}", head.target),
        },
    }
}

fn route_upgrade(head: &RequestHead) -> Route {
    let reject = |why: &str| Route::Reject {
        status: 400,
        why: why.to_string(),
    };
    if head.method != "GET" {
        return reject("a WebSocket upgrade must be a GET");
    }
    if !head.header_has_token("Upgrade", "websocket") {
        return reject("expected a WebSocket upgrade (Upgrade: websocket)");
    }
    if !head.header_has_token("Connection", "upgrade") {
        return reject("expected Connection: Upgrade");
    }
    if head.header("Sec-WebSocket-Version") != Some("13") {
        return reject("unsupported Sec-WebSocket-Version (need 13)");
    }
    match head.header("Sec-WebSocket-Key") {
        Some(key) if !key.is_empty() => Route::Upgrade {
            key: key.to_string(),
        },
        _ => reject("missing Sec-WebSocket-Key"),
    }
}

/// A complete HTTP/1.1 response that closes the connection.
pub(crate) fn response(status: u16, content_type: &str, body: &str) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 {status} {}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
         Cache-Control: no-store\r\nConnection: close\r\n\r\n",
        reason_phrase(status),
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(body.as_bytes());
    out
}

/// A plain-text error response whose body is `why`.
pub(crate) fn error_response(status: u16, why: &str) -> Vec<u8> {
    response(status, "text/plain; charset=utf-8", &format!("{why}\n"))
}

/// The 101 answer to a WebSocket upgrade with this `Sec-WebSocket-Key`.
pub(crate) fn upgrade_response(key: &str) -> Vec<u8> {
    let accept = tungstenite::handshake::derive_accept_key(key.as_bytes());
    format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {accept}\r\n\r\n"
    )
    .into_bytes()
}

fn reason_phrase(status: u16) -> &'static str {
    match status {
        101 => "Switching Protocols",
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        431 => "Request Header Fields Too Large",
        503 => "Service Unavailable",
        _ => "Error",
    }
}

/// The `/healthz` body: "ok", this node's role and who it believes is active.
pub(crate) fn healthz_body(status: &Status) -> String {
    let active = match status.active {
        Some(client) => client.to_string(),
        None => "none".to_string(),
    };
    format!("ok\nrole {}\nactive {active}\n", status.role)
}

/// The `/metrics` body in the Prometheus text format (version 0.0.4).
/// `listen_names[i]` labels `status.listening[i]`.
pub(crate) fn render_metrics(status: &Status, listen_names: &[String]) -> String {
    let mut out = String::new();
    let active = status.active.map_or(0, |c| u64::from(c.number()));
    gauge(
        &mut out,
        "tcpws_active_client",
        "The client this node believes is active (1 or 2; 0 for none).",
        active,
    );
    gauge(
        &mut out,
        "tcpws_epoch",
        "The election epoch of that belief.",
        status.epoch,
    );
    gauge(
        &mut out,
        "tcpws_links_up",
        "WebSocket links open at the runtime.",
        status.links_up as u64,
    );
    out.push_str("# HELP tcpws_listening Whether the listen socket of each tunnel is bound.\n");
    out.push_str("# TYPE tcpws_listening gauge\n");
    for (i, &listening) in status.listening.iter().enumerate() {
        let name = listen_names.get(i).map_or("", String::as_str);
        let _ = writeln!(
            out,
            "tcpws_listening{{tunnel=\"{}\"}} {}",
            escape_label(name),
            u8::from(listening)
        );
    }
    render_stats(&mut out, &status.stats);
    out
}

/// Every [`Stats`] field: gauges keep their name, counters get `_total`.
/// `Stats::links_up` (links past their hello) is exported as
/// `tcpws_links_established` so it does not clash with the runtime's
/// `tcpws_links_up`.
fn render_stats(out: &mut String, s: &Stats) {
    let Stats {
        links_up,
        sessions,
        streams,
        conns,
        bytes_from_apps,
        bytes_to_apps,
        bytes_buffered,
        streams_opened,
        opens_refused,
        streams_reset,
        resumes,
        sessions_ended,
        switches,
        failovers,
        handovers,
        protocol_errors,
    } = *s;
    let gauges: [(&str, &str, u64); 5] = [
        (
            "tcpws_links_established",
            "WebSocket links that completed their hello.",
            links_up,
        ),
        (
            "tcpws_sessions",
            "Sessions alive (connected or within their resume grace).",
            sessions,
        ),
        ("tcpws_streams", "Streams alive in all sessions.", streams),
        (
            "tcpws_conns",
            "Local TCP connections the protocol tracks.",
            conns,
        ),
        (
            "tcpws_bytes_buffered",
            "Bytes held in send and receive buffers.",
            bytes_buffered,
        ),
    ];
    for (name, help, value) in gauges {
        gauge(out, name, help, value);
    }
    let counters: [(&str, &str, u64); 11] = [
        (
            "tcpws_bytes_from_apps_total",
            "Bytes taken from local TCP connections.",
            bytes_from_apps,
        ),
        (
            "tcpws_bytes_to_apps_total",
            "Bytes handed to local TCP connections.",
            bytes_to_apps,
        ),
        (
            "tcpws_streams_opened_total",
            "Streams opened.",
            streams_opened,
        ),
        (
            "tcpws_opens_refused_total",
            "Stream opens refused.",
            opens_refused,
        ),
        (
            "tcpws_streams_reset_total",
            "Streams reset by either side.",
            streams_reset,
        ),
        (
            "tcpws_resumes_total",
            "Sessions that continued on a new link.",
            resumes,
        ),
        (
            "tcpws_sessions_ended_total",
            "Sessions ended.",
            sessions_ended,
        ),
        (
            "tcpws_switches_total",
            "Active-client changes caused by first data on a standby.",
            switches,
        ),
        (
            "tcpws_failovers_total",
            "Active-client changes caused by the active client's loss.",
            failovers,
        ),
        (
            "tcpws_handovers_total",
            "Active-client changes caused by the active client's planned stop.",
            handovers,
        ),
        (
            "tcpws_protocol_errors_total",
            "Links closed for a protocol violation.",
            protocol_errors,
        ),
    ];
    for (name, help, value) in counters {
        metric(out, name, help, "counter", value);
    }
}

fn gauge(out: &mut String, name: &str, help: &str, value: u64) {
    metric(out, name, help, "gauge", value);
}

fn metric(out: &mut String, name: &str, help: &str, kind: &str, value: u64) {
    let _ = write!(
        out,
        "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}\n"
    );
}

fn escape_label(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use tcpws_protocol::{ClientId, Role};

    const UPGRADE: &[u8] = b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n\
        Connection: keep-alive, Upgrade\r\nSec-WebSocket-Version: 13\r\n\
        Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";

    #[test]
    fn complete_head_parses_and_reports_its_length() {
        let mut bytes = UPGRADE.to_vec();
        bytes.extend_from_slice(b"\x82\x00");
        let (head, len) = parse_head(&bytes).unwrap().unwrap();
        assert_eq!(len, UPGRADE.len());
        assert_eq!(head.method, "GET");
        assert_eq!(head.target, "/ws");
        assert_eq!(head.header("upgrade"), Some("websocket"));
        assert_eq!(
            head.header("sec-websocket-key"),
            Some("dGhlIHNhbXBsZSBub25jZQ==")
        );
    }

    #[test]
    fn bare_lf_heads_are_accepted() {
        let (head, len) = parse_head(b"GET /healthz HTTP/1.0\nHost: x\n\nrest")
            .unwrap()
            .unwrap();
        assert_eq!(head.path(), "/healthz");
        assert_eq!(len, "GET /healthz HTTP/1.0\nHost: x\n\n".len());
    }

    #[test]
    fn every_prefix_of_a_head_is_incomplete() {
        for n in 0..UPGRADE.len() {
            assert_eq!(parse_head(&UPGRADE[..n]), Ok(None), "prefix of {n} bytes");
        }
    }

    #[test]
    fn oversize_head_is_refused() {
        let mut bytes = b"GET / HTTP/1.1\r\n".to_vec();
        while bytes.len() < MAX_HEAD {
            bytes.extend_from_slice(
                b"X-Filler: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n",
            );
        }
        assert_eq!(parse_head(&bytes), Err(HeadError::TooLarge));
        bytes.extend_from_slice(b"\r\n");
        assert_eq!(parse_head(&bytes), Err(HeadError::TooLarge));
    }

    #[test]
    fn garbage_is_refused_as_soon_as_seen() {
        assert!(matches!(
            parse_head(b"\x16\x03\x01\x02"),
            Err(HeadError::Malformed(_))
        ));
        assert!(matches!(
            parse_head(b"\x00\x01garbage"),
            Err(HeadError::Malformed(_))
        ));
        assert!(matches!(parse_head(b"GE{T"), Err(HeadError::Malformed(_))));
        assert!(matches!(
            parse_head(b"hello there\r\n"),
            Err(HeadError::Malformed(_))
        ));
        assert!(matches!(
            parse_head(b"GET / HTTP/2\r\n\r\n"),
            Err(HeadError::Malformed(_))
        ));
        assert!(matches!(
            parse_head(b"GET / HTTP/1.1\r\nno colon here\r\n\r\n"),
            Err(HeadError::Malformed(_))
        ));
        assert!(matches!(
            parse_head(b"GET nothing HTTP/1.1\r\n\r\n"),
            Err(HeadError::Malformed(_))
        ));
    }

    #[test]
    fn routes_upgrade_health_metrics_and_the_rest() {
        let head = |b: &[u8]| parse_head(b).unwrap().unwrap().0;
        assert_eq!(
            route(&head(UPGRADE), "/ws"),
            Route::Upgrade {
                key: "dGhlIHNhbXBsZSBub25jZQ==".into()
            }
        );
        assert!(matches!(
            route(&head(UPGRADE), "/other"),
            Route::Reject { status: 404, .. }
        ));
        assert_eq!(
            route(&head(b"GET /healthz HTTP/1.1\r\n\r\n"), "/"),
            Route::Health
        );
        assert_eq!(
            route(&head(b"GET /metrics?x=1 HTTP/1.1\r\n\r\n"), "/"),
            Route::Metrics
        );
        assert!(matches!(
            route(&head(b"GET / HTTP/1.1\r\n\r\n"), "/"),
            Route::Reject { status: 400, .. }
        ));
        assert!(matches!(
            route(&head(b"POST /healthz HTTP/1.1\r\n\r\n"), "/"),
            Route::Reject { status: 405, .. }
        ));
        assert!(matches!(
            route(&head(b"GET /nope HTTP/1.1\r\n\r\n"), "/"),
            Route::Reject { status: 404, .. }
        ));
        let no_key = b"GET / HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
            Sec-WebSocket-Version: 13\r\n\r\n";
        assert!(matches!(
            route(&head(no_key), "/"),
            Route::Reject { status: 400, .. }
        ));
    }

    #[test]
    fn upgrade_response_carries_the_rfc_accept_key() {
        let text = String::from_utf8(upgrade_response("dGhlIHNhbXBsZSBub25jZQ==")).unwrap();
        assert!(text.starts_with("HTTP/1.1 101 Switching Protocols\r\n"));
        assert!(text.contains("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"));
        assert!(text.ends_with("\r\n\r\n"));
    }

    #[test]
    fn responses_have_length_and_close() {
        let text = String::from_utf8(response(200, "text/plain", "ok\n")).unwrap();
        assert!(text.starts_with("HTTP/1.1 200 OK\r\n"));
        assert!(text.contains("Content-Length: 3\r\n"));
        assert!(text.contains("Connection: close\r\n"));
        assert!(text.ends_with("\r\n\r\nok\n"));
    }

    fn sample_status() -> Status {
        Status {
            role: Role::Server,
            active: Some(ClientId::Two),
            epoch: 3,
            links_up: 2,
            listening: vec![true, false],
            stats: Stats {
                bytes_from_apps: 1234,
                switches: 1,
                ..Stats::default()
            },
        }
    }

    #[test]
    fn healthz_names_role_and_active_client() {
        assert_eq!(
            healthz_body(&sample_status()),
            "ok\nrole server\nactive client 2\n"
        );
        let none = Status {
            role: Role::Client(ClientId::One),
            active: None,
            ..sample_status()
        };
        assert_eq!(healthz_body(&none), "ok\nrole client 1\nactive none\n");
    }

    #[test]
    fn metrics_render_every_value_in_prometheus_text_format() {
        let names = vec!["web".to_string(), "we\"ird".to_string()];
        let text = render_metrics(&sample_status(), &names);
        for line in [
            "tcpws_active_client 2",
            "tcpws_epoch 3",
            "tcpws_links_up 2",
            "tcpws_listening{tunnel=\"web\"} 1",
            "tcpws_listening{tunnel=\"we\\\"ird\"} 0",
            "tcpws_links_established 0",
            "tcpws_bytes_from_apps_total 1234",
            "tcpws_switches_total 1",
            "tcpws_protocol_errors_total 0",
            "# TYPE tcpws_switches_total counter",
            "# TYPE tcpws_epoch gauge",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "missing {line:?} in:\n{text}"
            );
        }
        // Every sample line is `name[{labels}] value` and every name is declared.
        let samples = text.lines().filter(|l| !l.starts_with('#'));
        assert_eq!(samples.clone().count(), 3 + 2 + 16);
        for line in samples {
            let (name, value) = line.rsplit_once(' ').unwrap();
            value.parse::<u64>().unwrap();
            let bare = name.split('{').next().unwrap();
            assert!(
                text.contains(&format!("# TYPE {bare} ")),
                "{bare} has no TYPE"
            );
        }
    }
}
