//! A WebSocket link: the client's connect-and-handshake attempt, and an open
//! link's reads, writes and flushes over tungstenite.

use std::io;
use std::net::SocketAddr;
use std::time::Instant;

use mio::net::TcpStream;
use mio::{Interest, Registry, Token};
use tungstenite::client::client_with_config;
use tungstenite::handshake::client::ClientHandshake;
use tungstenite::handshake::{HandshakeError, MidHandshake};
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::protocol::frame::CloseFrame;
use tungstenite::protocol::{Role as WsRole, WebSocketConfig};
use tungstenite::{Bytes, Error as WsError, Message, WebSocket};

use crate::closing::Closing;
use crate::dial::{self, Fallback, Progress};

/// A WebSocket over a non-blocking mio socket.
pub(crate) type Ws = WebSocket<TcpStream>;

/// The longest close reason a close frame carries (125 bytes minus the code).
const MAX_CLOSE_REASON: usize = 123;

/// Our WebSocket settings: messages up to the protocol's limit, and every
/// write goes straight to the socket (we flush after each message anyway).
pub(crate) fn ws_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .max_message_size(Some(tcpws_protocol::frame::MAX_MESSAGE))
        .max_frame_size(Some(tcpws_protocol::frame::MAX_MESSAGE))
        .write_buffer_size(0)
}

/// What one read from a link produced.
#[derive(Debug)]
pub(crate) enum LinkRead {
    /// One binary message for the protocol.
    Message(Bytes),
    /// Nothing more to read until the socket is readable again.
    Idle,
    /// The peer broke the WebSocket contract we rely on (e.g. a text
    /// message): close the link with this reason.
    Violation(String),
    /// The link is gone (peer close, EOF, error); this says why.
    Down(String),
}

/// An open WebSocket link. Writes are bounded: after a flush hits
/// `WouldBlock` the link is `blocked` and takes no more messages until a
/// writable event lets the flush finish, so at most one message waits in
/// user space beyond the kernel buffer.
#[derive(Debug)]
pub(crate) struct Link {
    pub(crate) token: Token,
    pub(crate) peer: SocketAddr,
    ws: Ws,
    /// The last flush would block: send nothing more until it completes.
    pub(crate) blocked: bool,
    /// Waiting in the loop's ready queue for a read.
    pub(crate) queued: bool,
}

impl Link {
    /// The server side of an upgraded HTTP connection; `leftover` holds bytes
    /// that arrived after the request head.
    pub(crate) fn accepted(
        token: Token,
        peer: SocketAddr,
        stream: TcpStream,
        leftover: Vec<u8>,
    ) -> Link {
        let ws =
            WebSocket::from_partially_read(stream, leftover, WsRole::Server, Some(ws_config()));
        Link::new(token, peer, ws)
    }

    pub(crate) fn new(token: Token, peer: SocketAddr, ws: Ws) -> Link {
        Link {
            token,
            peer,
            ws,
            blocked: false,
            queued: false,
        }
    }

