//! The observability port (`dataExchange.metricsBindAddress`): plain HTTP
//! for `/healthz` and `/metrics` on an address of their own, on the server
//! or a client, so operators keep them off the public WebSocket port.

//! Its connections are accepted as the WebSocket port's are
//! ([`EventLoop::accept_on`]), without TLS and marked HTTP-only.

use log::info;

use crate::error::RuntimeError;
use crate::event_loop::{EventLoop, Owner};

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
}
