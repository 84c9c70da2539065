//! The HTTP CONNECT exchange with a client's proxy (`dataExchange.httpProxyUrl`):
//! one request out, one response head in (parsed by httparse, at most
//! [`MAX_RESPONSE_HEAD`] bytes), on a non-blocking socket. Once the proxy
//! answers 2xx the socket is a tunnel to the server and the dial goes on
//! with TLS or the WebSocket handshake; the connect timeout covers it all.

use std::io::{self, Read, Write};
use std::net::SocketAddr;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use httparse::{Status, EMPTY_HEADER};
use tcpws_protocol::frame::printable;

use crate::settings::ProxyCredentials;

/// The largest proxy response head we read.
pub(crate) const MAX_RESPONSE_HEAD: usize = 8 * 1024;
/// Header slots for the response; a proxy that sends more is garbled.
const MAX_HEADERS: usize = 64;

/// The `CONNECT target` request, with Basic credentials when given.
pub(crate) fn connect_request(target: &str, credentials: Option<&ProxyCredentials>) -> Vec<u8> {
    let mut request = format!(
        "CONNECT {target} HTTP/1.1\r\nHost: {target}\r\nUser-Agent: tcpws/{}\r\n",
        env!("CARGO_PKG_VERSION")
    );
    if let Some(c) = credentials {
        let token = STANDARD.encode(format!("{}:{}", c.user, c.password));
        request.push_str(&format!("Proxy-Authorization: Basic {token}\r\n"));
    }
    request.push_str("\r\n");
    request.into_bytes()
}

/// A complete response head: its status, reason phrase and length.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) reason: String,
    pub(crate) head_len: usize,
}

/// Parses what the proxy sent so far: `Ok(None)` while the head is
/// incomplete, `Err` with httparse's reason for bytes that are not an HTTP
/// response head.
pub(crate) fn parse_response(bytes: &[u8]) -> Result<Option<Answer>, String> {
    let mut headers = [EMPTY_HEADER; MAX_HEADERS];
    let mut response = httparse::Response::new(&mut headers);
    match response.parse(bytes) {
        Ok(Status::Partial) => Ok(None),
        Ok(Status::Complete(head_len)) => Ok(Some(Answer {
            status: response.code.unwrap_or(0),
            reason: response.reason.unwrap_or("").chars().take(80).collect(),
            head_len,
        })),
        Err(e) => Err(e.to_string()),
    }
}

/// What a step of the exchange produced.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum ProxyStep {
    /// Waiting for the socket.
    Pending,
    /// The proxy answered 2xx: the socket now reaches the server.
    Established,
    /// The proxy refused, went away or sent garbage; the reason names it.
    Failed(String),
}

/// One CONNECT exchange in progress: the request's unsent tail, then the
/// response head read so far. Not `Debug`: the request holds the
/// credentials.
pub(crate) struct ProxyConnect {
    /// `host:port` of the server, asked of the proxy.
    target: String,
    /// The proxy as configured (`host:port`), for messages.
    name: String,
    request: Vec<u8>,
    written: usize,
    head: Vec<u8>,
}

impl ProxyConnect {
    /// An exchange asking the proxy `name` for a tunnel to `target`.
    pub(crate) fn new(
        target: String,
        name: String,
        credentials: Option<&ProxyCredentials>,
    ) -> ProxyConnect {
        ProxyConnect {
            request: connect_request(&target, credentials),
            target,
            name,
            written: 0,
            head: Vec::new(),
        }
    }

