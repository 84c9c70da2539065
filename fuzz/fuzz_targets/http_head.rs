//! Arbitrary bytes as what a peer sends to the server's WebSocket/HTTP port,
//! through the runtime's request head reader, parser and router, and the
//! responses they lead to (`tcpws_runtime_mio::fuzzing`).
//!
//! Input layout (see `Input::parse`; fuzz/examples/seeds.rs writes seeds):
//!
//! ```text
//! flags: u8            bits 0-1: after the bytes the peer 0/3 closes (EOF),
//!                      1 stays open and silent, 2 sends them again forever;
//!                      bit 2: chunks arrive back to back (no WouldBlock
//!                      between them)
//! path_len: u8, path   appended to "ws://h:1" and parsed as the config's
//!                      serverUrl: the server's WebSocket path
//! n: u8, n x u16 LE    chunk sizes as the socket delivers the bytes (0: the
//!                      read is interrupted); the rest arrives at once
//! the rest             the bytes the peer sends
//! ```
//!
//! Promises checked, beyond "no panic":
//!
//! * bounds: `read_head` never offers the socket room past `MAX_HEAD` bytes
//!   held (nor an empty buffer, which would read as EOF), stops reading once
//!   a head is complete, and the heap it and `parse_head` use stays within
//!   `HEAP_BUDGET` however much the peer sends (a counting allocator);
//! * incremental = one-shot: the outcome of reading the bytes in the given
//!   chunks is the outcome of `parse_head` on all of them (the same head and
//!   length, the same refusal status, or "incomplete" when the peer stopped
//!   short); the bytes after a head are kept as leftover, in order;
//! * an accepted head is what its bytes say: only printable ASCII, tabs and
//!   line ends, HTTP/1.0 or 1.1, a target starting with `/`, and the method,
//!   target and headers a plain line-by-line reading of the bytes gives;
//!   a refused one is `TooLarge` only with `MAX_HEAD` bytes in hand;
//! * `route` follows routing.rs's rules, restated here over that
//!   independent reading: an upgrade only for a GET on the WebSocket path
//!   with `Upgrade: websocket`, `Connection: upgrade`, version 13 and a
//!   key (returned as sent), else 400 on that path; 405 for other methods,
//!   `/healthz`, `/metrics`, else 404;
//! * the request our own client (tungstenite) sends for that path is read,
//!   parsed and routed to an upgrade with its key;
//! * every response (refusals, the 101) is well-formed: a status line with
//!   the status's reason phrase, `Name: value` headers, a `Content-Length`
//!   that is the body's, `Connection: close`, at most `RESPONSE_BOUND` bytes;
//!   the 101 carries the RFC 6455 accept of the key.

#![no_main]

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::{self, Read};
use std::sync::atomic::{AtomicUsize, Ordering};

use libfuzzer_sys::fuzz_target;
use tcpws::config::ServerUrl;
use tcpws_runtime_mio::fuzzing::{
    error_response, parse_head, read_head, route, upgrade_response, HeadError, RequestHead, Route,
    Step, MAX_HEAD, SCRATCH,
};
use tungstenite::client::IntoClientRequest;
use tungstenite::handshake::client::generate_request;
use tungstenite::handshake::derive_accept_key;

/// Heap the reader and parser may hold at once. What fills it at worst
/// (a head of `MAX_HEAD` bytes of one-letter headers, about 2,700 of
/// them): httparse's header slots for the second parse (MAX_HEAD / 3 x 32
/// bytes, 10.7 x MAX_HEAD), the parsed header list (48 bytes each, 16 x),
/// their names, and the read buffer (up to 2 x MAX_HEAD after growing) and
/// its leftover: about 29 x MAX_HEAD.
const HEAP_BUDGET: usize = 32 * MAX_HEAD;
/// The largest response a request may draw: a 404 or 405 names the target
/// or method (at most a head's worth of bytes) in its body.
const RESPONSE_BOUND: usize = MAX_HEAD + 512;

// ---- a counting allocator: live bytes and their peak ----

struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn grew(by: usize) {
    let now = LIVE.fetch_add(by, Ordering::Relaxed) + by;
    PEAK.fetch_max(now, Ordering::Relaxed);
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = System.alloc(layout);
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = System.alloc_zeroed(layout);
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout);
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = System.realloc(ptr, layout, new_size);
        if !p.is_null() {
            if new_size >= layout.size() {
                grew(new_size - layout.size());
            } else {
                LIVE.fetch_sub(layout.size() - new_size, Ordering::Relaxed);
            }
        }
        p
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// Runs `f` and returns what it returned and the most heap it had
/// allocated at once beyond what was live before (what it returns counts).
fn peak_heap<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let base = LIVE.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    let out = f();
    (out, PEAK.load(Ordering::Relaxed) - base)
}

