//! The event loop: one thread, one mio `Poll`, one protocol `Endpoint`.
//!
//! Every wakeup follows the protocol's drain contract: feed the inputs the
//! sockets produced, act on every `Output`, transmit on every link that can
//! take bytes, then sleep until the earliest of the protocol's deadline and
//! the runtime's own I/O deadlines. Reading is scheduled through a ready
//! queue, one read per turn, so every `handle_*` call is followed by a full
//! drain and busy connections take turns.
//!
//! The loop's handlers live with what they handle, as `impl EventLoop`
//! blocks: `server_port::accept`, `link::{connect, link_io,
//! closing_sockets}` and `tunnel::{listening, dialing, conn_io}`.

pub(crate) mod ready;
pub(crate) mod timers;

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::time::{Duration, Instant};

use log::{debug, info, trace};
use mio::event::Event;
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};
use ring::rand::SystemRandom;
use tcpws_protocol::log_limit::LogLimit;
use tcpws_protocol::{ConnId, Endpoint, LinkId, Output, TunnelId};

use crate::error::RuntimeError;
use crate::handle::{NodeHandle, Status};
use crate::link::closing::Closing;
use crate::link::connect::ServerLookup;
use crate::link::server_dial::ServerDial;
use crate::link::websocket::Link;
use crate::link::ws_frame::MAX_HEADER;
use crate::server_port::incoming::Incoming;
use crate::server_port::listener::HttpPort;
use crate::settings::NodeSettings;
use crate::tcp::fd_reserve::FdReserve;
use crate::tls::client_ids::ClientIds;
use crate::tls::TlsContext;
use crate::tunnel::conn::{Conn, Resolving};
use crate::tunnel::listener::TunnelListener;
use crate::tunnel::resolver::Resolver;
use ready::{Ready, ReadyQueue};
use timers::{Deadline, Timers};

/// The waker's token; sockets get tokens from 1 up, never reused.
pub(crate) const WAKER: Token = Token(0);
/// The read buffer shared by all sockets, allocated once; also the most
/// one read of a new or idle tunnel connection takes.
pub const SCRATCH: usize = 256 * 1024;
/// The most one read of a tunnel socket takes straight into its stream's
/// send buffer: large, so a bulk stream costs few system calls per byte
/// (a 1 MiB copy is ~100 us, so a busy connection still cannot hold the
/// loop while others wait their turn).
pub const DIRECT_READ: usize = 1024 * 1024;
/// How long shutdown waits for links to say Goodbye and flush their close
/// frames, and for tunnel connections to write what they hold; a little
/// longer than the protocol's own drain bound, so it resets what is left.
const SHUTDOWN_BOUND: Duration = Duration::from_millis(2500);
/// Runtime deadlines (handshakes, closing sockets) run per wakeup.
const DEADLINES_PER_TURN: usize = 32;

/// Reads per `pump` before the loop polls again (fairness bound).
const READ_TURNS: usize = 64;

/// What a token belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Owner {
    ServerListener,
    /// The observability port (`metricsBindAddress`).
    HttpListener,
    Listener(TunnelId),
    Incoming,
    ServerDial,
    Link(LinkId),
    Closing,
    Conn(ConnId),
}

