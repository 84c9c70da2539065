//! The world: three processes, the network, the apps, one RNG and one clock,
//! and the loop that jumps from event to event.

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tcpws_protocol::frame::ActiveWhy;
use tcpws_protocol::{
    ActiveReason, Certified, ClientId, ConnId, Endpoint, LinkId, LinkUp, Output, TunnelId,
    NONCE_LEN,
};

use super::app::{App, AppId, AppPlan, AppRole, BackendMode, Status};
use super::clock::Clock;
use super::config::{Dial, SimConfig};
use super::election::{slot, ElectionWatch};
use super::invariants;
use super::net::{End, Item, Net, WireId};
use super::node::{Host, HostConn};
use super::pattern::{self, TagInfo, ANSWER, TAG_LEN};
use super::rng::Rng;
use super::switch::{self, SwitchWatch};
use super::tcp::{EndState, Read, Side, TcpId, TcpTable, Write};
use super::trace::{content_hash, describe_frames, Trace};
use super::Node;

/// How many steps may run at one virtual instant before the loop calls it a
/// livelock (an endpoint whose deadline never moves, or outputs that never end).
const STALL_LIMIT: u64 = 200_000;
/// How long a stopping process may take before it exits anyway (the
/// runtime's shutdown bound).
const STOP_BOUND: Duration = Duration::from_millis(2500);
/// How often a slow reader reads.
const READ_TICK: Duration = Duration::from_millis(10);
/// Most bytes an app writes per call.
const APP_WRITE: usize = 16 * 1024;

/// A fault the world can apply now or at a scheduled time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Drop the client's WebSocket: both ends see it go down, in-flight data is lost.
    Cut(ClientId),
    /// Nothing gets through between the client and the server (held, as TCP would).
    Partition(ClientId),
    /// End a partition.
    Heal(ClientId),
    /// Kill the process: its sockets are reset, its state is gone.
    Crash(Node),
    /// Stop the process on purpose (SIGTERM): a planned stop.
    Stop(Node),
    /// Start the process afresh (no-op when it runs).
    Start(Node),
    /// A stranger without the secret tries to get a session (with a shared
    /// secret configured; a no-op otherwise).
    Intrude(Intrusion),
}

/// Counters a run reports.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counters {
    pub steps: u64,
    pub messages: u64,
    pub message_bytes: u64,
    pub apps: u64,
    pub refused: u64,
    pub app_bytes: u64,
    pub switches: u64,
    pub faults: u64,
    /// Intrusion attempts made (and refused: the world checks each).
    pub intrusions: u64,
}

#[derive(Debug)]
enum Event {
    /// A stopping process is done (or out of time): it exits.
    Exit {
        node: Node,
        inc: u32,
    },
    AppTick(AppId),
    AppReadTick(AppId),
    AppReset(AppId),
    Dial {
        node: Node,
        inc: u32,
        conn: ConnId,
        result: Result<(), String>,
    },
    WsArrive {
        client: ClientId,
        inc: u32,
    },
    WsUp {
        client: ClientId,
        inc: u32,
        wire: WireId,
    },
    WsFailed {
        client: ClientId,
        inc: u32,
        reason: &'static str,
    },
    LinkDown {
        node: Node,
        inc: u32,
        wire: WireId,
    },
    Fault(Fault),
}

#[derive(Debug, Clone, Copy)]
enum Task {
    NodeRead(Node, u32, ConnId),
    NodeWrite(Node, u32, ConnId),
    NodeTransmit(Node, u32),
    App(AppId),
}

/// The whole simulated system. See the [module docs](super).
pub struct World {
    seed: u64,
    cfg: SimConfig,
    clock: Clock,
    rng: Rng,
    trace: Trace,
    hosts: [Option<Host>; 3],
    incs: [u32; 3],
    net: Net,
    tcp: TcpTable,
    /// Per TCP connection: the node end's owner, while a runtime holds it.
    tcp_node: Vec<Option<(Node, u32, ConnId)>>,
    /// Per TCP connection: the app at the app end.
    tcp_app: Vec<AppId>,
    apps: Vec<App>,
    events: BTreeMap<(Duration, u64), Event>,
    next_seq: u64,
    tasks: VecDeque<Task>,
    buf: Vec<u8>,
    stall: (Duration, u64),
    replay: String,
    counters: Counters,
    /// Why the server's active client may change (the no-preemption check).
    election: ElectionWatch,
    /// Connections of old active clients that must close.
    switch: SwitchWatch,
    /// The client whose message the server is handling: an Open, and so a
    /// Dial, comes from it.
    carrier: Option<ClientId>,
    /// Per client: the highest one-way latency its path has had.
    worst_latency: [Duration; 2],
    /// What an intruder on the path could have copied from honest links.
    snooped: Snooped,
}

