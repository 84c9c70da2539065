//! The event loop: one thread, one mio `Poll`, one protocol `Endpoint`.
//!
//! Every wakeup follows the protocol's drain contract: feed the inputs the
//! sockets produced, act on every `Output`, transmit on every link that can
//! take bytes, then sleep until the earliest of the protocol's deadline and
//! the runtime's own I/O deadlines. Reading is scheduled through a ready
//! queue, one read per turn, so every `handle_*` call is followed by a full
//! drain and busy connections take turns.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use log::{debug, error, info, trace, warn};
use mio::event::Event;
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token, Waker};
use tcpws_protocol::{ConnId, Endpoint, LinkId, Output, Role, TunnelId};
use tungstenite::protocol::frame::coding::CloseCode;

use crate::closing::{self, Closing};
use crate::conn::{self, Conn, ConnState};
use crate::dial;
use crate::error::{describe, RuntimeError};
use crate::fd_reserve::FdReserve;
use crate::handle::{NodeHandle, Shared, Status};
use crate::http::{self, HeadError, Route};
use crate::incoming::{self, Incoming};
use crate::link::{DialStep, Link, LinkRead, ServerDial};
use crate::listener::{self, TunnelListener};
use crate::resolver::{self, Resolver};
use crate::settings::{authority, NodeSettings};
use crate::timers::{self, Deadline, Timers};
use crate::tls::{self, TlsContext};
use crate::transport::Transport;
use crate::ws_frame::MAX_HEADER;

/// The waker's token; sockets get tokens from 1 up, never reused.
const WAKER: Token = Token(0);
/// The read buffer shared by all sockets, allocated once; also the most
/// one read of a tunnel socket takes (into it or into a send buffer), so
/// one busy connection cannot hold the loop while others wait their turn.
const SCRATCH: usize = 256 * 1024;
/// How long an accepted connection has to send its request head.
const HEAD_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a finished socket may spend flushing and waiting for the peer's FIN.
const CLOSE_LINGER: Duration = Duration::from_secs(2);
/// How long shutdown waits for links to say Goodbye and flush their close
/// frames, and for tunnel connections to write what they hold; a little
/// longer than the protocol's own drain bound, so it resets what is left.
const SHUTDOWN_BOUND: Duration = Duration::from_millis(2500);
/// How often a wanted listen socket that failed to bind is tried again.
const LISTEN_RETRY: Duration = Duration::from_secs(1);
/// Reads per `pump` before the loop polls again (fairness bound).
const READ_TURNS: usize = 64;

/// What a token belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Owner {
    ServerListener,
    Listener(TunnelId),
    Incoming,
    ServerDial,
    Link(LinkId),
    Closing,
    Conn(ConnId),
}

/// A dial waiting for its target's name to resolve.
#[derive(Debug, Clone, Copy)]
struct Resolving {
    tunnel: TunnelId,
    deadline: Instant,
}

/// A socket waiting for its turn to read.
#[derive(Debug, Clone, Copy)]
enum Ready {
    Link(LinkId),
    Conn(ConnId),
}

/// A tcpws node (server, client 1 or client 2) with its sockets bound and
/// its event loop ready to [`run`](Node::run).
pub struct Node {
    inner: EventLoop,
    handle: NodeHandle,
}

impl Node {
    /// Checks the settings, loads the TLS files (for an https/wss server
    /// URL), creates the protocol endpoint and binds what must be bound up
    /// front (the server's WebSocket/HTTP port), so those errors surface
    /// before `run`.
    pub fn new(settings: NodeSettings) -> Result<Node, RuntimeError> {
        check_tunnels(&settings)?;
        let tls = tls::load(&settings)?;
        let poll = Poll::new().map_err(|source| RuntimeError::Poll {
            what: "creating the poller",
            source,
        })?;
        let waker = Waker::new(poll.registry(), WAKER).map_err(|source| RuntimeError::Poll {
            what: "creating the waker",
            source,
        })?;
        let waker = Arc::new(waker);
        let resolver = Resolver::new(Arc::clone(&waker), resolver::system_lookup);
        let endpoint = Endpoint::new(settings.protocol.clone(), Instant::now())
            .map_err(RuntimeError::Protocol)?;
        let listeners = settings
            .listens
            .iter()
            .cloned()
            .map(TunnelListener::new)
            .collect();
        let mut inner = EventLoop {
            endpoint,
            poll,
            owners: HashMap::new(),
            last_token: WAKER.0,
            last_link: 0,
            server_listener: None,
            incoming: HashMap::new(),
            server_dial: None,
            links: BTreeMap::new(),
            closing: HashMap::new(),
            conns: HashMap::new(),
            listeners,
            ready: VecDeque::new(),
            timers: Timers::default(),
            scratch: vec![0; SCRATCH],
            tx_buf: Vec::new(),
            resolver,
            resolving: HashMap::new(),
            fd_reserve: FdReserve::new(),
            link_ids: Vec::new(),
            shutting_down: false,
            tls,
            settings,
        };
        if inner.endpoint.role() == Role::Server {
            inner.bind_server()?;
        }
        let status = inner.status();
        let handle = NodeHandle {
            shared: Arc::new(Shared {
                waker,
                shutdown: AtomicBool::new(false),
                status: Mutex::new(status),
            }),
        };
        Ok(Node { inner, handle })
    }

