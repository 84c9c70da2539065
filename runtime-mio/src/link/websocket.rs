//! An open WebSocket link: frames read in place ([`ws_reader`]), data
//! frames written in place ([`ws_frame`]), pongs and closes of our own.
//! tungstenite does the client's HTTP handshake and nothing after it.

use std::fmt;
use std::io::{self, Read as _};
use std::net::SocketAddr;
use std::time::Instant;

use mio::Token;
use tcpws_protocol::frame::{cut, MAX_MESSAGE};
use tungstenite::protocol::WebSocketConfig;
use tungstenite::Error as WsError;

use crate::link::closing::Closing;
use crate::link::link_stream::{LinkStream, Ws};
use crate::link::transport::{self, Transport};
use crate::link::ws_frame::{self, MaskKeys};
use crate::link::ws_reader::{Frame, FrameReader, Message, INITIAL_BUFFER};

/// The longest close reason a close frame carries (125 bytes minus the code).
const MAX_CLOSE_REASON: usize = 123;
/// The status code of a normal close (RFC 6455 section 7.4.1).
pub(crate) const CLOSE_NORMAL: u16 = 1000;
/// The status code of a close for a protocol error.
const CLOSE_PROTOCOL_ERROR: u16 = 1002;

/// Control frames (pings, pongs) one [`Link::read`] takes before it returns
/// [`LinkRead::Busy`], so a peer flooding them gets one turn of the ready
/// queue at a time like any other, not the whole loop.
pub(crate) const CONTROL_FRAMES_PER_READ: usize = 16;
/// Most bytes one [`Link::read`] takes from the socket: a largest message
/// and a little more, so any message that has arrived completes in one
/// read, while a stream of frames that never makes one (empty fragments,
/// say) still yields.
const READ_BYTES_PER_TURN: usize = MAX_MESSAGE + 64 * 1024;

/// tungstenite's settings for the client's handshake, the only thing it
/// does: the read buffer it reads the server's HTTP head with.
pub(crate) fn ws_config() -> WebSocketConfig {
    WebSocketConfig::default().read_buffer_size(INITIAL_BUFFER)
}

/// What one read from a link produced.
#[derive(Debug)]
pub(crate) enum LinkRead {
    /// One binary message for the protocol: [`Link::message`] has its bytes.
    Message(Message),
    /// Nothing more to read until the socket is readable again.
    Idle,
    /// This read's budget is used up with no message: more may wait, so
    /// the link needs another turn.
    Busy(Spent),
    /// The peer broke the WebSocket contract we rely on (a text message,
    /// a message over the protocol's limit, a malformed frame): close the
    /// link with this reason.
    Violation(String),
    /// The link is gone (peer close, EOF, error); this says why.
    Down(String),
}

/// What used up a read's budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Spent {
    /// [`CONTROL_FRAMES_PER_READ`] pings or pongs.
    ControlFrames,
    /// [`READ_BYTES_PER_TURN`] bytes.
    Bytes,
}

impl fmt::Display for Spent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Spent::ControlFrames => {
                write!(
                    f,
                    "{CONTROL_FRAMES_PER_READ} WebSocket pings or pongs in a row"
                )
            }
            Spent::Bytes => write!(f, "{READ_BYTES_PER_TURN} bytes of frames"),
        }
    }
}

/// An open WebSocket link. Writes are bounded: after a flush hits
/// `WouldBlock` the link is `blocked` and takes no more messages until a
/// writable event lets the flush finish, so at most one message waits in
/// user space beyond the kernel buffer.
#[derive(Debug)]
pub(crate) struct Link {
    pub(crate) token: Token,
    pub(crate) peer: SocketAddr,
    stream: LinkStream,
    reader: FrameReader,
    /// Mask keys, on a client's link (RFC 6455: clients mask every frame).
    masks: Option<MaskKeys>,
    /// The last flush would block: send nothing more until it completes.
    pub(crate) blocked: bool,
    /// Waiting in the loop's ready queue for a read.
    pub(crate) queued: bool,
    /// Pings and pongs the peer sent (they never reach the protocol).
    pub(crate) control_frames: u64,
    /// When a flood of them was last logged.
    pub(crate) control_logged: Option<Instant>,
    /// A message the protocol has taken only part of, and where its rest
    /// starts: handed over before anything more is read.
    pub(crate) unfinished: Option<(Message, usize)>,
}

