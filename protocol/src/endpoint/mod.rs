//! The endpoint: one node's whole protocol state (server or client), driven
//! by `handle_*` inputs and drained through `poll_*` outputs. The methods
//! live in the file of the concern they serve; this one holds the type, its
//! getters and its outputs.

mod app;
mod auth;
mod client;
mod frames;
mod invariants;
mod leaving;
mod links;
mod server;
mod sessions;
mod slot;
mod streams;

pub(crate) use frames::MAX_REFUSED_OPENS_PER_SEC;
pub use links::FRAMES_PER_TURN;
use slot::Sessions;
pub(crate) use slot::Slot;

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use log::warn;

use crate::auth::{same_token, Nonce, Proof, Prover, Transcript};
use crate::config::{Config, ConfigError};
use crate::control::Incoming;
use crate::election::{Change, ClientView, Election};
use crate::error::ProtocolError;
use crate::frame::{
    self, ActiveWhy, Control, Frame, Hello, ResetCode, Welcome, FRAME_HEADER, MAX_REASON,
};
use crate::health::Health;
use crate::ids::{ClientId, ConnId, LinkId, Role, StreamId, TunnelId};
use crate::log_limit::LogLimits;
use crate::output::{ActiveReason, Output};
use crate::peer::{Certified, LinkUp};
use crate::reorder::ReorderError;
use crate::rng::Rng;
use crate::session::Session;
use crate::stats::{Stats, TunnelCounters, TunnelStats};
use crate::stream::{Origin, Stream};
use crate::timer::{Timer, TimerTable};
use crate::PROTOCOL_VERSION;

/// How long a leaving session's streams may take to deliver what they hold
/// before the rest is reset.
const LEAVE_DRAIN: Duration = Duration::from_secs(2);
/// How soon a wanted listen socket that failed to bind is asked for again.
const LISTEN_RETRY: Duration = Duration::from_secs(1);

/// A WebSocket link as the protocol sees it.
#[derive(Debug)]
struct Link {
    /// The session slot it carries, once the hello exchange is done.
    slot: Option<Slot>,
    /// Handshake frames still to be sent first (client: Hello, AuthProof;
    /// server: AuthChallenge, then AuthProof and Welcome).
    handshake: Vec<Frame<'static>>,
    keepalive_due: bool,
    /// A planned stop: say Goodbye with this reason once the session has
    /// nothing more to send, then close the link.
    goodbye: Option<String>,
    /// Who is on the other end, what it may claim, and its fresh values.
    up: LinkUp,
    /// How far the authentication has come.
    auth: AuthStage,
    /// Server: the handshake was refused; send AuthRefused with this
    /// reason, then close. Nothing the peer sends counts any more.
    refusal: Option<String>,
}

/// The steps of a link's handshake before it carries a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AuthStage {
    /// Server: waiting for the Hello (with a secret, the challenge is
    /// sent). Client: Hello sent.
    Start,
    /// Server: the client's Hello waits for its proof.
    Challenged(Hello),
    /// Client: proof sent for the server's nonce; the server's proof is due.
    Proving(Nonce),
    /// Client: the server proved it knows the secret; the Welcome is due.
    ServerProved,
    /// Server: refused; the link only says so and closes.
    Refused,
}

/// Where a local TCP connection lives.
#[derive(Debug, Clone, Copy)]
struct ConnRef {
    slot: Slot,
    stream: StreamId,
}

/// Where `conn` lives and its session. Borrows only the two tables, so the
/// caller may still use the endpoint's other fields.
fn conn_session<'a>(
    conns: &BTreeMap<ConnId, ConnRef>,
    sessions: &'a mut Sessions,
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
    sessions: Sessions,
    conns: BTreeMap<ConnId, ConnRef>,
    next_conn: u64,
    /// Server only.
    election: Election,
    /// Client only.
    view: Option<ClientView>,
    /// Client: the grace period the server announced.
    grace: Duration,
    listening: bool,
    /// Per listen tunnel: its socket failed to bind and waits for a retry.
    unbound: Vec<bool>,
    blackout_until: Option<Instant>,
    /// Client: a ConnectServer is outstanding.
    connecting: bool,
    reconnect_failures: u32,
    shut_down: bool,
    stats: Stats,
    /// Per tunnel counters.
    tunnel_stats: TunnelCounters,
    /// Lines a peer can cause at will, limited.
    log_limits: LogLimits,
}

impl Endpoint {
    /// A new endpoint. A client immediately asks to connect to the server.
    pub fn new(config: Config, now: Instant) -> Result<Endpoint, ConfigError> {
        config.validate()?;
        let view = match config.role {
            Role::Server => None,
            Role::Client(id) => Some(ClientView::new(id)),
        };
        let mut endpoint = Endpoint {
            unbound: vec![false; config.listens.len()],
            tunnel_stats: TunnelCounters::new(config.listens.len(), config.connects.len()),
            rng: Rng::new(config.rng_seed),
            grace: config.resume_grace,
            config,
            timers: TimerTable::default(),
            outputs: VecDeque::new(),
            links: BTreeMap::new(),
            sessions: Sessions::default(),
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
            log_limits: LogLimits::default(),
        };
        if endpoint.view.is_some() {
            endpoint.connect_server(now);
        }
        Ok(endpoint)
    }

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

    /// Whether the protocol wants the listen socket of `tunnel` open and the
    /// runtime has not reported that it failed to bind.
    pub fn is_listening(&self, tunnel: TunnelId) -> bool {
        self.listening && self.unbound.get(tunnel.0) == Some(&false)
    }

