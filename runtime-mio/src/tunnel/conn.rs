//! A tunnel's local TCP connection: accepted on a listen socket or dialed to
//! a connect target.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr};

use mio::net::TcpStream;
use mio::Token;
use tcpws_protocol::TunnelId;

use crate::tcp::dial::Fallback;

/// A dial waiting for its target's name to resolve.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Resolving {
    pub(crate) tunnel: TunnelId,
}

/// Whether the socket is usable yet.
#[derive(Debug)]
pub(crate) enum ConnState {
    /// A dial in progress (the protocol times it out); a failed address
    /// moves on to the `fallback` ones.
    Dialing {
        fallback: Fallback,
    },
    Open,
}

/// One tunnel TCP connection and what the loop knows about its socket.
#[derive(Debug)]
pub(crate) struct Conn {
    pub(crate) token: Token,
    pub(crate) stream: TcpStream,
    pub(crate) tunnel: TunnelId,
    pub(crate) peer: SocketAddr,
    pub(crate) state: ConnState,
    /// Read returned 0 and the protocol was told: never read again.
    pub(crate) read_closed: bool,
    /// Waiting in the loop's ready queue for a read.
    pub(crate) queued: bool,
}

impl Conn {
    /// A connection in `state` that has not reached EOF or the ready queue.
    pub(crate) fn new(
        token: Token,
        stream: TcpStream,
        tunnel: TunnelId,
        peer: SocketAddr,
        state: ConnState,
    ) -> Conn {
        Conn {
            token,
            stream,
            tunnel,
            peer,
            state,
            read_closed: false,
            queued: false,
        }
    }

    pub(crate) fn is_open(&self) -> bool {
        matches!(self.state, ConnState::Open)
    }

    /// One read, retried on `Interrupted`.
    pub(crate) fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            match self.stream.read(buf) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                other => return other,
            }
        }
    }

    /// One write, retried on `Interrupted`; a zero-length write of a non-empty
    /// buffer is reported as `WriteZero`.
    pub(crate) fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        loop {
            match self.stream.write(buf) {
                Ok(0) if !buf.is_empty() => return Err(io::ErrorKind::WriteZero.into()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                other => return other,
            }
        }
    }

    /// Sends our FIN; the read half stays open.
    pub(crate) fn shutdown_write(&self) -> io::Result<()> {
        self.stream.shutdown(Shutdown::Write)
    }
}

/// Makes the coming close send a TCP RST instead of a FIN (SO_LINGER 0).
pub(crate) fn set_linger_zero(stream: &TcpStream) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    let len = libc::socklen_t::try_from(std::mem::size_of::<libc::linger>())
        .expect("struct linger fits in socklen_t");
    // SAFETY: the fd belongs to `stream`, which is open for the whole call;
    // the pointer and length describe a live, initialised `libc::linger`.
    let rc = unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            std::ptr::from_ref(&linger).cast::<libc::c_void>(),
            len,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}