impl Link {
    /// The server side of an upgraded HTTP connection; `leftover` holds bytes
    /// that arrived after the request head.
    pub(crate) fn accepted(
        token: Token,
        peer: SocketAddr,
        stream: Transport,
        leftover: Vec<u8>,
    ) -> Link {
        Link::new(token, peer, LinkStream::new(stream), &leftover, false)
    }

    /// The client side, once tungstenite's handshake is done: what it read
    /// past the server's HTTP head is ours to parse.
    pub(crate) fn handshaken(token: Token, peer: SocketAddr, ws: Ws) -> Link {
        let mut stream = ws.into_inner();
        let tail = stream.take_tail();
        Link::new(token, peer, stream, &tail, true)
    }

    /// A link over `stream` whose first bytes are `leftover`; `client` when
    /// we are the WebSocket client (and so mask our frames).
    pub(crate) fn new(
        token: Token,
        peer: SocketAddr,
        stream: LinkStream,
        leftover: &[u8],
        client: bool,
    ) -> Link {
        Link {
            token,
            peer,
            stream,
            reader: FrameReader::new(!client, leftover),
            masks: client.then(MaskKeys::new),
            blocked: false,
            queued: false,
            control_frames: 0,
            control_logged: None,
            unfinished: None,
        }
    }

    /// The bytes of a message [`Link::read`] returned; valid until the
    /// link is used again.
    pub(crate) fn message(&self, message: &Message) -> &[u8] {
        self.reader.message(message)
    }

    /// A fresh mask key on a client's link, none on a server's.
    fn mask(&mut self) -> Result<Option<[u8; 4]>, String> {
        match &mut self.masks {
            Some(keys) => keys
                .next()
                .map(Some)
                .map_err(|e| format!("no random mask key for a frame: {e}")),
            None => Ok(None),
        }
    }

