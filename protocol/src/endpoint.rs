//! The endpoint: one node's whole protocol state (server or client), driven
//! by `handle_*` inputs and drained through `poll_*` outputs.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use log::{debug, info, warn};

use crate::config::Config;
use crate::control::Incoming;
use crate::election::{Change, ClientView, Election};
use crate::error::ProtocolError;
use crate::frame::{
    self, ActiveWhy, Control, Frame, Hello, ResetCode, Welcome, FRAME_HEADER, MAX_REASON,
};
use crate::ids::{ClientId, ConnId, LinkId, Role, StreamId, TunnelId};
use crate::output::Output;
use crate::reorder::ReorderError;
use crate::rng::Rng;
use crate::session::Session;
use crate::stats::Stats;
use crate::stream::{Origin, Stream};
use crate::timer::{Timer, TimerTable};
use crate::PROTOCOL_VERSION;

/// How long a leaving session's streams may take to deliver what they hold
/// before the rest is reset.
const LEAVE_DRAIN: Duration = Duration::from_secs(2);

/// A WebSocket link as the protocol sees it.
#[derive(Debug)]
struct Link {
    /// The session slot it carries, once the hello exchange is done.
    slot: Option<usize>,
    /// Hello (client) or Welcome (server) still to be sent first.
    handshake: Option<Frame<'static>>,
    keepalive_due: bool,
    /// A planned stop: say Goodbye with this reason once the session has
    /// nothing more to send, then close the link.
    goodbye: Option<String>,
}

/// Where a local TCP connection lives.
#[derive(Debug, Clone, Copy)]
struct ConnRef {
    slot: usize,
    stream: StreamId,
}

/// Where `conn` lives and its session. Borrows only the two tables, so the
/// caller may still use the endpoint's other fields.
fn conn_session<'a>(
    conns: &BTreeMap<ConnId, ConnRef>,
    sessions: &'a mut [Option<Session>],
    conn: ConnId,
) -> Option<(ConnRef, &'a mut Session)> {
    let r = conns.get(&conn).copied()?;
    Some((r, sessions[r.slot].as_mut()?))
}

/// One node of tcpws: the server or a client.
///
/// Call order: create with [`Endpoint::new`]; feed every event through a
/// `handle_*` method with the current time; after each call drain
/// [`Endpoint::poll_output`] and, per link, [`Endpoint::poll_transmit`];
/// then wait until [`Endpoint::poll_timeout`] and call
/// [`Endpoint::handle_timeout`]. Getters never change state.
#[derive(Debug)]
pub struct Endpoint {
    config: Config,
    rng: Rng,
    timers: TimerTable,
    outputs: VecDeque<Output>,
    links: BTreeMap<LinkId, Link>,
    /// Server: slot 0 is client 1's session, slot 1 client 2's. Client: slot 0.
    sessions: [Option<Session>; 2],
    conns: BTreeMap<ConnId, ConnRef>,
    next_conn: u64,
    /// Server only.
    election: Election,
    /// Client only.
    view: Option<ClientView>,
    /// Client: the grace period the server announced.
    grace: Duration,
    listening: bool,
    blackout_until: Option<Instant>,
    /// Client: a ConnectServer is outstanding.
    connecting: bool,
    reconnect_failures: u32,
    shut_down: bool,
    stats: Stats,
}

impl Endpoint {
    /// A new endpoint. A client immediately asks to connect to the server.
    pub fn new(config: Config, _now: Instant) -> Result<Endpoint, String> {
        config.validate()?;
        let view = match config.role {
            Role::Server => None,
            Role::Client(id) => Some(ClientView::new(id)),
        };
        let mut endpoint = Endpoint {
            rng: Rng::new(config.rng_seed),
            grace: config.resume_grace,
            config,
            timers: TimerTable::default(),
            outputs: VecDeque::new(),
            links: BTreeMap::new(),
            sessions: [None, None],
            conns: BTreeMap::new(),
            next_conn: 1,
            election: Election::default(),
            view,
            listening: false,
            blackout_until: None,
            connecting: false,
            reconnect_failures: 0,
            shut_down: false,
            stats: Stats::default(),
        };
        if endpoint.view.is_some() {
            endpoint.connecting = true;
            endpoint.outputs.push_back(Output::ConnectServer);
        }
        Ok(endpoint)
    }

    // ---- getters ----

