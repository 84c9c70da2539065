//! The hostile case (issue 12): a fresh ws:// server and client 1 carry a
//! healthy stream (a paced 500-byte ping-pong through the `up-echo`
//! tunnel), timed idle first, then during each attack in turn, then idle
//! again:
//! * (a) TCP connections to the server's port that never send a byte;
//! * (b) upgraded WebSocket links that never send a Hello;
//! * (c) a client-2 session sending one-byte Data frames out of order;
//! * (d) a client-2 session flooding Opens without ever a ControlAck.
//!
//! For each attack: the healthy stream's p50/p99 against idle, the
//! server's peak RSS, how many hostile connections or links were opened,
//! how long the server took to close them against their deadline, the
//! server's counters, and whether both tunnel processes survived. It is
//! not a timed test: it runs once, whatever `--runs` says. The attacker
//! runs at a lower priority (nice 10) than the healthy stream, whose
//! processes it shares the machine with.

mod effect;
mod flood;
mod log_kinds;
mod netstat;
mod peer;
mod pieces;
mod pinger;
mod rows;
mod rss;
mod silent;
mod watcher;

use std::collections::BTreeMap;
use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

use crate::backends::Kind as Backend;
use crate::error::BenchError;
use crate::options::{Options, Transport};
use crate::processes::{Deployment, Direction, Targets};
use crate::{memory, server_metrics, stats};

pub use effect::Effect;
pub use rows::{json, rows, GROUP};

/// The server's `dataExchange.handshakeTimeoutSecs` (its default, which
/// the bench's configs keep): for TLS and the HTTP upgrade, then again for
/// the tcpws handshake.
pub const HANDSHAKE: Duration = Duration::from_secs(5);
/// What a close may take beyond its deadline, as the bench sees it from
/// the other end of the socket on a busy machine.
pub const SLACK: Duration = Duration::from_secs(1);
/// The server's buffer per stream and direction (`perConnectionBufferBytes`,
/// its default): the healthy stream may hold this much each way.
pub const STREAM_WINDOW: f64 = (4 << 20) as f64;
/// The server's resident memory during an attack: the memory target plus
/// the healthy stream's windows.
pub const RSS_LIMIT: f64 = crate::figures::IDLE_RSS + 2.0 * STREAM_WINDOW;
/// The healthy stream's p99 during an attack against its idle p99.
pub const P99_RATIO: f64 = 2.0;
/// The tunnel the server connects (to the sink) that (c) opens streams of.
const PIECES_TUNNEL: &str = "down-sink";
/// Attacks (c) and (d) go on at least this long (more links), so that the
/// healthy stream's p99 has some thousands of round trips behind it.
const LEAST: Duration = Duration::from_secs(3);
/// Round trips of the idle windows, per `--round-trips`.
const IDLE_WINDOW: usize = 5;
/// Pause between attacks, and before memory is read after one.
const SETTLE: Duration = Duration::from_millis(500);

/// How much of each attack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    /// (a) silent TCP connections.
    pub conns: usize,
    /// (b) upgraded links without a Hello.
    pub links: usize,
    /// (c) one-byte out-of-order Data frames.
    pub pieces: usize,
    /// (d) links flooded with Opens.
    pub floods: usize,
}

/// The attacks, in the order they run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attack {
    SilentTcp,
    SilentLinks,
    Pieces,
    OpenFlood,
}

impl Attack {
    pub const ALL: [Attack; 4] = [
        Attack::SilentTcp,
        Attack::SilentLinks,
        Attack::Pieces,
        Attack::OpenFlood,
    ];

    /// The name in row ids and the JSON.
    pub fn id(self) -> &'static str {
        match self {
            Attack::SilentTcp => "silent_tcp",
            Attack::SilentLinks => "silent_links",
            Attack::Pieces => "pieces",
            Attack::OpenFlood => "open_flood",
        }
    }

    /// The name in the table.
    pub fn label(self, c: &Counts) -> String {
        match self {
            Attack::SilentTcp => format!("(a) {} silent TCP conns", c.conns),
            Attack::SilentLinks => format!("(b) {} links without Hello", c.links),
            Attack::Pieces => format!("(c) {}+ out-of-order pieces", c.pieces),
            Attack::OpenFlood => format!("(d) Open floods, {}+ links", c.floods),
        }
    }
}

