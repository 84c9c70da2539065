//! The event loop's side of tunnel listen sockets: binding them when the
//! protocol asks (a failed bind is reported; the protocol asks again),
//! closing them when it says stop, and accepting the connections it takes.

use std::io;
use std::net::SocketAddr;
use std::time::Instant;

use log::{debug, error, info, warn};
use mio::Interest;
use tcpws_protocol::TunnelId;

use crate::error::describe;
use crate::event_loop::{EventLoop, Owner};
use crate::tcp::fd_reserve::FdReserve;
use crate::tcp::listen;
use crate::tunnel::conn::{self, Conn, ConnState};

impl EventLoop {
    /// `Output::StartListening` (an action): the socket is wanted, and bound
    /// now unless it is already.
    pub(crate) fn start_listening(&mut self, tunnel: TunnelId, now: Instant) {
        let Some(slot) = self.listeners.get_mut(tunnel.0) else {
            warn!(
                "ignoring StartListening for unknown listen tunnel {}",
                tunnel.0
            );
            return;
        };
        slot.wanted = true;
        if !slot.is_bound() {
            self.try_bind(tunnel, now);
        }
    }

    /// Binds a wanted listen socket, or reports the failure to the protocol;
    /// only the first failure in a row is logged as an error.
    pub(crate) fn try_bind(&mut self, tunnel: TunnelId, now: Instant) {
        let Some(slot) = self.listeners.get(tunnel.0) else {
            return;
        };
        let (name, addr_text) = (slot.spec.name.clone(), slot.addr_text());
        match listen::bind(&slot.spec.bind_address, slot.spec.port) {
            Ok(mut socket) => {
                let token = self.next_token();
                if let Err(e) =
                    self.poll
                        .registry()
                        .register(&mut socket, token, Interest::READABLE)
                {
                    error!("cannot register the listen socket of tunnel {name:?}: {e}");
                    return;
                }
                self.owners.insert(token, Owner::Listener(tunnel));
                let bound = socket.local_addr().unwrap_or_else(|_| unspecified());
                info!("listening on {bound} for tunnel {name:?}");
                let slot = &mut self.listeners[tunnel.0];
                slot.socket = Some((socket, token, bound));
                slot.failures = 0;
                // Connections may already be queued if we re-bound quickly.
                self.accept_tunnel(tunnel, now);
            }
            Err(e) => {
                let slot = &mut self.listeners[tunnel.0];
                slot.failures += 1;
                let reason = describe(&e);
                if slot.failures == 1 {
                    error!("cannot listen on {addr_text} for tunnel {name:?}: {reason}; retrying");
                } else {
                    debug!("still cannot listen on {addr_text} for tunnel {name:?}: {e}");
                }
                self.endpoint.handle_listen_failed(tunnel, &reason, now);
            }
        }
    }

    /// `Output::StopListening` (an action): closes the listen socket and
    /// stops retrying.
    pub(crate) fn stop_listening(&mut self, tunnel: TunnelId) {
        let Some(slot) = self.listeners.get_mut(tunnel.0) else {
            return;
        };
        slot.wanted = false;
        slot.failures = 0;
        if let Some((mut socket, token, bound)) = slot.socket.take() {
            info!(
                "stopped listening on {bound} for tunnel {:?}",
                slot.spec.name
            );
            self.owners.remove(&token);
            let _ = self.poll.registry().deregister(&mut socket);
        }
    }

    /// Accepts until the queue is empty, asking the protocol about each.
    /// Called from events and from `try_bind` (inside `pump` too, so it
    /// does not pump itself: callers drain afterwards).
    pub(crate) fn accept_tunnel(&mut self, tunnel: TunnelId, now: Instant) {
        loop {
            let Some(slot) = self.listeners.get(tunnel.0) else {
                return;
            };
            let Some((socket, _, _)) = &slot.socket else {
                return;
            };
            match socket.accept() {
                Ok((mut stream, peer)) => match self.endpoint.handle_accept(tunnel, now) {
                    Some(id) => {
                        if let Err(e) = stream.set_nodelay(true) {
                            debug!("cannot set TCP_NODELAY on {id}: {e}");
                        }
                        conn::keep_alive(&stream, self.settings.tcp_keepalive, id);
                        let token = match self.register(&mut stream, Owner::Conn(id)) {
                            Ok(token) => token,
                            Err(e) => {
                                let reason = format!("cannot register the socket: {e}");
                                error!("{id} from {peer}: {reason}");
                                self.endpoint.handle_app_reset(id, &reason, now);
                                continue;
                            }
                        };
                        debug!(
                            "{id}: accepted {peer} on tunnel {:?}",
                            self.listeners[tunnel.0].spec.name
                        );
                        self.conns
                            .insert(id, Conn::new(token, stream, tunnel, peer, ConnState::Open));
                        self.queue_conn(id);
                    }
                    None => {
                        info!(
                            "refused a connection from {peer} on tunnel {:?}: the protocol does not accept it now",
                            self.listeners[tunnel.0].spec.name
                        );
                    }
                },
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if FdReserve::is_exhaustion(&e) => {
                    let shed = match &self.listeners[tunnel.0].socket {
                        Some((socket, _, _)) => self.fd_reserve.shed(socket),
                        None => 0,
                    };
                    error!(
                        "cannot accept on tunnel {:?}: {e}; closed {shed} waiting connection(s) \
                         (raise the open files limit, ulimit -n)",
                        self.listeners[tunnel.0].spec.name
                    );
                    return;
                }
                Err(e) => {
                    error!(
                        "cannot accept on tunnel {:?}: {e}",
                        self.listeners[tunnel.0].spec.name
                    );
                    return;
                }
            }
        }
    }
}

fn unspecified() -> SocketAddr {
    SocketAddr::from(([0, 0, 0, 0], 0))
}
