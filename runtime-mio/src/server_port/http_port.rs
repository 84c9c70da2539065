//! The observability port (`dataExchange.metricsBindAddress`): plain HTTP
//! for `/healthz` and `/metrics` on an address of their own, on the server
//! or a client, so operators keep them off the public WebSocket port.

use std::io;
use std::time::Instant;

use log::{error, info, trace, warn};

use crate::error::RuntimeError;
use crate::event_loop::timers::Deadline;
use crate::event_loop::{EventLoop, Owner};
use crate::link::transport::Transport;
use crate::server_port::accept::MAX_UNAUTHENTICATED;
use crate::server_port::incoming::Incoming;

impl EventLoop {
    /// Binds the observability port at `host:port`; from then on the
    /// WebSocket port no longer answers `/healthz` and `/metrics`.
    pub(crate) fn bind_http(&mut self, host: &str, port: u16) -> Result<(), RuntimeError> {
        let what = "metrics and health (dataExchange.metricsBindAddress)";
        let bound = self.bind_http_port(
            what,
            "registering the metrics listener",
            host,
            port,
            Owner::HttpListener,
        )?;
        info!("serving /healthz and /metrics on http://{}", bound.text);
        self.http_listener = Some((bound.socket, bound.token));
        Ok(())
    }

    /// A readable event on the observability port: accepts until
    /// `WouldBlock`; past the cap on connections in their handshake, new
    /// ones are closed at once, as on the WebSocket port.
    pub(crate) fn accept_http(&mut self, now: Instant) {
        loop {
            let Some((listener, _)) = &self.http_listener else {
                return;
            };
            match listener.accept() {
                Ok((stream, _)) if self.incoming.len() >= MAX_UNAUTHENTICATED => {
                    let _ = crate::tunnel::conn::set_linger_zero(&stream);
                    self.connections_shed += 1;
                }
                Ok((mut stream, peer)) => {
                    let token = match self.register(&mut stream, Owner::Incoming) {
                        Ok(token) => token,
                        Err(e) => {
                            error!("cannot register a connection from {peer}: {e}");
                            continue;
                        }
                    };
                    trace!("accepted a connection from {peer} on the metrics port");
                    let deadline = now + self.settings.protocol.handshake_timeout;
                    let mut inc = Incoming::new(peer, Transport::Plain(stream), deadline);
                    inc.http_only = true;
                    self.incoming.insert(token, inc);
                    self.timers.schedule(deadline, Deadline::Incoming(token));
                    self.advance_incoming(token, now);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset
                    ) => {}
                Err(e) => {
                    warn!("cannot accept on the metrics port: {e}");
                    return;
                }
            }
        }
    }
}