// ---- the input ----

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ending {
    Eof,
    Silent,
    Endless,
}

struct Input<'a> {
    ending: Ending,
    back_to_back: bool,
    ws_path: String,
    chunks: Vec<usize>,
    payload: &'a [u8],
}

impl<'a> Input<'a> {
    fn parse(mut data: &'a [u8]) -> Input<'a> {
        let mut take = |n: usize| {
            let (head, rest) = data.split_at(n.min(data.len()));
            data = rest;
            head
        };
        let flags = take(1).first().copied().unwrap_or(0);
        let path_len = take(1).first().copied().unwrap_or(0) as usize;
        let path = take(path_len);
        let n = take(1).first().copied().unwrap_or(0) as usize;
        let chunks = (0..n)
            .map_while(|_| match take(2) {
                [lo, hi] => Some(u16::from_le_bytes([*lo, *hi]) as usize),
                _ => None,
            })
            .collect();
        let ending = match flags & 3 {
            1 => Ending::Silent,
            2 => Ending::Endless,
            _ => Ending::Eof,
        };
        // The path as the config would give it: `dataExchange.serverUrl`
        // parsed by the CLI (ServerAddr::ws_path is "/" for an empty one).
        let ws_path = std::str::from_utf8(path)
            .ok()
            .and_then(|p| ServerUrl::parse(&format!("ws://h:1{p}")).ok())
            .map(|url| url.path)
            .filter(|p| !p.is_empty())
            .unwrap_or_else(|| "/".to_string());
        Input {
            ending,
            back_to_back: flags & 4 != 0,
            ws_path,
            chunks,
            payload: data,
        }
    }

    /// The `i`th byte the peer sends, if it sends that many.
    fn byte(&self, i: usize) -> Option<u8> {
        match self.payload.get(i) {
            Some(&b) => Some(b),
            None if self.ending == Ending::Endless && !self.payload.is_empty() => {
                Some(self.payload[i % self.payload.len()])
            }
            None => None,
        }
    }

    /// The first `n` bytes the peer sends (fewer if it stops sooner).
    fn prefix(&self, n: usize) -> Vec<u8> {
        (0..n).map_while(|i| self.byte(i)).collect()
    }
}

// ---- the peer's socket, as read_head sees it ----

struct Peer<'i, 'a> {
    input: &'i Input<'a>,
    next_chunk: usize,
    /// Bytes of the chunk that arrived and are not read yet.
    arrived: usize,
    /// The next read finds the socket drained (a chunk boundary).
    drained: bool,
    /// Bytes read so far: all of them are in read_head's buffer.
    sent: usize,
    /// Where the last read that returned bytes started.
    last_read_at: usize,
    /// A read found nothing more and the peer silent.
    silent: bool,
}

impl Read for Peer<'_, '_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        assert!(
            !buf.is_empty(),
            "read_head read into an empty buffer (Ok(0) would mean EOF), {} bytes held",
            self.sent
        );
        assert!(
            self.sent + buf.len() <= MAX_HEAD,
            "read_head offered room for {} bytes with {} held: past MAX_HEAD ({MAX_HEAD})",
            buf.len(),
            self.sent
        );
        if self.input.byte(self.sent).is_none() {
            return match self.input.ending {
                Ending::Silent => {
                    self.silent = true;
                    Err(io::ErrorKind::WouldBlock.into())
                }
                _ => Ok(0),
            };
        }
        if self.arrived == 0 {
            if self.drained {
                self.drained = false;
                return Err(io::ErrorKind::WouldBlock.into());
            }
            match self.input.chunks.get(self.next_chunk) {
                Some(0) => {
                    self.next_chunk += 1;
                    return Err(io::ErrorKind::Interrupted.into());
                }
                Some(&n) => {
                    self.next_chunk += 1;
                    self.arrived = n;
                }
                None => self.arrived = usize::MAX,
            }
        }
        let mut n = 0;
        while n < buf.len().min(self.arrived) {
            match self.input.byte(self.sent + n) {
                Some(b) => buf[n] = b,
                None => break,
            }
            n += 1;
        }
        self.last_read_at = self.sent;
        self.sent += n;
        self.arrived -= n;
        if self.arrived == 0 && !self.input.back_to_back {
            self.drained = true;
        }
        Ok(n)
    }
}