macro_rules! tr {
    ($w:expr, $($arg:tt)*) => {{
        let at = $w.clock.elapsed();
        $w.trace.record(at, format_args!($($arg)*));
    }};
}

// After the macro, so the concerns' files can trace too.
mod apps;
mod events;
mod faults;
mod intruder;
mod runtime;

pub use intruder::Intrusion;
use intruder::Snooped;

impl World {
    /// A world whose every random choice derives from `seed`; every node not
    /// in `cfg.initially_down` is started at virtual time zero.
    pub fn new(seed: u64, cfg: SimConfig) -> World {
        let net = Net::new(cfg.paths, cfg.link_buffer);
        let echo = cfg.echo_trace;
        let mut w = World {
            seed,
            clock: Clock::new(),
            rng: Rng::new(seed),
            trace: Trace::new(echo),
            hosts: [None, None, None],
            incs: [0; 3],
            net,
            tcp: TcpTable::default(),
            tcp_node: Vec::new(),
            tcp_app: Vec::new(),
            apps: Vec::new(),
            events: BTreeMap::new(),
            next_seq: 0,
            tasks: VecDeque::new(),
            buf: Vec::new(),
            stall: (Duration::ZERO, 0),
            replay: format!("TCPWS_SIM_SEED={seed} cargo test -p tcpws-tests --release sim"),
            counters: Counters::default(),
            election: ElectionWatch::default(),
            switch: SwitchWatch::default(),
            carrier: None,
            worst_latency: cfg.paths.map(|p| p.latency.1),
            snooped: Snooped::default(),
            cfg,
        };
        tr!(w, "world seed={seed}");
        for node in Node::ALL {
            if !w.cfg.initially_down.contains(&node) {
                w.start(node);
            }
        }
        w
    }

    /// The seed this world was built from.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The configuration.
    pub fn config(&self) -> &SimConfig {
        &self.cfg
    }

    /// Virtual time since the start.
    pub fn now(&self) -> Duration {
        self.clock.elapsed()
    }

    /// What a runtime reports for a new link, with the nonce and token
    /// drawn from the world's seeded source (the runtime's CSPRNG in
    /// production). `from`: the client the server sees (`None`: the server,
    /// as a client sees it).
    pub(crate) fn fresh_link_up(&mut self, from: Option<ClientId>, inc: u32) -> LinkUp {
        let peer = match from {
            Some(c) => SocketAddr::from(([10, 0, 0, c.number()], 40_000 + (inc % 20_000) as u16)),
            None => SocketAddr::from(([10, 0, 0, 100], 8080)),
        };
        let mut nonce = [0u8; NONCE_LEN];
        for chunk in nonce.chunks_mut(8) {
            chunk.copy_from_slice(&self.rng.next_u64().to_be_bytes());
        }
        let token = u128::from(self.rng.next_u64()) << 64 | u128::from(self.rng.next_u64());
        let certified = match from {
            Some(c) if self.cfg.certificate_ids => Certified::Client(c),
            _ => Certified::Unbound,
        };
        LinkUp {
            peer,
            certified,
            nonce,
            token,
        }
    }

    /// The world's RNG, for drivers that make random choices.
    pub fn rng(&mut self) -> &mut Rng {
        &mut self.rng
    }

    /// The running hash of the trace (equal for equal runs).
    pub fn trace_hash(&self) -> u64 {
        self.trace.hash()
    }

    /// Lines recorded in the trace.
    pub fn trace_len(&self) -> u64 {
        self.trace.len()
    }

    /// What happened so far, in numbers.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// Whether `node`'s process runs.
    pub fn is_up(&self, node: Node) -> bool {
        self.hosts[node.index()].is_some()
    }

    /// The running process of `node`.
    pub fn host(&self, node: Node) -> Option<&Host> {
        self.hosts[node.index()].as_ref()
    }

    /// The endpoint of `node`, if it runs.
    pub fn endpoint(&self, node: Node) -> Option<&Endpoint> {
        self.host(node).map(|h| &h.endpoint)
    }

    /// Who `node` believes is active (`None` also when it is down).
    pub fn active_of(&self, node: Node) -> Option<ClientId> {
        self.endpoint(node).and_then(Endpoint::active)
    }

    /// The election epoch of `node`'s belief (0 when down).
    pub fn epoch_of(&self, node: Node) -> u64 {
        self.endpoint(node).map_or(0, Endpoint::epoch)
    }