    pub fn role(&self) -> Role {
        self.config.role
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Who this node believes is active.
    pub fn active(&self) -> Option<ClientId> {
        match &self.view {
            Some(v) => v.active,
            None => self.election.active,
        }
    }

    /// The election epoch of [`Endpoint::active`].
    pub fn epoch(&self) -> u64 {
        match &self.view {
            Some(v) => v.epoch,
            None => self.election.epoch,
        }
    }

    /// Whether the protocol wants the listen sockets open (all tunnels open
    /// and close together).
    pub fn is_listening(&self, tunnel: TunnelId) -> bool {
        self.listening && tunnel.0 < self.config.listens.len()
    }

    /// Whether a session (connected or within its grace period) exists with
    /// `client` (server) or with the server (client; the argument is ignored).
    pub fn has_session(&self, client: ClientId) -> bool {
        match self.config.role {
            Role::Server => self.sessions[client.index()].is_some(),
            Role::Client(_) => self.sessions[0].is_some(),
        }
    }

    /// Whether that session currently has a link.
    pub fn is_connected(&self, client: ClientId) -> bool {
        let slot = match self.config.role {
            Role::Server => client.index(),
            Role::Client(_) => 0,
        };
        self.sessions[slot]
            .as_ref()
            .is_some_and(|s| s.link.is_some())
    }

    pub fn stats(&self) -> Stats {
        let mut s = self.stats;
        s.links_up = self.links.values().filter(|l| l.slot.is_some()).count() as u64;
        s.sessions = self.sessions.iter().flatten().count() as u64;
        s.streams = self
            .sessions
            .iter()
            .flatten()
            .map(|x| x.streams.len() as u64)
            .sum();
        s.conns = self.conns.len() as u64;
        s.bytes_buffered = self.sessions.iter().flatten().map(Session::buffered).sum();
        s
    }

    /// Bytes [`Endpoint::handle_app_data`] takes for `conn` now.
    pub fn send_capacity(&self, conn: ConnId) -> usize {
        self.stream_of(conn)
            .map_or(0, |s| s.send_capacity(self.config.stream_window))
    }

    /// The next bytes to write to `conn`'s socket; empty when there are none.
    pub fn recv_chunk(&self, conn: ConnId) -> &[u8] {
        match self.stream_of(conn) {
            Some(s) if s.socket_ready() => s.recv.chunk(),
            _ => &[],
        }
    }

    /// Checks the protocol's internal invariants: buffers within the window,
    /// server-listen streams routed only to the active client, the connection
    /// table consistent. For tests and the simulation.
    pub fn check_invariants(&self) -> Result<(), String> {
        let window = self.config.stream_window as usize;
        for session in self.sessions.iter().flatten() {
            for (id, s) in &session.streams {
                if s.send.len() > window {
                    return Err(format!(
                        "{}: {id} holds {} unacknowledged bytes, window {window}",
                        self.role(),
                        s.send.len()
                    ));
                }
                if s.recv.buffered() > window {
                    return Err(format!(
                        "{}: {id} buffers {} received bytes, window {window}",
                        self.role(),
                        s.recv.buffered()
                    ));
                }
                if self.view.is_none()
                    && !session.leaving
                    && matches!(s.origin, Origin::Listen(_))
                    && self.election.active != Some(session.client)
                {
                    return Err(format!(
                        "server: {id} from a server listen socket is routed to {} but {:?} is active",
                        session.client, self.election.active
                    ));
                }
                if let Some(conn) = s.conn {
                    match self.conns.get(&conn) {
                        Some(r) if r.stream == *id => {}
                        _ => {
                            return Err(format!(
                                "{}: {id} has {conn} not in the table",
                                self.role()
                            ))
                        }
                    }
                }
            }
        }
        for (conn, r) in &self.conns {
            let ok = self.sessions[r.slot]
                .as_ref()
                .and_then(|s| s.streams.get(&r.stream))
                .is_some_and(|s| s.conn == Some(*conn));
            if !ok {
                return Err(format!(
                    "{}: {conn} points to a missing stream",
                    self.role()
                ));
            }
        }
        if self.listening && !(0..self.sessions.len()).any(|slot| self.online(slot)) {
            return Err(format!("{}: listening without a session", self.role()));
        }
        Ok(())
    }

    fn stream_of(&self, conn: ConnId) -> Option<&Stream> {
        let r = self.conns.get(&conn)?;
        self.sessions[r.slot].as_ref()?.streams.get(&r.stream)
    }

    // ---- inputs: links ----

    /// A WebSocket link is up: accepted by the server, or connected by a
    /// client after [`Output::ConnectServer`].
    pub fn handle_link_up(&mut self, link: LinkId, now: Instant) {
        if self.shut_down {
            self.outputs.push_back(Output::CloseLink {
                link,
                reason: "shutting down".into(),
            });
            return;
        }
        let handshake = match self.config.role {
            Role::Server => None,
            Role::Client(client) => {
                self.connecting = false;
                let session = self.sessions[0].as_ref().filter(|s| !s.leaving);
                Some(Frame::Hello(Hello {
                    version: PROTOCOL_VERSION,
                    client,
                    token: session.map_or(0, |s| s.token),
                    epoch: self.epoch(),
                    ctl_rx: session.map_or(0, |s| s.control.received()),
                    window: self.config.stream_window,
                }))
            }
        };
        self.links.insert(
            link,
            Link {
                slot: None,
                handshake,
                keepalive_due: false,
                goodbye: None,
            },
        );
        self.timers
            .set(Timer::LinkIdle(link), now + self.config.keepalive_timeout);
        self.timers.set(
            Timer::LinkKeepalive(link),
            now + self.config.keepalive_interval,
        );
    }

    /// Client: the connection attempt asked for by [`Output::ConnectServer`] failed.
    pub fn handle_link_failed(&mut self, reason: &str, now: Instant) {
        if self.view.is_none() {
            return;
        }
        debug!("connecting to the server failed: {reason}");
        self.connecting = false;
        self.schedule_reconnect(now);
    }

    /// A link closed or failed underneath us.
    pub fn handle_link_down(&mut self, link: LinkId, reason: &str, now: Instant) {
        if self.links.contains_key(&link) {
            info!("{link} down: {reason}");
            self.detach_link(link, now);
        }
    }

    /// One binary WebSocket message arrived on `link`.
    pub fn handle_message(&mut self, link: LinkId, message: &[u8], now: Instant) {
        if !self.links.contains_key(&link) {
            return;
        }
        self.timers
            .set(Timer::LinkIdle(link), now + self.config.keepalive_timeout);
        for frame in frame::frames(message) {
            let result = frame
                .map_err(ProtocolError::from)
                .and_then(|f| self.process_frame(link, f, now));
            if let Err(e) = result {
                self.stats.protocol_errors += 1;
                warn!("closing {link}: {e}");
                self.close_link(link, e.to_string(), now);
                return;
            }
            if !self.links.contains_key(&link) {
                return;
            }
        }
    }

    // ---- inputs: TCP ----

    /// A TCP connection was accepted on `listens[tunnel]`. `None`: close it,
    /// there is nowhere to route it.
    pub fn handle_accept(&mut self, tunnel: TunnelId, now: Instant) -> Option<ConnId> {
        let name = self.config.listens.get(tunnel.0)?.clone();
        if !self.listening || self.shut_down {
            return None;
        }
        let slot = match self.config.role {
            Role::Server => match self.election.active {
                Some(c) if self.online(c.index()) => c.index(),
                _ => {
                    warn!("refusing a connection on tunnel {name:?}: no active client");
                    return None;
                }
            },
            Role::Client(_) => {
                if !self.online(0) {
                    return None;
                }
                0
            }
        };
        let failover_after = self.config.failover_after;
        let server = self.view.is_none();
        let window = self.config.stream_window;
        let max_streams = self.config.max_streams;
        let conn = ConnId(self.next_conn);
        let session = self.sessions[slot].as_mut()?;
        if session.streams.len() >= max_streams {
            warn!("refusing a connection on tunnel {name:?}: {max_streams} streams open");
            return None;
        }
        self.next_conn += 1;
        // The active client's link is down: hold the connection for the
        // failover delay (a resume or a failover carries it), no longer.
        let held = server && session.link.is_none();
        if held
            && session
                .down_since
                .is_some_and(|d| now >= d + failover_after)
        {
            warn!(
                "refusing a connection on tunnel {name:?}: {}'s link is down and no client can carry it",
                session.client
            );
            return None;
        }
        let id = session.allocate_stream();
        let mut stream = Stream::new(Origin::Listen(tunnel), conn, window);
        stream.held = held;
        session.streams.insert(id, stream);
        session.control.push(Control::Open {
            stream: id,
            tunnel: name.clone(),
        });
        self.conns.insert(conn, ConnRef { slot, stream: id });
        self.stats.streams_opened += 1;
        debug!(
            "{conn} accepted on tunnel {name:?} opens {id} to {}",
            session.client
        );
        Some(conn)
    }

    /// The dial asked for by [`Output::Dial`] finished.
    pub fn handle_dial_result(&mut self, conn: ConnId, result: Result<(), String>, now: Instant) {
        let Some((r, session)) = conn_session(&self.conns, &mut self.sessions, conn) else {
            return;
        };
        match result {
            Ok(()) => {
                if let Some(s) = session.streams.get_mut(&r.stream) {
                    s.confirmed = true;
                }
                session.control.push(Control::OpenResult {
                    stream: r.stream,
                    accepted: true,
                    reason: String::new(),
                });
                self.signal_deliver(r.slot, r.stream);
                self.recv_progress(r.slot, r.stream, now);
            }
            Err(reason) => {
                warn!("{conn}: dial for {} failed: {reason}", r.stream);
                self.stats.opens_refused += 1;
                session.control.push(Control::OpenResult {
                    stream: r.stream,
                    accepted: false,
                    reason,
                });
                session.streams.remove(&r.stream);
                self.conns.remove(&conn);
            }
        }
    }

    /// Bytes read from `conn`'s socket. Returns how many were taken (all of
    /// them when `data.len() <= send_capacity(conn)`).
    pub fn handle_app_data(&mut self, conn: ConnId, data: &[u8], now: Instant) -> usize {
        let window = self.config.stream_window;
        let Some(s) = self.stream_of_conn_mut(conn) else {
            return 0;
        };
        let capacity = s.send_capacity(window);
        if capacity == 0 {
            s.read_paused = true;
        }
        let n = data.len().min(capacity);
        if n == 0 {
            return 0;
        }
        s.send.push(&data[..n], capacity);
        self.took_app_bytes(conn, n, now);
        n
    }

    /// Room to read `conn`'s socket into directly, with no copy: free space
    /// in the stream's send buffer, at most [`Endpoint::send_capacity`]
    /// bytes. `None` when the stream takes no direct reads now (its buffer
    /// is small, as it is for a new or idle stream, or it takes nothing):
    /// read elsewhere and call [`Endpoint::handle_app_data`]. After reading
    /// into a prefix of the room, call [`Endpoint::handle_app_read`].
    pub fn app_read_buf(&mut self, conn: ConnId) -> Option<&mut [u8]> {
        let window = self.config.stream_window;
        let s = self.stream_of_conn_mut(conn)?;
        let capacity = s.send_capacity(window);
        s.send.direct_room(capacity)
    }

    /// `n` bytes were read from `conn`'s socket into the start of the room
    /// [`Endpoint::app_read_buf`] gave. Returns how many were taken: `n`,
    /// unless `n` is longer than that room was.
    pub fn handle_app_read(&mut self, conn: ConnId, n: usize, now: Instant) -> usize {
        let window = self.config.stream_window;
        let Some(s) = self.stream_of_conn_mut(conn) else {
            return 0;
        };
        let n = n.min(s.send_capacity(window)).min(s.send.spare_len());
        if n == 0 {
            return 0;
        }
        s.send.commit(n);
        self.took_app_bytes(conn, n, now);
        n
    }

    fn stream_of_conn_mut(&mut self, conn: ConnId) -> Option<&mut Stream> {
        let (r, session) = conn_session(&self.conns, &mut self.sessions, conn)?;
        session.streams.get_mut(&r.stream)
    }

    /// The send buffer of `conn`'s stream just took `n > 0` bytes: pause at
    /// a full window, claim activity on a standby's first data, transmit.
    fn took_app_bytes(&mut self, conn: ConnId, n: usize, _now: Instant) {
        let window = self.config.stream_window;
        let Some((r, session)) = conn_session(&self.conns, &mut self.sessions, conn) else {
            return;
        };
        let Some(s) = session.streams.get_mut(&r.stream) else {
            return;
        };
        let first_on_listen = !s.saw_app_data && matches!(s.origin, Origin::Listen(_));
        s.saw_app_data = true;
        if s.send_capacity(window) == 0 {
            s.read_paused = true;
        }
        self.stats.bytes_from_apps += n as u64;
        if first_on_listen {
            if let Some(view) = self.view.as_mut() {
                if view.should_claim() {
                    info!(
                        "first data on a standby listen socket: claiming activity (epoch {})",
                        view.epoch
                    );
                    session.control.push(Control::Claim { epoch: view.epoch });
                }
            }
        }
        session.queue_tx(r.stream);
    }

    /// The application finished writing (its socket read returned 0).
    pub fn handle_app_eof(&mut self, conn: ConnId, now: Instant) {
        let Some((r, session)) = conn_session(&self.conns, &mut self.sessions, conn) else {
            return;
        };
        let Some(s) = session.streams.get_mut(&r.stream) else {
            return;
        };
        s.app_eof = true;
        if !s.fin_queued {
            s.fin_queued = true;
            let final_offset = s.send.written();
            session.control.push(Control::Fin {
                stream: r.stream,
                final_offset,
            });
        }
        self.recv_progress(r.slot, r.stream, now);
    }

    /// `conn`'s socket failed or was reset; the runtime has dropped it.
    pub fn handle_app_reset(&mut self, conn: ConnId, reason: &str, _now: Instant) {
        let Some(r) = self.conns.remove(&conn) else {
            return;
        };
        debug!("{conn} reset by its application: {reason}");
        if let Some(session) = self.sessions[r.slot].as_mut() {
            if let Some(mut s) = session.streams.remove(&r.stream) {
                s.conn = None;
                session.control.push(Control::Reset {
                    stream: r.stream,
                    code: ResetCode::Application,
                    reason: reason.to_owned(),
                });
                self.stats.streams_reset += 1;
            }
        }
    }

    /// `n` bytes of [`Endpoint::recv_chunk`] were written to `conn`'s socket.
    pub fn handle_app_written(&mut self, conn: ConnId, n: usize, now: Instant) {
        let window = self.config.stream_window;
        let Some((r, session)) = conn_session(&self.conns, &mut self.sessions, conn) else {
            return;
        };
        let Some(s) = session.streams.get_mut(&r.stream) else {
            return;
        };
        let before = s.recv.consumed();
        s.recv.consume(n);
        let taken = s.recv.consumed() - before;
        if s.recv.chunk().is_empty() {
            s.deliver_signaled = false;
        }
        let ack = s.ack_worth_sending(window);
        self.stats.bytes_to_apps += taken;
        if ack {
            session.queue_ack(r.stream);
        }
        self.recv_progress(r.slot, r.stream, now);
    }

    // ---- inputs: time and shutdown ----

    /// Fires every timer due at `now`. Safe to call early or twice.
    pub fn handle_timeout(&mut self, now: Instant) {
        for timer in self.timers.take_expired(now) {
            match timer {
                Timer::LinkIdle(link) => {
                    if self.links.contains_key(&link) {
                        let secs = self.config.keepalive_timeout.as_secs_f64();
                        warn!("closing {link}: nothing received for {secs:.1}s");
                        self.close_link(link, format!("no message for {secs:.1}s"), now);
                    }
                }
                Timer::LinkKeepalive(link) => {
                    if let Some(l) = self.links.get_mut(&link) {
                        l.keepalive_due = true;
                    }
                }
                Timer::SessionGrace(slot) => {
                    let state = self.sessions[slot]
                        .as_ref()
                        .filter(|s| s.link.is_none())
                        .map(|s| s.leaving);
                    match state {
                        Some(true) => self.end_session(
                            slot,
                            "its streams had their time to drain",
                            now,
                            false,
                        ),
                        Some(false) => {
                            self.end_session(slot, "the resume grace period expired", now, true)
                        }
                        None => {}
                    }
                }
                Timer::Failover(slot) => self.failover_due(slot, now),
                Timer::Reconnect => {
                    if self.view.is_some()
                        && !self.shut_down
                        && !self.connecting
                        && !self.has_link()
                    {
                        self.connecting = true;
                        self.outputs.push_back(Output::ConnectServer);
                    }
                }
                Timer::ListenBlackoutEnd => {
                    self.blackout_until = None;
                    self.update_listeners(now);
                }
            }
        }
    }

    /// Stops the node on purpose (a planned stop): closes the listen
    /// sockets, ends every stream's sending direction after what it holds,
    /// says Goodbye on every session link once that is sent (the server
    /// then hands over at once), and closes every tunnel connection with FIN
    /// after writing what it received. What is still open
    /// after a couple of seconds is reset. Nothing is started afterwards.
    pub fn handle_shutdown(&mut self, now: Instant) {
        if self.shut_down {
            return;
        }
        self.shut_down = true;
        let reason = match self.config.role {
            Role::Server => "the server is shutting down".to_string(),
            Role::Client(c) => format!("{c} is shutting down"),
        };
        self.timers.cancel(Timer::Reconnect);
        let links: Vec<(LinkId, Option<usize>)> =
            self.links.iter().map(|(id, l)| (*id, l.slot)).collect();
        for (link, slot) in links {
            let attached = slot.and_then(|s| self.sessions[s].as_ref().map(|x| (s, x)));
            match attached {
                Some((slot, session)) if session.link == Some(link) && !session.leaving => {
                    self.finish_sending(slot);
                    if let Some(l) = self.links.get_mut(&link) {
                        l.goodbye = Some(reason.clone());
                    }
                }
                _ => self.close_link(link, reason.clone(), now),
            }
        }
        for slot in 0..self.sessions.len() {
            let detached = self.sessions[slot]
                .as_ref()
                .is_some_and(|s| s.link.is_none() && !s.leaving);
            if detached {
                self.leave_session(slot, now);
            }
        }
        self.update_listeners(now);
    }

    // ---- outputs ----

    /// The next instruction for the runtime.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// Appends one message's worth of frames for `link` to `buf` (at most
    /// `max_message` bytes in all). Returns false when there is nothing to send.
    pub fn poll_transmit(&mut self, link: LinkId, now: Instant, buf: &mut Vec<u8>) -> bool {
        let limit = self.config.max_message;
        let Some(l) = self.links.get_mut(&link) else {
            return false;
        };
        let start = buf.len();
        if let Some(hs) = l.handshake.take() {
            hs.encode(buf);
        }
        let mut more = false;
        if let Some(slot) = l.slot {
            if let Some(session) = self.sessions[slot].as_mut() {
                if session.link == Some(link) {
                    more = session.transmit(buf, limit);
                }
            }
        }
        if !more && buf.len() + FRAME_HEADER + 2 + MAX_REASON <= limit {
            if let Some(reason) = l.goodbye.take() {
                // Everything the session could send went first: say Goodbye
                // and close; the link's socket flushes it before the close.
                Frame::Goodbye { reason: &reason }.encode(buf);
                self.outputs.push_back(Output::CloseLink {
                    link,
                    reason: reason.clone(),
                });
                let slot = l.slot;
                self.forget_link(link);
                if let Some(slot) = slot {
                    self.leave_session(slot, now);
                }
                return true;
            }
        }
        if buf.len() == start && l.keepalive_due {
            Frame::Keepalive.encode(buf);
        }
        if buf.len() == start {
            return false;
        }
        l.keepalive_due = false;
        self.timers.set(
            Timer::LinkKeepalive(link),
            now + self.config.keepalive_interval,
        );
        true
    }

    /// When [`Endpoint::handle_timeout`] next has work.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.next()
    }

