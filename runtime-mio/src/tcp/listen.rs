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
            Ok(listener) => return Ok(listener),
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// Resolves and binds `host:port`.
pub(crate) fn bind(host: &str, port: u16) -> io::Result<TcpListener> {
    bind_any(&resolve(host, port)?)
}
