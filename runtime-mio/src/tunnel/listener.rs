//! A tunnel's listen socket, as the protocol wants it and as it is.

use std::net::SocketAddr;

use mio::net::TcpListener;
use mio::Token;

use crate::settings::{authority, ListenSpec};

/// A tunnel's listen socket as the protocol wants it (`wanted`) and as it is
/// (`socket`). A failed bind is reported to the protocol, which asks again.
#[derive(Debug)]
pub(crate) struct TunnelListener {
    pub(crate) spec: ListenSpec,
    pub(crate) socket: Option<(TcpListener, Token, SocketAddr)>,
    /// The protocol's last word: StartListening (true) or StopListening.
    pub(crate) wanted: bool,
    /// Consecutive bind failures (only the first is logged as an error).
    pub(crate) failures: u32,
}

impl TunnelListener {
    pub(crate) fn new(spec: ListenSpec) -> TunnelListener {
        TunnelListener {
            spec,
            socket: None,
            wanted: false,
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