    /// Reads until one message is complete, the socket would block, or the
    /// link ends. Pings are answered by tungstenite (the answer goes out with
    /// the next flush).
    pub(crate) fn read(&mut self) -> LinkRead {
        loop {
            match self.ws.read() {
                Ok(Message::Binary(bytes)) => return LinkRead::Message(bytes),
                Ok(Message::Text(_)) => {
                    return LinkRead::Violation(
                        "protocol violation: text message on a binary-only link".into(),
                    )
                }
                Ok(Message::Close(frame)) => {
                    return LinkRead::Down(match frame {
                        Some(f) if !f.reason.is_empty() => {
                            format!("peer closed the WebSocket: {}", f.reason.as_str())
                        }
                        Some(f) => {
                            format!("peer closed the WebSocket (code {})", u16::from(f.code))
                        }
                        None => "peer closed the WebSocket".into(),
                    })
                }
                Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_)) => continue,
                Err(WsError::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => {
                    return LinkRead::Idle
                }
                Err(WsError::Io(e)) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return LinkRead::Down(describe_ws(&e)),
            }
        }
    }

    /// Queues one binary message and flushes. `Ok(true)`: all written;
    /// `Ok(false)`: the socket would block and the link is now `blocked`.
    pub(crate) fn send(&mut self, message: &[u8]) -> Result<bool, String> {
        match self
            .ws
            .write(Message::Binary(Bytes::copy_from_slice(message)))
        {
            Ok(()) => {}
            // The frame is in tungstenite's buffer; the flush below retries.
            Err(WsError::Io(e))
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                ) => {}
            Err(e) => return Err(describe_ws(&e)),
        }
        self.flush()
    }

    /// Writes out everything buffered (messages and automatic pongs).
    /// `Ok(false)`: would block, so the link stays `blocked`.
    pub(crate) fn flush(&mut self) -> Result<bool, String> {
        loop {
            match self.ws.flush() {
                Ok(()) => {
                    self.blocked = false;
                    return Ok(true);
                }
                Err(WsError::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.blocked = true;
                    return Ok(false);
                }
                Err(WsError::Io(e)) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(describe_ws(&e)),
            }
        }
    }

    /// Ends the link: queues a close frame with `close` (code and reason,
    /// the reason cut to 123 bytes) when given, and hands the socket over to
    /// be flushed and closed by `deadline`.
    pub(crate) fn into_closing(
        mut self,
        close: Option<(CloseCode, &str)>,
        deadline: Instant,
    ) -> Closing {
        if let Some((code, reason)) = close {
            let frame = CloseFrame {
                code,
                reason: truncate(reason, MAX_CLOSE_REASON).into(),
            };
            // Queues the frame and tries a flush; `Closing` finishes the job.
            let _ = self.ws.close(Some(frame));
        }
        Closing::flushing(self.token, self.peer, self.ws, deadline)
    }
}

/// The longest prefix of `s` within `max` bytes that ends on a char boundary.
pub(crate) fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// A tungstenite error as a short reason for logs and the protocol.
fn describe_ws(e: &WsError) -> String {
    match e {
        WsError::ConnectionClosed | WsError::AlreadyClosed => "connection closed".into(),
        WsError::Io(e) => format!("socket error: {}", crate::error::describe(e)),
        WsError::Protocol(p) => format!("WebSocket protocol error: {p}"),
        WsError::Capacity(c) => format!("WebSocket limit exceeded: {c}"),
        other => other.to_string(),
    }
}

enum DialState {
    Connecting(TcpStream, Fallback),
    Handshaking(Box<MidHandshake<ClientHandshake<TcpStream>>>),
}

/// What a step of the client's attempt produced.
pub(crate) enum DialStep {
    Pending,
    Up(Box<Ws>),
    Failed(String),
}

/// A client's attempt to open its WebSocket to the server: a non-blocking
/// TCP connect, then a non-blocking tungstenite handshake, all by `deadline`.
pub(crate) struct ServerDial {
    pub(crate) token: Token,
    pub(crate) peer: SocketAddr,
    pub(crate) deadline: Instant,
    state: Option<DialState>,
}

impl ServerDial {
    /// Starts the TCP connect; the caller registers [`stream_mut`](Self::stream_mut)
    /// with the poller under `token`.
    pub(crate) fn start(
        host: &str,
        port: u16,
        token: Token,
        deadline: Instant,
    ) -> io::Result<ServerDial> {
        let (stream, peer, fallback) = dial::start(host, port)?;
        Ok(ServerDial {
            token,
            peer,
            deadline,
            state: Some(DialState::Connecting(stream, fallback)),
        })
    }

    /// The socket while still connecting (for registration).
    pub(crate) fn stream_mut(&mut self) -> Option<&mut TcpStream> {
        match &mut self.state {
            Some(DialState::Connecting(s, _)) => Some(s),
            _ => None,
        }
    }

