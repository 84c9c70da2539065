//! The byte stream under an open link's WebSocket: the transport, plus the
//! unwritten tail of a data frame we wrote ourselves
//! ([`ws_frame`](crate::link::ws_frame)).
//!
//! Two writers share the socket: our data frames and tungstenite's control
//! frames (pongs, close). Frames must not interleave, so our tail always goes
//! out first: whatever tungstenite writes is refused (`WouldBlock`) until the
//! tail is gone, and tungstenite keeps it in its own (bounded) buffer
//! meanwhile. The
//! link only starts a data frame after a successful `flush`, i.e. when
//! tungstenite holds nothing either.

use std::io::{self, Read, Write};

use mio::net::TcpStream;

use crate::link::transport::Transport;

/// A WebSocket over a non-blocking mio socket, plain or TLS.
pub(crate) type Ws = tungstenite::WebSocket<LinkStream>;

/// A transport with our pending frame bytes in front of any other write.
#[derive(Debug)]
pub(crate) struct LinkStream {
    transport: Transport,
    /// Our frame bytes not yet on the socket: `pending[written..]`.
    pending: Vec<u8>,
    written: usize,
    /// Bytes reads may still take while a limit is set
    /// ([`limit_reads`](Self::limit_reads)).
    read_budget: Option<usize>,
    /// A read was refused because the budget ran out.
    budget_spent: bool,
}

impl LinkStream {
    pub(crate) fn new(transport: Transport) -> LinkStream {
        LinkStream {
            transport,
            pending: Vec::new(),
            written: 0,
            read_budget: None,
            budget_spent: false,
        }
    }

    /// Lets reads take at most `bytes` from the transport until
    /// [`unlimit_reads`](Self::unlimit_reads); a read past them fails with
    /// `WouldBlock`, which tungstenite survives as it does a real one.
    pub(crate) fn limit_reads(&mut self, bytes: usize) {
        self.read_budget = Some(bytes);
        self.budget_spent = false;
    }

    /// Lifts the limit; says whether a read was refused for it (so more may
    /// wait on the socket).
    pub(crate) fn unlimit_reads(&mut self) -> bool {
        self.read_budget = None;
        std::mem::take(&mut self.budget_spent)
    }

    pub(crate) fn transport(&self) -> &Transport {
        &self.transport
    }

    /// The socket (for registration and shutdown).
    pub(crate) fn tcp_mut(&mut self) -> &mut TcpStream {
        self.transport.tcp_mut()
    }

    /// The transport alone; unwritten frame bytes are dropped (the link is
    /// closing).
    pub(crate) fn into_transport(self) -> Transport {
        self.transport
    }

    /// Whether bytes of ours or the transport's (TLS records) wait for the
    /// socket.
    pub(crate) fn wants_write(&self) -> bool {
        self.written < self.pending.len() || self.transport.wants_write()
    }

    /// Writes `buf[from..]`, one whole frame, to the socket. `Ok(true)`: all
    /// written. `Ok(false)`: the socket filled; the rest is kept (`buf` and
    /// the pending buffer swap places, nothing is copied) and goes out
    /// before any later write.
    pub(crate) fn write_frame(&mut self, buf: &mut Vec<u8>, from: usize) -> io::Result<bool> {
        if self.written < self.pending.len() {
            // Not expected (the link flushes first); keep the order anyway.
            self.pending.extend_from_slice(&buf[from..]);
            return Ok(false);
        }
        let mut at = from;
        while at < buf.len() {
            match self.transport.write(&buf[at..]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => at += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    std::mem::swap(&mut self.pending, buf);
                    self.written = at;
                    buf.clear();
                    return Ok(false);
                }
                Err(e) => return Err(e),
            }
        }
        Ok(true)
    }

    /// Writes out our pending frame bytes; `WouldBlock` while some remain.
    fn drain(&mut self) -> io::Result<()> {
        while self.written < self.pending.len() {
            match self.transport.write(&self.pending[self.written..]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => self.written += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        self.pending.clear();
        self.written = 0;
        Ok(())
    }
}

impl Read for LinkStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let Some(budget) = self.read_budget else {
            return self.transport.read(buf);
        };
        if budget == 0 {
            self.budget_spent = true;
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let len = buf.len().min(budget);
        let n = self.transport.read(&mut buf[..len])?;
        self.read_budget = Some(budget - n);
        Ok(n)
    }
}

impl Write for LinkStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.drain()?;
        self.transport.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.drain()?;
        self.transport.flush()
    }
}