    /// A handle to stop the node and read its status from other threads.
    pub fn handle(&self) -> NodeHandle {
        self.handle.clone()
    }

    /// Runs the loop until [`NodeHandle::shutdown`] is called; then closes
    /// every link with a reason, flushes for at most a couple of seconds and
    /// returns `Ok`. Errors only if the OS poller itself fails.
    pub fn run(self) -> Result<(), RuntimeError> {
        let Node {
            inner: mut lp,
            handle,
        } = self;
        let mut events = Events::with_capacity(1024);
        lp.pump(Instant::now());
        handle.publish(lp.status());
        let mut stop_by: Option<Instant> = None;
        loop {
            let now = Instant::now();
            if stop_by.is_none() && handle.shutdown_requested() {
                lp.begin_shutdown(now);
                stop_by = Some(now + SHUTDOWN_BOUND);
                handle.publish(lp.status());
            }
            if let Some(by) = stop_by {
                if lp.quiescent() || now >= by {
                    break;
                }
            }
            let wake_at = [lp.endpoint.poll_timeout(), lp.timers.next(), stop_by]
                .into_iter()
                .flatten()
                .min();
            let timeout = if lp.ready.is_empty() {
                wake_at.map(|at| timers::poll_timeout(now, at))
            } else {
                Some(Duration::ZERO)
            };
            if let Err(source) = lp.poll.poll(&mut events, timeout) {
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
                lp.dispatch(event, now);
            }
            lp.take_resolved(now);
            lp.fire_timers(now);
            lp.pump(now);
            handle.publish(lp.status());
        }
        handle.publish(lp.status());
        info!("{} stopped", lp.endpoint.role());
        Ok(())
    }
}

/// The tunnel lists must match the protocol's, index for index.
fn check_tunnels(settings: &NodeSettings) -> Result<(), RuntimeError> {
    let lists = [
        (
            "listen",
            settings
                .listens
                .iter()
                .map(|l| l.name.as_str())
                .collect::<Vec<_>>(),
            &settings.protocol.listens,
        ),
        (
            "connect",
            settings
                .connects
                .iter()
                .map(|c| c.name.as_str())
                .collect::<Vec<_>>(),
            &settings.protocol.connects,
        ),
    ];
    for (kind, ours, protocol) in lists {
        if ours.len() != protocol.len() {
            return Err(RuntimeError::Settings(format!(
                "{} {kind} tunnels given but the protocol config has {}",
                ours.len(),
                protocol.len()
            )));
        }
        for (i, (a, b)) in ours.iter().zip(protocol).enumerate() {
            if a != b {
                return Err(RuntimeError::Settings(format!(
                    "{kind} tunnel {i} is named {a:?} but the protocol config calls it {b:?}"
                )));
            }
        }
    }
    Ok(())
}

/// Everything the loop owns. Methods that feed the endpoint come in two
/// kinds: event handlers, which finish with [`EventLoop::pump`], and actions
/// run from inside `pump` (via [`EventLoop::act`]), which never call it.
struct EventLoop {
    settings: NodeSettings,
    endpoint: Endpoint,
    poll: Poll,
    owners: HashMap<Token, Owner>,
    last_token: usize,
    last_link: u64,
    server_listener: Option<(TcpListener, Token)>,
    incoming: HashMap<Token, Incoming>,
    server_dial: Option<ServerDial>,
    links: BTreeMap<LinkId, Link>,
    closing: HashMap<Token, Closing>,
    conns: HashMap<ConnId, Conn>,
    listeners: Vec<TunnelListener>,
    ready: VecDeque<Ready>,
    timers: Timers,
    scratch: Vec<u8>,
    tx_buf: Vec<u8>,
    /// Looks up the names of connect targets off the loop.
    resolver: Resolver,
    /// Dials waiting for their target's name to resolve.
    resolving: HashMap<ConnId, Resolving>,
    /// A spare descriptor, to shed connections at the open-files limit.
    fd_reserve: FdReserve,
    link_ids: Vec<LinkId>,
    shutting_down: bool,
    /// The TLS side of the server's port or the client's link, for https/wss.
    tls: Option<TlsContext>,
}