    // ---- frames ----

    fn process_frame(
        &mut self,
        link: LinkId,
        frame: Frame<'_>,
        now: Instant,
    ) -> Result<(), ProtocolError> {
        let slot = self.links.get(&link).and_then(|l| l.slot);
        match (frame, slot) {
            (Frame::Keepalive, _) => Ok(()),
            (Frame::Hello(h), None) => self.on_hello(link, h, now),
            (Frame::Welcome(w), None) => self.on_welcome(link, w, now),
            (Frame::Hello(_) | Frame::Welcome(_), Some(_)) => Err(ProtocolError::Unexpected(
                "a second hello on one link".into(),
            )),
            (_, None) => Err(ProtocolError::Unexpected("a frame before the hello".into())),
            (Frame::Goodbye { reason }, Some(slot)) => {
                match self.view {
                    Some(_) => info!("the server ended our session on purpose: {reason}"),
                    None => info!(
                        "{} ended its session on purpose: {reason}",
                        self.session_mut(slot)?.client
                    ),
                }
                self.close_link(link, "goodbye received".into(), now);
                self.leave_session(slot, now);
                Ok(())
            }
            (Frame::Control { seq, body }, Some(slot)) => {
                let session = self.session_mut(slot)?;
                match session.control.receive(seq) {
                    Incoming::Duplicate => Ok(()),
                    Incoming::Gap { expected } => Err(ProtocolError::Unexpected(format!(
                        "control sequence {seq} where {expected} was due"
                    ))),
                    Incoming::Deliver => self.on_control(slot, body, now),
                }
            }
            (Frame::ControlAck { seq }, Some(slot)) => {
                self.session_mut(slot)?.control.acknowledge(seq);
                Ok(())
            }
            (
                Frame::Data {
                    stream,
                    offset,
                    payload,
                },
                Some(slot),
            ) => self.on_data(slot, stream, offset, payload),
            (Frame::Ack { stream, consumed }, Some(slot)) => {
                self.on_ack(slot, stream, consumed, now);
                Ok(())
            }
        }
    }