/// Everything the loop owns. Methods that feed the endpoint come in two
/// kinds: event handlers, which finish with [`EventLoop::pump`], and actions
/// run from inside `pump` (via [`EventLoop::act`]), which never call it.
pub(crate) struct EventLoop {
    pub(crate) settings: NodeSettings,
    pub(crate) endpoint: Endpoint,
    pub(crate) poll: Poll,
    /// Who each registered token belongs to; events for others are ignored.
    pub(crate) owners: HashMap<Token, Owner>,
    pub(crate) last_token: usize,
    pub(crate) last_link: u64,
    pub(crate) server_listener: Option<(TcpListener, Token)>,
    /// `/healthz` and `/metrics` on their own port, when configured.
    pub(crate) http_listener: Option<(TcpListener, Token)>,
    pub(crate) incoming: HashMap<Token, Incoming>,
    pub(crate) server_dial: Option<ServerDial>,
    /// Client: the lookup of the server's name, before `server_dial`.
    pub(crate) server_lookup: ServerLookup,
    pub(crate) links: BTreeMap<LinkId, Link>,
    pub(crate) closing: HashMap<Token, Closing>,
    pub(crate) conns: HashMap<ConnId, Conn>,
    pub(crate) listeners: Vec<TunnelListener>,
    pub(crate) ready: ReadyQueue,
    pub(crate) timers: Timers,
    /// The read buffer every socket shares ([`SCRATCH`] bytes).
    pub(crate) scratch: Vec<u8>,
    /// The outgoing message, built in place behind room for its frame header.
    pub(crate) tx_buf: Vec<u8>,
    /// Looks up the names of connect targets off the loop.
    pub(crate) resolver: Resolver,
    /// Dials waiting for their target's name to resolve.
    pub(crate) resolving: HashMap<ConnId, Resolving>,
    /// A spare descriptor, to shed connections at the open-files limit.
    pub(crate) fd_reserve: FdReserve,
    /// `transmit`'s list of links, kept to save an allocation per pump.
    pub(crate) link_ids: Vec<LinkId>,
    /// The TLS side of the server's port or the client's link, for https/wss.
    pub(crate) tls: Option<TlsContext>,
    /// Server: the certificate each client id is bound to, if any.
    pub(crate) client_ids: Option<ClientIds>,
    /// The OS's CSPRNG: nonces and session tokens for every link.
    pub(crate) random: SystemRandom,
    /// Server: connections closed at accept by the unauthenticated cap.
    pub(crate) connections_shed: u64,
    /// The server port waits in the ready queue for more accepts.
    pub(crate) listener_queued: bool,
    /// The observability port waits in the ready queue for more accepts.
    pub(crate) http_listener_queued: bool,
    /// Refusals on the server port (bad heads, TLS failures, deadlines,
    /// connections shed at the cap):
    /// a peer can cause them at will, so their lines are limited.
    pub(crate) port_refusals: LogLimit,
}

impl EventLoop {
    // ---- bookkeeping -----------------------------------------------------

    /// A token for a new socket. Tokens only go up, so a late event for a
    /// closed socket finds no owner.
    pub(crate) fn next_token(&mut self) -> Token {
        self.last_token += 1;
        Token(self.last_token)
    }

    pub(crate) fn next_link_id(&mut self) -> LinkId {
        self.last_link += 1;
        LinkId(self.last_link)
    }

    /// Registers `stream` for both readiness kinds under a new token that
    /// `owner` owns.
    pub(crate) fn register(&mut self, stream: &mut TcpStream, owner: Owner) -> io::Result<Token> {
        let token = self.next_token();
        self.poll
            .registry()
            .register(stream, token, Interest::READABLE | Interest::WRITABLE)?;
        self.owners.insert(token, owner);
        Ok(token)
    }

    /// Drops `token`, so later events for it are ignored, and deregisters
    /// `stream`.
    pub(crate) fn forget(&mut self, token: Token, stream: Option<&mut TcpStream>) {
        self.owners.remove(&token);
        if let Some(stream) = stream {
            // Closing the fd removes it from epoll anyway; this is tidiness.
            let _ = self.poll.registry().deregister(stream);
        }
    }

    /// What the handle publishes and `/healthz` and `/metrics` report.
    pub(crate) fn status(&self) -> Status {
        Status {
            role: self.endpoint.role(),
            active: self.endpoint.active(),
            epoch: self.endpoint.epoch(),
            links_up: self.links.len(),
            listening: self
                .listeners
                .iter()
                .map(TunnelListener::is_bound)
                .collect(),
            stats: self.endpoint.stats(),
            health: self.endpoint.health(),
            listen_tunnels: self.endpoint.listen_tunnel_stats().to_vec(),
            connect_tunnels: self.endpoint.connect_tunnel_stats().to_vec(),
            connections_shed: self.connections_shed,
        }
    }

    /// Whether shutdown has nothing left to flush.
    pub(crate) fn quiescent(&self) -> bool {
        self.links.is_empty() && self.closing.is_empty() && self.conns.is_empty()
    }

    // ---- the loop ----------------------------------------------------------