/// The healthy stream over one window.
#[derive(Debug, Clone, Default)]
pub struct Window {
    pub p50: Option<f64>,
    pub p99: Option<f64>,
    /// The slowest round trip: a stall shows here.
    pub max: Option<f64>,
    pub samples: usize,
    pub seconds: f64,
    /// Failures of the healthy stream (reset, stall, wrong bytes).
    pub errors: Vec<String>,
}

/// One attack and what it did to the server.
#[derive(Debug, Clone)]
pub struct Run {
    pub attack: Attack,
    pub label: String,
    pub effect: Effect,
    pub healthy: Window,
    pub rss_before: Option<f64>,
    pub rss_peak: Option<f64>,
    /// Whether `rss_peak` is the kernel's peak (else only sampled).
    pub rss_peak_exact: bool,
    pub rss_after: Option<f64>,
    /// CPU seconds the server used during the attack.
    pub server_cpu: Option<f64>,
    /// CPU seconds client 1 used during the attack.
    pub client_cpu: Option<f64>,
    /// CPU seconds the bench used during the attack: the attacker, the
    /// healthy stream's end and its echo.
    pub bench_cpu: Option<f64>,
    /// Connections the kernel dropped for a full accept queue meanwhile
    /// (machine-wide).
    pub listen_overflows: Option<u64>,
    pub server_alive: bool,
    pub client_alive: bool,
    /// Why a process is gone, with the end of its log.
    pub gone: Option<String>,
    /// Counters of the server's `/metrics`: how much each grew.
    pub counters: BTreeMap<String, f64>,
    /// Gauges of the server's `/metrics` after the attack.
    pub gauges: BTreeMap<String, f64>,
}

/// Everything the hostile case found.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub counts: Counts,
    pub idle: Window,
    /// CPU seconds the server used in the idle window (the healthy
    /// stream's share of the attacks' figures).
    pub idle_server_cpu: Option<f64>,
    pub runs: Vec<Run>,
    /// The healthy stream after the last attack.
    pub after: Option<Window>,
    /// Lines the hostile deployment's processes logged, and the most
    /// frequent kinds of them.
    pub log_lines: usize,
    pub log_kinds: Vec<(usize, String)>,
    /// How a process that did not stop cleanly ended.
    pub stops: Vec<String>,
}

impl Outcome {
    /// Notes for the report: every finding, one line each.
    pub fn notes(&self) -> Vec<String> {
        let mut notes = Vec::new();
        for r in &self.runs {
            for f in &r.effect.findings {
                notes.push(format!("hostile {}: {f}", r.label));
            }
            for e in &r.healthy.errors {
                notes.push(format!(
                    "hostile {}: the healthy stream failed: {e}",
                    r.label
                ));
            }
            if let Some(n) = r.listen_overflows.filter(|&n| n > 0) {
                notes.push(format!(
                    "hostile {}: the kernel dropped {n} connection(s) for a full accept queue \
                     (ListenOverflows, machine-wide): their connects waited for a SYN resend",
                    r.label
                ));
            }
            if let Some(gone) = &r.gone {
                notes.push(format!("hostile {}: {gone}", r.label));
            }
        }
        notes.extend(self.stops.iter().map(|s| format!("hostile: {s}")));
        let kinds: Vec<String> = self
            .log_kinds
            .iter()
            .map(|(n, line)| format!("  {n} x {line}"))
            .collect();
        if self.log_lines > 0 {
            notes.push(format!(
                "hostile: the tunnel processes logged {} lines (digits blanked, most frequent first):\n{}",
                self.log_lines,
                kinds.join("\n")
            ));
        }
        notes
    }
}

/// Runs the hostile case on a fresh ws:// deployment under `dir` whose
/// tunnels dial `targets`.
pub fn run(
    opts: &Options,
    tcpws: &Path,
    dir: &Path,
    targets: Targets,
) -> Result<Outcome, BenchError> {
    let counts = opts.hostile;
    eprintln!(
        "hostile: a fresh ws server and client 1; (a) {} silent conns, (b) {} links without \
         Hello, (c) {} out-of-order pieces, (d) Open floods on {} links",
        counts.conns, counts.links, counts.pieces, counts.floods
    );
    let mut dep = Deployment::start(tcpws, dir, Transport::Ws, targets, None)?;
    let outcome = attacks(opts, &mut dep).map_err(|e| dep.explain(e));
    let notes = dep.stop();
    let mut outcome = outcome?;
    // Deployment::stop gives how a process ended first, then its lines.
    let (stops, lines): (Vec<String>, Vec<String>) = notes
        .into_iter()
        .partition(|l| l.contains("after SIGTERM") || l.contains("did not stop"));
    let (n, kinds) = log_kinds::kinds(&lines, 15);
    outcome.log_lines = n;
    outcome.log_kinds = kinds;
    outcome.stops = stops;
    Ok(outcome)
}