thread_local! {
    /// The event loop's read buffer, allocated once as the loop does.
    static SCRATCH_BUF: std::cell::RefCell<Vec<u8>> = std::cell::RefCell::new(vec![0; SCRATCH]);
}

/// Reads a head from `peer` as the event loop does: `read_head` on every
/// readable event until it decides or the peer falls silent.
fn read_from(peer: &mut Peer) -> (Step, Vec<u8>) {
    SCRATCH_BUF.with(|scratch| {
        let scratch = &mut scratch.borrow_mut()[..];
        let mut buf = Vec::new();
        loop {
            match read_head(&mut buf, peer, scratch) {
                Step::Pending if peer.silent => return (Step::Pending, buf),
                // Drained at a chunk boundary: the next chunk is the next
                // readable event.
                Step::Pending => {}
                step => return (step, buf),
            }
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let input = Input::parse(data);
    // All the peer sends, up to twice the bound: parse_head must decide
    // from the first MAX_HEAD bytes, as the reader never holds more.
    let shown = input.prefix(2 * MAX_HEAD);

    let (one_shot, heap) = peak_heap(|| parse_head(&shown));
    assert!(heap <= HEAP_BUDGET, "parse_head held {heap} bytes of heap");

    let mut peer = Peer {
        input: &input,
        next_chunk: 0,
        arrived: 0,
        drained: false,
        sent: 0,
        last_read_at: 0,
        silent: false,
    };
    // The loop's scratch buffer is not the reader's: allocate it first.
    SCRATCH_BUF.with(|_| {});
    let ((step, buf), heap) = peak_heap(|| read_from(&mut peer));
    assert!(heap <= HEAP_BUDGET, "read_head held {heap} bytes of heap");
    assert!(peer.sent <= MAX_HEAD);

    match (&one_shot, step) {
        (Ok(Some((head, len))), Step::Head(read, leftover)) => {
            assert_eq!(&read, head, "chunked reading parsed another head");
            assert_eq!(buf, shown[..*len], "the buffer keeps exactly the head");
            assert_eq!(
                leftover,
                shown[*len..peer.sent],
                "the bytes after the head are the leftover"
            );
            assert!(
                peer.last_read_at < *len,
                "read on from {} after a complete head of {len} bytes",
                peer.last_read_at
            );
            check_head(&input, head, &shown[..*len]);
        }
        (Err(e), Step::Bad(read)) => {
            assert_eq!(
                e.status(),
                read.status(),
                "one-shot {e:?}, chunked {read:?}"
            );
            check_refusal(e, &shown);
        }
        (Ok(None), Step::Gone(_)) if input.ending != Ending::Silent => {
            assert_eq!(buf, shown, "an incomplete head is read to its end");
        }
        (Ok(None), Step::Pending) if input.ending == Ending::Silent => {
            assert_eq!(buf, shown, "an incomplete head is read to its end");
        }
        (one_shot, step) => panic!(
            "one-shot parse_head says {one_shot:?}, reading in chunks {:?} ({} bytes read, \
             ending {:?}) says {step:?}",
            input.chunks, peer.sent, input.ending
        ),
    }

    check_own_client(&input.ws_path);
});

// ---- checks on what the parser accepted or refused ----

/// A head as a plain reading of its lines gives it.
struct Plain<'a> {
    method: &'a str,
    target: &'a str,
    version: &'a str,
    headers: Vec<(&'a str, &'a str)>,
}

/// Reads an accepted head line by line: leading empty lines skipped, then
/// `METHOD SP TARGET SP VERSION`, then `name:value` lines up to an empty
/// one, each line ending in LF or CRLF, values without surrounding blanks.
fn read_plainly(head: &[u8]) -> Plain<'_> {
    let text = std::str::from_utf8(head).expect("an accepted head is ASCII");
    assert!(text.ends_with('\n'), "a head ends with a line end");
    let mut lines = text[..text.len() - 1]
        .split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l));
    let request_line = lines
        .by_ref()
        .find(|l| !l.is_empty())
        .expect("a request line");
    let parts: Vec<&str> = request_line.split(' ').collect();
    let [method, target, version] = parts[..] else {
        panic!("request line {request_line:?} is not METHOD TARGET VERSION");
    };
    let mut headers = Vec::new();
    for line in lines.by_ref() {
        if line.is_empty() {
            break;
        }
        let (name, value) = line
            .split_once(':')
            .unwrap_or_else(|| panic!("header line {line:?} has no colon"));
        headers.push((name, value.trim_matches([' ', '\t'])));
    }
    assert!(
        lines.next().is_none(),
        "the head goes on after its empty line: {text:?}"
    );
    Plain {
        method,
        target,
        version,
        headers,
    }
}

