//! A connection accepted on the server's port before we know what it is:
//! we read its HTTP request head (bounded, with a deadline), and for a
//! WebSocket upgrade write the 101 answer before handing it over as a link.

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::time::Instant;

use mio::net::TcpStream;

use crate::http::{self, HeadError, RequestHead, MAX_HEAD};

enum State {
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
pub(crate) enum Step {
    Pending,
    /// A complete head; `leftover` are the bytes after it.
    Head(RequestHead, Vec<u8>),
    /// The bytes are not a request we accept: answer and close.
    Bad(HeadError),
    /// The peer went away; this says how.
    Gone(String),
    /// The 101 answer is out: take the parts and make a link.
    Upgraded,
}

/// One accepted connection on the server's WebSocket/HTTP port.
pub(crate) struct Incoming {
    pub(crate) peer: SocketAddr,
    /// The request head (and for an upgrade, the 101) must be done by then.
    pub(crate) deadline: Instant,
    stream: TcpStream,
    buf: Vec<u8>,
    state: State,
}

impl Incoming {
    pub(crate) fn new(peer: SocketAddr, stream: TcpStream, deadline: Instant) -> Incoming {
        Incoming {
            peer,
            deadline,
            stream,
            buf: Vec::new(),
            state: State::ReadingHead,
        }
    }

    pub(crate) fn stream_mut(&mut self) -> &mut TcpStream {
        &mut self.stream
    }

    /// Whether the request head is still being read (vs. answering it).
    pub(crate) fn reading_head(&self) -> bool {
        matches!(self.state, State::ReadingHead)
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
        match &mut self.state {
            State::ReadingHead => loop {
                match http::parse_head(&self.buf) {
                    Ok(Some((head, len))) => {
                        let leftover = self.buf.split_off(len);
                        return Step::Head(head, leftover);
                    }
                    Ok(None) => {}
                    Err(e) => return Step::Bad(e),
                }
                // parse_head refuses a full buffer, so there is room here.
                let room = (MAX_HEAD - self.buf.len()).min(scratch.len());
                match self.stream.read(&mut scratch[..room]) {
                    Ok(0) => return Step::Gone("closed before sending a complete request".into()),
                    Ok(n) => self.buf.extend_from_slice(&scratch[..n]),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Step::Pending,
                    Err(e) => return Step::Gone(crate::error::describe(&e)),
                }
            },
            State::Upgrading { out, pos, .. } => {
                while *pos < out.len() {
                    match self.stream.write(&out[*pos..]) {
                        Ok(0) => return Step::Gone("closed during the upgrade".into()),
                        Ok(n) => *pos += n,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Step::Pending,
                        Err(e) => return Step::Gone(crate::error::describe(&e)),
                    }
                }
                Step::Upgraded
            }
        }
    }

    /// The socket and the bytes that followed the request head.
    pub(crate) fn into_parts(self) -> (TcpStream, Vec<u8>) {
        match self.state {
            State::Upgrading { leftover, .. } => (self.stream, leftover),
            State::ReadingHead => (self.stream, Vec::new()),
        }
    }
}