    /// Advances after a readiness event; `url` is the `ws://` URL asked for.
    /// A failed connect moves on to the name's next address, registering
    /// the new socket under our token.
    pub(crate) fn advance(&mut self, url: &str, registry: &Registry) -> DialStep {
        let result = match self.state.take() {
            None => return DialStep::Failed("the attempt already ended".into()),
            Some(DialState::Connecting(stream, mut fallback)) => match dial::check(&stream) {
                Progress::Pending => {
                    self.state = Some(DialState::Connecting(stream, fallback));
                    return DialStep::Pending;
                }
                Progress::Failed(e) => {
                    let failed = self.peer;
                    drop(stream);
                    match fallback.connect_next(e) {
                        Ok((mut stream, addr)) => {
                            log::debug!("cannot connect to {failed}; trying {addr}");
                            if let Err(e) = registry.register(
                                &mut stream,
                                self.token,
                                Interest::READABLE | Interest::WRITABLE,
                            ) {
                                return DialStep::Failed(format!("cannot register a socket: {e}"));
                            }
                            self.peer = addr;
                            self.state = Some(DialState::Connecting(stream, fallback));
                            return DialStep::Pending;
                        }
                        Err(e) => {
                            return DialStep::Failed(format!(
                                "cannot connect to {failed}: {}",
                                crate::error::describe(&e)
                            ))
                        }
                    }
                }
                Progress::Connected => {
                    if let Err(e) = stream.set_nodelay(true) {
                        log::debug!("cannot set TCP_NODELAY on the link to {}: {e}", self.peer);
                    }
                    client_with_config(url, stream, Some(ws_config()))
                }
            },
            Some(DialState::Handshaking(mid)) => mid.handshake(),
        };
        match result {
            Ok((ws, _response)) => DialStep::Up(Box::new(ws)),
            Err(HandshakeError::Interrupted(mid)) => {
                self.state = Some(DialState::Handshaking(Box::new(mid)));
                DialStep::Pending
            }
            Err(HandshakeError::Failure(e)) => DialStep::Failed(format!(
                "WebSocket handshake with {} failed: {}",
                self.peer,
                describe_ws(&e)
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn truncate_keeps_char_boundaries() {
        assert_eq!(truncate("short", 123), "short");
        let long = "é".repeat(100); // 200 bytes
        let cut = truncate(&long, MAX_CLOSE_REASON);
        assert_eq!(cut.len(), 122);
        assert!(cut.chars().all(|c| c == 'é'));
    }

    /// A peer that stops reading makes `send` report a full socket; once it
    /// reads again a writable event lets `flush` finish, and every message
    /// arrives whole and in order.
    #[test]
    fn blocked_link_resumes_after_writable_and_loses_nothing() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let peer_std = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (ours, addr) = listener.accept().unwrap();
        ours.set_nonblocking(true).unwrap();
        let mut ours = TcpStream::from_std(ours);
        let mut poll = mio::Poll::new().unwrap();
        poll.registry()
            .register(&mut ours, Token(1), mio::Interest::WRITABLE)
            .unwrap();
        let ws = WebSocket::from_raw_socket(ours, WsRole::Server, Some(ws_config()));
        let mut link = Link::new(Token(1), addr, ws);

        let message = |i: u32| -> Vec<u8> {
            let mut m = vec![(i % 251) as u8; 64 * 1024];
            m[..4].copy_from_slice(&i.to_be_bytes());
            m
        };
        let mut sent = 0u32;
        while !link.blocked {
            assert!(sent < 10_000, "the socket never filled up");
            link.send(&message(sent)).unwrap();
            sent += 1;
        }

        let reader = std::thread::spawn(move || {
            let mut peer = WebSocket::from_raw_socket(peer_std, WsRole::Client, Some(ws_config()));
            for i in 0..sent {
                match peer.read().unwrap() {
                    Message::Binary(b) => assert_eq!(&b[..], &message(i)[..], "message {i}"),
                    other => panic!("unexpected {other:?}"),
                }
            }
        });

        let mut events = mio::Events::with_capacity(8);
        let deadline = Instant::now() + Duration::from_secs(20);
        while link.blocked {
            assert!(Instant::now() < deadline, "never became writable");
            poll.poll(&mut events, Some(Duration::from_millis(100)))
                .unwrap();
            link.flush().unwrap();
        }
        reader.join().unwrap();
    }
}
