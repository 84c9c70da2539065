//! A tunnel's local TCP connection: accepted on a listen socket or dialed to
//! a connect target.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use log::{debug, warn};
use mio::net::TcpStream;
use mio::Token;
use tcpws_protocol::{ConnId, TunnelId};

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

/// Unanswered keepalive probes after which the kernel ends a connection.
pub(crate) const KEEPALIVE_PROBES: libc::c_int = 5;
/// The longest idle time Linux takes for `TCP_KEEPIDLE`, in seconds.
pub(crate) const MAX_KEEPALIVE_IDLE: u64 = 32_767;

/// Whether a failure to set keepalive was logged as a warning already.
static KEEPALIVE_WARNED: AtomicBool = AtomicBool::new(false);

/// Turns TCP keepalive on for a tunnel connection: the first probe after
/// `idle` without traffic (whole seconds, 1 to [`MAX_KEEPALIVE_IDLE`]), then
/// one every max(idle / 6, 1) s; after [`KEEPALIVE_PROBES`] unanswered ones
/// the kernel ends the connection, so a peer that vanished without a FIN or
/// RST (a crashed host, a dropped NAT entry) fails its reads and writes and
/// frees its stream and descriptor instead of holding them forever.
pub(crate) fn set_keepalive(stream: &TcpStream, idle: Duration) -> io::Result<()> {
    let idle = libc::c_int::try_from(idle.as_secs().clamp(1, MAX_KEEPALIVE_IDLE))
        .expect("at most MAX_KEEPALIVE_IDLE");
    let fd = stream.as_raw_fd();
    set_int_option(fd, libc::SOL_SOCKET, libc::SO_KEEPALIVE, 1)?;
    set_int_option(fd, libc::IPPROTO_TCP, libc::TCP_KEEPIDLE, idle)?;
    set_int_option(
        fd,
        libc::IPPROTO_TCP,
        libc::TCP_KEEPINTVL,
        (idle / 6).max(1),
    )?;
    set_int_option(fd, libc::IPPROTO_TCP, libc::TCP_KEEPCNT, KEEPALIVE_PROBES)
}

/// [`set_keepalive`] with `idle` from the settings (`None`: off) on the
/// socket of `id`. A failure does not stop the connection; it is a warning
/// the first time and a debug line after that (it would fail the same way
/// for every connection).
pub(crate) fn keep_alive(stream: &TcpStream, idle: Option<Duration>, id: ConnId) {
    let Some(idle) = idle else {
        return;
    };
    if let Err(e) = set_keepalive(stream, idle) {
        if KEEPALIVE_WARNED.swap(true, Ordering::Relaxed) {
            debug!("cannot set TCP keepalive on {id}: {e}");
        } else {
            warn!(
                "cannot set TCP keepalive on {id}: {e}; a vanished peer may hold its \
                 connection until the protocol ends it (later failures are logged at debug)"
            );
        }
    }
}

/// `setsockopt` of an `int` option.
fn set_int_option(
    fd: std::os::fd::RawFd,
    level: libc::c_int,
    name: libc::c_int,
    value: libc::c_int,
) -> io::Result<()> {
    let len = libc::socklen_t::try_from(std::mem::size_of::<libc::c_int>())
        .expect("an int fits in socklen_t");
    // SAFETY: the caller's fd is an open socket for the whole call; the
    // pointer and length describe a live, initialised c_int.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            std::ptr::from_ref(&value).cast::<libc::c_void>(),
            len,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Makes the coming close send a TCP RST instead of a FIN (SO_LINGER 0).
pub(crate) fn set_linger_zero(stream: &TcpStream) -> io::Result<()> {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// `getsockopt` of an `int` option.
    fn int_option(stream: &TcpStream, level: libc::c_int, name: libc::c_int) -> libc::c_int {
        let mut value: libc::c_int = -1;
        let mut len = libc::socklen_t::try_from(std::mem::size_of::<libc::c_int>()).unwrap();
        // SAFETY: the fd is open; the pointers describe a live c_int and its length.
        let rc = unsafe {
            libc::getsockopt(
                stream.as_raw_fd(),
                level,
                name,
                std::ptr::from_mut(&mut value).cast::<libc::c_void>(),
                &mut len,
            )
        };
        assert_eq!(rc, 0, "{}", io::Error::last_os_error());
        value
    }

    /// (SO_KEEPALIVE, TCP_KEEPIDLE, TCP_KEEPINTVL, TCP_KEEPCNT) of `stream`.
    fn keepalive_of(stream: &TcpStream) -> [libc::c_int; 4] {
        [
            int_option(stream, libc::SOL_SOCKET, libc::SO_KEEPALIVE),
            int_option(stream, libc::IPPROTO_TCP, libc::TCP_KEEPIDLE),
            int_option(stream, libc::IPPROTO_TCP, libc::TCP_KEEPINTVL),
            int_option(stream, libc::IPPROTO_TCP, libc::TCP_KEEPCNT),
        ]
    }

    /// A connected loopback socket, as the loop holds one.
    fn socket() -> (TcpStream, std::net::TcpStream) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let peer = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (ours, _) = listener.accept().unwrap();
        ours.set_nonblocking(true).unwrap();
        (TcpStream::from_std(ours), peer)
    }

    #[test]
    fn keepalive_options_reach_the_socket() {
        let (stream, _peer) = socket();
        assert_eq!(keepalive_of(&stream)[0], 0, "off until asked for");
        keep_alive(&stream, Some(Duration::from_secs(60)), ConnId(1));
        assert_eq!(keepalive_of(&stream), [1, 60, 10, 5]);

        let (stream, _peer) = socket();
        set_keepalive(&stream, Duration::from_secs(5)).unwrap();
        assert_eq!(
            keepalive_of(&stream),
            [1, 5, 1, 5],
            "probes at least a second apart"
        );
        set_keepalive(&stream, Duration::from_secs(1_000_000)).unwrap();
        assert_eq!(
            keepalive_of(&stream),
            [1, 32_767, 5_461, 5],
            "the kernel's longest idle"
        );

        let (stream, _peer) = socket();
        keep_alive(&stream, None, ConnId(2));
        assert_eq!(keepalive_of(&stream)[0], 0, "None leaves it off");
    }
}