    /// Whether [`Endpoint::poll_transmit`] may have something for `link`.
    /// False only when it surely has not: a link in its handshake with
    /// nothing queued (no keepalive goes out before the handshake), so a
    /// runtime with many such links can skip them on every pass.
    pub fn may_transmit(&self, link: LinkId) -> bool {
        self.links.get(&link).is_some_and(|l| {
            l.slot.is_some()
                || l.refusal.is_some()
                || l.goodbye.is_some()
                || !l.handshake.is_empty()
        })
    }

    /// Links up whose handshake is not done (no session yet).
    pub fn handshaking_links(&self) -> usize {
        self.links.values().filter(|l| l.slot.is_none()).count()
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

    /// Each listen tunnel's counters, by `TunnelId` (`config().listens`).
    pub fn listen_tunnel_stats(&self) -> &[TunnelStats] {
        &self.tunnel_stats.listens
    }

    /// Each connect tunnel's counters, by `TunnelId` (`config().connects`).
    pub fn connect_tunnel_stats(&self) -> &[TunnelStats] {
        &self.tunnel_stats.connects
    }

    /// Whether this node can carry traffic now. Server: a client is
    /// active and its session has a link past its handshake. Client: its
    /// session with the server has one. Never ready once shutting down.
    pub fn health(&self) -> Health {
        if self.shut_down {
            return Health::Unready(format!("the {} is shutting down", self.role()));
        }
        let up = |slot: Slot| {
            self.sessions[slot]
                .as_ref()
                .is_some_and(|s| s.link.is_some() && !s.leaving)
        };
        match self.config.role {
            Role::Client(_) if up(Slot::CLIENT) => Health::Ready,
            Role::Client(_) => Health::Unready("no session with the server".into()),
            Role::Server => match self.election.active {
                None => Health::Unready("no client is active".into()),
                Some(client) if up(Slot::of(client)) => Health::Ready,
                Some(client) => {
                    Health::Unready(format!("{client} is active but its session has no link"))
                }
            },
        }
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

    pub(super) fn stream_of(&self, conn: ConnId) -> Option<&Stream> {
        let r = self.conns.get(&conn)?;
        self.sessions[r.slot].as_ref()?.streams.get(&r.stream)
    }

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
                Timer::Handshake(link) => {
                    if self.links.get(&link).is_some_and(|l| l.slot.is_none()) {
                        let secs = self.config.handshake_timeout.as_secs_f64();
                        let peer = self.links.get(&link).map(|l| l.up.peer);
                        self.stats.handshake_timeouts += 1;
                        if let (Some(peer), Some(note)) =
                            (peer, self.log_limits.handshakes.allow(now))
                        {
                            warn!(
                                "closing {link} from {peer}: no handshake within {secs:.1}s{note}"
                            );
                        }
                        self.close_link(link, format!("no handshake within {secs:.1}s"), now);
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
                        self.connect_server(now);
                    }
                }
                Timer::ConnectServer => {
                    if self.connecting {
                        let secs = self.config.connect_timeout.as_secs_f64();
                        warn!("connecting to the server timed out after {secs:.1}s");
                        self.connecting = false;
                        self.outputs.push_back(Output::AbandonConnect);
                        self.schedule_reconnect(now);
                    }
                }
                Timer::ListenBlackoutEnd => {
                    self.blackout_until = None;
                    self.update_listeners(now);
                }
                Timer::Dial(conn) => {
                    let dialing = self
                        .stream_of(conn)
                        .is_some_and(|s| matches!(s.origin, Origin::Connect(_)) && !s.confirmed);
                    if dialing {
                        // The runtime drops the attempt; the peer hears why.
                        self.outputs.push_back(Output::Close { conn, reset: true });
                        let secs = self.config.connect_timeout.as_secs_f64();
                        self.dial_failed(conn, format!("the dial timed out after {secs:.1}s"));
                    }
                }
                Timer::ListenRetry(tunnel) => {
                    if self.listening && self.unbound.get(tunnel.0) == Some(&true) {
                        self.unbound[tunnel.0] = false;
                        self.outputs.push_back(Output::StartListening { tunnel });
                    }
                }
            }
        }
    }

    /// The next instruction for the runtime.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// Appends one message's worth of frames for `link` to `buf` (at most
    /// `max_message` bytes in all). Returns false when there is nothing to send.
    #[must_use = "true means `buf` holds a message to send"]
    pub fn poll_transmit(&mut self, link: LinkId, now: Instant, buf: &mut Vec<u8>) -> bool {
        let limit = self.config.max_message;
        let Some(l) = self.links.get_mut(&link) else {
            return false;
        };
        let start = buf.len();
        if let Some(reason) = l.refusal.take() {
            Frame::AuthRefused { reason: &reason }.encode(buf);
            self.outputs.push_back(Output::CloseLink {
                link,
                reason: format!("authentication failed: {reason}"),
            });
            self.forget_link(link);
            return true;
        }
        for hs in l.handshake.drain(..) {
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
        let goodbye_fits = l.goodbye.as_deref().is_some_and(|r| {
            buf.len() + FRAME_HEADER + 2 + frame::cut(r, MAX_REASON).len() <= limit
        });
        if !more && goodbye_fits {
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
        // Keepalives belong to a session's link: before the handshake is
        // done only the handshake may go out.
        if buf.len() == start && l.keepalive_due && l.slot.is_some() {
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
}

fn describe(client: Option<ClientId>) -> String {
    client.map_or_else(|| "none".to_string(), |c| c.to_string())
}
