//! Sockets we are done with: they finish writing (a close frame or an HTTP
//! answer, then a TLS close_notify or a TLS alert), send FIN, and wait
//! briefly for the peer's FIN so the last bytes are not lost to a reset. The
//! protocol has already forgotten them.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::Token;

use crate::link::link_stream::LinkStream;
use crate::link::transport::Transport;

/// How long a finished socket may spend flushing and waiting for the peer's FIN.
pub(crate) const CLOSE_LINGER: Duration = Duration::from_secs(2);
/// Most bytes discarded while waiting for the peer's FIN.
const MAX_DRAIN: usize = 1024 * 1024;

enum Phase {
    /// Flushing a link's pending bytes (a frame's tail, a close frame or a
    /// close reply).
    FlushLink(Box<LinkStream>),
    /// Writing an HTTP response.
    Write {
        stream: Transport,
        out: Vec<u8>,
        pos: usize,
    },
    /// Sending what TLS still holds (the response, a close_notify, an alert).
    FlushTls(Transport),
    /// FIN sent; reading and discarding until the peer's FIN.
    Drain { stream: TcpStream, discarded: usize },
}

/// Whether a closing socket is finished with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    Pending,
    Done,
}

/// A socket on its way out. Dropped when [`Closing::advance`] says `Done` or
/// when `deadline` passes, whichever comes first.
pub(crate) struct Closing {
    pub(crate) token: Token,
    pub(crate) peer: SocketAddr,
    pub(crate) deadline: Instant,
    phase: Option<Phase>,
}

impl Closing {
    /// A link whose close frame (if any) is queued in its stream.
    pub(crate) fn flushing(
        token: Token,
        peer: SocketAddr,
        stream: LinkStream,
        deadline: Instant,
    ) -> Closing {
        Closing::new(token, peer, deadline, Phase::FlushLink(Box::new(stream)))
    }

    /// A connection that must first write `out`.
    pub(crate) fn responding(
        token: Token,
        peer: SocketAddr,
        stream: Transport,
        out: Vec<u8>,
        deadline: Instant,
    ) -> Closing {
        let phase = Phase::Write {
            stream,
            out,
            pos: 0,
        };
        Closing::new(token, peer, deadline, phase)
    }

    /// A TLS connection that failed: its queued alert goes out, then FIN.
    pub(crate) fn failed_tls(
        token: Token,
        peer: SocketAddr,
        stream: Transport,
        deadline: Instant,
    ) -> Closing {
        Closing::new(token, peer, deadline, Phase::FlushTls(stream))
    }

    fn new(token: Token, peer: SocketAddr, deadline: Instant, phase: Phase) -> Closing {
        Closing {
            token,
            peer,
            deadline,
            phase: Some(phase),
        }
    }

    /// The socket, to deregister it.
    pub(crate) fn stream_mut(&mut self) -> Option<&mut TcpStream> {
        match self.phase.as_mut()? {
            Phase::FlushLink(stream) => Some(stream.tcp_mut()),
            Phase::Write { stream, .. } | Phase::FlushTls(stream) => Some(stream.tcp_mut()),
            Phase::Drain { stream, .. } => Some(stream),
        }
    }

    /// Makes what progress the socket allows; `scratch` receives discarded bytes.
    pub(crate) fn advance(&mut self, scratch: &mut [u8]) -> Step {
        loop {
            let Some(phase) = self.phase.take() else {
                return Step::Done;
            };
            self.phase = match phase {
                Phase::FlushLink(mut stream) => match stream.flush() {
                    Ok(()) => Some(finish(stream.into_transport())),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {
                        Some(Phase::FlushLink(stream))
                    }
                    Err(e) if would_block(&e) => {
                        self.phase = Some(Phase::FlushLink(stream));
                        return Step::Pending;
                    }
                    Err(_) => return Step::Done,
                },
                Phase::Write {
                    mut stream,
                    out,
                    mut pos,
                } => {
                    while pos < out.len() {
                        match stream.write(&out[pos..]) {
                            Ok(0) => return Step::Done,
                            Ok(n) => pos += n,
                            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                            Err(e) if would_block(&e) => break,
                            Err(_) => return Step::Done,
                        }
                    }
                    if pos < out.len() {
                        self.phase = Some(Phase::Write { stream, out, pos });
                        return Step::Pending;
                    }
                    Some(finish(stream))
                }
                Phase::FlushTls(mut stream) => match stream.flush() {
                    Ok(()) => Some(drain(stream.into_tcp())),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {
                        Some(Phase::FlushTls(stream))
                    }
                    Err(e) if would_block(&e) => {
                        self.phase = Some(Phase::FlushTls(stream));
                        return Step::Pending;
                    }
                    Err(_) => return Step::Done,
                },
                Phase::Drain {
                    mut stream,
                    mut discarded,
                } => loop {
                    match stream.read(scratch) {
                        Ok(0) => return Step::Done,
                        Ok(n) => {
                            discarded += n;
                            if discarded > MAX_DRAIN {
                                return Step::Done;
                            }
                        }
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) if would_block(&e) => {
                            self.phase = Some(Phase::Drain { stream, discarded });
                            return Step::Pending;
                        }
                        Err(_) => return Step::Done,
                    }
                },
            };
        }
    }
}

/// Everything is written: TLS says close_notify before the FIN.
fn finish(stream: Transport) -> Phase {
    match stream {
        Transport::Plain(s) => drain(s),
        mut tls => {
            tls.close_notify();
            Phase::FlushTls(tls)
        }
    }
}

fn drain(stream: TcpStream) -> Phase {
    // Our FIN follows the bytes already written; errors mean the peer is gone,
    // which the next read reports.
    let _ = stream.shutdown(Shutdown::Write);
    Phase::Drain {
        stream,
        discarded: 0,
    }
}

fn would_block(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::WouldBlock
}