    fn session_mut(&mut self, slot: usize) -> Result<&mut Session, ProtocolError> {
        self.sessions[slot]
            .as_mut()
            .ok_or_else(|| ProtocolError::Unexpected("frame for a session that ended".into()))
    }

    fn on_hello(&mut self, link: LinkId, hello: Hello, now: Instant) -> Result<(), ProtocolError> {
        if self.view.is_some() {
            return Err(ProtocolError::Unexpected(
                "a hello sent to a client: both ends are clients".into(),
            ));
        }
        if hello.version != PROTOCOL_VERSION {
            return Err(ProtocolError::Version {
                ours: PROTOCOL_VERSION,
                theirs: hello.version,
            });
        }
        if hello.window < 1024 {
            return Err(ProtocolError::Unexpected(format!(
                "hello: window of {} bytes is below 1024",
                hello.window
            )));
        }
        let client = hello.client;
        let slot = client.index();
        let resumable = hello.token != 0
            && self.sessions[slot]
                .as_ref()
                .is_some_and(|s| s.token == hello.token && !s.leaving);
        let resumed = if resumable {
            let old_link = self.sessions[slot].as_ref().and_then(|s| s.link);
            if let Some(old) = old_link.filter(|old| *old != link) {
                self.outputs.push_back(Output::CloseLink {
                    link: old,
                    reason: "replaced by a newer link of the same session".into(),
                });
                self.forget_link(old);
            }
            if let Some(s) = self.sessions[slot].as_mut() {
                s.resume(link, hello.ctl_rx);
                s.peer_window = hello.window;
            }
            self.timers.cancel(Timer::SessionGrace(slot));
            self.timers.cancel(Timer::Failover(slot));
            self.stats.resumes += 1;
            info!("{client} resumed its session on {link}");
            true
        } else {
            if self.sessions[slot].is_some() {
                self.end_session(slot, "the client started a new session", now, false);
            }
            let token = loop {
                let t = self.rng.next_u64();
                if t != 0 {
                    break t;
                }
            };
            let mut session = Session::new(client, token, hello.window, true);
            session.link = Some(link);
            self.sessions[slot] = Some(session);
            info!("{client} connected on {link} (new session)");
            let one_online = self.online(0);
            let two_carries = self.sessions[ClientId::Two.index()]
                .as_ref()
                .is_some_and(|s| {
                    s.streams
                        .values()
                        .any(|st| matches!(st.origin, Origin::Listen(_)))
                });
            if let Some(change) = self.election.on_session_up(client, one_online, two_carries) {
                self.apply_change(change, now);
            }
            false
        };
        // The active client may have been down past the failover delay,
        // waiting for this one.
        if let Some(active) = self.election.active.filter(|a| *a != client) {
            self.failover_due(active.index(), now);
        }
        let control_received = self.sessions[slot]
            .as_ref()
            .map_or(0, |s| s.control.received());
        if let Some(l) = self.links.get_mut(&link) {
            l.slot = Some(slot);
            l.handshake = Some(Frame::Welcome(Welcome {
                version: PROTOCOL_VERSION,
                token: self.sessions[slot].as_ref().map_or(0, |s| s.token),
                resumed,
                ctl_rx: control_received,
                window: self.config.stream_window,
                grace_ms: u32::try_from(self.config.resume_grace.as_millis()).unwrap_or(u32::MAX),
                active: self.election.active,
                epoch: self.election.epoch,
            }));
        }
        self.update_listeners(now);
        Ok(())
    }

