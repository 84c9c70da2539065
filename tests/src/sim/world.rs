//! The world: three processes, the network, the apps, one RNG and one clock,
//! and the loop that jumps from event to event.

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::time::{Duration, Instant};

use tcpws_protocol::frame::ActiveWhy;
use tcpws_protocol::{ClientId, ConnId, Endpoint, LinkId, Output, TunnelId};

use super::app::{App, AppId, AppPlan, AppRole, BackendMode, Status};
use super::clock::Clock;
use super::config::{Dial, SimConfig};
use super::election::{slot, Cause, ElectionWatch};
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
}

macro_rules! tr {
    ($w:expr, $($arg:tt)*) => {{
        let at = $w.clock.elapsed();
        $w.trace.record(at, format_args!($($arg)*));
    }};
}

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

    // ----- getters -------------------------------------------------------

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

    // ----- running -------------------------------------------------------

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

    /// A failover from `old` to `new`: the server connections held for
    /// `old` (accepted while its link was down) are carried by `new` now.
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

    // ----- apps ----------------------------------------------------------

    /// An external app connects to `tunnel` on `node`. A closed listen
    /// socket (or a down node) refuses it: the app's status is `Refused`.
    pub fn app_connect(&mut self, node: Node, tunnel: &str, plan: AppPlan) -> AppId {
        let id = AppId(self.apps.len() as u32);
        let now = self.now();
        self.counters.apps += 1;
        let t = self.cfg.listens(node).iter().position(|x| x == tunnel);
        let open = match (t, self.host(node)) {
            (Some(t), Some(h)) => h.listening.contains(&t),
            _ => false,
        };
        let (Some(t), true) = (t, open) else {
            tr!(self, "{id} connect {node}/{tunnel}: refused");
            self.counters.refused += 1;
            self.apps.push(App::new(
                id,
                AppRole::Client {
                    node,
                    tunnel: tunnel.to_owned(),
                },
                plan,
                None,
                now,
            ));
            return id;
        };
        let tcp_id = self.tcp.open(self.cfg.tcp_buffer);
        self.tcp_node.push(None);
        self.tcp_app.push(id);
        let active = if node == Node::Server {
            self.active_of(Node::Server)
        } else {
            None
        };
        let salt = self.rng.next_u64();
        let tag = pattern::make_tag(
            TagInfo {
                app: id.0,
                origin: node,
                active_at_connect: active,
            },
            salt,
        );
        let mut app = App::new(
            id,
            AppRole::Client {
                node,
                tunnel: tunnel.to_owned(),
            },
            plan.clone(),
            Some(tcp_id),
            now,
        );
        app.tx_tag = Some(tag);
        app.rx_tag = Some(tag ^ ANSWER);
        app.active_at_connect = active;
        self.apps.push(app);

        let instant = self.clock.now();
        let host = self.hosts[node.index()].as_mut().expect("checked above");
        let inc = host.inc;
        let via = node.client_id().or(host.believes_active);
        let held = node == Node::Server && via.is_some_and(|c| self.election.server_unlinked(c));
        let conn = host.endpoint.handle_accept(TunnelId(t), instant);
        tr!(
            self,
            "{node} <- accept {tunnel} ({id} tag={tag:#018x}) -> {conn:?}"
        );
        match conn {
            Some(conn) => {
                let host = self.hosts[node.index()].as_mut().expect("checked above");
                if host.conns.contains_key(&conn) {
                    self.fail(
                        "api",
                        format_args!("{node}: handle_accept returned {conn}, which is in use"),
                    );
                }
                host.conns.insert(
                    conn,
                    HostConn {
                        tcp: Some(tcp_id),
                        dialed: false,
                        tunnel: t,
                        eof: false,
                        write_shut: false,
                        via,
                        saw_data: false,
                        held,
                    },
                );
                self.tcp_node[tcp_id] = Some((node, inc, conn));
            }
            None => {
                self.tcp.get_mut(tcp_id).close(Side::Node);
                self.tasks.push_back(Task::App(id));
            }
        }
        self.after_input(node);

        if let Some(after) = plan.reset_after {
            self.push_event(now + after, Event::AppReset(id));
        }
        if plan.bytes > 0 {
            let first = self.rng.duration(plan.interval.0, plan.interval.1);
            self.push_event(now + first, Event::AppTick(id));
        } else if plan.finish {
            self.apps[id.0 as usize].finish = true;
            self.tasks.push_back(Task::App(id));
        }
        if plan.read_rate.is_some() {
            self.push_event(now + READ_TICK, Event::AppReadTick(id));
        }
        self.run_tasks();
        id
    }

    /// The app writes `n` more payload bytes (its tag goes first).
    pub fn app_write(&mut self, id: AppId, n: u64) {
        self.apps[id.0 as usize].want(n);
        tr!(self, "{id} wants to write {n} more bytes");
        self.tasks.push_back(Task::App(id));
        self.run_tasks();
    }

    /// The app shuts down its write half once everything it wants is written.
    pub fn app_finish(&mut self, id: AppId) {
        self.apps[id.0 as usize].finish = true;
        tr!(self, "{id} finishes");
        self.tasks.push_back(Task::App(id));
        self.run_tasks();
    }

    /// Changes how fast the app reads: `None` reads at once, `Some(n)` at
    /// most `n` bytes every 10 ms (`Some(0)` not at all).
    pub fn app_set_read_rate(&mut self, id: AppId, rate: Option<usize>) {
        let app = &mut self.apps[id.0 as usize];
        let was_slow = app.plan.read_rate.is_some();
        app.plan.read_rate = rate;
        tr!(self, "{id} reads at {rate:?} bytes per 10 ms");
        if rate.is_some() && !was_slow {
            let at = self.now() + READ_TICK;
            self.push_event(at, Event::AppReadTick(id));
        }
        self.tasks.push_back(Task::App(id));
        self.run_tasks();
    }

    /// The app resets its connection (SO_LINGER 0 and close).
    pub fn app_reset(&mut self, id: AppId) {
        let app = &self.apps[id.0 as usize];
        if app.status.is_final() {
            return;
        }
        let Some(tcp_id) = app.tcp else {
            return;
        };
        tr!(self, "{id} resets its connection");
        self.tcp.get_mut(tcp_id).reset(Side::App);
        self.app_end(id, Status::Aborted);
        self.wake_node(tcp_id);
        self.run_tasks();
    }

    fn app_end(&mut self, id: AppId, status: Status) {
        let now = self.now();
        let app = &mut self.apps[id.0 as usize];
        if app.status.is_final() {
            return;
        }
        app.status = status;
        app.ended_at = Some(now);
        tr!(self, "{id} ends: {status:?}");
    }

    fn wake_node(&mut self, tcp_id: usize) {
        if let Some((node, inc, conn)) = self.tcp_node[tcp_id] {
            self.tasks.push_back(Task::NodeRead(node, inc, conn));
            self.tasks.push_back(Task::NodeWrite(node, inc, conn));
        }
    }

    fn app_tick(&mut self, id: AppId) {
        let now = self.now();
        let app = &self.apps[id.0 as usize];
        if app.status.is_final() || app.shut || app.pending_auto == 0 {
            return;
        }
        let (lo, hi) = app.plan.chunk;
        let interval = app.plan.interval;
        let n = self.rng.range(lo.max(1), hi.max(1)).min(app.pending_auto);
        let app = &mut self.apps[id.0 as usize];
        app.want(n);
        app.pending_auto -= n;
        if app.pending_auto > 0 {
            let next = self.rng.duration(interval.0, interval.1);
            self.push_event(now + next, Event::AppTick(id));
        } else if app.plan.finish {
            app.finish = true;
        }
        self.tasks.push_back(Task::App(id));
    }

    fn app_read_tick(&mut self, id: AppId) {
        let app = &self.apps[id.0 as usize];
        if app.status.is_final() || app.eof {
            return;
        }
        let rate = app.plan.read_rate.unwrap_or(usize::MAX);
        self.app_read(id, rate);
        self.tasks.push_back(Task::App(id));
        let app = &self.apps[id.0 as usize];
        if !app.status.is_final() && !app.eof {
            let at = self.now() + READ_TICK;
            self.push_event(at, Event::AppReadTick(id));
        }
    }

    /// Reads up to `budget` bytes for the app, checking every byte.
    fn app_read(&mut self, id: AppId, mut budget: usize) {
        let Some(tcp_id) = self.apps[id.0 as usize].tcp else {
            return;
        };
        while budget > 0 {
            let app = &self.apps[id.0 as usize];
            if app.status.is_final() || app.eof {
                return;
            }
            self.buf.clear();
            let r = self
                .tcp
                .get_mut(tcp_id)
                .read(Side::App, &mut self.buf, budget.min(64 * 1024));
            match r {
                Read::Data(n) => {
                    budget -= n;
                    self.counters.app_bytes += n as u64;
                    let buf = std::mem::take(&mut self.buf);
                    let res = self.apps[id.0 as usize].on_receive(&buf);
                    self.buf = buf;
                    match res {
                        Err(e) => self.fail("byte stream (invariant 1)", e),
                        Ok(Some(tag)) => self.learned_tag(id, tag),
                        Ok(None) => {}
                    }
                    self.wake_node(tcp_id);
                }
                Read::WouldBlock => return,
                Read::Eof => {
                    self.apps[id.0 as usize].eof = true;
                    tr!(
                        self,
                        "{id} read EOF after {} bytes",
                        self.apps[id.0 as usize].received
                    );
                    self.check_eof(id);
                    return;
                }
                Read::Reset => {
                    self.app_end(id, Status::Reset);
                    return;
                }
            }
        }
    }

    /// A clean EOF must mean the peer finished and every byte it wrote
    /// arrived, unless a planned stop of a node on the way cut it short.
    fn check_eof(&self, id: AppId) {
        let app = self.app(id);
        let Some(peer) = app.peer.map(|p| self.app(p)) else {
            return;
        };
        if app.stop_cut || peer.stop_cut {
            return;
        }
        if !peer.shut {
            self.fail(
                "byte stream (invariant 1)",
                format_args!(
                    "{id} read a clean EOF after {} bytes, but its peer {} never shut down its \
                     write half (it wrote {} bytes; status {:?}): a close or reset was carried as FIN",
                    app.received, peer.id, peer.sent, peer.status
                ),
            );
        }
        if peer.sent != app.received {
            self.fail(
                "byte stream (invariant 1)",
                format_args!(
                    "{id} read a clean EOF after {} bytes, but its peer {} wrote {} bytes and FIN",
                    app.received, peer.id, peer.sent
                ),
            );
        }
    }

    /// A backend learned its app's tag: check the routing, pair them up.
    fn learned_tag(&mut self, backend: AppId, tag: u64) {
        let b = self.app(backend);
        let bnode = b.node();
        let btunnel = match &b.role {
            AppRole::Backend { tunnel, .. } => tunnel.clone(),
            AppRole::Client { .. } => self.fail(
                "byte stream (invariant 1)",
                format_args!("{backend} is a client app but got a wrong stream header"),
            ),
        };
        let Some(info) = pattern::parse_tag(tag).filter(|i| (i.app as usize) < self.apps.len())
        else {
            self.fail(
                "byte stream (invariant 1)",
                format_args!(
                    "{backend} behind {bnode} received a stream whose tag {tag:#018x} no app chose"
                ),
            );
        };
        let app_id = AppId(info.app);
        let app = self.app(app_id);
        if app.is_backend() || app.tx_tag != Some(tag) {
            self.fail(
                "byte stream (invariant 1)",
                format_args!(
                    "{backend} behind {bnode} received a stream whose tag {tag:#018x} no app chose"
                ),
            );
        }
        if let Some(other) = app.peer {
            self.fail(
                "routing (invariant 2)",
                format_args!("{app_id} reached two backends: {other} and {backend} behind {bnode}"),
            );
        }
        let AppRole::Client {
            node: origin,
            tunnel,
        } = &app.role
        else {
            unreachable!("checked above")
        };
        if tunnel != &btunnel {
            self.fail(
                "routing (invariant 2)",
                format_args!("{app_id} connected to tunnel {tunnel} but reached {backend}, a backend of tunnel {btunnel}"),
            );
        }
        match origin {
            Node::Server => {
                let carrier = app.moved_to.or(info.active_at_connect);
                if carrier.map(Node::client) != Some(bnode) {
                    self.fail(
                        "routing (invariant 2)",
                        format_args!(
                            "{backend} behind {bnode} received bytes of {app_id}, which connected to the \
                             server at {:?} while the server's active client was {:?}",
                            app.connected_at, info.active_at_connect
                        ),
                    );
                }
            }
            Node::C1 | Node::C2 => {
                if bnode != Node::Server {
                    self.fail(
                        "routing (invariant 2)",
                        format_args!(
                            "{app_id} connected to {origin} but reached {backend} behind {bnode}"
                        ),
                    );
                }
            }
        }
        let mode = app.plan.backend;
        let rate = app.plan.backend_read_rate;
        tr!(self, "{backend} behind {bnode} serves {app_id} ({mode:?})");
        self.apps[app_id.0 as usize].peer = Some(backend);
        let b = &mut self.apps[backend.0 as usize];
        b.peer = Some(app_id);
        b.tx_tag = Some(tag ^ ANSWER);
        b.plan.backend = mode;
        b.plan.read_rate = rate;
        if rate.is_some() {
            let at = self.now() + READ_TICK;
            self.push_event(at, Event::AppReadTick(backend));
        }
    }

    /// Reads (fast readers), writes what the app wants, finishes and closes.
    fn app_pump(&mut self, id: AppId) {
        let app = &self.apps[id.0 as usize];
        if app.status.is_final() {
            return;
        }
        let Some(tcp_id) = app.tcp else {
            return;
        };
        if self.tcp.get(tcp_id).state(Side::App) == EndState::Reset {
            self.app_end(id, Status::Reset);
            return;
        }
        if app.plan.read_rate.is_none() {
            self.app_read(id, usize::MAX);
        }
        // A backend's wishes follow its mode.
        let app = &mut self.apps[id.0 as usize];
        if app.is_backend() {
            match app.plan.backend {
                BackendMode::Echo => {
                    if app.tx_tag.is_some() {
                        app.allowed = app.received;
                    }
                    app.finish = app.eof;
                }
                BackendMode::Stream(n) => {
                    if app.tx_tag.is_some() {
                        app.allowed = TAG_LEN + n;
                        app.finish = true;
                    } else {
                        app.finish = app.eof;
                    }
                }
                BackendMode::Sink => app.finish = app.eof,
            }
        }
        loop {
            let app = &self.apps[id.0 as usize];
            if app.status.is_final() || app.shut {
                break;
            }
            let Some(tag) = app.tx_tag else {
                break;
            };
            let n = app.unsent().min(APP_WRITE as u64) as usize;
            if n == 0 {
                break;
            }
            self.buf.clear();
            pattern::fill(tag, app.sent, n, &mut self.buf);
            match self.tcp.get_mut(tcp_id).write(Side::App, &self.buf) {
                Write::Wrote(0) => break,
                Write::Wrote(k) => {
                    self.apps[id.0 as usize].sent += k as u64;
                    self.wake_node(tcp_id);
                }
                Write::Reset => {
                    self.app_end(id, Status::Reset);
                    return;
                }
            }
        }
        let app = &self.apps[id.0 as usize];
        if app.status.is_final() {
            return;
        }
        if app.finish && !app.shut && app.unsent() == 0 {
            self.apps[id.0 as usize].shut = true;
            tr!(
                self,
                "{id} shuts down its write half after {} bytes",
                self.apps[id.0 as usize].sent
            );
            self.tcp.get_mut(tcp_id).shutdown_write(Side::App);
            self.wake_node(tcp_id);
        }
        let app = &self.apps[id.0 as usize];
        if app.eof && app.shut {
            self.tcp.get_mut(tcp_id).close(Side::App);
            self.wake_node(tcp_id);
            let status = match self.tcp.get(tcp_id).state(Side::App) {
                EndState::Reset => Status::Reset,
                _ => Status::Done,
            };
            self.app_end(id, status);
        }
    }

    // ----- faults --------------------------------------------------------

    /// Applies a fault now.
    pub fn apply(&mut self, fault: Fault) {
        self.counters.faults += 1;
        tr!(self, "fault {fault:?}");
        match fault {
            Fault::Cut(c) => self.cut_link(c),
            Fault::Partition(c) => self.partition(c),
            Fault::Heal(c) => self.restore_link(c),
            Fault::Crash(n) => self.crash(n),
            Fault::Stop(n) => self.stop(n),
            Fault::Start(n) => self.start(n),
        }
    }

    /// Drops the client's WebSocket(s): both ends see it go down after a
    /// random delay; everything in flight is lost. The client may reconnect.
    pub fn cut_link(&mut self, client: ClientId) {
        let wires: Vec<WireId> = self
            .net
            .wires()
            .filter(|(_, w)| w.client == client && !w.cut && !w.is_dead())
            .map(|(id, _)| id)
            .collect();
        for wire in wires {
            tr!(self, "cut wire {wire} of {client}");
            for end in self.net.cut(wire) {
                let node = match end {
                    End::Server => Node::Server,
                    End::Client => Node::client(client),
                };
                let inc = self.net.wire(wire).incs[end.index()];
                let delay = self
                    .rng
                    .duration(Duration::ZERO, Duration::from_millis(300));
                let at = self.now() + delay;
                self.push_event(at, Event::LinkDown { node, inc, wire });
            }
        }
        self.run_tasks();
    }

    /// Nothing passes between the client and the server until
    /// [`restore_link`](Self::restore_link); new WebSocket dials hang.
    pub fn partition(&mut self, client: ClientId) {
        tr!(self, "partition {client}");
        self.net.partitioned[usize::from(client.number() - 1)] = true;
    }

    /// Ends a partition: held messages flow again.
    pub fn restore_link(&mut self, client: ClientId) {
        tr!(self, "restore {client}");
        self.net.partitioned[usize::from(client.number() - 1)] = false;
    }

    /// Sets the one-way latency range of a client's path.
    pub fn set_latency(&mut self, client: ClientId, lo: Duration, hi: Duration) {
        tr!(self, "latency of {client}: {lo:?}..{hi:?}");
        self.net.paths[usize::from(client.number() - 1)].latency = (lo, hi);
        let worst = &mut self.worst_latency[slot(client)];
        *worst = (*worst).max(hi);
    }

    /// Sets how `node`'s backends of connect tunnel `tunnel` answer dials.
    pub fn set_dial(&mut self, node: Node, tunnel: &str, dial: Dial) {
        tr!(self, "dial {node}/{tunnel}: {dial:?}");
        self.cfg.backends.push((node, tunnel.to_owned(), dial));
    }

    /// Kills `node`'s process: its TCP connections are reset, its links
    /// close (the peers see them go down), all its state is gone.
    pub fn crash(&mut self, node: Node) {
        let Some(host) = self.hosts[node.index()].take() else {
            return;
        };
        tr!(self, "{node} crashes");
        for hc in host.conns.values() {
            if let Some(t) = hc.tcp {
                self.tcp.get_mut(t).reset(Side::Node);
                self.tcp_node[t] = None;
                self.tasks.push_back(Task::App(self.tcp_app[t]));
            }
        }
        let end = if node == Node::Server {
            End::Server
        } else {
            End::Client
        };
        for (_, &wire) in host.links.iter() {
            self.net.wire_mut(wire).links[end.index()] = None;
            let now = self.now();
            self.net.send(
                wire,
                end,
                Item::Close("peer process died".into()),
                now,
                &mut self.rng,
            );
        }
        self.run_tasks();
    }

    /// Stops `node` on purpose, as SIGTERM does: the endpoint's planned
    /// stop runs (Goodbye, connections closed with FIN after what they
    /// hold); the process exits once it holds no link and no connection,
    /// or after [`STOP_BOUND`] as the runtime does, whatever is left reset.
    pub fn stop(&mut self, node: Node) {
        let Some(h) = self.hosts[node.index()].as_mut() else {
            return;
        };
        if h.stopping {
            return;
        }
        h.stopping = true;
        let inc = h.inc;
        tr!(self, "{node} stops on purpose");
        self.election.stopping(node);
        // Connections through a stopping node may end with FIN wherever
        // they stand: a planned stop cuts them short, cleanly.
        for i in 0..self.apps.len() {
            let a = &self.apps[i];
            if a.status.is_final() {
                continue;
            }
            let through = node == Node::Server
                || a.node() == node
                || a.peer.is_some_and(|p| self.app(p).node() == node);
            if through {
                self.apps[i].stop_cut = true;
            }
        }
        let now = self.clock.now();
        let h = self.hosts[node.index()].as_mut().expect("checked above");
        h.endpoint.handle_shutdown(now);
        self.after_input(node);
        let at = self.now() + STOP_BOUND;
        self.push_event(at, Event::Exit { node, inc });
        self.run_tasks();
    }

    /// Starts `node` afresh (nothing happens when it runs).
    pub fn start(&mut self, node: Node) {
        if self.is_up(node) {
            return;
        }
        self.incs[node.index()] += 1;
        let inc = self.incs[node.index()];
        let rng_seed = self.rng.next_u64();
        let config = self.cfg.endpoint_config(node, rng_seed);
        let endpoint = match Endpoint::new(config, self.clock.now()) {
            Ok(e) => e,
            Err(e) => self.fail("setup", format_args!("Endpoint::new for {node}: {e}")),
        };
        tr!(self, "{node} starts (incarnation {inc})");
        self.hosts[node.index()] = Some(Host::new(node, inc, endpoint));
        self.election.started(node);
        self.after_input(node);
        self.run_tasks();
    }

    /// Crashes and starts `node` at once.
    pub fn restart(&mut self, node: Node) {
        self.crash(node);
        self.start(node);
    }

    /// Ends every partition and starts every node that is down.
    pub fn heal_all(&mut self) {
        for c in [ClientId::One, ClientId::Two] {
            if self.net.partitioned[usize::from(c.number() - 1)] {
                self.restore_link(c);
            }
        }
        for node in Node::ALL {
            self.start(node);
        }
    }

    // ----- events --------------------------------------------------------

    fn live_inc(&self, node: Node, inc: u32) -> bool {
        self.host(node).is_some_and(|h| h.inc == inc)
    }

    fn handle_event(&mut self, ev: Event) {
        match ev {
            Event::Exit { node, inc } => {
                if self.live_inc(node, inc) {
                    tr!(self, "{node} exits");
                    self.crash(node);
                }
            }
            Event::AppTick(id) => self.app_tick(id),
            Event::AppReadTick(id) => self.app_read_tick(id),
            Event::AppReset(id) => self.app_reset(id),
            Event::Fault(f) => self.apply(f),
            Event::Dial {
                node,
                inc,
                conn,
                result,
            } => self.dial_done(node, inc, conn, result),
            Event::WsArrive { client, inc } => self.ws_arrive(client, inc),
            Event::WsUp { client, inc, wire } => self.ws_up(client, inc, wire),
            Event::WsFailed {
                client,
                inc,
                reason,
            } => {
                let node = Node::client(client);
                if !self.live_inc(node, inc) {
                    return;
                }
                tr!(self, "{node} <- link_failed {reason}");
                let now = self.clock.now();
                let h = self.hosts[node.index()].as_mut().expect("live");
                h.dialing_server = h.dialing_server.saturating_sub(1);
                h.endpoint.handle_link_failed(reason, now);
                self.after_input(node);
            }
            Event::LinkDown { node, inc, wire } => {
                if !self.live_inc(node, inc) {
                    return;
                }
                let end = if node == Node::Server {
                    End::Server
                } else {
                    End::Client
                };
                let Some(link) = self.net.wire(wire).links[end.index()] else {
                    return;
                };
                self.net.wire_mut(wire).links[end.index()] = None;
                tr!(self, "{node} <- link_down {link} (connection reset)");
                let now = self.clock.now();
                let h = self.hosts[node.index()].as_mut().expect("live");
                h.links.remove(&link);
                h.endpoint
                    .handle_link_down(link, "connection reset by peer", now);
                self.after_input(node);
            }
        }
    }

    fn dial_done(&mut self, node: Node, inc: u32, conn: ConnId, result: Result<(), String>) {
        if !self.live_inc(node, inc) {
            return;
        }
        let pending = self
            .host(node)
            .and_then(|h| h.conns.get(&conn))
            .is_some_and(|c| c.dialed && c.tcp.is_none());
        if !pending {
            return;
        }
        let now = self.clock.now();
        match result {
            Ok(()) => {
                let h = self.host(node).expect("live");
                let tunnel = self.cfg_connects(node)[h.conns[&conn].tunnel].clone();
                let id = AppId(self.apps.len() as u32);
                let tcp_id = self.tcp.open(self.cfg.tcp_buffer);
                self.tcp_node.push(Some((node, inc, conn)));
                self.tcp_app.push(id);
                let backend = App::new(
                    id,
                    AppRole::Backend {
                        node,
                        tunnel: tunnel.clone(),
                    },
                    AppPlan::manual(),
                    Some(tcp_id),
                    self.now(),
                );
                self.apps.push(backend);
                let h = self.hosts[node.index()].as_mut().expect("live");
                if let Some(c) = h.conns.get_mut(&conn) {
                    c.tcp = Some(tcp_id);
                }
                tr!(
                    self,
                    "{node} <- dial_result {conn} Ok ({id} serves {tunnel})"
                );
                let h = self.hosts[node.index()].as_mut().expect("live");
                h.endpoint.handle_dial_result(conn, Ok(()), now);
            }
            Err(e) => {
                tr!(self, "{node} <- dial_result {conn} Err({e})");
                let h = self.hosts[node.index()].as_mut().expect("live");
                h.conns.remove(&conn);
                h.endpoint.handle_dial_result(conn, Err(e), now);
            }
        }
        self.after_input(node);
    }

    fn cfg_connects(&self, node: Node) -> &[String] {
        match node {
            Node::Server => &self.cfg.server_connects,
            _ => &self.cfg.client_connects,
        }
    }

    fn ws_arrive(&mut self, client: ClientId, inc: u32) {
        let cnode = Node::client(client);
        if !self.live_inc(cnode, inc) {
            return;
        }
        let partitioned = self.net.partitioned[usize::from(client.number() - 1)];
        let latency = self.net.latency(client, &mut self.rng);
        let now = self.now();
        let Some(server) = self.hosts[0].as_mut().filter(|_| !partitioned) else {
            self.push_event(
                now + latency,
                Event::WsFailed {
                    client,
                    inc,
                    reason: "connection refused",
                },
            );
            return;
        };
        let link = server.alloc_link();
        let sinc = server.inc;
        let wire = self.net.open(client, [sinc, inc], link, now + latency);
        server.links.insert(link, wire);
        tr!(self, "S <- link_up {link} (wire {wire} from {client})");
        let instant = self.clock.now();
        self.hosts[0]
            .as_mut()
            .expect("up")
            .endpoint
            .handle_link_up(link, instant);
        self.after_input(Node::Server);
        self.push_event(now + latency, Event::WsUp { client, inc, wire });
    }

    fn ws_up(&mut self, client: ClientId, inc: u32, wire: WireId) {
        let cnode = Node::client(client);
        if !self.live_inc(cnode, inc) {
            // The client died during the handshake: the server end closes.
            if self.net.wire(wire).links[End::Server.index()].is_some() {
                let now = self.now();
                self.net.send(
                    wire,
                    End::Client,
                    Item::Close("client process gone".into()),
                    now,
                    &mut self.rng,
                );
            }
            return;
        }
        let now = self.clock.now();
        if self.net.wire(wire).cut {
            tr!(self, "{cnode} <- link_failed (cut during the handshake)");
            let h = self.hosts[cnode.index()].as_mut().expect("live");
            h.dialing_server = h.dialing_server.saturating_sub(1);
            h.endpoint
                .handle_link_failed("connection reset during the handshake", now);
            self.after_input(cnode);
            return;
        }
        let h = self.hosts[cnode.index()].as_mut().expect("live");
        h.dialing_server = h.dialing_server.saturating_sub(1);
        let link = h.alloc_link();
        h.links.insert(link, wire);
        self.net.wire_mut(wire).links[End::Client.index()] = Some(link);
        tr!(self, "{cnode} <- link_up {link} (wire {wire})");
        let h = self.hosts[cnode.index()].as_mut().expect("live");
        h.endpoint.handle_link_up(link, now);
        self.after_input(cnode);
    }

    fn deliver(&mut self, wire: WireId, to: End, item: Item, unblocked: bool) {
        let w = self.net.wire(wire);
        let client = w.client;
        let node_of = |e: End| match e {
            End::Server => Node::Server,
            End::Client => Node::client(client),
        };
        if unblocked {
            let from = to.peer();
            let inc = w.incs[from.index()];
            self.tasks.push_back(Task::NodeTransmit(node_of(from), inc));
        }
        let node = node_of(to);
        let (Some(link), inc) = (w.links[to.index()], w.incs[to.index()]) else {
            return;
        };
        if !self.live_inc(node, inc) {
            return;
        }
        let now = self.clock.now();
        self.carrier = (node == Node::Server).then_some(client);
        match item {
            Item::Message(m) => {
                self.net.wire_mut(wire).heard[to.index()] = true;
                if to == End::Server {
                    // A link heard even for an instant (its hello, then a
                    // reset in the same step) resumes the session.
                    self.election.server_heard(client);
                }
                if to == End::Client {
                    let sinc = self.net.wire(wire).incs[End::Server.index()];
                    self.hosts[node.index()].as_mut().expect("live").server_inc = Some(sinc);
                }
                tr!(
                    self,
                    "{node} <- msg {link} {}B h={:08x}",
                    m.len(),
                    content_hash(&m)
                );
                if self.trace.echoes() {
                    for f in describe_frames(&m) {
                        self.trace.detail(format_args!("{f}"));
                    }
                }
                let h = self.hosts[node.index()].as_mut().expect("live");
                h.endpoint.handle_message(link, &m, now);
            }
            Item::Close(reason) => {
                self.net.wire_mut(wire).links[to.index()] = None;
                tr!(self, "{node} <- link_down {link} ({reason})");
                let h = self.hosts[node.index()].as_mut().expect("live");
                h.links.remove(&link);
                h.endpoint.handle_link_down(link, &reason, now);
            }
        }
        self.after_input(node);
        self.carrier = None;
    }

    // ----- the fake runtime ----------------------------------------------

    fn run_tasks(&mut self) {
        while let Some(task) = self.tasks.pop_front() {
            match task {
                Task::App(id) => self.app_pump(id),
                Task::NodeRead(node, inc, conn) => {
                    if self.live_inc(node, inc) {
                        self.node_read(node, conn);
                    }
                }
                Task::NodeWrite(node, inc, conn) => {
                    if self.live_inc(node, inc) {
                        self.node_write(node, conn);
                    }
                }
                Task::NodeTransmit(node, inc) => {
                    if self.live_inc(node, inc) {
                        self.after_input(node);
                    }
                }
            }
        }
    }

    /// The runtime's TCP connection `conn` of `node`, when it has a socket.
    fn node_conn(&self, node: Node, conn: ConnId) -> Option<(usize, HostConn)> {
        let hc = self.host(node)?.conns.get(&conn)?;
        Some((hc.tcp?, hc.clone()))
    }

    /// The socket of `conn` was reset: tell the endpoint, forget the socket.
    fn node_conn_reset(&mut self, node: Node, conn: ConnId, tcp_id: usize) {
        tr!(self, "{node} <- app_reset {conn}");
        self.tcp_node[tcp_id] = None;
        let now = self.clock.now();
        let h = self.hosts[node.index()].as_mut().expect("live");
        h.conns.remove(&conn);
        h.endpoint
            .handle_app_reset(conn, "connection reset by peer", now);
        self.after_input(node);
    }

    /// Readable: read while the endpoint has send capacity.
    fn node_read(&mut self, node: Node, conn: ConnId) {
        let mut rounds = 0u32;
        loop {
            rounds += 1;
            if rounds > 100_000 {
                self.fail(
                    "liveness",
                    format_args!("{node}: endless read loop on {conn}"),
                );
            }
            let Some((tcp_id, hc)) = self.node_conn(node, conn) else {
                return;
            };
            if self.tcp.get(tcp_id).state(Side::Node) == EndState::Reset {
                self.node_conn_reset(node, conn, tcp_id);
                return;
            }
            if hc.eof {
                return;
            }
            let h = self.host(node).expect("live");
            let cap = h.endpoint.send_capacity(conn);
            if cap == 0 {
                return;
            }
            self.buf.clear();
            let max = cap.min(self.cfg.read_chunk);
            match self
                .tcp
                .get_mut(tcp_id)
                .read(Side::Node, &mut self.buf, max)
            {
                Read::Data(n) => {
                    self.tasks.push_back(Task::App(self.tcp_app[tcp_id]));
                    tr!(self, "{node} <- app_data {conn} {n}B");
                    let now = self.clock.now();
                    let h = self.hosts[node.index()].as_mut().expect("live");
                    let taken = hand_over(&mut h.endpoint, conn, &self.buf, now);
                    if taken != n {
                        self.fail(
                            "api",
                            format_args!("{node}: the endpoint took {taken} of {n} bytes read from {conn}, send_capacity was {cap}"),
                        );
                    }
                    if !hc.dialed && !hc.saw_data {
                        self.first_data(node, conn);
                    }
                    self.after_input(node);
                }
                Read::WouldBlock => return,
                Read::Eof => {
                    tr!(self, "{node} <- app_eof {conn}");
                    let now = self.clock.now();
                    let h = self.hosts[node.index()].as_mut().expect("live");
                    if let Some(c) = h.conns.get_mut(&conn) {
                        c.eof = true;
                    }
                    h.endpoint.handle_app_eof(conn, now);
                    self.after_input(node);
                    return;
                }
                Read::Reset => {
                    self.node_conn_reset(node, conn, tcp_id);
                    return;
                }
            }
        }
    }

    /// The runtime read the first data of a connection `node`'s listen
    /// socket accepted: on a client that believes it is standby, a claim.
    fn first_data(&mut self, node: Node, conn: ConnId) {
        let now = self.now();
        let h = self.hosts[node.index()].as_mut().expect("live");
        if let Some(c) = h.conns.get_mut(&conn) {
            c.saw_data = true;
        }
        if let Some(me) = node.client_id() {
            if h.believes_active != Some(me) {
                tr!(self, "{node}: first data on a listen connection as standby");
                let (inc, server_inc) = (h.inc, h.server_inc);
                self.election.standby_data(me, inc, server_inc, now);
            }
        }
    }

    /// Deliver / writable: write `recv_chunk` until it is empty or the socket is full.
    fn node_write(&mut self, node: Node, conn: ConnId) {
        let mut rounds = 0u32;
        loop {
            rounds += 1;
            if rounds > 100_000 {
                self.fail(
                    "liveness",
                    format_args!("{node}: endless write loop on {conn}"),
                );
            }
            let Some((tcp_id, hc)) = self.node_conn(node, conn) else {
                return;
            };
            if self.tcp.get(tcp_id).state(Side::Node) == EndState::Reset {
                self.node_conn_reset(node, conn, tcp_id);
                return;
            }
            let h = self.hosts[node.index()].as_ref().expect("live");
            let chunk = h.endpoint.recv_chunk(conn);
            if chunk.is_empty() {
                return;
            }
            if hc.write_shut {
                self.fail(
                    "api",
                    format_args!(
                        "{node}: {conn} has {} bytes to deliver after ShutdownWrite",
                        chunk.len()
                    ),
                );
            }
            match self.tcp.get_mut(tcp_id).write(Side::Node, chunk) {
                Write::Wrote(0) => return,
                Write::Wrote(n) => {
                    self.tasks.push_back(Task::App(self.tcp_app[tcp_id]));
                    tr!(self, "{node} <- app_written {conn} {n}B");
                    let now = self.clock.now();
                    let h = self.hosts[node.index()].as_mut().expect("live");
                    h.endpoint.handle_app_written(conn, n, now);
                    self.after_input(node);
                }
                Write::Reset => {
                    self.tasks.push_back(Task::App(self.tcp_app[tcp_id]));
                    self.node_conn_reset(node, conn, tcp_id);
                    return;
                }
            }
        }
    }

    /// A stopping process with no link and no connection left exits (in
    /// an event of its own, so callers still find the host).
    fn exit_when_done(&mut self, node: Node) {
        let Some(h) = self.host(node) else {
            return;
        };
        if h.stopping && h.links.is_empty() && h.conns.is_empty() {
            let (inc, now) = (h.inc, self.now());
            self.push_event(now, Event::Exit { node, inc });
        }
    }

    /// The drain contract: outputs until `None`, then transmit on every
    /// link that can take bytes, until both are quiet.
    fn after_input(&mut self, node: Node) {
        for _ in 0..1000 {
            let mut any = false;
            loop {
                let Some(h) = self.hosts[node.index()].as_mut() else {
                    return;
                };
                let Some(out) = h.endpoint.poll_output() else {
                    break;
                };
                any = true;
                tr!(self, "{node} -> {out:?}");
                self.apply_output(node, out);
            }
            if !self.transmit(node) && !any {
                self.exit_when_done(node);
                return;
            }
        }
        self.fail(
            "liveness",
            format_args!("{node}: outputs and transmits never run dry"),
        );
    }

    /// Calls `poll_transmit` on every link of `node` while its wire has
    /// room. Returns whether anything was sent.
    fn transmit(&mut self, node: Node) -> bool {
        let Some(h) = self.host(node) else {
            return false;
        };
        let end = if node == Node::Server {
            End::Server
        } else {
            End::Client
        };
        let links: Vec<(LinkId, WireId)> = h.links.iter().map(|(l, w)| (*l, *w)).collect();
        let mut sent = false;
        for (link, wire) in links {
            for round in 0.. {
                if round > 100_000 {
                    self.fail(
                        "liveness",
                        format_args!("{node}: poll_transmit({link}) never returns false"),
                    );
                }
                if !self.host(node).is_some_and(|h| h.links.contains_key(&link)) {
                    break;
                }
                if !self.net.can_send(wire, end) {
                    self.net.set_blocked(wire, end);
                    break;
                }
                let now = self.clock.now();
                let mut buf = Vec::new();
                let h = self.hosts[node.index()].as_mut().expect("live");
                if !h.endpoint.poll_transmit(link, now, &mut buf) {
                    break;
                }
                if buf.is_empty() {
                    self.fail(
                        "api",
                        format_args!(
                            "{node}: poll_transmit({link}) returned true with an empty message"
                        ),
                    );
                }
                if buf.len() > self.cfg.max_message {
                    self.fail(
                        "api",
                        format_args!(
                            "{node}: poll_transmit({link}) built a {}-byte message, more than max_message {}",
                            buf.len(),
                            self.cfg.max_message
                        ),
                    );
                }
                tr!(
                    self,
                    "{node} => {link} {}B h={:08x}",
                    buf.len(),
                    content_hash(&buf)
                );
                self.counters.messages += 1;
                self.counters.message_bytes += buf.len() as u64;
                let t = self.now();
                self.net
                    .send(wire, end, Item::Message(buf), t, &mut self.rng);
                sent = true;
            }
        }
        sent
    }

    fn apply_output(&mut self, node: Node, out: Output) {
        let now = self.now();
        let h = self.hosts[node.index()].as_mut().expect("live");
        let inc = h.inc;
        match out {
            Output::ConnectServer => {
                let Some(client) = node.client_id() else {
                    self.fail("api", "the server emitted ConnectServer");
                };
                if h.dialing_server > 0 {
                    tr!(
                        self,
                        "{node}: a WebSocket dial is already in progress; ConnectServer ignored"
                    );
                    return;
                }
                h.dialing_server += 1;
                let latency = self.net.latency(client, &mut self.rng);
                let partitioned = self.net.partitioned[usize::from(client.number() - 1)];
                if partitioned {
                    let at = now + self.cfg.connect_timeout;
                    self.push_event(
                        at,
                        Event::WsFailed {
                            client,
                            inc,
                            reason: "connect timed out",
                        },
                    );
                } else if self.is_up(Node::Server) {
                    self.push_event(now + latency, Event::WsArrive { client, inc });
                } else {
                    self.push_event(
                        now + latency * 2,
                        Event::WsFailed {
                            client,
                            inc,
                            reason: "connection refused",
                        },
                    );
                }
            }
            Output::CloseLink { link, reason } => {
                if let Some(wire) = h.links.remove(&link) {
                    let end = if node == Node::Server {
                        End::Server
                    } else {
                        End::Client
                    };
                    self.net.wire_mut(wire).links[end.index()] = None;
                    self.net
                        .send(wire, end, Item::Close(reason), now, &mut self.rng);
                }
            }
            Output::Dial { conn, tunnel } => {
                let Some(name) = self.cfg_connects(node).get(tunnel.0).cloned() else {
                    self.fail(
                        "api",
                        format_args!("{node}: Dial for unknown connect tunnel {tunnel:?}"),
                    );
                };
                let h = self.hosts[node.index()].as_mut().expect("live");
                if h.conns.contains_key(&conn) {
                    self.fail(
                        "api",
                        format_args!("{node}: Dial with {conn}, which is in use"),
                    );
                }
                h.conns.insert(
                    conn,
                    HostConn {
                        tcp: None,
                        dialed: true,
                        tunnel: tunnel.0,
                        eof: false,
                        write_shut: false,
                        via: node.client_id().or(self.carrier),
                        saw_data: false,
                        held: false,
                    },
                );
                let latency = self
                    .rng
                    .duration(self.cfg.dial_latency.0, self.cfg.dial_latency.1);
                let (at, result) = match self.cfg.dial(node, &name) {
                    Dial::Accept => (now + latency, Ok(())),
                    Dial::Refuse => (now + latency, Err("connection refused".to_owned())),
                    Dial::Hang(d) => (now + d, Err("connect timed out".to_owned())),
                };
                self.push_event(
                    at,
                    Event::Dial {
                        node,
                        inc,
                        conn,
                        result,
                    },
                );
            }
            Output::StartListening { tunnel } => {
                h.listening.insert(tunnel.0);
            }
            Output::StopListening { tunnel } => {
                h.listening.remove(&tunnel.0);
            }
            Output::Deliver { conn } => {
                if let Some(c) = h.conns.get(&conn) {
                    if c.tcp.is_none() {
                        self.fail(
                            "api",
                            format_args!("{node}: Deliver for {conn} before its dial succeeded"),
                        );
                    }
                    self.tasks.push_back(Task::NodeWrite(node, inc, conn));
                }
            }
            Output::ResumeReading { conn } => {
                self.tasks.push_back(Task::NodeRead(node, inc, conn));
            }
            Output::ShutdownWrite { conn } => {
                let pending = h.endpoint.recv_chunk(conn).len();
                let Some(c) = h.conns.get_mut(&conn) else {
                    return;
                };
                let Some(tcp_id) = c.tcp else {
                    self.fail(
                        "api",
                        format_args!("{node}: ShutdownWrite for {conn} before its dial succeeded"),
                    );
                };
                if pending > 0 {
                    self.fail(
                        "api",
                        format_args!("{node}: ShutdownWrite for {conn} with {pending} bytes still to deliver"),
                    );
                }
                c.write_shut = true;
                self.tcp.get_mut(tcp_id).shutdown_write(Side::Node);
                self.tasks.push_back(Task::App(self.tcp_app[tcp_id]));
            }
            Output::Close { conn, reset } => {
                if let Some(c) = h.conns.remove(&conn) {
                    if let Some(tcp_id) = c.tcp {
                        let t = self.tcp.get_mut(tcp_id);
                        if reset {
                            t.reset(Side::Node);
                        } else {
                            t.close(Side::Node);
                        }
                        self.tcp_node[tcp_id] = None;
                        self.tasks.push_back(Task::App(self.tcp_app[tcp_id]));
                    }
                }
            }
            Output::ActiveChanged { active, why, .. } => {
                let old = h.believes_active;
                if node == Node::Server {
                    self.counters.switches += 1;
                }
                // DESIGN.md section 1: a switch by first data closes the
                // server's listen sockets, and those of the client that
                // was active (as it learns of it), for the standby close
                // duration. Failovers and default choices close nothing.
                let switch = why == ActiveWhy::Claim.as_str();
                let lost_activity = match node.client_id() {
                    Some(me) => h.believes_active == Some(me) && active != Some(me),
                    None => true,
                };
                if switch && lost_activity {
                    h.blackout_until = Some(now + self.cfg.standby_close);
                }
                h.believes_active = active;
                if node == Node::Server && old != active {
                    self.server_active_changed(old, active);
                }
            }
        }
    }

    /// The server's active client changed: the change must have a cause
    /// (no preemption), and the connections through the old one must close.
    fn server_active_changed(&mut self, old: Option<ClientId>, new: Option<ClientId>) {
        let cause = match self.election.explain(self, old, new) {
            Ok(cause) => cause,
            Err(e) => self.fail("no preemption (DESIGN.md 1, high availability)", e),
        };
        tr!(self, "S: active {old:?} -> {new:?} by {cause:?}");
        self.election.record(cause);
        if let (Some(old), Some(new), Cause::Failover | Cause::Claim | Cause::Handover) =
            (old, new, cause)
        {
            self.move_held(old, new);
        }
        if let Some(old) = old {
            let mut switch = std::mem::take(&mut self.switch);
            switch.active_changed(self, old, cause);
            self.switch = switch;
        }
    }
}

/// Gives bytes read from `conn` to the endpoint as the runtime does: into
/// the room [`Endpoint::app_read_buf`] offers when it offers some (the
/// direct read of a stream moving bulk data), the rest through
/// [`Endpoint::handle_app_data`]. Returns how many were taken.
fn hand_over(endpoint: &mut Endpoint, conn: ConnId, data: &[u8], now: Instant) -> usize {
    let mut taken = 0;
    if let Some(room) = endpoint.app_read_buf(conn) {
        let n = room.len().min(data.len());
        room[..n].copy_from_slice(&data[..n]);
        taken = endpoint.handle_app_read(conn, n, now);
        if taken < n || taken == data.len() {
            return taken;
        }
    }
    taken + endpoint.handle_app_data(conn, &data[taken..], now)
}