    /// Reads until one message is complete, the socket would block, the
    /// link ends, or the read's budget is spent: [`CONTROL_FRAMES_PER_READ`]
    /// control frames, or [`READ_BYTES_PER_TURN`] bytes. Pings are answered
    /// (the pong goes out with the next flush); a close is answered with a
    /// close.
    pub(crate) fn read(&mut self) -> LinkRead {
        // A message the protocol has not finished lives in the buffer this
        // read would overwrite.
        debug_assert!(self.unfinished.is_none(), "read with an unfinished message");
        let mut control = 0;
        let mut taken = 0;
        loop {
            let frame = match self.reader.next_frame() {
                Ok(frame) => frame,
                Err(why) => return LinkRead::Violation(why),
            };
            match frame {
                Frame::Message(m) => return LinkRead::Message(m),
                Frame::Ping(payload) => {
                    let mask = match self.mask() {
                        Ok(mask) => mask,
                        Err(why) => return LinkRead::Down(why),
                    };
                    self.stream.queue_pong(self.reader.bytes(payload), mask);
                }
                Frame::Pong => {}
                Frame::Close(close) => {
                    let mask = match self.mask() {
                        Ok(mask) => mask,
                        Err(why) => return LinkRead::Down(why),
                    };
                    // Echo the code, as RFC 6455 section 5.5.1 asks; one
                    // that may never be sent is answered as a protocol error.
                    let reply = close.as_ref().map(|(code, _)| reply_code(*code));
                    self.stream.queue_close(reply, "", mask);
                    return LinkRead::Down(match close {
                        Some((_, reason)) if !reason.is_empty() => {
                            format!("peer closed the WebSocket: {reason}")
                        }
                        Some((code, _)) => format!("peer closed the WebSocket (code {code})"),
                        None => "peer closed the WebSocket".into(),
                    });
                }
                Frame::Incomplete => {
                    if taken >= READ_BYTES_PER_TURN {
                        return LinkRead::Busy(Spent::Bytes);
                    }
                    let room = self.reader.read_room();
                    let want = room.len().min(READ_BYTES_PER_TURN - taken);
                    match self.stream.read(&mut room[..want]) {
                        Ok(0) => {
                            return LinkRead::Down(
                                "the peer closed the connection without a WebSocket close".into(),
                            )
                        }
                        Ok(n) => {
                            self.reader.filled(n);
                            taken += n;
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => return LinkRead::Idle,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => return LinkRead::Down(describe_io(&e)),
                    }
                    continue;
                }
            }
            self.control_frames += 1;
            control += 1;
            if control == CONTROL_FRAMES_PER_READ {
                return LinkRead::Busy(Spent::ControlFrames);
            }
        }
    }

    /// Whether a data message may be framed now: nothing of ours waits for
    /// the socket (flushing it if it can). `Ok(false)`: the socket is full
    /// and the link is now `blocked`.
    pub(crate) fn ready_to_send(&mut self) -> Result<bool, String> {
        if self.blocked {
            return Ok(false);
        }
        self.flush()
    }

    /// Sends the protocol message in `buf[MAX_HEADER..]` as one binary frame,
    /// framed (and masked, on a client) in place; call only after
    /// [`ready_to_send`](Self::ready_to_send). `Ok(true)`: all written;
    /// `Ok(false)`: the socket filled, the rest is kept and the link is now
    /// `blocked`. `buf` may come back with another buffer's capacity.
    pub(crate) fn send(&mut self, buf: &mut Vec<u8>) -> Result<bool, String> {
        let mask = self.mask()?;
        let start = ws_frame::frame_in_place(buf, mask);
        match self.stream.write_frame(buf, start) {
            Ok(true) => Ok(true),
            Ok(false) => {
                self.blocked = true;
                Ok(false)
            }
            Err(e) => Err(format!("socket error: {}", crate::error::describe(&e))),
        }
    }

    /// Whether bytes of ours or TLS records (say, a reply the peer's
    /// records asked for) wait for the socket.
    pub(crate) fn wants_write(&self) -> bool {
        self.stream.wants_write()
    }

    /// Writes out everything buffered (a frame's tail, pongs, TLS records).
    /// `Ok(false)`: would block, so the link stays `blocked`.
    pub(crate) fn flush(&mut self) -> Result<bool, String> {
        loop {
            match io::Write::flush(&mut self.stream) {
                Ok(()) => {
                    self.blocked = false;
                    return Ok(true);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.blocked = true;
                    return Ok(false);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(describe_io(&e)),
            }
        }
    }

    /// Ends the link: queues a close frame with `close` (code and reason,
    /// the reason cut to 123 bytes) when given, and hands the socket over to
    /// be flushed and closed by `deadline`.
    pub(crate) fn into_closing(mut self, close: Option<(u16, &str)>, deadline: Instant) -> Closing {
        if let Some((code, reason)) = close {
            // Without a mask key (no OS randomness) the close frame is
            // skipped; the socket still closes.
            if let Ok(mask) = self.mask() {
                self.stream
                    .queue_close(Some(code), cut(reason, MAX_CLOSE_REASON), mask);
            }
        }
        Closing::flushing(self.token, self.peer, self.stream, deadline)
    }
}

/// The code a close reply carries for the peer's `code`: the same, when
/// it is one an endpoint may send (RFC 6455 section 7.4), else 1002
/// (protocol error).
fn reply_code(code: u16) -> u16 {
    match code {
        1000..=1003 | 1007..=1014 | 3000..=4999 => code,
        _ => CLOSE_PROTOCOL_ERROR,
    }
}

/// A socket error as a short reason for logs and the protocol.
pub(crate) fn describe_io(e: &io::Error) -> String {
    match transport::tls_failure(e) {
        Some(failure) => failure.to_string(),
        None if e.kind() == io::ErrorKind::UnexpectedEof => {
            "the peer closed the TCP connection without a TLS close_notify".into()
        }
        None => format!("socket error: {}", crate::error::describe(e)),
    }
}

/// The longest part of an HTTP error body quoted in a log line.
const MAX_QUOTED_BODY: usize = 200;

/// A tungstenite error as a short reason for logs and the protocol.
pub(crate) fn describe_ws(e: &WsError) -> String {
    match e {
        WsError::ConnectionClosed | WsError::AlreadyClosed => "connection closed".into(),
        WsError::Io(e) => describe_io(e),
        WsError::Http(response) => {
            let body = response
                .body()
                .as_deref()
                .map(|b| String::from_utf8_lossy(b).trim().to_string())
                .unwrap_or_default();
            let status = response.status();
            if body.is_empty() {
                format!("the server answered HTTP {status}")
            } else {
                format!(
                    "the server answered HTTP {status}: {}",
                    cut(&body, MAX_QUOTED_BODY)
                )
            }
        }
        WsError::Protocol(p) => format!("WebSocket protocol error: {p}"),
        WsError::Capacity(c) => format!("WebSocket limit exceeded: {c}"),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::link::transport::Handshake;
    use crate::link::ws_frame::MAX_HEADER;
    use mio::net::TcpStream;
    use std::io::Write as _;
    use std::time::Duration;
    use tungstenite::protocol::Role as WsRole;
    use tungstenite::{Bytes, Message, WebSocket};

    /// `message` after the room for its frame header, as `send` takes it.
    fn framed(message: &[u8]) -> Vec<u8> {
        let mut buf = vec![0; MAX_HEADER];
        buf.extend_from_slice(message);
        buf
    }

    /// The `i`th test message: 64 KiB, numbered, so a lost, torn or
    /// reordered message shows.
    fn message(i: u32) -> Vec<u8> {
        let mut m = vec![(i % 251) as u8; 64 * 1024];
        m[..4].copy_from_slice(&i.to_be_bytes());
        m
    }

    /// Our non-blocking end of a loopback connection, registered with `poll`
    /// for `interest` under token 1, its address, and the peer's end.
    fn connected(
        poll: &mio::Poll,
        interest: mio::Interest,
    ) -> (TcpStream, SocketAddr, std::net::TcpStream) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let peer = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (ours, addr) = listener.accept().unwrap();
        ours.set_nonblocking(true).unwrap();
        let mut ours = TcpStream::from_std(ours);
        poll.registry()
            .register(&mut ours, Token(1), interest)
            .unwrap();
        (ours, addr, peer)
    }

    /// Sends numbered messages until the link reports a full socket; returns
    /// how many went.
    fn send_until_blocked(link: &mut Link) -> u32 {
        let mut sent = 0u32;
        while link.ready_to_send().unwrap() {
            assert!(sent < 10_000, "the socket never filled up");
            link.send(&mut framed(&message(sent))).unwrap();
            sent += 1;
        }
        sent
    }

    /// Flushes on every wakeup of `poll` while `busy` says bytes wait.
    fn flush_while(
        link: &mut Link,
        poll: &mut mio::Poll,
        deadline: Instant,
        busy: fn(&Link) -> bool,
    ) {
        let mut events = mio::Events::with_capacity(8);
        while busy(link) {
            assert!(Instant::now() < deadline, "never became writable");
            poll.poll(&mut events, Some(Duration::from_millis(100)))
                .unwrap();
            link.flush().unwrap();
        }
    }

    /// Reads `count` messages and checks each is the numbered one.
    fn expect_messages<S: io::Read + io::Write>(peer: &mut WebSocket<S>, count: u32) {
        for i in 0..count {
            match peer.read().unwrap() {
                Message::Binary(b) => assert_eq!(&b[..], &message(i)[..], "message {i}"),
                other => panic!("unexpected {other:?}"),
            }
        }
    }

    #[test]
    fn close_replies_echo_only_codes_an_endpoint_may_send() {
        for code in [1000, 1001, 1003, 1007, 1011, 3000, 4999] {
            assert_eq!(reply_code(code), code);
        }
        for code in [0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000] {
            assert_eq!(reply_code(code), CLOSE_PROTOCOL_ERROR, "{code}");
        }
    }

    #[test]
    fn truncate_keeps_char_boundaries() {
        assert_eq!(cut("short", 123), "short");
        let long = "é".repeat(100); // 200 bytes
        let cut = cut(&long, MAX_CLOSE_REASON);
        assert_eq!(cut.len(), 122);
        assert!(cut.chars().all(|c| c == 'é'));
    }

    /// A peer that stops reading makes `send` report a full socket; once it
    /// reads again a writable event lets `flush` finish, and every message
    /// arrives whole and in order (masked, as a client sends them).
    #[test]
    fn blocked_link_resumes_after_writable_and_loses_nothing() {
        let mut poll = mio::Poll::new().unwrap();
        let (ours, addr, peer_std) = connected(&poll, mio::Interest::WRITABLE);
        let stream = LinkStream::new(Transport::Plain(ours));
        let mut link = Link::new(Token(1), addr, stream, &[], true);

        let sent = send_until_blocked(&mut link);

        let reader = std::thread::spawn(move || {
            let mut peer = WebSocket::from_raw_socket(peer_std, WsRole::Server, Some(ws_config()));
            expect_messages(&mut peer, sent);
        });

        let deadline = Instant::now() + Duration::from_secs(20);
        flush_while(&mut link, &mut poll, deadline, |link| link.blocked);
        reader.join().unwrap();
    }

    /// The same over TLS: rustls's buffer fills, `send` reports a blocked
    /// link, and writable events drain it without losing a byte.
    #[test]
    fn blocked_tls_link_resumes_after_writable_and_loses_nothing() {
        use crate::tls::test_certs::{issue, root};
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        use std::sync::Arc;

        let ca = root("test root");
        let leaf = issue("127.0.0.1", false, &ca);
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let server_config = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![leaf.cert.der().clone()],
                PrivateKeyDer::try_from(leaf.key.serialize_der()).unwrap(),
            )
            .unwrap();
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(CertificateDer::from(ca.cert.der().to_vec()))
            .unwrap();
        let client_config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();

        let mut poll = mio::Poll::new().unwrap();
        let interest = mio::Interest::READABLE | mio::Interest::WRITABLE;
        let (ours, addr, peer_std) = connected(&poll, interest);
        let mut transport = Transport::server(ours, &Arc::new(server_config)).unwrap();

        let (count_tx, count_rx) = std::sync::mpsc::channel::<u32>();
        let reader = std::thread::spawn(move || {
            let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
            let conn = rustls::ClientConnection::new(Arc::new(client_config), name).unwrap();
            let mut tls = rustls::StreamOwned::new(conn, peer_std);
            // The handshake completes before the link starts writing.
            tls.conn.complete_io(&mut tls.sock).unwrap();
            while tls.conn.is_handshaking() {
                tls.conn.complete_io(&mut tls.sock).unwrap();
            }
            let sent = count_rx.recv().unwrap();
            let mut peer = WebSocket::from_raw_socket(tls, WsRole::Client, Some(ws_config()));
            expect_messages(&mut peer, sent);
        });

        let mut events = mio::Events::with_capacity(8);
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            match transport.handshake() {
                Handshake::Done => break,
                Handshake::Pending => {}
                other => panic!("handshake: {other:?}"),
            }
            assert!(Instant::now() < deadline, "handshake never finished");
            poll.poll(&mut events, Some(Duration::from_millis(100)))
                .unwrap();
        }
        let stream = LinkStream::new(transport);
        let mut link = Link::new(Token(1), addr, stream, &[], false);
        let sent = send_until_blocked(&mut link);
        count_tx.send(sent).unwrap();
        flush_while(&mut link, &mut poll, deadline, |link| {
            link.blocked || link.wants_write()
        });
        reader.join().unwrap();
    }

