//! A connection accepted on the server's port before we know what it is:
//! on a TLS port we first complete the TLS handshake, then we read its HTTP
//! request head (bounded, with a deadline), and for a WebSocket upgrade
//! write the 101 answer before handing it over as a link.

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::time::Instant;

use mio::net::TcpStream;

use crate::link::transport::{self, Handshake, Transport};
use crate::server_port::request_head::{parse_head, HeadError, RequestHead, MAX_HEAD};

enum State {
    TlsHandshake,
    ReadingHead,
    /// Writing the 101 answer; `leftover` came after the request head.
    Upgrading {
        out: Vec<u8>,
        pos: usize,
        leftover: Vec<u8>,
    },
}

/// What a step of an incoming connection produced.
#[derive(Debug)]
pub enum Step {
    Pending,
    /// A complete head; `leftover` are the bytes after it.
    Head(RequestHead, Vec<u8>),
    /// The bytes are not a request we accept: answer and close.
    Bad(HeadError),
    /// The peer went away; this says how.
    Gone(String),
    /// The 101 answer is out: take the parts and make a link.
    Upgraded,
    /// The TLS handshake (or session) failed for this reason; the alert for
    /// the peer is queued.
    TlsFailed(String),
    /// Plain text on a TLS port; this is its first line. Nothing was read.
    PlainOnTls(String),
}

/// Where an incoming connection stands, for its deadline's message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    TlsHandshake,
    ReadingHead,
    Upgrading,
}

/// One accepted connection on the server's WebSocket/HTTP port.
pub(crate) struct Incoming {
    pub(crate) peer: SocketAddr,
    /// Accepted on the observability port: only `/healthz` and `/metrics`.
    pub(crate) http_only: bool,
    /// The request head (and for an upgrade, the 101) must be done by then.
    pub(crate) deadline: Instant,
    stream: Transport,
    buf: Vec<u8>,
    state: State,
}

impl Incoming {
    pub(crate) fn new(peer: SocketAddr, stream: Transport, deadline: Instant) -> Incoming {
        let state = if stream.is_tls() {
            State::TlsHandshake
        } else {
            State::ReadingHead
        };
        Incoming {
            peer,
            http_only: false,
            deadline,
            stream,
            buf: Vec::new(),
            state,
        }
    }

    pub(crate) fn stream_mut(&mut self) -> &mut TcpStream {
        self.stream.tcp_mut()
    }

    pub(crate) fn phase(&self) -> Phase {
        match self.state {
            State::TlsHandshake => Phase::TlsHandshake,
            State::ReadingHead => Phase::ReadingHead,
            State::Upgrading { .. } => Phase::Upgrading,
        }
    }

    /// The negotiated TLS version and cipher suite, once known.
    pub(crate) fn describe_session(&self) -> Option<String> {
        self.stream.describe_session()
    }

    /// Answers the upgrade with `response`; [`advance`](Self::advance) says
    /// `Upgraded` once it is written.
    pub(crate) fn start_upgrade(&mut self, response: Vec<u8>, leftover: Vec<u8>) {
        self.state = State::Upgrading {
            out: response,
            pos: 0,
            leftover,
        };
    }

    /// Reads or writes as far as the socket allows, never past [`MAX_HEAD`]
    /// bytes of request. `scratch` is the loop's read buffer.
    pub(crate) fn advance(&mut self, scratch: &mut [u8]) -> Step {
        if let State::TlsHandshake = self.state {
            match self.stream.handshake() {
                Handshake::Done => self.state = State::ReadingHead,
                Handshake::Pending => return Step::Pending,
                Handshake::PlainText(line) => return Step::PlainOnTls(line),
                Handshake::Failed(why) => return Step::TlsFailed(why),
            }
        }
        match &mut self.state {
            State::TlsHandshake => Step::Pending,
            State::ReadingHead => read_head(&mut self.buf, &mut self.stream, scratch),
            State::Upgrading { out, pos, .. } => {
                while *pos < out.len() {
                    match self.stream.write(&out[*pos..]) {
                        Ok(0) => return Step::Gone("closed during the upgrade".into()),
                        Ok(n) => *pos += n,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Step::Pending,
                        Err(e) => return gone(&e),
                    }
                }
                // TLS holds the answer until its records reach the socket.
                match self.stream.flush() {
                    Ok(()) => Step::Upgraded,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => Step::Pending,
                    Err(e) => gone(&e),
                }
            }
        }
    }

    /// The stream and the bytes that followed the request head.
    pub(crate) fn into_parts(self) -> (Transport, Vec<u8>) {
        match self.state {
            State::Upgrading { leftover, .. } => (self.stream, leftover),
            State::TlsHandshake | State::ReadingHead => (self.stream, Vec::new()),
        }
    }
}

/// Reads a request head from `stream` into `buf` (what earlier calls read
/// of it) until it is complete, refused, the peer is gone or the read would
/// block; `scratch` is the loop's read buffer. `buf` never holds more than
/// [`MAX_HEAD`] bytes, and nothing is read once a head is complete: what
/// came after it in the same read is the `leftover` of [`Step::Head`], and
/// `buf` keeps exactly the head's bytes. Never returns the steps of the
/// other phases.
pub fn read_head(buf: &mut Vec<u8>, stream: &mut impl Read, scratch: &mut [u8]) -> Step {
    loop {
        match parse_head(buf) {
            Ok(Some((head, len))) => {
                let leftover = buf.split_off(len);
                return Step::Head(head, leftover);
            }
            Ok(None) => {}
            Err(e) => return Step::Bad(e),
        }
        // parse_head refuses a full buffer, so there is room here.
        let room = (MAX_HEAD - buf.len()).min(scratch.len());
        match stream.read(&mut scratch[..room]) {
            Ok(0) => return Step::Gone("closed before sending a complete request".into()),
            Ok(n) => buf.extend_from_slice(&scratch[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Step::Pending,
            Err(e) => return gone(&e),
        }
    }
}

/// A read or write error as a step: a TLS failure, or the peer gone.
fn gone(e: &io::Error) -> Step {
    match transport::tls_failure(e) {
        Some(failure) => Step::TlsFailed(failure.0.clone()),
        None if e.kind() == io::ErrorKind::UnexpectedEof => {
            Step::Gone("closed without a TLS close_notify".into())
        }
        None => Step::Gone(crate::error::describe(e)),
    }
}
