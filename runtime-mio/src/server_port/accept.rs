//! The event loop's side of the node's HTTP ports: binding the WebSocket
//! port, accepting connections on either port, answering `/healthz` and
//! `/metrics`, refusing what is not a request we serve, and turning an
//! upgrade into a link.

use std::io;
use std::time::Instant;

use log::{debug, error, info, trace, warn};
use mio::Token;

use crate::error::RuntimeError;
use crate::event_loop::ready::Ready;
use crate::event_loop::timers::Deadline;
use crate::event_loop::{EventLoop, Owner};
use crate::link::closing::{Closing, CLOSE_LINGER};
use crate::link::link_up;
use crate::link::transport::Transport;
use crate::link::websocket::Link;
use crate::server_port::incoming::{self, Incoming};
use crate::server_port::listener::{listener_of, HttpPort};
use crate::server_port::metrics::{render_metrics, TunnelNames};
use crate::server_port::response::{error_response, healthz, response, upgrade_response};
use crate::server_port::routing::{route, route_http, Route};
use crate::tcp::fd_reserve::FdReserve;
use crate::tls::client_ids::ClientIds;
use crate::tls::TlsContext;
use tcpws_protocol::frame::printable;

/// Most connections to the node's HTTP ports that may be on their way to an
/// authenticated session at once (TLS, the HTTP upgrade, the tcpws
/// handshake); more are closed as soon as accepted and counted in
/// `tcpws_connections_shed_total`. Two honest clients need two.
pub const MAX_UNAUTHENTICATED: usize = 256;

/// Connections accepted per turn of the loop before others get theirs.
const ACCEPTS_PER_TURN: usize = 32;

impl EventLoop {
    /// Connections on the server port not yet carrying a session: in TLS
    /// or the HTTP exchange, or upgraded and in the tcpws handshake.
    fn unauthenticated(&self) -> usize {
        self.incoming.len() + self.endpoint.handshaking_links()
    }

    /// Binds the server's port (at start: an error stops `Node::new`), and
    /// warns when plain ws:// is open beyond loopback.
    pub(crate) fn bind_server(&mut self) -> Result<(), RuntimeError> {
        let (host, port) = (self.settings.server.host.clone(), self.settings.server.port);
        let bound = self.bind_http_port(
            "the WebSocket",
            "registering the WebSocket listener",
            &host,
            port,
            Owner::ServerListener,
        )?;
        let (socket, token, local, bound) = (bound.socket, bound.token, bound.local, bound.text);
        let tls = self.tls.is_some();
        info!(
            "server listening for WebSockets{} on {bound}{}",
            if tls { " over TLS" } else { "" },
            self.settings.server.ws_path()
        );
        if !tls && local.is_some_and(|a| !a.ip().is_loopback()) {
            warn!(
                "the server accepts plain ws:// on {bound}, which is not a loopback address: \
                 anyone on the path can read and alter the tunnels; use an https or wss \
                 serverUrl with tlsBundleFilePath (and mutual TLS)"
            );
        }
        self.server_listener = Some((socket, token));
        Ok(())
    }