    /// Polls and dispatches until shutdown is asked for through `handle` and
    /// the links have flushed (or [`SHUTDOWN_BOUND`] passed), publishing the
    /// status after every wakeup.
    pub(crate) fn run(mut self, handle: &NodeHandle) -> Result<(), RuntimeError> {
        let mut events = Events::with_capacity(1024);
        // A client's first pump asks for its first link to the server.
        self.pump(Instant::now());
        handle.publish(self.status());
        crate::service_manager::ready(&format!("{} running", self.endpoint.role()));
        let mut stop_by: Option<Instant> = None;
        loop {
            let now = Instant::now();
            if stop_by.is_none() && handle.take_reload() {
                crate::service_manager::reloading();
                self.reload_tls();
                crate::service_manager::ready("reloaded");
            }
            if stop_by.is_none() && handle.shutdown_requested() {
                self.begin_shutdown(now);
                stop_by = Some(now + SHUTDOWN_BOUND);
                handle.publish(self.status());
            }
            if let Some(by) = stop_by {
                if self.quiescent() || now >= by {
                    break;
                }
            }
            let wake_at = [self.endpoint.poll_timeout(), self.timers.next(), stop_by]
                .into_iter()
                .flatten()
                .min();
            let timeout = if self.ready.is_empty() {
                wake_at.map(|at| timers::poll_timeout(now, at))
            } else {
                Some(Duration::ZERO)
            };
            if let Err(source) = self.poll.poll(&mut events, timeout) {
                if source.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(RuntimeError::Poll {
                    what: "waiting for events",
                    source,
                });
            }
            let now = Instant::now();
            for event in events.iter() {
                self.dispatch(event, now);
            }
            self.take_resolved(now);
            self.fire_timers(now);
            self.pump(now);
            handle.publish(self.status());
        }
        handle.publish(self.status());
        info!("{} stopped", self.endpoint.role());
        Ok(())
    }

    // ---- the drain contract ----------------------------------------------

    /// Drains outputs, transmits, and gives queued readers their turns until
    /// nothing is left to do or [`READ_TURNS`] reads were made; readers left
    /// in the queue make the loop poll without sleeping, so a busy socket
    /// never starves timers or other sockets.
    pub(crate) fn pump(&mut self, now: Instant) {
        let mut turns = 0;
        loop {
            while let Some(output) = self.endpoint.poll_output() {
                self.act(output, now);
            }
            self.transmit(now);
            if let Some(output) = self.endpoint.poll_output() {
                self.act(output, now);
                continue;
            }
            if turns == READ_TURNS {
                break;
            }
            turns += 1;
            match self.ready.pop() {
                Some(Ready::Conn(id)) => self.read_conn_once(id, now),
                Some(Ready::Link(id)) => self.read_link_once(id, now),
                Some(Ready::Listener(port)) => {
                    match port {
                        HttpPort::WebSocket => self.listener_queued = false,
                        HttpPort::Observability => self.http_listener_queued = false,
                    }
                    self.accept_on(port, now);
                }
                None => break,
            }
        }
    }

    /// Obeys one protocol output. Never calls `pump`.
    fn act(&mut self, output: Output, now: Instant) {
        match output {
            Output::ConnectServer => self.start_server_dial(now),
            Output::AbandonConnect => self.abandon_server_dial(),
            Output::CloseLink { link, reason } => self.close_link(link, &reason, now),
            Output::Dial { conn, tunnel } => self.start_dial(conn, tunnel, now),
            Output::StartListening { tunnel } => self.start_listening(tunnel, now),
            Output::StopListening { tunnel } => self.stop_listening(tunnel),
            Output::Deliver { conn } => self.deliver(conn, now),
            Output::ShutdownWrite { conn } => {
                if let Some(c) = self.conns.get(&conn) {
                    trace!("{conn}: shutting down the write half");
                    if let Err(e) = c.shutdown_write() {
                        debug!("{conn}: shutdown(write) failed: {e}");
                    }
                }
            }
            Output::Close { conn, reset } => self.close_conn(conn, reset),
            Output::ResumeReading { conn } => self.queue_conn(conn),
            Output::ActiveChanged { active, epoch, why } => match active {
                Some(client) => info!("active client is now {client} (epoch {epoch}): {why}"),
                None => info!("no client is active (epoch {epoch}): {why}"),
            },
        }
    }