fn check_head(input: &Input, head: &RequestHead, bytes: &[u8]) {
    assert!(bytes.len() <= MAX_HEAD);
    assert!(
        bytes
            .iter()
            .all(|&b| matches!(b, b'\t' | b'\r' | b'\n' | 0x20..=0x7e)),
        "an accepted head has binary bytes: {:?}",
        String::from_utf8_lossy(bytes)
    );
    let plain = read_plainly(bytes);
    assert!(
        matches!(plain.version, "HTTP/1.0" | "HTTP/1.1"),
        "accepted version {:?}",
        plain.version
    );
    assert_eq!(head.method, plain.method);
    assert_eq!(head.target, plain.target);
    assert!(head.target.starts_with('/'), "target {:?}", head.target);
    let headers: Vec<(&str, &str)> = head
        .headers()
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    assert_eq!(headers, plain.headers, "the headers are not the lines'");

    let routed = route(head, &input.ws_path);
    let expected = expected_route(&plain, &input.ws_path);
    match (&routed, &expected) {
        (Route::Health, Expected::Health) | (Route::Metrics, Expected::Metrics) => {}
        (Route::Upgrade { key }, Expected::Upgrade(want)) => {
            assert_eq!(key, want, "the upgrade's key");
            check_upgrade_response(key);
        }
        (Route::Reject { status, why }, Expected::Reject(want)) => {
            assert_eq!(status, want, "refused as {why:?}");
            assert!(!why.is_empty());
            check_error_response(*status, why);
        }
        _ => panic!(
            "routed {} {} (path {:?}) to {routed:?}, expected {expected:?}",
            head.method, head.target, input.ws_path
        ),
    }
    // Stated on its own, as the issue asks: an upgrade only for a GET on
    // our path with the WebSocket headers.
    if let Route::Upgrade { .. } = routed {
        assert_eq!(plain.method, "GET");
        assert_eq!(path_of(plain.target), path_of(&input.ws_path));
        assert!(has_token(&plain, "upgrade", "websocket"));
        assert!(has_token(&plain, "connection", "upgrade"));
        assert_eq!(first(&plain, "sec-websocket-version"), Some("13"));
    }
}

fn check_refusal(e: &HeadError, shown: &[u8]) {
    if *e == HeadError::TooLarge {
        assert!(
            shown.len() >= MAX_HEAD,
            "TooLarge with {} bytes in hand",
            shown.len()
        );
    }
    assert!(matches!(e.status(), 400 | 431), "{e:?}");
    check_error_response(e.status(), &e.to_string());
}

#[derive(Debug)]
enum Expected<'a> {
    Health,
    Metrics,
    Upgrade(&'a str),
    Reject(u16),
}

/// A target or WebSocket path without its query: the client sends the
/// configured path with its query, and routing never looks at queries.
fn path_of(target: &str) -> &str {
    target.split('?').next().unwrap_or("")
}

fn first<'a>(plain: &Plain<'a>, name: &str) -> Option<&'a str> {
    plain
        .headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| *v)
}

fn has_token(plain: &Plain, name: &str, token: &str) -> bool {
    plain
        .headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case(name))
        .flat_map(|(_, v)| v.split(','))
        .any(|t| t.trim_matches([' ', '\t']).eq_ignore_ascii_case(token))
}

/// routing.rs's rules: on the WebSocket path a request is an upgrade (or a
/// 400 saying what it lacks), unless that path is `/healthz` or `/metrics`
/// and the request does not ask for an upgrade; elsewhere only GET is
/// served (405), on `/healthz` and `/metrics` (404).
fn expected_route<'a>(plain: &Plain<'a>, ws_path: &str) -> Expected<'a> {
    let path = path_of(plain.target);
    let wants_upgrade = has_token(plain, "upgrade", "websocket");
    if path == path_of(ws_path) && (wants_upgrade || !matches!(path, "/healthz" | "/metrics")) {
        let key = first(plain, "sec-websocket-key").filter(|k| !k.is_empty());
        return match key {
            Some(key)
                if plain.method == "GET"
                    && wants_upgrade
                    && has_token(plain, "connection", "upgrade")
                    && first(plain, "sec-websocket-version") == Some("13") =>
            {
                Expected::Upgrade(key)
            }
            _ => Expected::Reject(400),
        };
    }
    if plain.method != "GET" {
        return Expected::Reject(405);
    }
    match path {
        "/healthz" => Expected::Health,
        "/metrics" => Expected::Metrics,
        _ => Expected::Reject(404),
    }
}