    /// A readable event on one of the node's HTTP ports: accepts until
    /// `WouldBlock`, at most [`ACCEPTS_PER_TURN`] at a time (then the port
    /// takes its turn in the ready queue again, so a connect flood cannot
    /// hold the loop); past [`MAX_UNAUTHENTICATED`] connections on their
    /// way to a session or an answer, new ones are closed at once; at the
    /// open-files limit the waiting connections are shed.
    pub(crate) fn accept_on(&mut self, port: HttpPort, now: Instant) {
        for accepted in 0.. {
            if accepted == ACCEPTS_PER_TURN {
                let queued = match port {
                    HttpPort::WebSocket => &mut self.listener_queued,
                    HttpPort::Observability => &mut self.http_listener_queued,
                };
                self.ready.push(Ready::Listener(port), queued);
                return;
            }
            let Some(listener) = listener_of(&self.server_listener, &self.http_listener, port)
            else {
                return;
            };
            match listener.accept() {
                Ok((stream, peer)) if self.unauthenticated() >= MAX_UNAUTHENTICATED => {
                    // Accepted and closed at once (a RST, not a lingering
                    // FIN): a flood of connections that never finish their
                    // handshake costs us no more than the cap.
                    let _ = crate::tunnel::conn::set_linger_zero(&stream);
                    drop(stream);
                    self.connections_shed += 1;
                    if let Some(note) = self.port_refusals.allow(now) {
                        warn!(
                            "closed a connection from {peer} on the {port} at once: \
                             {MAX_UNAUTHENTICATED} connections have not completed their \
                             handshake ({} shed in all){note}",
                            self.connections_shed
                        );
                    }
                }
                Ok((mut stream, peer)) => {
                    let token = match self.register(&mut stream, Owner::Incoming) {
                        Ok(token) => token,
                        Err(e) => {
                            error!("cannot register a connection from {peer}: {e}");
                            continue;
                        }
                    };
                    trace!("accepted a connection from {peer} on the {port}");
                    let transport = match (port, &self.tls) {
                        (HttpPort::WebSocket, Some(TlsContext::Server(config))) => {
                            match Transport::server(stream, config) {
                                Ok(transport) => transport,
                                Err(why) => {
                                    error!("cannot start TLS with {peer}: {why}");
                                    self.owners.remove(&token);
                                    continue;
                                }
                            }
                        }
                        _ => Transport::Plain(stream),
                    };
                    // TLS and the HTTP exchange get the handshake timeout;
                    // the protocol gives the tcpws handshake as long again.
                    let deadline = now + self.settings.protocol.handshake_timeout;
                    let mut inc = Incoming::new(peer, transport, deadline);
                    inc.http_only = port == HttpPort::Observability;
                    self.incoming.insert(token, inc);
                    self.timers.schedule(deadline, Deadline::Incoming(token));
                    self.advance_incoming(token, now);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                // A connection that died in the queue: the others wait behind it.
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset
                    ) => {}
                Err(e) if FdReserve::is_exhaustion(&e) => {
                    let Some(listener) =
                        listener_of(&self.server_listener, &self.http_listener, port)
                    else {
                        return;
                    };
                    let shed = self.fd_reserve.shed(listener);
                    error!(
                        "cannot accept on the {port}: {e}; closed {shed} waiting \
                         connection(s) (raise the open files limit, ulimit -n)"
                    );
                    return;
                }
                Err(e) => {
                    error!("cannot accept on the {port}: {e}");
                    return;
                }
            }
        }
    }

    /// Drives one incoming connection as far as its socket allows: TLS
    /// handshake, request head, then an answer or the upgrade to a link.
    pub(crate) fn advance_incoming(&mut self, token: Token, now: Instant) {
        loop {
            let Some(inc) = self.incoming.get_mut(&token) else {
                return;
            };
            let peer = inc.peer;
            match inc.advance(&mut self.scratch) {
                incoming::Step::Pending => return,
                incoming::Step::Gone(why) => {
                    debug!("connection from {peer} on the server port ended: {why}");
                    self.drop_incoming(token);
                    return;
                }
                incoming::Step::TlsFailed(why) => {
                    if let Some(note) = self.port_refusals.allow(now) {
                        warn!("refused a connection from {peer} on the server port: TLS handshake failed: {why}{note}");
                    }
                    let Some(inc) = self.incoming.remove(&token) else {
                        return;
                    };
                    let (transport, _) = inc.into_parts();
                    let closing = Closing::failed_tls(token, peer, transport, now + CLOSE_LINGER);
                    self.add_closing(closing);
                    return;
                }
                incoming::Step::PlainOnTls(line) => {
                    if let Some(note) = self.port_refusals.allow(now) {
                        warn!(
                            "refused a connection from {peer} on the server port: plain HTTP on a TLS \
                             port ({line:?}); the client's serverUrl must be https:// or wss://{note}"
                        );
                    }
                    let Some(inc) = self.incoming.remove(&token) else {
                        return;
                    };
                    // Nothing was read, so a plain answer reaches a plain client.
                    let (transport, _) = inc.into_parts();
                    let plain = Transport::Plain(transport.into_tcp());
                    let out =
                        error_response(400, "this port speaks TLS: use an https:// or wss:// URL");
                    self.owners.insert(token, Owner::Closing);
                    let closing = Closing::responding(token, peer, plain, out, now + CLOSE_LINGER);
                    self.add_closing(closing);
                    return;
                }
                incoming::Step::Bad(err) => {
                    if let Some(note) = self.port_refusals.allow(now) {
                        warn!("refused a connection from {peer} on the server port: {err}{note}");
                    }
                    self.respond(token, error_response(err.status(), &err.to_string()), now);
                    return;
                }
                incoming::Step::Head(head, leftover) => {
                    let routed = if inc.http_only {
                        route_http(&head)
                    } else {
                        match route(&head, self.settings.server.ws_path()) {
                            Route::Health | Route::Metrics if self.http_listener.is_some() => {
                                Route::Reject {
                                    status: 404,
                                    why: "served on the metricsBindAddress port, not here".into(),
                                }
                            }
                            routed => routed,
                        }
                    };
                    match routed {
                        Route::Health => {
                            debug!("GET /healthz from {peer}");
                            let (code, body) = healthz(&self.status());
                            let out = response(code, "text/plain; charset=utf-8", &body);
                            self.respond(token, out, now);
                            return;
                        }
                        Route::Metrics => {
                            debug!("GET /metrics from {peer}");
                            let protocol = self.endpoint.config();
                            let names = TunnelNames {
                                listens: &protocol.listens,
                                connects: &protocol.connects,
                            };
                            let body = render_metrics(&self.status(), &names);
                            let out =
                                response(200, "text/plain; version=0.0.4; charset=utf-8", &body);
                            self.respond(token, out, now);
                            return;
                        }
                        Route::Reject { status, why } => {
                            if let Some(note) = self.port_refusals.allow(now) {
                                warn!(
                                    "refused {} {} from {peer}: {status} {why}{note}",
                                    printable(&head.method),
                                    printable(&head.target)
                                );
                            }
                            self.respond(token, error_response(status, &why), now);
                            return;
                        }
                        Route::Upgrade { key } => {
                            inc.start_upgrade(upgrade_response(&key), leftover);
                        }
                    }
                }
                incoming::Step::Upgraded => {
                    let Some(inc) = self.incoming.remove(&token) else {
                        return;
                    };
                    let session = inc.describe_session();
                    let (stream, leftover) = inc.into_parts();
                    let certified =
                        ClientIds::certified(self.client_ids.as_ref(), stream.peer_certificate());
                    let up = match link_up::fresh(&self.random, peer, certified) {
                        Ok(up) => up,
                        Err(why) => {
                            error!("dropped the WebSocket from {peer}: {why}");
                            return;
                        }
                    };
                    if let Err(e) = stream.tcp().set_nodelay(true) {
                        debug!("cannot set TCP_NODELAY on the link from {peer}: {e}");
                    }
                    let id = self.next_link_id();
                    self.owners.insert(token, Owner::Link(id));
                    self.links
                        .insert(id, Link::accepted(token, peer, stream, leftover));
                    match session {
                        Some(session) => info!("{id} up: WebSocket from {peer} over {session}"),
                        None => info!("{id} up: WebSocket from {peer}"),
                    }
                    self.endpoint.handle_link_up(id, up, now);
                    self.queue_link(id);
                    self.pump(now);
                    return;
                }
            }
        }
    }