    fn on_welcome(&mut self, link: LinkId, w: Welcome, now: Instant) -> Result<(), ProtocolError> {
        let Some(me) = self.view.as_ref().map(|v| v.me) else {
            return Err(ProtocolError::Unexpected(
                "a welcome sent to the server: both ends are servers".into(),
            ));
        };
        if w.version != PROTOCOL_VERSION {
            return Err(ProtocolError::Version {
                ours: PROTOCOL_VERSION,
                theirs: w.version,
            });
        }
        if w.window < 1024 {
            return Err(ProtocolError::Unexpected(format!(
                "welcome: window of {} bytes is below 1024",
                w.window
            )));
        }
        self.grace = Duration::from_millis(u64::from(w.grace_ms));
        let resumable = w.resumed
            && self.sessions[0]
                .as_ref()
                .is_some_and(|s| s.token == w.token);
        if w.resumed && !resumable {
            // We ended the session (its grace ran out) while our hello was in
            // flight; the server must drop its half. Reconnect without a token.
            info!("the server resumed a session this client already ended; starting afresh");
            self.close_link(
                link,
                "resumed a session the client already ended; reconnecting afresh".into(),
                now,
            );
            return Ok(());
        }
        if resumable {
            if let Some(s) = self.sessions[0].as_mut() {
                s.resume(link, w.ctl_rx);
                s.peer_window = w.window;
            }
            self.timers.cancel(Timer::SessionGrace(0));
            self.stats.resumes += 1;
            info!("resumed the session with the server on {link}");
        } else {
            if self.sessions[0].is_some() {
                self.end_session(0, "the server did not resume our session", now, false);
            }
            let mut session = Session::new(me, w.token, w.window, false);
            session.link = Some(link);
            self.sessions[0] = Some(session);
            if let Some(view) = self.view.as_mut() {
                view.reset(w.active, w.epoch);
            }
            info!(
                "connected to the server on {link}; active: {} (epoch {})",
                describe(w.active),
                w.epoch
            );
            self.outputs.push_back(Output::ActiveChanged {
                active: w.active,
                epoch: w.epoch,
                why: "as announced by the server on connect",
            });
        }
        self.reconnect_failures = 0;
        if let Some(l) = self.links.get_mut(&link) {
            l.slot = Some(0);
        }
        self.update_listeners(now);
        Ok(())
    }

    fn on_control(
        &mut self,
        slot: usize,
        body: Control<&str>,
        now: Instant,
    ) -> Result<(), ProtocolError> {
        match body {
            Control::Open { stream, tunnel } => self.on_open(slot, stream, tunnel),
            Control::OpenResult {
                stream,
                accepted,
                reason,
            } => {
                let session = self.session_mut(slot)?;
                let Some(s) = session.streams.get_mut(&stream) else {
                    return Ok(());
                };
                if accepted {
                    s.confirmed = true;
                } else {
                    warn!("{stream}: the peer refused to open it: {reason}");
                    self.stats.opens_refused += 1;
                    self.drop_stream(slot, stream, None);
                }
                Ok(())
            }
            Control::Fin {
                stream,
                final_offset,
            } => {
                let session = self.session_mut(slot)?;
                let Some(s) = session.streams.get_mut(&stream) else {
                    return Ok(());
                };
                if final_offset < s.recv.contiguous_end()
                    || s.peer_fin.is_some_and(|f| f != final_offset)
                {
                    return Err(ProtocolError::Unexpected(format!(
                        "{stream}: fin at {final_offset} contradicts the data received"
                    )));
                }
                s.peer_fin = Some(final_offset);
                self.recv_progress(slot, stream, now);
                Ok(())
            }
            Control::Reset {
                stream,
                code,
                reason,
            } => {
                debug!("{stream} reset by the peer ({code:?}): {reason}");
                self.drop_stream(slot, stream, None);
                Ok(())
            }
            Control::Claim { epoch } => {
                if self.view.is_some() {
                    return Err(ProtocolError::Unexpected("a claim sent to a client".into()));
                }
                let client = self.session_mut(slot)?.client;
                debug!("{client} claims activity (it saw epoch {epoch})");
                if let Some(change) = self.election.on_claim(client) {
                    self.apply_change(change, now);
                }
                Ok(())
            }
            Control::Active { client, epoch, why } => {
                let Some(view) = self.view.as_mut() else {
                    return Err(ProtocolError::Unexpected(
                        "an announcement sent to the server".into(),
                    ));
                };
                let Some(new_standby) = view.on_announce(client, epoch, why) else {
                    return Ok(());
                };
                self.outputs.push_back(Output::ActiveChanged {
                    active: client,
                    epoch,
                    why: why.as_str(),
                });
                if new_standby {
                    self.become_standby(now);
                }
                Ok(())
            }
        }
    }