/// The request tungstenite (the client's WebSocket) writes for our URL:
/// read in one piece, it is a head that routes to an upgrade with its key.
fn check_own_client(ws_path: &str) {
    let Ok(request) = format!("ws://h:1{ws_path}").into_client_request() else {
        return; // the client refuses this URL itself
    };
    let Ok((bytes, key)) = generate_request(request) else {
        return;
    };
    let peer_input = Input {
        ending: Ending::Silent,
        back_to_back: false,
        ws_path: ws_path.to_string(),
        chunks: Vec::new(),
        payload: &bytes,
    };
    let mut peer = Peer {
        input: &peer_input,
        next_chunk: 0,
        arrived: 0,
        drained: false,
        sent: 0,
        last_read_at: 0,
        silent: false,
    };
    let (step, _) = read_from(&mut peer);
    let Step::Head(head, leftover) = step else {
        panic!(
            "our client's request for {ws_path:?} is not read as a head: {step:?}\n{}",
            String::from_utf8_lossy(&bytes)
        );
    };
    assert!(leftover.is_empty());
    assert_eq!(
        route(&head, ws_path),
        Route::Upgrade { key },
        "our client's request for {ws_path:?}:\n{}",
        String::from_utf8_lossy(&bytes)
    );
}

// ---- responses ----

fn reason(status: u16) -> &'static str {
    match status {
        101 => "Switching Protocols",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        431 => "Request Header Fields Too Large",
        _ => panic!("status {status} for a request"),
    }
}

/// Splits a response into its status and headers (checking their form)
/// and its body.
fn parse_response(out: &[u8]) -> (u16, Vec<(&str, &str)>, &[u8]) {
    assert!(out.len() <= RESPONSE_BOUND, "a {}-byte response", out.len());
    let end = out
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a response head ends with an empty line");
    let head = std::str::from_utf8(&out[..end]).expect("an ASCII response head");
    let body = &out[end + 4..];
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let rest = status_line
        .strip_prefix("HTTP/1.1 ")
        .unwrap_or_else(|| panic!("status line {status_line:?}"));
    let (code, phrase) = rest
        .split_once(' ')
        .unwrap_or_else(|| panic!("status line {status_line:?}"));
    assert!(code.len() == 3 && code.bytes().all(|b| b.is_ascii_digit()));
    let status: u16 = code.parse().unwrap();
    assert_eq!(phrase, reason(status), "reason phrase of {status}");
    let headers: Vec<(&str, &str)> = lines
        .map(|line| {
            let (name, value) = line
                .split_once(": ")
                .unwrap_or_else(|| panic!("response header {line:?}"));
            assert!(
                !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'),
                "response header name {name:?}"
            );
            assert!(
                !value.is_empty() && value.bytes().all(|b| (0x20..=0x7e).contains(&b)),
                "response header value {value:?}"
            );
            (name, value)
        })
        .collect();
    (status, headers, body)
}

fn one<'a>(headers: &[(&str, &'a str)], name: &str) -> &'a str {
    let found: Vec<&str> = headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| *v)
        .collect();
    assert_eq!(found.len(), 1, "{name} in {headers:?}");
    found[0]
}

/// The refusal the server writes: `status`, `why` as a text body, closed.
fn check_error_response(status: u16, why: &str) {
    let out = error_response(status, why);
    let (got, headers, body) = parse_response(&out);
    assert_eq!(got, status);
    assert_eq!(one(&headers, "Content-Length"), body.len().to_string());
    assert_eq!(one(&headers, "Connection"), "close");
    assert!(one(&headers, "Content-Type").starts_with("text/plain"));
    assert_eq!(body, format!("{why}\n").as_bytes());
}

/// The 101 the server writes for `key`.
fn check_upgrade_response(key: &str) {
    let out = upgrade_response(key);
    let (status, headers, body) = parse_response(&out);
    assert_eq!(status, 101);
    assert!(body.is_empty());
    assert!(one(&headers, "Upgrade").eq_ignore_ascii_case("websocket"));
    assert!(one(&headers, "Connection").eq_ignore_ascii_case("upgrade"));
    let accept = one(&headers, "Sec-WebSocket-Accept");
    assert_eq!(accept, derive_accept_key(key.as_bytes()));
    assert_eq!(accept.len(), 28, "a base64 SHA-1");
}