    /// The head deadline: refuses a connection still in its handshake, its
    /// head or its upgrade.
    pub(crate) fn incoming_deadline(&mut self, token: Token, now: Instant) {
        let Some(inc) = self.incoming.get(&token) else {
            return;
        };
        if inc.deadline > now {
            return;
        }
        let peer = inc.peer;
        match inc.phase() {
            incoming::Phase::TlsHandshake => {
                if let Some(note) = self.port_refusals.allow(now) {
                    warn!(
                        "refused a connection from {peer} on the server port: no TLS handshake within {}s{note}",
                        self.settings.protocol.handshake_timeout.as_secs_f64()
                    );
                }
                self.drop_incoming(token);
            }
            incoming::Phase::ReadingHead => {
                if let Some(note) = self.port_refusals.allow(now) {
                    warn!(
                        "refused a connection from {peer} on the server port: no request within {}s{note}",
                        self.settings.protocol.handshake_timeout.as_secs_f64()
                    );
                }
                let out = error_response(408, "no complete request head in time");
                self.respond(token, out, now);
            }
            incoming::Phase::Upgrading => {
                if let Some(note) = self.port_refusals.allow(now) {
                    warn!(
                        "dropped a WebSocket upgrade from {peer}: the answer could not be sent in time{note}"
                    );
                }
                self.drop_incoming(token);
            }
        }
    }

    fn drop_incoming(&mut self, token: Token) {
        if let Some(mut inc) = self.incoming.remove(&token) {
            self.forget(token, Some(inc.stream_mut()));
        }
    }

    /// Answers an incoming connection with `out` and closes it.
    fn respond(&mut self, token: Token, out: Vec<u8>, now: Instant) {
        let Some(inc) = self.incoming.remove(&token) else {
            return;
        };
        let peer = inc.peer;
        let (stream, _) = inc.into_parts();
        self.owners.insert(token, Owner::Closing);
        let closing = Closing::responding(token, peer, stream, out, now + CLOSE_LINGER);
        self.add_closing(closing);
    }
}