    /// Sends what the protocol has for every link that is not blocked.
    fn transmit(&mut self, now: Instant) {
        let mut ids = std::mem::take(&mut self.link_ids);
        ids.clear();
        ids.extend(self.links.keys().copied());
        for &id in &ids {
            // Links waiting for their peer's handshake have nothing to
            // send: a flood of them costs nothing here (their pending
            // bytes, if any, go out on their writable events).
            if !self.endpoint.may_transmit(id) {
                continue;
            }
            while let Some(link) = self.links.get_mut(&id) {
                match link.ready_to_send() {
                    Ok(true) => {}
                    Ok(false) => break,
                    Err(reason) => {
                        self.link_down(id, reason, now);
                        break;
                    }
                }
                // The frame header goes in front of the message, in place.
                self.tx_buf.clear();
                self.tx_buf.resize(MAX_HEADER, 0);
                if !self.endpoint.poll_transmit(id, now, &mut self.tx_buf) {
                    break;
                }
                trace!(
                    "{id}: sending a message of {} bytes",
                    self.tx_buf.len() - MAX_HEADER
                );
                match link.send(&mut self.tx_buf) {
                    Ok(true) => {}
                    Ok(false) => {
                        trace!("{id}: socket full, waiting until writable");
                        break;
                    }
                    Err(reason) => {
                        self.link_down(id, reason, now);
                        break;
                    }
                }
            }
        }
        self.link_ids = ids;
    }

    // ---- events ----------------------------------------------------------

    /// One readiness event, to the handler of the socket's owner.
    fn dispatch(&mut self, event: &Event, now: Instant) {
        let token = event.token();
        let Some(&owner) = self.owners.get(&token) else {
            return; // the waker, or a socket already forgotten
        };
        match owner {
            Owner::ServerListener => self.accept_on(HttpPort::WebSocket, now),
            Owner::HttpListener => self.accept_on(HttpPort::Observability, now),
            Owner::Listener(tunnel) => {
                self.accept_tunnel(tunnel, now);
                self.pump(now);
            }
            Owner::Incoming => self.advance_incoming(token, now),
            Owner::ServerDial => self.advance_server_dial(now),
            Owner::Link(id) => {
                if event.is_writable() {
                    self.flush_link(id, now);
                }
                self.queue_link(id);
                self.pump(now);
            }
            Owner::Closing => self.advance_closing(token),
            Owner::Conn(id) => self.conn_event(id, event, now),
        }
    }

    /// Runs the runtime deadlines that are due, at most
    /// [`DEADLINES_PER_TURN`] (more due make the next poll return at once,
    /// after other sockets had their events: a wave of handshake deadlines
    /// from a flood does not stall the loop), then the protocol's timeout
    /// if it is due.
    fn fire_timers(&mut self, now: Instant) {
        for _ in 0..DEADLINES_PER_TURN {
            let Some(deadline) = self.timers.pop_due(now) else {
                break;
            };
            match deadline {
                Deadline::Incoming(token) => self.incoming_deadline(token, now),
                Deadline::Closing(token) => {
                    if self.closing.get(&token).is_some_and(|c| c.deadline <= now) {
                        self.drop_closing(token);
                    }
                }
            }
        }
        if self.endpoint.poll_timeout().is_some_and(|at| at <= now) {
            self.endpoint.handle_timeout(now);
            self.pump(now);
        }
    }

    /// Stops accepting on the server port and dialing the server, then lets
    /// the protocol say Goodbye; `run` waits for the links to flush.
    fn begin_shutdown(&mut self, now: Instant) {
        info!("{} shutting down", self.endpoint.role());
        crate::service_manager::stopping();
        if let Some((mut listener, token)) = self.server_listener.take() {
            self.owners.remove(&token);
            let _ = self.poll.registry().deregister(&mut listener);
        }
        let tokens: Vec<Token> = self.incoming.keys().copied().collect();
        for token in tokens {
            if let Some(mut inc) = self.incoming.remove(&token) {
                self.forget(token, Some(inc.stream_mut()));
            }
        }
        if let Some(mut attempt) = self.server_dial.take() {
            self.forget(attempt.token, attempt.stream_mut());
            self.endpoint.handle_link_failed("shutting down", now);
        }
        if self.stop_waiting_for_server_lookup() {
            self.endpoint.handle_link_failed("shutting down", now);
        }
        self.endpoint.handle_shutdown(now);
        self.pump(now);
    }
}
