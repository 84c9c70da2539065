//! The comparison `--peer` asks for: tcpws beside each peer (wstunnel),
//! the bare-relay floor and raw loopback, on the same backends, in
//! alternating rounds so that a machine's drift hits every route alike.
//!
//! Every route goes one way, the way wstunnel's `-L` does: the app
//! connects to the client side, which forwards through the tunnel to the
//! server side, which dials the backend. For tcpws that is the
//! cli-listen direction (the `down-*` tunnels: client 1 listens, the
//! server connects). Each round runs, in order, over raw loopback, the
//! floor, tcpws ws, each peer ws, tcpws wss, each peer wss (the ws-only
//! cases skip the wss routes):
//! * one-stream bulk, with the CPU seconds per GiB of both tunnel
//!   processes (both relays for the floor); the sender announces its byte
//!   count and keeps its side open until the sink has counted them all,
//!   because wstunnel drops a connection at its first half-close;
//! * bulk over the smallest `--streams` count (8 by default);
//! * connection setups a second and 500-byte ping-pong round trips, ws.
//!
//! After the rounds the peak resident memory of every process is read,
//! then tcpws's memory case (idle streams, a fresh ws pair) runs alone.
//! The median of the rounds is reported.

pub mod floor;
pub mod peer;
pub mod route;
pub mod table;
pub mod wstunnel;

use std::path::Path;
use std::thread;
use std::time::Instant;

use serde_json::json;

use crate::backends::{Backend, Kind};
use crate::cases::Ending;
use crate::certs::{self, CertFiles};
use crate::error::BenchError;
use crate::figures::Samples;
use crate::options::{self, Options, Transport};
use crate::processes::{Deployment, Direction, Proc, Scratch, Targets};
use crate::report::{Report, Unit};
use crate::{bench, cases, limits, machine, memory, stats};

use peer::{Peer, PeerKind};
use route::{Entry, Route, Via};
use table::Table;

/// Runs the comparison the options ask for, with the `tcpws` binary at
/// `tcpws`; progress is printed on stderr as figures come in.
pub fn run(opts: &Options, tcpws: &Path) -> Result<Report, BenchError> {
    let started = Instant::now();
    let nofile = limits::raise_nofile(opts.descriptors_needed())?;
    let cpus = thread::available_parallelism().map_or(1, |n| n.get());
    let machine_start = machine::Snapshot::take();
    let streams = streams(opts);
    let names: Vec<String> = opts.peers.iter().map(|p| p.kind.name().into()).collect();
    eprintln!(
        "tcpws bench: tcpws against {} in {} alternating round(s): bulk {} MiB over 1 and \
         {streams} streams, {} round trips, {} setups; {cpus} CPUs, open-file limit {nofile}",
        names.join(", "),
        opts.runs,
        opts.size >> 20,
        opts.round_trips,
        opts.setups,
    );
    let scratch = Scratch::new()?;
    let certs = certs::write(&scratch.path.join("certs"))?;
    let (sink, echo, once) = (
        Backend::start(Kind::Counted)?,
        Backend::start(Kind::Echo)?,
        Backend::start(Kind::Once)?,
    );
    let targets = Targets {
        sink: sink.port,
        echo: echo.port,
        once: once.port,
        hold: None,
    };
    let mut routes = start_routes(opts, tcpws, &scratch.path, targets, &certs)?;
    let mut samples = Samples::default();
    for round in 1..=opts.runs {
        eprintln!("round {round} of {}", opts.runs);
        one_round(opts, streams, &mut routes, &mut samples)?;
    }
    for r in &routes {
        for (side, pid) in Route::SIDES.iter().zip(r.pids()) {
            let peak = memory::peak_rss_bytes(pid)
                .map_err(BenchError::io(format!("read the memory of process {pid}")))?;
            samples.add(&format!("{}.{side}", r.key("rss_peak")), peak as f64);
        }
    }
    let mut notes: Vec<String> = routes.into_iter().flat_map(Route::stop).collect();
    let mut rows = Vec::new();
    if opts.cases.memory {
        eprintln!("tcpws alone: memory with idle streams");
        let (memory_rows, memory_notes) = bench::memory_rows(opts, &scratch, tcpws)?;
        rows = memory_rows;
        notes.extend(memory_notes);
    }
    notes.extend(bench::cpu_note(opts.size));
    drop(scratch);
    let other_cpus = machine::Snapshot::take()
        .zip(machine_start)
        .and_then(|(end, start)| end.other_cpus_since(&start));
    let peers: Vec<_> = opts
        .peers
        .iter()
        .map(|p| json!({"name": p.kind.name(), "path": p.path.display().to_string()}))
        .collect();
    Ok(Report {
        options: opts.json(json!({"streams": streams, "peers": peers})),
        cpus,
        other_cpus,
        wall_secs: started.elapsed().as_secs_f64(),
        rows,
        notes,
        hostile: None,
        compared: Some(Table::new(names, streams, &samples)),
    })
}

/// The multi-stream count compared: the smallest asked for.
fn streams(opts: &Options) -> usize {
    opts.streams.first().copied().unwrap_or(8)
}