fn attacks(opts: &Options, dep: &mut Deployment) -> Result<Outcome, BenchError> {
    let counts = opts.hostile;
    let ws = dep.ports.ws;
    let healthy_port = dep.ports.to(Backend::Echo, Direction::ServerListen);
    let pinger = pinger::Pinger::start(healthy_port)?;
    thread::sleep(SETTLE);
    let cpu_before = memory::cpu_secs(dep.server.pid()).ok();
    let idle = window(&pinger, IDLE_WINDOW * opts.round_trips);
    let idle_server_cpu = memory::cpu_secs(dep.server.pid())
        .ok()
        .zip(cpu_before)
        .map(|(a, b)| a - b);
    eprintln!("  hostile, idle: healthy {}", describe(&idle));
    let mut runs = Vec::new();
    for attack in Attack::ALL {
        let label = attack.label(&counts);
        let before = server_metrics::fetch(ws);
        let pid = dep.server.pid();
        let rss_before = memory::rss_bytes(pid).ok().map(|b| b as f64);
        let watch = rss::PeakWatch::start(pid);
        let cpu_before = memory::cpu_secs(pid).ok();
        let from = Instant::now();
        let overflows_before = netstat::listen_overflows();
        let client_pid = dep.client.pid();
        let cpu_others = (
            memory::cpu_secs(std::process::id()).ok(),
            memory::cpu_secs(client_pid).ok(),
        );
        let mut effect = as_attacker(move || match attack {
            Attack::SilentTcp => silent::silent_tcp(ws, counts.conns, HANDSHAKE),
            Attack::SilentLinks => silent::silent_links(ws, counts.links, HANDSHAKE),
            Attack::Pieces => pieces::out_of_order(ws, counts.pieces, LEAST, PIECES_TUNNEL),
            Attack::OpenFlood => flood::open_flood(ws, counts.floods, LEAST),
        })?;
        let to = Instant::now();
        let used = |pid: u32, before: Option<f64>| {
            memory::cpu_secs(pid).ok().zip(before).map(|(a, b)| a - b)
        };
        let bench_cpu = used(std::process::id(), cpu_others.0);
        let client_cpu = used(client_pid, cpu_others.1);
        let listen_overflows = netstat::listen_overflows()
            .zip(overflows_before)
            .map(|(a, b)| a.saturating_sub(b));
        let (peak, exact) = watch.stop();
        let server_cpu = memory::cpu_secs(pid)
            .ok()
            .zip(cpu_before)
            .map(|(a, b)| a - b);
        let healthy = summary(&pinger, from, to);
        thread::sleep(SETTLE);
        let rss_after = memory::rss_bytes(pid).ok().map(|b| b as f64);
        let gone_server = dep.server.check_running().err();
        let gone_client = dep.client.check_running().err();
        let (counters, gauges) = match (before, server_metrics::fetch(ws)) {
            (Some(before), Some(after)) => changes(&before, &after),
            _ => {
                effect
                    .findings
                    .push("the server's /metrics did not answer before or after the attack".into());
                Default::default()
            }
        };
        let run = Run {
            attack,
            label,
            effect,
            healthy,
            rss_before,
            rss_peak: rss_before.map(|b| b.max(peak)),
            rss_peak_exact: exact,
            rss_after,
            server_cpu,
            client_cpu,
            bench_cpu,
            listen_overflows,
            server_alive: gone_server.is_none(),
            client_alive: gone_client.is_none(),
            gone: gone_server
                .iter()
                .chain(&gone_client)
                .map(ToString::to_string)
                .reduce(|a, b| format!("{a}\n{b}")),
            counters,
            gauges,
        };
        eprintln!("  {}", one_line(&run));
        let alive = run.server_alive && run.client_alive;
        runs.push(run);
        if !alive {
            break;
        }
    }
    let after = if runs.iter().all(|r| r.server_alive && r.client_alive) {
        let w = window(&pinger, IDLE_WINDOW * opts.round_trips);
        eprintln!("  hostile, after the attacks: healthy {}", describe(&w));
        Some(w)
    } else {
        None
    };
    drop(pinger);
    Ok(Outcome {
        counts,
        idle,
        idle_server_cpu,
        runs,
        after,
        log_lines: 0,
        log_kinds: Vec::new(),
        stops: Vec::new(),
    })
}