    /// Whether `node`'s runtime has the listen socket of `tunnel` open.
    pub fn is_listening(&self, node: Node, tunnel: &str) -> bool {
        let Some(h) = self.host(node) else {
            return false;
        };
        self.cfg
            .listens(node)
            .iter()
            .position(|t| t == tunnel)
            .is_some_and(|t| h.listening.contains(&t))
    }

    /// Whether `node` listens on every one of its listen tunnels.
    pub fn listens_all(&self, node: Node) -> bool {
        self.host(node)
            .is_some_and(|h| h.listening.len() == self.cfg.listens(node).len())
    }

    /// Whether `node` listens on none of its listen tunnels.
    pub fn listens_none(&self, node: Node) -> bool {
        match self.host(node) {
            None => true,
            Some(h) => h.listening.is_empty(),
        }
    }

    /// Whether the client has a WebSocket open at both ends.
    pub fn link_up(&self, client: ClientId) -> bool {
        let Some(h) = self.host(Node::client(client)) else {
            return false;
        };
        h.links.values().any(|&w| {
            let wire = self.net.wire(w);
            !wire.cut && wire.links.iter().all(Option::is_some)
        })
    }

    /// The app `id`.
    pub fn app(&self, id: AppId) -> &App {
        &self.apps[id.0 as usize]
    }

    /// Every app, in creation order.
    pub fn apps(&self) -> &[App] {
        &self.apps
    }

    /// The app at the other end of `id`'s tunnel, once its tag told.
    pub fn peer(&self, id: AppId) -> Option<&App> {
        self.app(id).peer.map(|p| self.app(p))
    }

    /// Whether every app reached a final status.
    pub fn apps_settled(&self) -> bool {
        self.apps.iter().all(|a| a.status.is_final())
    }

    /// The network, for checks.
    pub fn net(&self) -> &Net {
        &self.net
    }

    /// The TCP connections, for checks.
    pub fn tcp(&self) -> &TcpTable {
        &self.tcp
    }

    /// The app at the app end of TCP connection `tcp`.
    pub fn app_on(&self, tcp: TcpId) -> &App {
        self.app(self.tcp_app[tcp])
    }

    /// How long `client` may take to close the connections it carried once
    /// it lost activity (see [`switch::close_bound`]).
    pub fn close_bound(&self, client: ClientId) -> Duration {
        switch::close_bound(&self.cfg, self.worst_latency[slot(client)], client)
    }

    /// The world's account of elections, for checks.
    pub fn election_watch(&self) -> &ElectionWatch {
        &self.election
    }

    /// The connections of old active clients still to close, for checks.
    pub fn switch_watch(&self) -> &SwitchWatch {
        &self.switch
    }

    /// The last trace lines, oldest first.
    pub fn trace_tail(&self) -> impl Iterator<Item = &str> {
        self.trace.tail()
    }

    /// Sets the command a failure report prints to replay this run.
    pub fn set_replay(&mut self, command: impl Into<String>) {
        self.replay = command.into();
    }

    /// Panics with the seed, the broken invariant, the replay command and
    /// the last trace lines.
    pub fn fail(&self, invariant: &str, details: impl fmt::Display) -> ! {
        let mut msg = format!(
            "seed={}: {invariant}: {details}\nat virtual time {:?}\nreplay: {}\nlast trace lines:\n",
            self.seed,
            self.now(),
            self.replay
        );
        for line in self.trace.tail() {
            msg.push_str(line);
            msg.push('\n');
        }
        panic!("{msg}");
    }

    /// Runs for `d` of virtual time.
    pub fn run_for(&mut self, d: Duration) {
        let until = self.now() + d;
        while self.now() < until {
            self.step(until);
        }
    }

    /// Runs until `cond` holds (checked before every step) or `limit` of
    /// virtual time passed; returns whether `cond` held.
    pub fn run_until(&mut self, limit: Duration, mut cond: impl FnMut(&World) -> bool) -> bool {
        let until = self.now() + limit;
        loop {
            if cond(self) {
                return true;
            }
            if self.now() >= until {
                return false;
            }
            self.step(until);
        }
    }

    /// Like [`run_until`](Self::run_until), but a timeout fails the run
    /// naming `what`.
    pub fn wait_for(&mut self, what: &str, limit: Duration, cond: impl FnMut(&World) -> bool) {
        if !self.run_until(limit, cond) {
            self.fail(
                "scenario",
                format_args!("timed out after {limit:?} waiting for {what}"),
            );
        }
    }

    /// Schedules a fault `after` from now.
    pub fn schedule(&mut self, after: Duration, fault: Fault) {
        let at = self.now() + after;
        self.push_event(at, Event::Fault(fault));
    }