    fn on_open(
        &mut self,
        slot: usize,
        stream: StreamId,
        tunnel: &str,
    ) -> Result<(), ProtocolError> {
        let window = self.config.stream_window;
        let max_streams = self.config.max_streams;
        let target = self.config.connects.iter().position(|n| n == tunnel);
        let role = self.role();
        let conn = ConnId(self.next_conn);
        let shut_down = self.shut_down;
        let session = self.session_mut(slot)?;
        if !session.accept_peer_id(stream) {
            return Err(ProtocolError::Unexpected(format!(
                "open of {stream}: id not fresh"
            )));
        }
        let refusal = match target {
            _ if shut_down => Some(format!("the {role} is shutting down")),
            None => Some(format!(
                "no tunnel named {tunnel:?} connects from the {role}"
            )),
            Some(_) if session.streams.len() >= max_streams => {
                Some(format!("the {role} has {max_streams} streams open"))
            }
            Some(_) => None,
        };
        if let (None, Some(t)) = (&refusal, target) {
            session.streams.insert(
                stream,
                Stream::new(Origin::Connect(TunnelId(t)), conn, window),
            );
            self.next_conn += 1;
            self.conns.insert(conn, ConnRef { slot, stream });
            self.stats.streams_opened += 1;
            self.outputs.push_back(Output::Dial {
                conn,
                tunnel: TunnelId(t),
            });
            return Ok(());
        }
        let reason = refusal.unwrap_or_default();
        warn!("refusing {stream}: {reason}");
        session.control.push(Control::OpenResult {
            stream,
            accepted: false,
            reason,
        });
        self.stats.opens_refused += 1;
        Ok(())
    }

    fn on_data(
        &mut self,
        slot: usize,
        stream: StreamId,
        offset: u64,
        payload: &[u8],
    ) -> Result<(), ProtocolError> {
        let session = self.session_mut(slot)?;
        let Some(s) = session.streams.get_mut(&stream) else {
            if session.is_forgotten(stream) {
                // Late or resent data for a finished stream: acknowledge it so
                // the sender can forget the stream too.
                session.queue_stale_ack(stream, offset + payload.len() as u64);
                return Ok(());
            }
            return Err(ProtocolError::Unexpected(format!(
                "data for {stream}, never opened"
            )));
        };
        let end = offset + payload.len() as u64;
        if s.peer_fin.is_some_and(|f| end > f) {
            return Err(ProtocolError::Unexpected(format!(
                "{stream}: data past its fin"
            )));
        }
        match s.recv.insert(offset, payload) {
            Ok(0) => {
                if end <= s.recv.consumed() {
                    // A resend of bytes already delivered: the peer missed our
                    // ack, so repeat it.
                    session.queue_ack(stream);
                }
                Ok(())
            }
            Ok(_) => {
                self.signal_deliver(slot, stream);
                Ok(())
            }
            Err(ReorderError::BeyondWindow { end, limit }) => Err(ProtocolError::FlowControl(
                format!("{stream}: data up to offset {end} exceeds the credit of {limit}"),
            )),
        }
    }

    fn on_ack(&mut self, slot: usize, stream: StreamId, consumed: u64, now: Instant) {
        let window = self.config.stream_window;
        let Some(session) = self.sessions[slot].as_mut() else {
            return;
        };
        let Some(s) = session.streams.get_mut(&stream) else {
            return;
        };
        if !s.send.ack(consumed) {
            return;
        }
        if s.read_paused && s.send_capacity(window) > 0 {
            s.read_paused = false;
            if let Some(conn) = s.conn {
                self.outputs.push_back(Output::ResumeReading { conn });
            }
        }
        session.queue_tx(stream);
        self.finish_if_done(slot, stream, now);
    }

    // ---- stream lifecycle ----

    fn signal_deliver(&mut self, slot: usize, stream: StreamId) {
        let Some(s) = self.sessions[slot]
            .as_mut()
            .and_then(|x| x.streams.get_mut(&stream))
        else {
            return;
        };
        if s.socket_ready() && !s.deliver_signaled && !s.recv.chunk().is_empty() {
            s.deliver_signaled = true;
            if let Some(conn) = s.conn {
                self.outputs.push_back(Output::Deliver { conn });
            }
        }
    }

    /// After data was delivered or a fin arrived: half-close the socket when
    /// the peer's direction is complete, close it when both are, forget the
    /// stream when nothing is left to resend.
    fn recv_progress(&mut self, slot: usize, stream: StreamId, now: Instant) {
        let window = self.config.stream_window;
        let Some(session) = self.sessions[slot].as_mut() else {
            return;
        };
        let Some(s) = session.streams.get_mut(&stream) else {
            return;
        };
        let mut ack = false;
        if s.recv_finished() && s.socket_ready() && !s.shutdown_sent {
            s.shutdown_sent = true;
            ack = s.ack_worth_sending(window);
            if let Some(conn) = s.conn {
                self.outputs.push_back(Output::ShutdownWrite { conn });
            }
        }
        if s.shutdown_sent && s.app_eof {
            if let Some(conn) = s.conn.take() {
                self.conns.remove(&conn);
                self.outputs.push_back(Output::Close { conn, reset: false });
            }
        }
        if ack {
            session.queue_ack(stream);
        }
        self.finish_if_done(slot, stream, now);
    }

    fn finish_if_done(&mut self, slot: usize, stream: StreamId, now: Instant) {
        let Some(session) = self.sessions[slot].as_mut() else {
            return;
        };
        if session.leaving {
            // Nothing is resent or acknowledged any more: a stream whose
            // socket closed is done.
            if session
                .streams
                .get(&stream)
                .is_some_and(|s| s.conn.is_none())
            {
                session.streams.remove(&stream);
                self.end_if_drained(slot, now);
            }
        } else if session.streams.get(&stream).is_some_and(Stream::is_done) {
            session.forget_finished(stream);
        }
    }