/// The attacker's nice value. It shares the two cores with the server
/// and client 1, where a real attacker would be on a machine of its own:
/// on a busy machine the tunnel processes and the healthy stream go first.
const ATTACKER_NICE: libc::c_int = 10;

/// Runs `attack` in a thread of lowered priority (threads it starts
/// inherit it), and waits for it.
fn as_attacker(
    attack: impl FnOnce() -> Result<Effect, BenchError> + Send + 'static,
) -> Result<Effect, BenchError> {
    let thread = thread::Builder::new()
        .name("bench-attacker".into())
        .spawn(move || {
            // SAFETY: gettid and setpriority take and return plain integers;
            // raising one's own nice value needs no privilege.
            unsafe {
                let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
                libc::setpriority(libc::PRIO_PROCESS, tid, ATTACKER_NICE);
            }
            attack()
        })
        .map_err(BenchError::io("start the attacker thread"))?;
    thread.join().unwrap_or_else(|_| {
        Err(BenchError::Tunnel(
            "hostile: the attacker thread panicked".into(),
        ))
    })
}

/// The next `n` round trips of the healthy stream.
fn window(p: &pinger::Pinger, n: usize) -> Window {
    let from = Instant::now();
    p.wait_for(from, n);
    summary(p, from, Instant::now())
}

fn summary(p: &pinger::Pinger, from: Instant, to: Instant) -> Window {
    let rtts = p.between(from, to);
    Window {
        p50: stats::percentile(&rtts, 50.0),
        p99: stats::percentile(&rtts, 99.0),
        max: stats::percentile(&rtts, 100.0),
        samples: rtts.len(),
        seconds: to.duration_since(from).as_secs_f64(),
        errors: p.errors_between(from, to),
    }
}

/// How much each counter (`_total`) grew from `before` to `after`, and the
/// gauges after.
fn changes(
    before: &BTreeMap<String, f64>,
    after: &BTreeMap<String, f64>,
) -> (BTreeMap<String, f64>, BTreeMap<String, f64>) {
    let mut counters = BTreeMap::new();
    let mut gauges = BTreeMap::new();
    for (k, &v) in after {
        if k.ends_with("_total") {
            let grew = v - before.get(k).copied().unwrap_or(0.0);
            if grew != 0.0 {
                counters.insert(k.clone(), grew);
            }
        } else if !k.contains('{') {
            gauges.insert(k.clone(), v);
        }
    }
    (counters, gauges)
}

fn describe(w: &Window) -> String {
    use crate::report::Unit::Secs;
    let f = |v: Option<f64>| v.map_or("-".into(), |v| Secs.format(v));
    format!(
        "p50 {}, p99 {}, max {} over {} round trips in {:.1} s{}",
        f(w.p50),
        f(w.p99),
        f(w.max),
        w.samples,
        w.seconds,
        if w.errors.is_empty() {
            String::new()
        } else {
            format!(", {} failure(s)", w.errors.len())
        }
    )
}

/// A progress line for stderr.
fn one_line(r: &Run) -> String {
    use crate::report::Unit::{Bytes, Secs};
    let e = &r.effect;
    let opt = |v: Option<f64>, u: crate::report::Unit| v.map_or("-".into(), |v| u.format(v));
    format!(
        "{}: healthy {}; server RSS peak {}; {} opened{}, longest close {} (deadline {} {}), \
         {} left open{}{}",
        r.label,
        describe(&r.healthy),
        opt(r.rss_peak, Bytes),
        e.opened,
        e.shed.map_or(String::new(), |s| format!(", {s} shed")),
        opt(e.longest, Secs),
        Secs.format(e.deadline),
        e.deadline_what,
        e.left_open,
        if r.server_alive {
            ""
        } else {
            "; THE SERVER IS GONE"
        },
        if e.findings.is_empty() {
            String::new()
        } else {
            format!("; {} finding(s)", e.findings.len())
        }
    )
}
