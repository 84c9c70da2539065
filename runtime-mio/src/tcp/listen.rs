//! Listen sockets: resolving and binding an address, for the server's
//! WebSocket/HTTP port and each tunnel's port.

use std::io;
use std::net::{SocketAddr, ToSocketAddrs};

use mio::net::TcpListener;

/// Resolves `host:port` with the system resolver. It blocks: binds happen
/// at start (the server's port) and for tunnel ports, whose bind addresses
/// are IP addresses in practice; dials resolve on the
/// [`Resolver`](crate::tunnel::resolver::Resolver) instead.
pub(crate) fn resolve(host: &str, port: u16) -> io::Result<Vec<SocketAddr>> {
    let addrs: Vec<SocketAddr> = (host, port).to_socket_addrs()?.collect();
    if addrs.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            "the name resolved to no address",
        ));
    }
    Ok(addrs)
}

/// Binds the first of `addrs` that binds (with SO_REUSEADDR, which mio sets
/// on Unix); the error is the last address's.
pub(crate) fn bind_any(addrs: &[SocketAddr]) -> io::Result<TcpListener> {
    let mut last = io::Error::new(io::ErrorKind::NotFound, "no address to bind");
    for &addr in addrs {
        match TcpListener::bind(addr) {
            Ok(listener) => {
                deepen_backlog(&listener);
                return Ok(listener);
            }
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// Connections the kernel queues for `accept` on our listen sockets. mio
/// (like std) asks for 128; a burst of connects past that (a flood, or
/// many clients at once) then waits a second for a SYN resend. The kernel
/// caps it at `net.core.somaxconn`.
const BACKLOG: libc::c_int = 1024;

/// Asks again for a longer accept queue; Linux takes a second `listen`
/// on a listening socket as a new backlog. Failing leaves mio's 128.
fn deepen_backlog(listener: &TcpListener) {
    use std::os::fd::AsRawFd;
    // SAFETY: the fd belongs to `listener`, open for the whole call.
    let rc = unsafe { libc::listen(listener.as_raw_fd(), BACKLOG) };
    if rc != 0 {
        log::debug!(
            "cannot deepen the accept queue to {BACKLOG}: {}",
            io::Error::last_os_error()
        );
    }
}

/// Resolves and binds `host:port`.
pub(crate) fn bind(host: &str, port: u16) -> io::Result<TcpListener> {
    bind_any(&resolve(host, port)?)
}