/// Raw loopback, the floor, then tcpws and each peer over ws and wss.
fn start_routes(
    opts: &Options,
    tcpws: &Path,
    dir: &Path,
    targets: Targets,
    certs: &CertFiles,
) -> Result<Vec<Route>, BenchError> {
    let backends = Entry::of(targets);
    let raw = Route {
        via: Via::Raw,
        transport: Transport::Raw,
        name: "raw".into(),
        entry: backends,
        procs: Vec::new(),
    };
    eprintln!("starting the floor's two relays");
    let floor = floor::Floor::start(&dir.join("floor"), backends)?;
    let mut routes = vec![
        raw,
        Route {
            via: Via::Floor,
            transport: Transport::Raw,
            name: "floor".into(),
            entry: floor.entry,
            procs: floor.procs,
        },
    ];
    for t in [Transport::Ws, Transport::Wss] {
        eprintln!("starting a {t} tcpws server and client 1");
        routes.push(tcpws_route(
            tcpws,
            &dir.join(format!("tcpws-{t}")),
            t,
            targets,
            certs,
        )?);
        for p in &opts.peers {
            eprintln!("starting a {t} {} server and client", p.kind.name());
            let peer_dir = dir.join(format!("{}-{t}", p.kind.name()));
            let (entry, procs) = start_peer(p, &peer_dir, t, backends, certs)?;
            routes.push(Route {
                via: Via::Peer,
                transport: t,
                name: p.kind.name().into(),
                entry,
                procs,
            });
        }
    }
    Ok(routes)
}

/// A tcpws deployment, entered by its cli-listen ports: client 1 listens
/// and the server dials the backends, as wstunnel's `-L`.
fn tcpws_route(
    tcpws: &Path,
    dir: &Path,
    transport: Transport,
    targets: Targets,
    certs: &CertFiles,
) -> Result<Route, BenchError> {
    let Deployment {
        ports,
        server,
        client,
        ..
    } = Deployment::start(tcpws, dir, transport, targets, Some(certs))?;
    let to = |k| ports.to(k, Direction::ClientListen);
    Ok(Route {
        via: Via::Tcpws,
        transport,
        name: "tcpws".into(),
        entry: Entry {
            sink: to(Kind::Counted),
            echo: to(Kind::Echo),
            once: to(Kind::Once),
        },
        procs: vec![client, server],
    })
}

fn start_peer(
    peer: &Peer,
    dir: &Path,
    transport: Transport,
    backends: Entry,
    certs: &CertFiles,
) -> Result<(Entry, Vec<Proc>), BenchError> {
    match peer.kind {
        PeerKind::Wstunnel => wstunnel::start(&peer.path, dir, transport, backends, Some(certs)),
    }
}

/// Every case once over every route that carries it, route by route.
fn one_round(
    opts: &Options,
    streams: usize,
    routes: &mut [Route],
    samples: &mut Samples,
) -> Result<(), BenchError> {
    for n in [1, streams] {
        for r in routes.iter_mut() {
            bulk(r, opts.size, n, samples)?;
        }
    }
    for r in routes.iter_mut().filter(|r| r.carries(Transport::Ws)) {
        setup(r, opts.setups, samples)?;
    }
    for r in routes.iter_mut().filter(|r| r.carries(Transport::Ws)) {
        latency(r, opts.round_trips, samples)?;
    }
    Ok(())
}

fn bulk(r: &mut Route, size: u64, n: usize, samples: &mut Samples) -> Result<(), BenchError> {
    let streams = if n == 1 { "stream" } else { "streams" };
    let what = format!("{n} {streams}, {}", r.label());
    let pids = r.pids();
    let before = cpu_secs(&pids)?;
    let transfer =
        cases::bulk(&what, r.entry.sink, size, n, Ending::Announced).map_err(|e| r.explain(e))?;
    let rate = transfer.bytes_per_sec();
    samples.add(&r.key(&format!("bulk_{n}")), rate);
    let mut line = format!("  {what}: {}", Unit::BytesPerSec.format(rate));
    if n == 1 && !pids.is_empty() {
        let gib = transfer.bytes as f64 / f64::from(1u32 << 30);
        let per_gib = (cpu_secs(&pids)? - before) / gib;
        samples.add(&r.key("cpu_per_gib"), per_gib);
        line.push_str(&format!(", both ends {}", Unit::SecsPerGib.format(per_gib)));
    }
    eprintln!("{line}");
    r.check_running()
}

fn setup(r: &mut Route, count: usize, samples: &mut Samples) -> Result<(), BenchError> {
    let what = format!("setups, {}", r.label());
    let rate = cases::setup(&what, r.entry.once, count).map_err(|e| r.explain(e))?;
    samples.add(&r.key("setup"), rate);
    eprintln!("  {what}: {}", Unit::PerSec.format(rate));
    r.check_running()
}

fn latency(r: &mut Route, round_trips: usize, samples: &mut Samples) -> Result<(), BenchError> {
    let what = format!("ping-pong, {}", r.label());
    let rtts = cases::ping_pong(&what, r.entry.echo, round_trips, options::MESSAGE_BYTES)
        .map_err(|e| r.explain(e))?;
    let p50 = stats::percentile(&rtts, 50.0).unwrap_or(0.0);
    let p99 = stats::percentile(&rtts, 99.0).unwrap_or(0.0);
    samples.add(&r.key("rtt_p50"), p50);
    samples.add(&r.key("rtt_p99"), p99);
    eprintln!(
        "  {what}: p50 {}, p99 {}",
        Unit::Secs.format(p50),
        Unit::Secs.format(p99)
    );
    r.check_running()
}

/// The CPU seconds `pids` have used so far, together.
fn cpu_secs(pids: &[u32]) -> Result<f64, BenchError> {
    pids.iter().try_fold(0.0, |sum, &pid| {
        memory::cpu_secs(pid)
            .map(|s| sum + s)
            .map_err(BenchError::io(format!("read the CPU time of {pid}")))
    })
}