    fn push_event(&mut self, at: Duration, ev: Event) {
        self.next_seq += 1;
        self.events.insert((at, self.next_seq), ev);
    }

    fn next_event_time(&self) -> Option<Duration> {
        let mut best = self.events.keys().next().map(|k| k.0);
        let mut consider = |t: Duration| best = Some(best.map_or(t, |b| b.min(t)));
        if let Some(t) = self.net.next_ready() {
            consider(t);
        }
        for h in self.hosts.iter().flatten() {
            if let Some(d) = h.endpoint.poll_timeout() {
                consider(self.clock.offset_of(d));
            }
        }
        best
    }

    /// One step: advance to the next event (or `deadline`), process
    /// everything due, check the invariants.
    fn step(&mut self, deadline: Duration) {
        let next = self
            .next_event_time()
            .map_or(deadline, |t| t.min(deadline))
            .max(self.now());
        if next == self.stall.0 {
            self.stall.1 += 1;
            if self.stall.1 > STALL_LIMIT {
                self.fail(
                    "liveness",
                    format_args!(
                        "{STALL_LIMIT} steps at one virtual instant: a deadline that never moves?"
                    ),
                );
            }
        } else {
            self.stall = (next, 0);
        }
        self.clock.advance_to(next);
        let now = self.now();

        while let Some(entry) = self.events.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let ev = entry.remove();
            self.handle_event(ev);
            self.run_tasks();
        }
        while let Some((wire, to, item, unblocked)) = self.net.pop_ready(now) {
            self.deliver(wire, to, item, unblocked);
            self.run_tasks();
        }
        for node in Node::ALL {
            let due = self.hosts[node.index()]
                .as_ref()
                .and_then(|h| h.endpoint.poll_timeout())
                .is_some_and(|d| self.clock.offset_of(d) <= now);
            if due {
                tr!(self, "{node} <- timeout");
                let instant = self.clock.now();
                if let Some(h) = self.hosts[node.index()].as_mut() {
                    h.endpoint.handle_timeout(instant);
                }
                self.after_input(node);
                self.run_tasks();
            }
        }
        self.counters.steps += 1;
        self.observe_ha();
        self.check_step();
    }

    /// A change of active client from `old` to `new`: the server
    /// connections held for `old` (accepted while its link was down) are
    /// carried by `new` now.
    fn move_held(&mut self, old: ClientId, new: ClientId) {
        let Some(h) = self.hosts[Node::Server.index()].as_mut() else {
            return;
        };
        let mut moved = Vec::new();
        for hc in h.conns.values_mut() {
            if hc.held && hc.via == Some(old) {
                hc.held = false;
                hc.via = Some(new);
                moved.extend(hc.tcp);
            }
        }
        for t in moved {
            let app = self.tcp_app[t];
            tr!(self, "S: {app} held for {old} moves to {new}");
            self.apps[app.0 as usize].moved_to = Some(new);
        }
    }

    /// Brings the world's own HA records up to date after a step.
    fn observe_ha(&mut self) {
        let mut election = std::mem::take(&mut self.election);
        election.observe(self);
        self.election = election;
        // A session link back: what was held for that client is its own.
        if let Some(h) = self.hosts[Node::Server.index()].as_mut() {
            for hc in h.conns.values_mut() {
                if hc.held && hc.via.is_some_and(|c| !self.election.server_unlinked(c)) {
                    hc.held = false;
                }
            }
        }
        let mut switch = std::mem::take(&mut self.switch);
        switch.observe(self);
        self.switch = switch;
    }

    /// Checks the per-step invariants now (the loop does it after every step).
    pub fn check_step(&self) {
        if let Err((invariant, details)) = invariants::check_step(self) {
            self.fail(&invariant, details);
        }
    }

    /// The server's active client changed: the change must have a cause
    /// (no preemption), and the connections through the old one must close.
    fn server_active_changed(
        &mut self,
        old: Option<ClientId>,
        new: Option<ClientId>,
        why: ActiveReason,
    ) {
        let cause = match self.election.explain(self, old, new, why) {
            Ok(cause) => cause,
            Err(e) => self.fail("no preemption (README, high availability)", e),
        };
        tr!(self, "S: active {old:?} -> {new:?} by {cause:?}");
        self.election.record(cause);
        if let Some(old) = old {
            self.election.changed_from(old);
        }
        // Whatever the cause (the default rule too), what was held for the
        // old active client is the new one's to carry.
        if let (Some(old), Some(new)) = (old, new) {
            self.move_held(old, new);
        }
        if let Some(old) = old {
            let mut switch = std::mem::take(&mut self.switch);
            switch.active_changed(self, old, cause);
            self.switch = switch;
        }
    }
}
