//! The event loop's side of tunnel dials: resolving the connect target off
//! the loop, starting the connect, and reporting failures to the protocol
//! (which times dials out itself and says Close).

use std::io;
use std::net::SocketAddr;
use std::time::Instant;

use log::{debug, error};
use tcpws_protocol::{ConnId, TunnelId};

use crate::error::describe;
use crate::event_loop::{EventLoop, Owner};
use crate::settings::authority;
use crate::tcp::dial;
use crate::tunnel::conn::{Conn, ConnState, Resolving};
use crate::tunnel::resolver::{self, Asker};

impl EventLoop {
    /// `Output::Dial` (an action): resolves the target (an IP literal at once,
    /// a name off the loop) and connects.
    pub(crate) fn start_dial(&mut self, id: ConnId, tunnel: TunnelId, now: Instant) {
        let Some(spec) = self.settings.connects.get(tunnel.0) else {
            let reason = format!("no connect target for tunnel {}", tunnel.0);
            self.endpoint.handle_dial_result(id, Err(reason), now);
            return;
        };
        match self
            .resolver
            .resolve(Asker::Conn(id), &spec.host, spec.port)
        {
            Some(resolved) => self.connect_resolved(id, tunnel, resolved, now),
            None => {
                debug!("{id}: resolving {} for tunnel {:?}", spec.host, spec.name);
                self.resolving.insert(id, Resolving { tunnel });
            }
        }
    }

    /// Names resolved since the last wakeup: their dials go on (tunnel
    /// connections' and the client's to the server).
    pub(crate) fn take_resolved(&mut self, now: Instant) {
        let answers: Vec<resolver::Answer> = self.resolver.answers().collect();
        if answers.is_empty() {
            return;
        }
        for answer in answers {
            match answer.asker {
                Asker::Conn(id) => {
                    // Gone if the protocol closed it meanwhile (a timeout, a reset).
                    if let Some(r) = self.resolving.remove(&id) {
                        self.connect_resolved(id, r.tunnel, answer.result, now);
                    }
                }
                Asker::Server => self.server_resolved(answer.result, now),
            }
        }
        self.pump(now);
    }

    /// Starts the connect of a dial whose target resolved (or reports why
    /// it could not).
    fn connect_resolved(
        &mut self,
        id: ConnId,
        tunnel: TunnelId,
        resolved: io::Result<Vec<SocketAddr>>,
        now: Instant,
    ) {
        let target = self.dial_target(tunnel);
        let name = self
            .settings
            .connects
            .get(tunnel.0)
            .map_or_else(String::new, |c| c.name.clone());
        let (mut stream, peer, fallback) = match resolved.and_then(dial::start_with) {
            Ok(started) => started,
            Err(e) => {
                let reason = format!("cannot connect to {target}: {}", describe(&e));
                debug!("{id} for tunnel {name:?}: {reason}");
                self.endpoint.handle_dial_result(id, Err(reason), now);
                return;
            }
        };
        let token = match self.register(&mut stream, Owner::Conn(id)) {
            Ok(token) => token,
            Err(e) => {
                let reason = format!("cannot register the socket for {target}: {e}");
                error!("{id}: {reason}");
                self.endpoint.handle_dial_result(id, Err(reason), now);
                return;
            }
        };
        debug!("{id}: connecting to {target} ({peer}) for tunnel {name:?}");
        self.conns.insert(
            id,
            Conn::new(token, stream, tunnel, peer, ConnState::Dialing { fallback }),
        );
    }

    /// The tunnel's connect target as `host:port`, for logs and reasons.
    pub(crate) fn dial_target(&self, tunnel: TunnelId) -> String {
        self.settings
            .connects
            .get(tunnel.0)
            .map_or_else(|| "?".into(), |c| authority(&c.host, c.port))
    }
}
