//! The event loop's side of the client's WebSocket to the server: starting
//! the attempt the protocol asks for, advancing it on readiness, and giving
//! up at its deadline.

use std::time::Instant;

use log::{debug, error, info, warn};
use mio::Interest;
use tcpws_protocol::Certified;

use crate::error::describe;
use crate::event_loop::{EventLoop, Owner};
use crate::link::closing::{Closing, CLOSE_LINGER};
use crate::link::link_up;
use crate::link::server_dial::{DialStep, ServerDial};
use crate::link::websocket::Link;
use crate::tls::TlsContext;

impl EventLoop {
    /// `Output::ConnectServer` (an action): starts the attempt unless one is
    /// under way; a failure to start goes to the protocol at once.
    pub(crate) fn start_server_dial(&mut self, now: Instant) {
        if self.server_dial.is_some() {
            debug!("ignoring ConnectServer: an attempt is already under way");
            return;
        }
        let url = self.settings.server.ws_url();
        let token = self.next_token();
        let server = &self.settings.server;
        let tls = match &self.tls {
            Some(TlsContext::Client(tls)) => Some(tls.clone()),
            _ => None,
        };
        let mut attempt = match ServerDial::start(&server.host, server.port, token, tls) {
            Ok(attempt) => attempt,
            Err(e) => {
                let reason = format!("cannot connect to {url}: {}", describe(&e));
                warn!("{reason}");
                self.endpoint.handle_link_failed(&reason, now);
                return;
            }
        };
        debug!("connecting to the server at {url} ({})", attempt.peer);
        if let Some(stream) = attempt.stream_mut() {
            if let Err(e) = self.poll.registry().register(
                stream,
                token,
                Interest::READABLE | Interest::WRITABLE,
            ) {
                let reason = format!("cannot register the connection to {url}: {e}");
                error!("{reason}");
                self.endpoint.handle_link_failed(&reason, now);
                return;
            }
        }
        self.owners.insert(token, Owner::ServerDial);
        self.server_dial = Some(attempt);
    }

    /// An event on the attempt (a handler): the link is up, the attempt
    /// failed, or it waits for more.
    pub(crate) fn advance_server_dial(&mut self, now: Instant) {
        let Some(attempt) = self.server_dial.as_mut() else {
            return;
        };
        let url = self.settings.server.ws_url();
        match attempt.advance(&url, self.poll.registry()) {
            DialStep::Pending => return,
            DialStep::Up(ws) => {
                let Some(attempt) = self.server_dial.take() else {
                    return;
                };
                let up = match link_up::fresh(&self.random, attempt.peer, Certified::Unbound) {
                    Ok(up) => up,
                    Err(why) => {
                        error!("dropped the connection to the server: {why}");
                        self.endpoint.handle_link_failed(&why, now);
                        return;
                    }
                };
                let id = self.next_link_id();
                let session = ws
                    .get_ref()
                    .transport()
                    .describe_session()
                    .map(|s| format!(" over {s}"))
                    .unwrap_or_default();
                self.owners.insert(attempt.token, Owner::Link(id));
                self.links
                    .insert(id, Link::new(attempt.token, attempt.peer, *ws, true));
                info!(
                    "{id} up: connected to the server at {url} ({}){session}",
                    attempt.peer
                );
                self.endpoint.handle_link_up(id, up, now);
                self.queue_link(id);
            }
            DialStep::Failed { reason, alert } => {
                if let Some(attempt) = self.server_dial.take() {
                    self.owners.remove(&attempt.token);
                    if let Some(transport) = alert {
                        // The server learns why from the alert.
                        let closing = Closing::failed_tls(
                            attempt.token,
                            attempt.peer,
                            transport,
                            now + CLOSE_LINGER,
                        );
                        self.add_closing(closing);
                    }
                }
                warn!("cannot reach the server at {url}: {reason}");
                self.endpoint.handle_link_failed(&reason, now);
            }
        }
        self.pump(now);
    }

    /// `Output::AbandonConnect` (an action): the protocol gave up on the
    /// attempt (it took the connect timeout); drop it quietly.
    pub(crate) fn abandon_server_dial(&mut self) {
        if let Some(mut attempt) = self.server_dial.take() {
            warn!(
                "connecting to {} timed out after {:?}",
                self.settings.server.ws_url(),
                self.settings.connect_timeout
            );
            self.forget(attempt.token, attempt.stream_mut());
        }
    }
}
