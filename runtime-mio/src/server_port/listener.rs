//! Binding one of the node's HTTP ports (the WebSocket port, the
//! observability port): resolved, bound and registered with the loop.

use std::net::SocketAddr;

use mio::net::TcpListener;
use mio::{Interest, Token};

use crate::error::RuntimeError;
use crate::event_loop::{EventLoop, Owner};
use crate::tcp::listen;

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
