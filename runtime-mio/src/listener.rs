//! Listen sockets: the server's WebSocket/HTTP port and each tunnel's port.

use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::time::Instant;

use mio::net::TcpListener;
use mio::Token;

use crate::settings::{authority, ListenSpec};

/// Resolves `host:port` with the system resolver (blocking, as in
/// [`dial::start`](crate::dial::start)).
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

/// A tunnel's listen socket as the protocol wants it (`wanted`) and as it is
/// (`socket`). A failed bind is retried on a timer while it stays wanted.
#[derive(Debug)]
pub(crate) struct TunnelListener {
    pub(crate) spec: ListenSpec,
    pub(crate) socket: Option<(TcpListener, Token, SocketAddr)>,
    /// The protocol's last word: StartListening (true) or StopListening.
    pub(crate) wanted: bool,
    /// When to try binding again after a failure.
    pub(crate) retry_at: Option<Instant>,
    /// Consecutive bind failures (only the first is logged as an error).
    pub(crate) failures: u32,
}

impl TunnelListener {
    pub(crate) fn new(spec: ListenSpec) -> TunnelListener {
        TunnelListener {
            spec,
            socket: None,
            wanted: false,
            retry_at: None,
            failures: 0,
        }
    }

    /// `bind_address:port`, for logs.
    pub(crate) fn addr_text(&self) -> String {
        authority(&self.spec.bind_address, self.spec.port)
    }

    pub(crate) fn is_bound(&self) -> bool {
        self.socket.is_some()
    }
}
