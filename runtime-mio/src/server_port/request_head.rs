//! HTTP/1.x request heads on the server port, parsed by httparse within a
//! fixed bound. Pure functions over bytes, so every case is unit-tested.

use httparse::{Header, Status, EMPTY_HEADER};

/// The largest request head we read; a longer one is answered with 431.
pub const MAX_HEAD: usize = 8 * 1024;
/// Header slots for the first parse; a head with more is parsed again with
/// [`MAX_HEADERS`] slots, so the byte bound alone decides what is too large.
const FEW_HEADERS: usize = 32;
/// More header lines than [`MAX_HEAD`] bytes can hold (each takes at least a
/// name, a colon and a line end).
const MAX_HEADERS: usize = MAX_HEAD / 3;

/// A parsed HTTP/1.x request head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestHead {
    /// The method, e.g. `GET`.
    pub method: String,
    /// The request target as sent (origin form: it starts with `/`).
    pub target: String,
    headers: Vec<(String, String)>,
}

impl RequestHead {
    /// The header lines in order: names as sent, values trimmed.
    pub fn headers(&self) -> &[(String, String)] {
        &self.headers
    }

    /// The first header named `name` (case-insensitive), trimmed.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The target without its query string.
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or("")
    }

    /// Whether a comma-separated header lists `token` (case-insensitive).
    pub fn header_has_token(&self, name: &str, token: &str) -> bool {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .flat_map(|(_, v)| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    }
}

/// Why bytes are not a request head we accept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeadError {
    /// No end of head within [`MAX_HEAD`] bytes.
    TooLarge,
    /// Not HTTP/1.x; the text says what is wrong.
    Malformed(&'static str),
}

impl HeadError {
    /// The status of the error response that refuses such a head.
    pub fn status(&self) -> u16 {
        match self {
            HeadError::TooLarge => 431,
            HeadError::Malformed(_) => 400,
        }
    }
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
pub fn parse_head(buf: &[u8]) -> Result<Option<(RequestHead, usize)>, HeadError> {
    if buf.first() == Some(&0x16) {
        return Err(HeadError::Malformed(
            "looks like a TLS handshake on a plain port",
        ));
    }
    // Nothing past the bound is looked at: a head not over by then is too large.
    let scan = &buf[..buf.len().min(MAX_HEAD)];
    match parse_with(scan, &mut [EMPTY_HEADER; FEW_HEADERS]) {
        // More headers than slots (or a head past the bound, refused again).
        Err(HeadError::TooLarge) => parse_with(scan, &mut vec![EMPTY_HEADER; MAX_HEADERS]),
        other => other,
    }
}

/// One parse of `scan` with room for `slots.len()` headers; too many
/// headers count as [`HeadError::TooLarge`].
fn parse_with<'b>(
    scan: &'b [u8],
    slots: &mut [Header<'b>],
) -> Result<Option<(RequestHead, usize)>, HeadError> {
    let mut request = httparse::Request::new(slots);
    let parsed = request.parse(scan);
    // Only the head's own bytes: what follows a complete head is the connection's.
    let head_bytes = match parsed {
        Ok(Status::Complete(len)) => &scan[..len],
        // Out of slots before the head's end, which may come before bytes
        // of the connection: the parse with more slots checks the head.
        Err(httparse::Error::TooManyHeaders) => return Err(HeadError::TooLarge),
        _ => scan,
    };
    check_bytes(head_bytes)?;
    let len = match parsed {
        Ok(Status::Complete(len)) => len,
        Ok(Status::Partial) if scan.len() >= MAX_HEAD => return Err(HeadError::TooLarge),
        Ok(Status::Partial) => return Ok(None),
        Err(e) => return Err(malformed(e, request.method.is_some())),
    };
    let (method, target) = (request.method.unwrap_or(""), request.path.unwrap_or(""));
    if !target.starts_with('/') {
        return Err(HeadError::Malformed("bad request target"));
    }
    // check_bytes let only visible ASCII and tabs into the values.
    let headers = request
        .headers
        .iter()
        .map(|h| {
            let value = String::from_utf8_lossy(h.value);
            (h.name.to_string(), value.trim().to_string())
        })
        .collect();
    let head = RequestHead {
        method: method.to_string(),
        target: target.to_string(),
        headers,
    };
    Ok(Some((head, len)))
}

/// What an httparse error says about the request, for the log and the 400.
fn malformed(e: httparse::Error, method_seen: bool) -> HeadError {
    HeadError::Malformed(match e {
        httparse::Error::Token if method_seen => "bad request target",
        httparse::Error::Token => "bad method",
        httparse::Error::Version => "not HTTP/1.0 or HTTP/1.1",
        httparse::Error::NewLine => "bad line end",
        httparse::Error::HeaderName => "bad header name",
        httparse::Error::HeaderValue => "bad header value",
        _ => "bad request line",
    })
}

fn check_bytes(bytes: &[u8]) -> Result<(), HeadError> {
    let ok = |b: u8| matches!(b, b'\t' | b'\r' | b'\n' | 0x20..=0x7e);
    if bytes.iter().all(|&b| ok(b)) {
        Ok(())
    } else {
        Err(HeadError::Malformed("binary bytes in the request head"))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A WebSocket upgrade for `/ws` with RFC 6455's sample key.
    pub(crate) const UPGRADE: &[u8] = b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n\
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

    /// fuzz/regressions/http_head/many-headers-then-binary: with more
    /// headers than the first parse's slots, the bytes after the head (an
    /// early WebSocket frame) were checked as if they were the head's, so
    /// the head was refused when they came with it and accepted when they
    /// came in a later read.
    #[test]
    fn a_head_with_many_headers_may_be_followed_by_binary_bytes() {
        let mut head = b"GET /ws HTTP/1.1\r\n".to_vec();
        for i in 0..FEW_HEADERS + 1 {
            head.extend_from_slice(format!("X-{i}: {i}\r\n").as_bytes());
        }
        head.extend_from_slice(b"\r\n");
        let mut bytes = head.clone();
        bytes.extend_from_slice(b"\x82\x00");
        let (alone, len) = parse_head(&head).unwrap().unwrap();
        assert_eq!(len, head.len());
        assert_eq!(alone.headers().len(), FEW_HEADERS + 1);
        assert_eq!(parse_head(&bytes), Ok(Some((alone, len))));
    }

    #[test]
    fn garbage_is_refused_as_soon_as_seen() {
        for garbage in [
            &b"\x16\x03\x01\x02"[..],
            b"\x00\x01garbage",
            b"GE{T",
            b"hello there\r\n",
            b"GET / HTTP/2\r\n\r\n",
            b"GET / HTTP/1.1\r\nno colon here\r\n\r\n",
            b"GET nothing HTTP/1.1\r\n\r\n",
        ] {
            assert!(
                matches!(parse_head(garbage), Err(HeadError::Malformed(_))),
                "{:?}",
                String::from_utf8_lossy(garbage)
            );
        }
    }
}
