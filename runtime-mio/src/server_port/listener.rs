//! Binding one of the node's HTTP ports (the WebSocket port, the
//! observability port): resolved, bound and registered with the loop.

use std::fmt;
use std::net::SocketAddr;

use mio::net::TcpListener;
use mio::{Interest, Token};

use crate::error::RuntimeError;
use crate::event_loop::{EventLoop, Owner};
use crate::tcp::listen;

/// Which of the node's HTTP ports: both take connections the same way
/// (the same cap, deadline and per-turn bound), the observability port
/// without TLS and for `/healthz` and `/metrics` only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HttpPort {
    /// The server's WebSocket port (also `/healthz`, `/metrics` unless the
    /// observability port is set).
    WebSocket,
    /// `dataExchange.metricsBindAddress`.
    Observability,
}

impl fmt::Display for HttpPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            HttpPort::WebSocket => "server port",
            HttpPort::Observability => "metrics port",
        })
    }
}

/// The listener of `port`, if it is bound (taking the two fields rather
/// than the loop, so the loop's other fields stay free to borrow).
pub(crate) fn listener_of<'a>(
    server: &'a Option<(TcpListener, Token)>,
    http: &'a Option<(TcpListener, Token)>,
    port: HttpPort,
) -> Option<&'a TcpListener> {
    let bound = match port {
        HttpPort::WebSocket => server,
        HttpPort::Observability => http,
    };
    bound.as_ref().map(|(listener, _)| listener)
}

/// A bound, registered HTTP port.
pub(crate) struct Bound {
    pub(crate) socket: TcpListener,
    pub(crate) token: Token,
    /// The address it is bound to, if the socket says.
    pub(crate) local: Option<SocketAddr>,
    /// That address as text for logs (the configured one if unknown).
    pub(crate) text: String,
}

impl EventLoop {
    /// Resolves and binds `host:port` for `what` (named in the errors),
    /// registers it for readable events as `owner` (`registering` names
    /// that step if it fails).
    pub(crate) fn bind_http_port(
        &mut self,
        what: &str,
        registering: &'static str,
        host: &str,
        port: u16,
        owner: Owner,
    ) -> Result<Bound, RuntimeError> {
        let addr_text = crate::settings::authority(host, port);
        let addrs = listen::resolve(host, port).map_err(|source| RuntimeError::Resolve {
            what: what.to_string(),
            addr: addr_text.clone(),
            source,
        })?;
        let mut socket = listen::bind_any(&addrs).map_err(|source| RuntimeError::Bind {
            what: what.to_string(),
            addr: addr_text.clone(),
            source,
        })?;
        let token = self.next_token();
        self.poll
            .registry()
            .register(&mut socket, token, Interest::READABLE)
            .map_err(|source| RuntimeError::Poll {
                what: registering,
                source,
            })?;
        self.owners.insert(token, owner);
        let local = socket.local_addr().ok();
        let text = local.map_or(addr_text, |a| a.to_string());
        Ok(Bound {
            socket,
            token,
            local,
            text,
        })
    }
}