    /// Forgets a stream and resets its socket; tells the peer when `notify`
    /// carries a reason.
    fn drop_stream(&mut self, slot: usize, stream: StreamId, notify: Option<(ResetCode, &str)>) {
        let Some(session) = self.sessions[slot].as_mut() else {
            return;
        };
        let Some(s) = session.streams.remove(&stream) else {
            return;
        };
        if let Some((code, reason)) = notify {
            session.control.push(Control::Reset {
                stream,
                code,
                reason: reason.to_owned(),
            });
        }
        if let Some(conn) = s.conn {
            self.conns.remove(&conn);
            self.outputs.push_back(Output::Close { conn, reset: true });
        }
        self.stats.streams_reset += 1;
    }

    // ---- sessions, links, election ----

    fn has_link(&self) -> bool {
        !self.links.is_empty()
    }

    /// Closes a link on our own initiative.
    fn close_link(&mut self, link: LinkId, reason: String, now: Instant) {
        self.outputs.push_back(Output::CloseLink { link, reason });
        self.detach_link(link, now);
    }

    fn forget_link(&mut self, link: LinkId) {
        self.links.remove(&link);
        self.timers.cancel(Timer::LinkIdle(link));
        self.timers.cancel(Timer::LinkKeepalive(link));
    }

    /// The link is gone: its session (if any) waits out the grace period.
    fn detach_link(&mut self, link: LinkId, now: Instant) {
        let slot = self.links.get(&link).and_then(|l| l.slot);
        self.forget_link(link);
        if let Some(slot) = slot {
            let grace = self.grace;
            if let Some(s) = self.sessions[slot].as_mut() {
                if s.link == Some(link) {
                    s.link = None;
                    if !s.leaving {
                        s.down_since = Some(now);
                        self.timers.set(Timer::SessionGrace(slot), now + grace);
                        if self.view.is_none() {
                            self.timers
                                .set(Timer::Failover(slot), now + self.config.failover_after);
                        }
                    }
                }
            }
        }
        if self.view.is_some() && !self.connecting && !self.has_link() {
            self.schedule_reconnect(now);
        }
    }

    fn schedule_reconnect(&mut self, now: Instant) {
        if self.shut_down {
            return;
        }
        let min = self.config.reconnect_min.as_millis() as u64;
        let max = self.config.reconnect_max.as_millis() as u64;
        let shift = self.reconnect_failures.min(20);
        let delay = min.saturating_mul(1 << shift).min(max);
        let jittered = self.rng.between(delay / 2, delay);
        self.reconnect_failures = self.reconnect_failures.saturating_add(1);
        self.timers
            .set(Timer::Reconnect, now + Duration::from_millis(jittered));
    }

    /// Ends a session for good: its streams are reset locally (there is no
    /// link to tell the peer), its link closed. On the server, `elect` lets
    /// the loss of the active client fail over to the other.
    fn end_session(&mut self, slot: usize, reason: &str, now: Instant, elect: bool) {
        let Some(session) = self.sessions[slot].take() else {
            return;
        };
        info!(
            "session with {} ended: {reason} ({} streams reset)",
            if self.view.is_some() {
                "the server".to_string()
            } else {
                session.client.to_string()
            },
            session.streams.len()
        );
        self.stats.sessions_ended += 1;
        for s in session.streams.values() {
            if let Some(conn) = s.conn {
                self.conns.remove(&conn);
                self.outputs.push_back(Output::Close { conn, reset: true });
            }
            self.stats.streams_reset += 1;
        }
        if let Some(link) = session.link {
            self.outputs.push_back(Output::CloseLink {
                link,
                reason: format!("session ended: {reason}"),
            });
            self.forget_link(link);
        }
        self.timers.cancel(Timer::SessionGrace(slot));
        self.timers.cancel(Timer::Failover(slot));
        if self.view.is_none() && elect {
            let other_online = self.online(session.client.other().index());
            let change =
                self.election
                    .on_session_gone(session.client, other_online, ActiveWhy::Failover);
            if let Some(change) = change {
                self.apply_change(change, now);
            }
        }
        self.update_listeners(now);
    }

    /// Whether `slot` holds a session that may still carry streams: linked,
    /// or waiting for a resume; not one that is leaving.
    fn online(&self, slot: usize) -> bool {
        self.sessions[slot].as_ref().is_some_and(|s| !s.leaving)
    }

    /// Whether `slot` holds a session with a link (and not leaving).
    fn linked(&self, slot: usize) -> bool {
        self.sessions[slot]
            .as_ref()
            .is_some_and(|s| !s.leaving && s.link.is_some())
    }

    /// Server: the failover delay of `slot`'s session may have passed. If it
    /// is the active client's, still without a link, and the other client
    /// is linked, fail over to it, moving the connections held for the
    /// active client; with nobody to carry them, close those connections.
    fn failover_due(&mut self, slot: usize, now: Instant) {
        if self.view.is_some() {
            return;
        }
        let Some(session) = self.sessions[slot].as_ref() else {
            return;
        };
        let Some(down) = session.down_since else {
            return;
        };
        if session.leaving || session.link.is_some() || now < down + self.config.failover_after {
            return;
        }
        let client = session.client;
        if self.election.active != Some(client) {
            return;
        }
        let held = session.held_streams();
        let other = client.other().index();
        if !self.linked(other) {
            for id in held {
                self.drop_stream(
                    slot,
                    id,
                    Some((ResetCode::SessionEnded, "no client could carry it in time")),
                );
            }
            return;
        }
        let secs = self.config.failover_after.as_secs_f64();
        info!(
            "{client}'s link has been down for {secs:.1}s and {} is online: failing over",
            client.other()
        );
        let moving = self.take_held(slot);
        self.end_session(slot, "its link was down past the failover delay", now, true);
        for s in moving {
            self.rehome(other, s);
        }
    }