    /// A server-side link (ours, reading `interest` events from `poll`) and
    /// the peer's end as a WebSocket client, which masks what it sends.
    fn server_link(
        poll: &mio::Poll,
        interest: mio::Interest,
    ) -> (Link, WebSocket<std::net::TcpStream>) {
        let (ours, addr, peer) = connected(poll, interest);
        let stream = LinkStream::new(Transport::Plain(ours));
        let peer = WebSocket::from_raw_socket(peer, WsRole::Client, None);
        (Link::new(Token(1), addr, stream, &[], false), peer)
    }

    /// The next read of `link` that is not `Idle`, waiting for readable
    /// events in between.
    fn read_next(link: &mut Link, poll: &mut mio::Poll) -> LinkRead {
        let mut events = mio::Events::with_capacity(8);
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            match link.read() {
                LinkRead::Idle => {
                    assert!(Instant::now() < deadline, "nothing to read");
                    poll.poll(&mut events, Some(Duration::from_millis(100)))
                        .unwrap();
                }
                other => return other,
            }
        }
    }

    /// A message as long as the protocol allows comes through; one byte
    /// more, whole or in fragments, is a violation that names the limit,
    /// seen as soon as the frame header (or the fragment) says so.
    #[test]
    fn messages_over_the_protocol_limit_are_violations() {
        let mut poll = mio::Poll::new().unwrap();
        let (mut link, mut peer) = server_link(&poll, mio::Interest::READABLE);
        let writer = std::thread::spawn(move || {
            peer.send(Message::binary(vec![7u8; MAX_MESSAGE])).unwrap();
            // Refused at its header: the rest may never be read.
            let _ = peer.send(Message::binary(vec![7u8; MAX_MESSAGE + 1]));
        });
        match read_next(&mut link, &mut poll) {
            LinkRead::Message(m) => assert_eq!(link.message(&m).len(), MAX_MESSAGE),
            other => panic!("expected the largest message, got {other:?}"),
        }
        match read_next(&mut link, &mut poll) {
            LinkRead::Violation(why) => assert_eq!(
                why,
                format!(
                    "protocol violation: a WebSocket message of {} bytes or more, \
                     over the limit of {MAX_MESSAGE}",
                    MAX_MESSAGE + 1
                )
            ),
            other => panic!("expected a violation, got {other:?}"),
        }
        drop(link);
        writer.join().unwrap();

        use tungstenite::protocol::frame::coding::{Data, OpCode};
        use tungstenite::protocol::frame::Frame;
        let (mut link, mut peer) = server_link(&poll, mio::Interest::READABLE);
        let half = MAX_MESSAGE / 2 + 1;
        let writer = std::thread::spawn(move || {
            let first = Frame::message(vec![1u8; half], OpCode::Data(Data::Binary), false);
            let last = Frame::message(vec![2u8; half], OpCode::Data(Data::Continue), true);
            peer.send(Message::Frame(first)).unwrap();
            peer.send(Message::Frame(last)).unwrap();
            peer
        });
        match read_next(&mut link, &mut poll) {
            LinkRead::Violation(why) => {
                assert!(
                    why.contains(&format!("over the limit of {MAX_MESSAGE}")),
                    "{why}"
                )
            }
            other => panic!("expected a violation, got {other:?}"),
        }
        drop(writer.join().unwrap());
    }

    /// Pings count against a read's budget: a read that meets nothing but
    /// pings stops after [`CONTROL_FRAMES_PER_READ`] of them and says
    /// `Busy`, so the loop can give other sockets their turn first.
    #[test]
    fn a_ping_flood_takes_turns_like_messages() {
        const PINGS: u64 = 100;
        let mut poll = mio::Poll::new().unwrap();
        let (mut link, mut peer) = server_link(&poll, mio::Interest::READABLE);
        for i in 0..PINGS {
            peer.send(Message::Ping(Bytes::from(i.to_be_bytes().to_vec())))
                .unwrap();
        }
        peer.send(Message::binary(&b"after the pings"[..])).unwrap();
        let mut busy = 0;
        loop {
            let before = link.control_frames;
            let read = read_next(&mut link, &mut poll);
            let taken = link.control_frames - before;
            match read {
                LinkRead::Busy(spent) => {
                    assert_eq!(spent, Spent::ControlFrames);
                    assert_eq!(taken, CONTROL_FRAMES_PER_READ as u64);
                    busy += 1;
                }
                LinkRead::Message(m) => {
                    assert_eq!(link.message(&m), b"after the pings");
                    assert!(taken <= CONTROL_FRAMES_PER_READ as u64, "{taken}");
                    break;
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(link.control_frames, PINGS);
        assert!(busy >= 1, "the pings never used up a read's budget");
    }

    /// Empty fragments never make a message, and tungstenite gathers them
    /// without returning: the read's byte budget makes it yield all the
    /// same, and the message completes in a later read.
    #[test]
    fn endless_fragments_take_turns_too() {
        use tungstenite::protocol::frame::coding::{Data, OpCode};
        use tungstenite::protocol::frame::Frame;
        let mut poll = mio::Poll::new().unwrap();
        let (mut link, mut peer) = server_link(&poll, mio::Interest::READABLE);
        let writer = std::thread::spawn(move || {
            let first = Frame::message(vec![1u8], OpCode::Data(Data::Binary), false);
            peer.send(Message::Frame(first)).unwrap();
            // Masked, empty, not final continuation frames, written far
            // faster than they can be read: 6 MB of them.
            let empty: Vec<u8> = [0x00, 0x80, 1, 2, 3, 4].repeat(1024 * 1024 / 6);
            for _ in 0..6 {
                peer.get_mut().write_all(&empty).unwrap();
            }
            let last = Frame::message(vec![2u8], OpCode::Data(Data::Continue), true);
            peer.send(Message::Frame(last)).unwrap();
            peer
        });
        let mut busy = 0;
        loop {
            match read_next(&mut link, &mut poll) {
                LinkRead::Busy(spent) => {
                    assert_eq!(spent, Spent::Bytes);
                    busy += 1;
                }
                LinkRead::Message(m) => {
                    assert_eq!(link.message(&m), [1u8, 2]);
                    break;
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        assert!(busy >= 1, "6 MB of fragments in one read");
        drop(writer.join().unwrap());
    }

    /// Sets a socket buffer size (`SO_SNDBUF` or `SO_RCVBUF`), so the kernel
    /// holds a known, small amount.
    fn set_socket_buffer(fd: std::os::fd::RawFd, option: libc::c_int, bytes: libc::c_int) {
        let len = libc::socklen_t::try_from(std::mem::size_of::<libc::c_int>()).unwrap();
        // SAFETY: `fd` is an open socket for the whole call; the pointer and
        // length describe a live c_int.
        let rc = unsafe {
            libc::setsockopt(
                fd,
                libc::SOL_SOCKET,
                option,
                std::ptr::from_ref(&bytes).cast::<libc::c_void>(),
                len,
            )
        };
        assert_eq!(rc, 0, "{}", io::Error::last_os_error());
    }

    /// A peer that floods pings and reads nothing gets a bounded number of
    /// pongs: once the socket is full, tungstenite holds at most
    /// [`MAX_CONTROL_BACKLOG`] of them and then answers only the latest ping.
    #[test]
    fn pongs_for_a_peer_that_does_not_read_are_bounded() {
        use std::os::fd::AsRawFd;
        const PINGS: usize = 10_000;
        let mut poll = mio::Poll::new().unwrap();
        let interest = mio::Interest::READABLE | mio::Interest::WRITABLE;
        let (mut link, mut peer) = server_link(&poll, interest);
        set_socket_buffer(
            link.stream.transport().tcp().as_raw_fd(),
            libc::SO_SNDBUF,
            16 * 1024,
        );
        set_socket_buffer(peer.get_ref().as_raw_fd(), libc::SO_RCVBUF, 16 * 1024);
        let peer = std::thread::spawn(move || {
            let payload = Bytes::from(vec![b'p'; 125]);
            for _ in 0..PINGS {
                peer.send(Message::Ping(payload.clone())).unwrap();
            }
            peer.send(Message::binary(&b"end"[..])).unwrap();
            // Only now read: every pong that was kept, then our message.
            let mut pongs = 0;
            loop {
                match peer.read().unwrap() {
                    Message::Pong(_) => pongs += 1,
                    Message::Binary(b) => {
                        assert_eq!(&b[..], b"done");
                        return pongs;
                    }
                    other => panic!("unexpected {other:?}"),
                }
            }
        });
        loop {
            match read_next(&mut link, &mut poll) {
                LinkRead::Busy(_) => {}
                LinkRead::Message(m) => {
                    assert_eq!(link.message(&m), b"end");
                    break;
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut events = mio::Events::with_capacity(8);
        // As the loop does: flush on every wakeup until the pongs are out.
        while !link.flush().unwrap() {
            assert!(Instant::now() < deadline, "the pongs never drained");
            poll.poll(&mut events, Some(Duration::from_millis(100)))
                .unwrap();
        }
        assert!(link.ready_to_send().unwrap());
        if !link.send(&mut framed(b"done")).unwrap() {
            flush_while(&mut link, &mut poll, deadline, |link| link.blocked);
        }
        let pongs = peer.join().unwrap();
        // The kernel buffers hold a few hundred pongs; unbounded, all 10 000
        // would arrive.
        assert!(
            pongs < PINGS / 4,
            "{pongs} pongs of {PINGS} reached the peer"
        );
        assert_eq!(link.control_frames, PINGS as u64);
    }
}