    /// Writes what is left of the request, then reads the answer, until the
    /// socket would block or the exchange ends. `addr` is the proxy's
    /// address, for messages.
    pub(crate) fn advance(&mut self, io: &mut (impl Read + Write), addr: SocketAddr) -> ProxyStep {
        let who = self.who(addr);
        while self.written < self.request.len() {
            match io.write(&self.request[self.written..]) {
                Ok(0) => return self.failed(format!("{who} closed the connection")),
                Ok(n) => self.written += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return ProxyStep::Pending,
                Err(e) => return self.failed(format!("cannot send CONNECT to {who}: {e}")),
            }
        }
        let mut chunk = [0u8; 1024];
        loop {
            // One byte past the bound tells an oversized head from a full one.
            let room = (MAX_RESPONSE_HEAD + 1 - self.head.len()).min(chunk.len());
            match io.read(&mut chunk[..room]) {
                Ok(0) => {
                    return self.failed(format!(
                        "{who} closed the connection before answering CONNECT to {} \
                         ({} bytes of an answer)",
                        self.target,
                        self.head.len()
                    ))
                }
                Ok(n) => {
                    self.head.extend_from_slice(&chunk[..n]);
                    if let Some(step) = self.answer(&who) {
                        return step;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return ProxyStep::Pending,
                Err(e) => {
                    return self.failed(format!(
                        "reading the answer of {who} to CONNECT failed: {e}"
                    ))
                }
            }
        }
    }

    /// The exchange's end once the bytes read so far decide it.
    fn answer(&mut self, who: &str) -> Option<ProxyStep> {
        let answer = match parse_response(&self.head) {
            Ok(None) if self.head.len() > MAX_RESPONSE_HEAD => {
                return Some(self.failed(format!(
                    "{who} sent a response head longer than {MAX_RESPONSE_HEAD} bytes"
                )))
            }
            Ok(None) => return None,
            Ok(Some(answer)) => answer,
            Err(why) => {
                return Some(self.failed(format!(
                    "{who} did not answer CONNECT in HTTP ({why}): is it an HTTP proxy?"
                )))
            }
        };
        let reason = printable(&answer.reason);
        if !(200..300).contains(&answer.status) {
            let hint = match answer.status {
                401 | 407 => {
                    " (check the user and password in dataExchange.httpProxyUrl, \
                     or give them if the proxy needs them)"
                }
                403 => " (the proxy's rules forbid this server or port)",
                _ => "",
            };
            return Some(self.failed(format!(
                "{who} refused CONNECT to {}: {} {reason}{hint}",
                self.target, answer.status
            )));
        }
        // The server speaks only after us (TLS or the WebSocket request), so
        // bytes behind the head are not the server's.
        let extra = self.head.len() - answer.head_len;
        if extra > 0 {
            return Some(self.failed(format!(
                "{who} sent {extra} bytes after its {} answer to CONNECT, before the server \
                 could speak",
                answer.status
            )));
        }
        log::debug!(
            "{who} opened a tunnel to {}: {} {reason}",
            self.target,
            answer.status
        );
        self.head = Vec::new();
        Some(ProxyStep::Established)
    }

    /// The proxy as configured (`host:port`).
    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    fn who(&self, addr: SocketAddr) -> String {
        describe_proxy(&self.name, addr)
    }

    /// Ends the exchange with `reason`, dropping the request (it may hold
    /// credentials).
    fn failed(&mut self, reason: String) -> ProxyStep {
        self.request = Vec::new();
        ProxyStep::Failed(reason)
    }
}

/// "the HTTP proxy at `name` (`addr`)", the address left out when it is
/// the name.
pub(crate) fn describe_proxy(name: &str, addr: SocketAddr) -> String {
    if name == addr.to_string() {
        format!("the HTTP proxy at {addr}")
    } else {
        format!("the HTTP proxy at {name} ({addr})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A socket stand-in: reads come from `incoming` in `chunk`-sized
    /// pieces then block; writes take `write_room` bytes then block.
    struct FakeSocket {
        incoming: Vec<u8>,
        chunk: usize,
        sent: Vec<u8>,
        write_room: usize,
        eof: bool,
    }

    impl FakeSocket {
        fn new(incoming: &[u8]) -> FakeSocket {
            FakeSocket {
                incoming: incoming.to_vec(),
                chunk: usize::MAX,
                sent: Vec::new(),
                write_room: usize::MAX,
                eof: false,
            }
        }
    }

    impl Read for FakeSocket {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.incoming.is_empty() {
                return if self.eof {
                    Ok(0)
                } else {
                    Err(io::ErrorKind::WouldBlock.into())
                };
            }
            let n = buf.len().min(self.chunk).min(self.incoming.len());
            buf[..n].copy_from_slice(&self.incoming[..n]);
            self.incoming.drain(..n);
            Ok(n)
        }
    }

    impl Write for FakeSocket {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if self.write_room == 0 {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            let n = buf.len().min(self.write_room);
            self.write_room -= n;
            self.sent.extend_from_slice(&buf[..n]);
            Ok(n)
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    const ADDR: &str = "127.0.0.1:3128";

    fn exchange(credentials: Option<&ProxyCredentials>) -> ProxyConnect {
        ProxyConnect::new("tunnel.example:443".into(), ADDR.into(), credentials)
    }

    fn addr() -> SocketAddr {
        ADDR.parse().unwrap()
    }

    fn failure(step: ProxyStep) -> String {
        match step {
            ProxyStep::Failed(why) => why,
            other => panic!("expected a failure, got {other:?}"),
        }
    }

    #[test]
    fn the_request_carries_basic_credentials_when_given() {
        let plain = String::from_utf8(connect_request("h:1", None)).unwrap();
        assert!(
            plain.starts_with("CONNECT h:1 HTTP/1.1\r\nHost: h:1\r\n"),
            "{plain}"
        );
        assert!(plain.ends_with("\r\n\r\n") && !plain.contains("Proxy-Authorization"));
        let alice = ProxyCredentials {
            user: "Aladdin".into(),
            password: "open sesame".into(),
        };
        let with = String::from_utf8(connect_request("h:1", Some(&alice))).unwrap();
        // RFC 7617's example.
        assert!(
            with.contains("\r\nProxy-Authorization: Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==\r\n"),
            "{with}"
        );
    }

    #[test]
    fn a_2xx_answer_read_in_pieces_opens_the_tunnel() {
        let mut p = exchange(None);
        let mut sock = FakeSocket::new(b"");
        sock.write_room = 10;
        assert_eq!(p.advance(&mut sock, addr()), ProxyStep::Pending);
        sock.write_room = usize::MAX;
        assert_eq!(p.advance(&mut sock, addr()), ProxyStep::Pending);
        assert_eq!(sock.sent, connect_request("tunnel.example:443", None));
        sock.incoming = b"HTTP/1.0 200 Connection established\r\nProxy-agent: x\r\n\r\n".to_vec();
        sock.chunk = 7;
        assert_eq!(p.advance(&mut sock, addr()), ProxyStep::Established);
    }

    #[test]
    fn refusals_name_the_status_and_the_proxy() {
        let answer = b"HTTP/1.0 407 Proxy Authentication Required\r\n\
            Proxy-Authenticate: Basic realm=\"x\"\r\n\r\n<html>body</html>";
        let why = failure(exchange(None).advance(&mut FakeSocket::new(answer), addr()));
        assert!(
            why.starts_with(
                "the HTTP proxy at 127.0.0.1:3128 refused CONNECT to tunnel.example:443: \
                 407 Proxy Authentication Required (check the user"
            ),
            "{why}"
        );
        let why = failure(exchange(None).advance(
            &mut FakeSocket::new(b"HTTP/1.1 502 Bad Gateway\r\n\r\n"),
            addr(),
        ));
        assert!(why.ends_with(": 502 Bad Gateway"), "{why}");
        let mut named = ProxyConnect::new("h:1".into(), "proxy.corp:3128".into(), None);
        let why = failure(named.advance(&mut FakeSocket::new(b"HTTP/1.1 403 No\r\n\r\n"), addr()));
        assert!(
            why.starts_with("the HTTP proxy at proxy.corp:3128 (127.0.0.1:3128) refused"),
            "{why}"
        );
    }

    #[test]
    fn garbled_oversized_early_closed_and_overlong_answers_fail_clearly() {
        let why =
            failure(exchange(None).advance(&mut FakeSocket::new(b"SSH-2.0-OpenSSH\r\n"), addr()));
        assert!(why.contains("did not answer CONNECT in HTTP"), "{why}");

        let mut endless = b"HTTP/1.1 200 OK\r\n".to_vec();
        while endless.len() < 3 * MAX_RESPONSE_HEAD {
            endless.extend_from_slice(format!("X-Padding: {}\r\n", "a".repeat(500)).as_bytes());
        }
        let mut sock = FakeSocket::new(&endless);
        let why = failure(exchange(None).advance(&mut sock, addr()));
        assert!(why.contains("longer than 8192 bytes"), "{why}");
        assert!(
            endless.len() - sock.incoming.len() <= MAX_RESPONSE_HEAD + 1,
            "read past the bound"
        );

        let mut sock = FakeSocket::new(b"HTTP/1.1 200 OK\r\n");
        sock.eof = true;
        let why = failure(exchange(None).advance(&mut sock, addr()));
        assert!(
            why.contains("closed the connection before answering"),
            "{why}"
        );

        let sock = &mut FakeSocket::new(b"HTTP/1.1 200 OK\r\n\r\nhello");
        let why = failure(exchange(None).advance(sock, addr()));
        assert!(why.contains("sent 5 bytes after its 200 answer"), "{why}");
    }
}