impl EventLoop {
    // ---- bookkeeping -----------------------------------------------------

    fn next_token(&mut self) -> Token {
        self.last_token += 1;
        Token(self.last_token)
    }

    fn next_link_id(&mut self) -> LinkId {
        self.last_link += 1;
        LinkId(self.last_link)
    }

    fn register(&mut self, stream: &mut TcpStream, owner: Owner) -> io::Result<Token> {
        let token = self.next_token();
        self.poll
            .registry()
            .register(stream, token, Interest::READABLE | Interest::WRITABLE)?;
        self.owners.insert(token, owner);
        Ok(token)
    }

    fn forget(&mut self, token: Token, stream: Option<&mut TcpStream>) {
        self.owners.remove(&token);
        if let Some(stream) = stream {
            // Closing the fd removes it from epoll anyway; this is tidiness.
            let _ = self.poll.registry().deregister(stream);
        }
    }

    fn status(&self) -> Status {
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
        }
    }

    /// Whether shutdown has nothing left to flush.
    fn quiescent(&self) -> bool {
        self.links.is_empty() && self.closing.is_empty() && self.conns.is_empty()
    }

    fn role_name(&self) -> String {
        self.endpoint.role().to_string()
    }

    // ---- the drain contract ----------------------------------------------

    /// Drains outputs, transmits, and gives queued readers their turns until
    /// nothing is left to do or [`READ_TURNS`] reads were made; readers left
    /// in the queue make the loop poll without sleeping, so a busy socket
    /// never starves timers or other sockets.
    fn pump(&mut self, now: Instant) {
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
            match self.ready.pop_front() {
                Some(Ready::Conn(id)) => self.read_conn_once(id, now),
                Some(Ready::Link(id)) => self.read_link_once(id, now),
                None => break,
            }
        }
    }

    /// Obeys one protocol output. Never calls `pump`.
    fn act(&mut self, output: Output, now: Instant) {
        match output {
            Output::ConnectServer => self.start_server_dial(now),
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

    fn dispatch(&mut self, event: &Event, now: Instant) {
        let token = event.token();
        let Some(&owner) = self.owners.get(&token) else {
            return; // the waker, or a socket already forgotten
        };
        match owner {
            Owner::ServerListener => self.accept_incoming(now),
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

    fn fire_timers(&mut self, now: Instant) {
        while let Some(deadline) = self.timers.pop_due(now) {
            match deadline {
                Deadline::Incoming(token) => self.incoming_deadline(token, now),
                Deadline::ServerDial(token) => self.server_dial_deadline(token, now),
                Deadline::Dial(conn) => self.dial_deadline(conn, now),
                Deadline::ListenRetry(tunnel) => {
                    let due = self.listeners.get(tunnel.0).is_some_and(|l| {
                        l.wanted && !l.is_bound() && l.retry_at.is_some_and(|at| at <= now)
                    });
                    if due {
                        self.try_bind(tunnel, now);
                        self.pump(now);
                    }
                }
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

    fn begin_shutdown(&mut self, now: Instant) {
        info!("{} shutting down", self.role_name());
        self.shutting_down = true;
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
        self.endpoint.handle_shutdown(now);
        self.pump(now);
    }

    // ---- the server's WebSocket/HTTP port ---------------------------------

    fn bind_server(&mut self) -> Result<(), RuntimeError> {
        let server = &self.settings.server;
        let addr_text = server.authority();
        let addrs = listener::resolve(&server.host, server.port).map_err(|source| {
            RuntimeError::Resolve {
                what: "the WebSocket".into(),
                addr: addr_text.clone(),
                source,
            }
        })?;
        let mut socket = listener::bind_any(&addrs).map_err(|source| RuntimeError::Bind {
            what: "the WebSocket".into(),
            addr: addr_text.clone(),
            source,
        })?;
        let token = self.next_token();
        self.poll
            .registry()
            .register(&mut socket, token, Interest::READABLE)
            .map_err(|source| RuntimeError::Poll {
                what: "registering the WebSocket listener",
                source,
            })?;
        self.owners.insert(token, Owner::ServerListener);
        let local = socket.local_addr().ok();
        let bound = local.map_or(addr_text, |a| a.to_string());
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

    fn accept_incoming(&mut self, now: Instant) {
        loop {
            let Some((listener, _)) = &self.server_listener else {
                return;
            };
            match listener.accept() {
                Ok((mut stream, peer)) => {
                    let token = match self.register(&mut stream, Owner::Incoming) {
                        Ok(token) => token,
                        Err(e) => {
                            error!("cannot register a connection from {peer}: {e}");
                            continue;
                        }
                    };
                    trace!("accepted a connection from {peer} on the server port");
                    let transport = match &self.tls {
                        Some(TlsContext::Server(config)) => {
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
                    let deadline = now + HEAD_TIMEOUT;
                    self.incoming
                        .insert(token, Incoming::new(peer, transport, deadline));
                    self.timers.schedule(deadline, Deadline::Incoming(token));
                    self.advance_incoming(token, now);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if FdReserve::is_exhaustion(&e) => {
                    let Some((listener, _)) = &self.server_listener else {
                        return;
                    };
                    let shed = self.fd_reserve.shed(listener);
                    error!(
                        "cannot accept on the server port: {e}; closed {shed} waiting \
                         connection(s) (raise the open files limit, ulimit -n)"
                    );
                    return;
                }
                Err(e) => {
                    error!("cannot accept on the server port: {e}");
                    return;
                }
            }
        }
    }

    fn advance_incoming(&mut self, token: Token, now: Instant) {
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
                    warn!("refused a connection from {peer} on the server port: TLS handshake failed: {why}");
                    let Some(inc) = self.incoming.remove(&token) else {
                        return;
                    };
                    let (transport, _) = inc.into_parts();
                    let closing = Closing::failed_tls(token, peer, transport, now + CLOSE_LINGER);
                    self.add_closing(closing);
                    return;
                }
                incoming::Step::PlainOnTls(line) => {
                    warn!(
                        "refused a connection from {peer} on the server port: plain HTTP on a TLS \
                         port ({line:?}); the client's serverUrl must be https:// or wss://"
                    );
                    let Some(inc) = self.incoming.remove(&token) else {
                        return;
                    };
                    // Nothing was read, so a plain answer reaches a plain client.
                    let (transport, _) = inc.into_parts();
                    let plain = Transport::Plain(transport.into_tcp());
                    let out = http::error_response(
                        400,
                        "this port speaks TLS: use an https:// or wss:// URL",
                    );
                    self.owners.insert(token, Owner::Closing);
                    let closing = Closing::responding(token, peer, plain, out, now + CLOSE_LINGER);
                    self.add_closing(closing);
                    return;
                }
                incoming::Step::Bad(err) => {
                    let status = match err {
                        HeadError::TooLarge => 431,
                        HeadError::Malformed(_) => 400,
                    };
                    warn!("refused a connection from {peer} on the server port: {err}");
                    self.respond(token, http::error_response(status, &err.to_string()), now);
                    return;
                }
                incoming::Step::Head(head, leftover) => {
                    match http::route(&head, self.settings.server.ws_path()) {
                        Route::Health => {
                            debug!("GET /healthz from {peer}");
                            let body = http::healthz_body(&self.status());
                            let out = http::response(200, "text/plain; charset=utf-8", &body);
                            self.respond(token, out, now);
                            return;
                        }
                        Route::Metrics => {
                            debug!("GET /metrics from {peer}");
                            let names: Vec<String> = self
                                .settings
                                .listens
                                .iter()
                                .map(|l| l.name.clone())
                                .collect();
                            let body = http::render_metrics(&self.status(), &names);
                            let out = http::response(
                                200,
                                "text/plain; version=0.0.4; charset=utf-8",
                                &body,
                            );
                            self.respond(token, out, now);
                            return;
                        }
                        Route::Reject { status, why } => {
                            warn!(
                                "refused {} {} from {peer}: {status} {why}",
                                head.method, head.target
                            );
                            self.respond(token, http::error_response(status, &why), now);
                            return;
                        }
                        Route::Upgrade { .. } if self.shutting_down => {
                            let out = http::error_response(503, "the server is shutting down");
                            self.respond(token, out, now);
                            return;
                        }
                        Route::Upgrade { key } => {
                            inc.start_upgrade(http::upgrade_response(&key), leftover);
                        }
                    }
                }
                incoming::Step::Upgraded => {
                    let Some(inc) = self.incoming.remove(&token) else {
                        return;
                    };
                    let session = inc.describe_session();
                    let (stream, leftover) = inc.into_parts();
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
                    self.endpoint.handle_link_up(id, now);
                    self.queue_link(id);
                    self.pump(now);
                    return;
                }
            }
        }
    }

    fn incoming_deadline(&mut self, token: Token, now: Instant) {
        let Some(inc) = self.incoming.get(&token) else {
            return;
        };
        if inc.deadline > now {
            return;
        }
        let peer = inc.peer;
        match inc.phase() {
            incoming::Phase::TlsHandshake => {
                warn!(
                    "refused a connection from {peer} on the server port: no TLS handshake within {}s",
                    HEAD_TIMEOUT.as_secs()
                );
                self.drop_incoming(token);
            }
            incoming::Phase::ReadingHead => {
                warn!(
                    "refused a connection from {peer} on the server port: no request within {}s",
                    HEAD_TIMEOUT.as_secs()
                );
                let out = http::error_response(408, "no complete request head in time");
                self.respond(token, out, now);
            }
            incoming::Phase::Upgrading => {
                warn!(
                    "dropped a WebSocket upgrade from {peer}: the answer could not be sent in time"
                );
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

    // ---- closing sockets --------------------------------------------------

    fn add_closing(&mut self, closing: Closing) {
        let token = closing.token;
        self.owners.insert(token, Owner::Closing);
        self.timers
            .schedule(closing.deadline, Deadline::Closing(token));
        self.closing.insert(token, closing);
        self.advance_closing(token);
    }

    fn advance_closing(&mut self, token: Token) {
        let Some(closing) = self.closing.get_mut(&token) else {
            return;
        };
        if closing.advance(&mut self.scratch) == closing::Step::Done {
            self.drop_closing(token);
        }
    }

    fn drop_closing(&mut self, token: Token) {
        if let Some(mut closing) = self.closing.remove(&token) {
            trace!("closed the socket to {}", closing.peer);
            self.forget(token, closing.stream_mut());
        }
    }

    // ---- the client's WebSocket to the server ------------------------------

    fn start_server_dial(&mut self, now: Instant) {
        if self.shutting_down {
            return;
        }
        if self.server_dial.is_some() {
            debug!("ignoring ConnectServer: an attempt is already under way");
            return;
        }
        let url = self.settings.server.ws_url();
        let token = self.next_token();
        let deadline = now + self.settings.connect_timeout;
        let server = &self.settings.server;
        let tls = match &self.tls {
            Some(TlsContext::Client(tls)) => Some(tls.clone()),
            _ => None,
        };
        let mut attempt = match ServerDial::start(&server.host, server.port, token, deadline, tls) {
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
        self.timers.schedule(deadline, Deadline::ServerDial(token));
        self.server_dial = Some(attempt);
    }

    fn advance_server_dial(&mut self, now: Instant) {
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
                self.endpoint.handle_link_up(id, now);
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

    fn server_dial_deadline(&mut self, token: Token, now: Instant) {
        let due = self
            .server_dial
            .as_ref()
            .is_some_and(|a| a.token == token && a.deadline <= now);
        if !due {
            return;
        }
        if let Some(mut attempt) = self.server_dial.take() {
            self.forget(attempt.token, attempt.stream_mut());
        }
        let reason = format!(
            "connecting to {} timed out after {:?}",
            self.settings.server.ws_url(),
            self.settings.connect_timeout
        );
        warn!("{reason}");
        self.endpoint.handle_link_failed(&reason, now);
        self.pump(now);
    }

    // ---- links -----------------------------------------------------------

    fn queue_link(&mut self, id: LinkId) {
        if let Some(link) = self.links.get_mut(&id) {
            if !link.queued {
                link.queued = true;
                self.ready.push_back(Ready::Link(id));
            }
        }
    }

    /// One message from a link into the protocol (a turn of the ready queue).
    fn read_link_once(&mut self, id: LinkId, now: Instant) {
        let Some(link) = self.links.get_mut(&id) else {
            return;
        };
        link.queued = false;
        match link.read() {
            LinkRead::Message(bytes) => {
                trace!("{id}: received a message of {} bytes", bytes.len());
                self.endpoint.handle_message(id, &bytes, now);
                self.queue_link(id);
            }
            LinkRead::Idle => {
                // Pongs queued by the reads go out now (or when writable).
                if let Err(reason) = link.flush() {
                    self.link_down(id, reason, now);
                }
            }
            LinkRead::Violation(reason) => {
                let Some(link) = self.links.remove(&id) else {
                    return;
                };
                warn!("closing {id} with {}: {reason}", link.peer);
                let closing =
                    link.into_closing(Some((CloseCode::Unsupported, &reason)), now + CLOSE_LINGER);
                self.add_closing(closing);
                self.endpoint.handle_link_down(id, &reason, now);
            }
            LinkRead::Down(reason) => self.link_down(id, reason, now),
        }
    }

    fn flush_link(&mut self, id: LinkId, now: Instant) {
        let Some(link) = self.links.get_mut(&id) else {
            return;
        };
        if !link.blocked && !link.wants_write() {
            return;
        }
        if let Err(reason) = link.flush() {
            self.link_down(id, reason, now);
        }
    }

    /// The link ended without the protocol asking: tell it, and close the socket.
    fn link_down(&mut self, id: LinkId, reason: String, now: Instant) {
        let Some(link) = self.links.remove(&id) else {
            return;
        };
        info!("{id} with {} is down: {reason}", link.peer);
        self.add_closing(link.into_closing(None, now + CLOSE_LINGER));
        self.endpoint.handle_link_down(id, &reason, now);
    }

    /// `Output::CloseLink`: close frame with the reason, flush, close.
    fn close_link(&mut self, id: LinkId, reason: &str, now: Instant) {
        let Some(link) = self.links.remove(&id) else {
            return;
        };
        info!("closing {id} with {}: {reason}", link.peer);
        let closing = link.into_closing(Some((CloseCode::Normal, reason)), now + CLOSE_LINGER);
        self.add_closing(closing);
    }

    // ---- tunnel listen sockets ---------------------------------------------

    fn start_listening(&mut self, tunnel: TunnelId, now: Instant) {
        if self.shutting_down {
            return;
        }
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

    fn try_bind(&mut self, tunnel: TunnelId, now: Instant) {
        let Some(slot) = self.listeners.get(tunnel.0) else {
            return;
        };
        let (name, addr_text) = (slot.spec.name.clone(), slot.addr_text());
        match listener::bind(&slot.spec.bind_address, slot.spec.port) {
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
                slot.retry_at = None;
                slot.failures = 0;
                // Connections may already be queued if we re-bound quickly.
                self.accept_tunnel(tunnel, now);
            }
            Err(e) => {
                let slot = &mut self.listeners[tunnel.0];
                slot.failures += 1;
                if slot.failures == 1 {
                    error!(
                        "cannot listen on {addr_text} for tunnel {name:?}: {}; retrying every {}s",
                        describe(&e),
                        LISTEN_RETRY.as_secs()
                    );
                } else {
                    debug!("still cannot listen on {addr_text} for tunnel {name:?}: {e}");
                }
                let at = now + LISTEN_RETRY;
                slot.retry_at = Some(at);
                self.timers.schedule(at, Deadline::ListenRetry(tunnel));
            }
        }
    }

    fn stop_listening(&mut self, tunnel: TunnelId) {
        let Some(slot) = self.listeners.get_mut(tunnel.0) else {
            return;
        };
        slot.wanted = false;
        slot.retry_at = None;
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
    fn accept_tunnel(&mut self, tunnel: TunnelId, now: Instant) {
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
                        self.conns.insert(
                            id,
                            Conn {
                                token,
                                stream,
                                tunnel,
                                peer,
                                state: ConnState::Open,
                                read_closed: false,
                                queued: false,
                            },
                        );
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

    // ---- tunnel connections ------------------------------------------------

    fn start_dial(&mut self, id: ConnId, tunnel: TunnelId, now: Instant) {
        let Some(spec) = self.settings.connects.get(tunnel.0) else {
            let reason = format!("no connect target for tunnel {}", tunnel.0);
            self.endpoint.handle_dial_result(id, Err(reason), now);
            return;
        };
        let deadline = now + self.settings.connect_timeout;
        match self.resolver.resolve(id, &spec.host, spec.port) {
            Some(resolved) => self.connect_resolved(id, tunnel, resolved, deadline, now),
            None => {
                debug!("{id}: resolving {} for tunnel {:?}", spec.host, spec.name);
                self.timers.schedule(deadline, Deadline::Dial(id));
                self.resolving.insert(id, Resolving { tunnel, deadline });
            }
        }
    }

    /// Names resolved since the last wakeup: their dials go on.
    fn take_resolved(&mut self, now: Instant) {
        let answers: Vec<resolver::Answer> = self.resolver.answers().collect();
        if answers.is_empty() {
            return;
        }
        for answer in answers {
            // Gone if the dial timed out or the stream closed meanwhile.
            if let Some(r) = self.resolving.remove(&answer.conn) {
                self.connect_resolved(answer.conn, r.tunnel, answer.result, r.deadline, now);
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
        deadline: Instant,
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
        self.timers.schedule(deadline, Deadline::Dial(id));
        self.conns.insert(
            id,
            Conn {
                token,
                stream,
                tunnel,
                peer,
                state: ConnState::Dialing { deadline, fallback },
                read_closed: false,
                queued: false,
            },
        );
    }

    fn dial_target(&self, tunnel: TunnelId) -> String {
        self.settings
            .connects
            .get(tunnel.0)
            .map_or_else(|| "?".into(), |c| authority(&c.host, c.port))
    }

    fn conn_event(&mut self, id: ConnId, event: &Event, now: Instant) {
        let Some(conn) = self.conns.get_mut(&id) else {
            return;
        };
        if let ConnState::Dialing { .. } = conn.state {
            match dial::check(&conn.stream) {
                dial::Progress::Pending => return,
                dial::Progress::Connected => {
                    conn.state = ConnState::Open;
                    if let Err(e) = conn.stream.set_nodelay(true) {
                        debug!("cannot set TCP_NODELAY on {id}: {e}");
                    }
                    debug!("{id}: connected to {}", conn.peer);
                    self.endpoint.handle_dial_result(id, Ok(()), now);
                    self.queue_conn(id);
                }
                dial::Progress::Failed(e) => {
                    let failed = conn.peer;
                    let next = match &mut conn.state {
                        ConnState::Dialing { fallback, .. } => fallback.connect_next(e),
                        ConnState::Open => Err(e),
                    };
                    let e = match next {
                        Ok((mut stream, addr)) => {
                            debug!("{id}: cannot connect to {failed}; trying {addr}");
                            let interest = Interest::READABLE | Interest::WRITABLE;
                            match self
                                .poll
                                .registry()
                                .register(&mut stream, conn.token, interest)
                            {
                                Ok(()) => {
                                    conn.stream = stream;
                                    conn.peer = addr;
                                    return;
                                }
                                Err(e) => e,
                            }
                        }
                        Err(e) => e,
                    };
                    let tunnel = conn.tunnel;
                    let target = self.dial_target(tunnel);
                    let reason = format!("cannot connect to {target}: {}", describe(&e));
                    debug!("{id}: {reason}");
                    self.drop_conn(id, false);
                    self.endpoint.handle_dial_result(id, Err(reason), now);
                }
            }
            self.pump(now);
            return;
        }
        if event.is_error() {
            // A reset on a socket we no longer read (after its EOF) would
            // otherwise go unnoticed until the next write.
            if let Ok(Some(e)) = conn.stream.take_error() {
                let reason = format!("socket error: {}", describe(&e));
                self.conn_failed(id, reason, now);
                self.pump(now);
                return;
            }
        }
        if event.is_writable() {
            self.deliver(id, now);
        }
        if event.is_readable() || event.is_read_closed() || event.is_error() {
            self.queue_conn(id);
        }
        self.pump(now);
    }

    fn dial_deadline(&mut self, id: ConnId, now: Instant) {
        if let Some(r) = self.resolving.get(&id).copied() {
            if r.deadline <= now {
                self.resolving.remove(&id);
                let reason = format!(
                    "resolving {} timed out after {:?}",
                    self.dial_target(r.tunnel),
                    self.settings.connect_timeout
                );
                debug!("{id}: {reason}");
                self.endpoint.handle_dial_result(id, Err(reason), now);
                self.pump(now);
            }
            return;
        }
        let Some(conn) = self.conns.get(&id) else {
            return;
        };
        let ConnState::Dialing { deadline, .. } = conn.state else {
            return;
        };
        if deadline > now {
            return;
        }
        let reason = format!(
            "connecting to {} timed out after {:?}",
            self.dial_target(conn.tunnel),
            self.settings.connect_timeout
        );
        debug!("{id}: {reason}");
        self.drop_conn(id, false);
        self.endpoint.handle_dial_result(id, Err(reason), now);
        self.pump(now);
    }

    fn queue_conn(&mut self, id: ConnId) {
        if let Some(conn) = self.conns.get_mut(&id) {
            if conn.is_open() && !conn.read_closed && !conn.queued {
                conn.queued = true;
                self.ready.push_back(Ready::Conn(id));
            }
        }
    }

    /// One read from a tunnel socket into the protocol, up to its send
    /// capacity (a turn of the ready queue).
    fn read_conn_once(&mut self, id: ConnId, now: Instant) {
        let Some(conn) = self.conns.get_mut(&id) else {
            return;
        };
        conn.queued = false;
        if !conn.is_open() || conn.read_closed {
            return;
        }
        let capacity = self.endpoint.send_capacity(id);
        if capacity == 0 {
            return; // Output::ResumeReading queues it again.
        }
        // A stream moving bulk data is read straight into its send buffer;
        // a new or idle one through the scratch buffer, so its own stays
        // as small as what it holds.
        let (result, direct) = match self.endpoint.app_read_buf(id) {
            Some(room) => {
                let want = room.len().min(SCRATCH);
                (conn.read(&mut room[..want]), true)
            }
            None => {
                let want = capacity.min(self.scratch.len());
                (conn.read(&mut self.scratch[..want]), false)
            }
        };
        match result {
            Ok(0) => {
                conn.read_closed = true;
                trace!("{id}: end of stream from {}", conn.peer);
                self.endpoint.handle_app_eof(id, now);
            }
            Ok(n) => {
                let taken = if direct {
                    self.endpoint.handle_app_read(id, n, now)
                } else {
                    self.endpoint.handle_app_data(id, &self.scratch[..n], now)
                };
                if taken < n {
                    // The protocol promised to take up to send_capacity; dropping
                    // the rest would corrupt the stream, so reset it instead.
                    let reason =
                        format!("the protocol took {taken} of {n} bytes within its capacity");
                    error!("{id}: {reason}");
                    self.drop_conn(id, true);
                    self.endpoint.handle_app_reset(id, &reason, now);
                } else {
                    self.queue_conn(id);
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => {
                let reason = format!("read failed: {}", describe(&e));
                self.conn_failed(id, reason, now);
            }
        }
    }

    /// `Output::Deliver` (and every writable event): write the protocol's
    /// bytes until none are left or the socket would block.
    fn deliver(&mut self, id: ConnId, now: Instant) {
        loop {
            let Some(conn) = self.conns.get_mut(&id) else {
                return;
            };
            if !conn.is_open() {
                return;
            }
            let chunk = self.endpoint.recv_chunk(id);
            if chunk.is_empty() {
                return;
            }
            match conn.write(chunk) {
                Ok(n) => self.endpoint.handle_app_written(id, n, now),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) => {
                    let reason = format!("write failed: {}", describe(&e));
                    self.conn_failed(id, reason, now);
                    return;
                }
            }
        }
    }

    /// The socket failed: drop it and report the reset.
    fn conn_failed(&mut self, id: ConnId, reason: String, now: Instant) {
        if let Some(conn) = self.conns.get(&id) {
            debug!("{id} ({}): {reason}", conn.peer);
        }
        self.drop_conn(id, false);
        self.endpoint.handle_app_reset(id, &reason, now);
    }

    /// `Output::Close`.
    fn close_conn(&mut self, id: ConnId, reset: bool) {
        if self.resolving.remove(&id).is_some() {
            debug!("{id}: closed while its target resolved");
        }
        if self.conns.contains_key(&id) {
            debug!("{id}: closing{}", if reset { " with a reset" } else { "" });
            self.drop_conn(id, reset);
        }
    }

    fn drop_conn(&mut self, id: ConnId, reset: bool) {
        let Some(mut conn) = self.conns.remove(&id) else {
            return;
        };
        if reset {
            if let Err(e) = conn::set_linger_zero(&conn.stream) {
                debug!("{id}: cannot set SO_LINGER 0 for a reset: {e}");
            }
        }
        self.forget(conn.token, Some(&mut conn.stream));
    }
}

fn unspecified() -> SocketAddr {
    SocketAddr::from(([0, 0, 0, 0], 0))
}