    /// Takes the held streams (see [`Stream::held`]) out of `slot`'s session.
    fn take_held(&mut self, slot: usize) -> Vec<Stream> {
        let Some(session) = self.sessions[slot].as_mut() else {
            return Vec::new();
        };
        let ids = session.held_streams();
        let mut held = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(s) = session.streams.remove(&id) {
                if !session.control.retract_open(id) {
                    session.control.push(Control::Reset {
                        stream: id,
                        code: ResetCode::Switched,
                        reason: "moved to the other client".into(),
                    });
                }
                held.push(s);
            }
        }
        held
    }

    /// Server: gives a held stream (the peer never heard of it) to the
    /// session in `slot`, which is active now, as if accepted there.
    fn rehome(&mut self, slot: usize, mut stream: Stream) {
        let (Origin::Listen(tunnel), Some(conn)) = (stream.origin, stream.conn) else {
            return;
        };
        let Some(name) = self.config.listens.get(tunnel.0).cloned() else {
            return;
        };
        let Some(session) = self.sessions[slot].as_mut() else {
            self.outputs.push_back(Output::Close { conn, reset: true });
            self.conns.remove(&conn);
            return;
        };
        stream.held = false;
        stream.tx_queued = false;
        stream.ack_queued = false;
        let id = session.allocate_stream();
        session.streams.insert(id, stream);
        session.control.push(Control::Open {
            stream: id,
            tunnel: name,
        });
        if let Some(s) = session.streams.get(&id).filter(|s| s.fin_queued) {
            // The app finished while held: its Fin stayed with the old session.
            let final_offset = s.send.written();
            session.control.push(Control::Fin {
                stream: id,
                final_offset,
            });
        }
        session.queue_tx(id);
        self.conns.insert(conn, ConnRef { slot, stream: id });
        debug!("{conn} moves to {} as {id}", session.client);
    }

    /// Ends the sending direction of every stream of `slot` where it stands
    /// (a planned stop): a Fin after the bytes already taken, no more reads.
    fn finish_sending(&mut self, slot: usize) {
        let Some(session) = self.sessions[slot].as_mut() else {
            return;
        };
        let mut fins = Vec::new();
        for (id, s) in session.streams.iter_mut() {
            s.app_eof = true;
            if !s.fin_queued && s.socket_ready() {
                s.fin_queued = true;
                fins.push(Control::Fin {
                    stream: *id,
                    final_offset: s.send.written(),
                });
            }
        }
        for fin in fins {
            session.control.push(fin);
        }
    }

    /// The session in `slot` ended on purpose (a Goodbye either way): it
    /// takes no link again. On the server the election hands over at once.
    /// Its streams deliver what they hold, then close with FIN; what is left
    /// after [`LEAVE_DRAIN`] is reset.
    fn leave_session(&mut self, slot: usize, now: Instant) {
        let Some(session) = self.sessions[slot].as_mut() else {
            return;
        };
        if session.leaving {
            return;
        }
        session.leaving = true;
        session.link = None;
        session.down_since = None;
        let client = session.client;
        let ids: Vec<StreamId> = session.streams.keys().copied().collect();
        self.timers.cancel(Timer::Failover(slot));
        self.timers
            .set(Timer::SessionGrace(slot), now + LEAVE_DRAIN);
        // A server that stops itself elects nobody: its sessions all go.
        if self.view.is_none() && !self.shut_down {
            let other_online = self.online(client.other().index());
            let change = self
                .election
                .on_session_gone(client, other_online, ActiveWhy::Handover);
            if let Some(change) = change {
                self.apply_change(change, now);
            }
        }
        for id in ids {
            self.wind_down(slot, id, now);
        }
        self.end_if_drained(slot, now);
        self.update_listeners(now);
    }

    /// A stream of a leaving session: nothing more arrives, so what it
    /// holds in order is all it delivers; then FIN. A connection not yet
    /// dialled is closed at once.
    fn wind_down(&mut self, slot: usize, stream: StreamId, now: Instant) {
        let Some(s) = self.sessions[slot]
            .as_mut()
            .and_then(|x| x.streams.get_mut(&stream))
        else {
            return;
        };
        if !s.socket_ready() {
            self.drop_stream(slot, stream, None);
            return;
        }
        s.app_eof = true;
        s.fin_queued = true;
        s.peer_fin = Some(s.recv.contiguous_end());
        self.signal_deliver(slot, stream);
        self.recv_progress(slot, stream, now);
    }

    /// Ends a leaving session once its last stream is gone.
    fn end_if_drained(&mut self, slot: usize, now: Instant) {
        let drained = self.sessions[slot]
            .as_ref()
            .is_some_and(|s| s.leaving && s.streams.is_empty());
        if drained {
            self.end_session(slot, "it ended on purpose", now, false);
        }
    }

    /// Server: acts on a change of active client and announces it.
    fn apply_change(&mut self, change: Change, now: Instant) {
        let epoch = self.election.epoch;
        self.outputs.push_back(Output::ActiveChanged {
            active: change.to,
            epoch,
            why: change.why.as_str(),
        });
        match change.why {
            ActiveWhy::Claim => {
                self.stats.switches += 1;
                if let (Some(old), Some(new)) = (change.from, change.to) {
                    // Held connections never reached the old client: the
                    // claimer carries them.
                    for s in self.take_held(old.index()) {
                        self.rehome(new.index(), s);
                    }
                }
                if let Some(old) = change.from {
                    let ids: Vec<StreamId> = self.sessions[old.index()]
                        .as_ref()
                        .map(|s| s.streams.keys().copied().collect())
                        .unwrap_or_default();
                    for id in ids {
                        self.drop_stream(
                            old.index(),
                            id,
                            Some((ResetCode::Switched, "the active client switched")),
                        );
                    }
                }
                self.start_blackout(now);
            }
            ActiveWhy::Failover => self.stats.failovers += 1,
            ActiveWhy::Handover => self.stats.handovers += 1,
            // Client 1 took the default role from a client 2 that carried
            // no server-listen stream: nothing to close.
            ActiveWhy::Default => {}
        }
        for session in self.sessions.iter_mut().flatten() {
            session.control.push(Control::Active {
                client: change.to,
                epoch,
                why: change.why,
            });
        }
    }

    /// Client: we were active and a switch made us standby. Close the listen
    /// sockets and the connections accepted on them; reopen later.
    fn become_standby(&mut self, now: Instant) {
        let ids: Vec<StreamId> = self.sessions[0]
            .as_ref()
            .map(|s| {
                s.streams
                    .iter()
                    .filter(|(_, st)| matches!(st.origin, Origin::Listen(_)))
                    .map(|(id, _)| *id)
                    .collect()
            })
            .unwrap_or_default();
        for id in ids {
            self.drop_stream(
                0,
                id,
                Some((ResetCode::Switched, "this client became standby")),
            );
        }
        self.start_blackout(now);
    }

    fn start_blackout(&mut self, now: Instant) {
        let until = now + self.config.standby_close;
        self.blackout_until = Some(until);
        self.timers.set(Timer::ListenBlackoutEnd, until);
        self.update_listeners(now);
    }

    /// Opens or closes the listen sockets to match the rules: open while a
    /// session exists and no switch blackout is running.
    fn update_listeners(&mut self, now: Instant) {
        let in_blackout = self.blackout_until.is_some_and(|t| now < t);
        let any_session = (0..self.sessions.len()).any(|slot| self.online(slot));
        let want = !self.shut_down && !in_blackout && any_session;
        if want == self.listening {
            return;
        }
        self.listening = want;
        info!(
            "{} listen sockets",
            if want { "opening" } else { "closing" }
        );
        for t in 0..self.config.listens.len() {
            let tunnel = TunnelId(t);
            self.outputs.push_back(if want {
                Output::StartListening { tunnel }
            } else {
                Output::StopListening { tunnel }
            });
        }
    }
}

fn describe(client: Option<ClientId>) -> String {
    client.map_or_else(|| "none".to_string(), |c| c.to_string())
}
