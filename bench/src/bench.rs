//! One bench run: the backends and tunnel deployments it keeps, each case
//! run `--runs` times over every path asked for, and the samples turned
//! into the [`Report`].

use std::collections::BTreeSet;
use std::thread;
use std::time::{Duration, Instant};

use std::path::Path;

use serde_json::json;

use crate::backends::{Backend, HoldProcess, Kind};
use crate::cases::Ending;
use crate::error::BenchError;
use crate::figures::{self, Samples};
use crate::options::{self, Options, Transport};
use crate::processes::{Deployment, Direction, Scratch, Targets};
use crate::report::{Report, Row, Unit};
use crate::{cases, certs, hostile, limits, machine, memory, server_metrics, stats};

/// How long the tunnel processes get to settle before their memory is read.
const SETTLE: Duration = Duration::from_millis(300);

/// Runs the bench the options ask for with the `tcpws` binary at `tcpws`
/// and returns its report; progress is printed on stderr as figures come in.
pub fn run(opts: &Options, tcpws: &Path) -> Result<Report, BenchError> {
    let started = Instant::now();
    let nofile = limits::raise_nofile(opts.descriptors_needed())?;
    let cpus = thread::available_parallelism().map_or(1, |n| n.get());
    let machine_start = machine::Snapshot::take();
    eprintln!(
        "tcpws bench: {} run(s), bulk {} MiB, streams {:?}, {} idle streams, {} round trips, \
         {} setups, cases {}; {cpus} CPUs, open-file limit {nofile}",
        opts.runs,
        opts.size >> 20,
        opts.streams,
        opts.idle_streams,
        opts.round_trips,
        opts.setups,
        opts.cases.describe(),
    );

    let scratch = Scratch::new()?;
    let mut bench = Bench::start(opts, &scratch, tcpws)?;
    for run in 1..=opts.runs {
        eprintln!("run {run} of {}", opts.runs);
        bench.one_run(run)?;
    }
    let hostile = if opts.cases.hostile {
        Some(bench.hostile()?)
    } else {
        None
    };
    let (samples, mut notes) = bench.finish()?;
    drop(scratch);
    let other_cpus = machine::Snapshot::take()
        .zip(machine_start)
        .and_then(|(end, start)| end.other_cpus_since(&start));
    let cpu_rows = figures::one_stream_transports(opts)
        .iter()
        .any(|&t| t != Transport::Raw);
    if cpu_rows {
        notes.extend(cpu_note(opts.size));
    }
    let mut rows = figures::rows(opts, &samples);
    if let Some(h) = &hostile {
        rows.extend(hostile::rows(h));
        notes.extend(h.notes());
    }
    Ok(Report {
        options: opts.json(json!({
            "streams": opts.streams,
            "cases": opts.cases.describe(),
            "hostile_conns": opts.hostile.conns,
            "hostile_links": opts.hostile.links,
            "hostile_pieces": opts.hostile.pieces,
            "hostile_floods": opts.hostile.floods,
        })),
        cpus,
        other_cpus,
        wall_secs: started.elapsed().as_secs_f64(),
        rows,
        notes,
        hostile: hostile.as_ref().map(hostile::json),
        compared: None,
    })
}

/// Why the CPU per GiB figures of bulk cases of `size` bytes are coarse,
/// if they are.
pub fn cpu_note(size: u64) -> Option<String> {
    (size < 256 << 20).then(|| {
        format!(
            "CPU time counts in clock ticks (10 ms): over {} MiB the CPU per GiB figures are \
             coarse; use --size 256M or more for them",
            size >> 20
        )
    })
}

/// The memory case alone, `opts.runs` times (a fresh ws:// pair each,
/// its directories under `scratch`): its rows and notes.
pub fn memory_rows(
    opts: &Options,
    scratch: &Scratch,
    tcpws: &Path,
) -> Result<(Vec<Row>, Vec<String>), BenchError> {
    let opts = Options {
        cases: options::Cases::parse("memory")?,
        ..opts.clone()
    };
    let mut bench = Bench::start(&opts, scratch, tcpws)?;
    for run in 1..=opts.runs {
        bench.memory(run)?;
    }
    let (samples, notes) = bench.finish()?;
    Ok((figures::rows(&opts, &samples), notes))
}

/// The state of a bench between runs: the backends and the tunnel
/// deployments it keeps, and what has been measured.
struct Bench<'a> {
    opts: &'a Options,
    scratch: &'a Scratch,
    tcpws: &'a Path,
    sink: Backend,
    echo: Backend,
    once: Backend,
    deployments: Vec<Deployment>,
    samples: Samples,
    notes: Vec<String>,
}

impl<'a> Bench<'a> {
    fn start(
        opts: &'a Options,
        scratch: &'a Scratch,
        tcpws: &'a Path,
    ) -> Result<Bench<'a>, BenchError> {
        let sink = Backend::start(Kind::Sink)?;
        let echo = Backend::start(Kind::Echo)?;
        let once = Backend::start(Kind::Once)?;
        let used: BTreeSet<Transport> = Transport::ALL
            .into_iter()
            .filter(|&t| {
                t != Transport::Raw
                    && (figures::one_stream_transports(opts).contains(&t) || opts.cases.uses(t))
            })
            .collect();
        let certs = if used.contains(&Transport::Wss) {
            Some(certs::write(&scratch.path.join("certs"))?)
        } else {
            None
        };
        let targets = Targets {
            sink: sink.port,
            echo: echo.port,
            once: once.port,
            hold: None,
        };
        let mut deployments = Vec::new();
        for t in used {
            eprintln!("starting a {t} server and client 1");
            let dir = scratch.path.join(t.name());
            deployments.push(Deployment::start(tcpws, &dir, t, targets, certs.as_ref())?);
        }
        Ok(Bench {
            opts,
            scratch,
            tcpws,
            sink,
            echo,
            once,
            deployments,
            samples: Samples::default(),
            notes: Vec::new(),
        })
    }

    /// The paths a case runs over among `transports`: raw loopback and
    /// both directions of each deployment (by its index).
    fn paths(&self, transports: &[Transport]) -> Vec<(Transport, Direction, Option<usize>)> {
        let mut paths = Vec::new();
        if transports.contains(&Transport::Raw) {
            paths.push((Transport::Raw, Direction::ServerListen, None));
        }
        for (i, d) in self.deployments.iter().enumerate() {
            if transports.contains(&d.transport) {
                for dir in Direction::BOTH {
                    paths.push((d.transport, dir, Some(i)));
                }
            }
        }
        paths
    }

    fn one_run(&mut self, run: usize) -> Result<(), BenchError> {
        let opts = self.opts;
        let over: Vec<Transport> = opts.cases.over.iter().copied().collect();
        let one = figures::one_stream_transports(opts);
        for (t, d, i) in self.paths(&one) {
            self.bulk(t, d, i, 1)?;
        }
        if opts.cases.streams {
            for &n in &opts.streams {
                for (t, d, i) in self.paths(&over) {
                    self.bulk(t, d, i, n)?;
                }
            }
        }
        if opts.cases.latency {
            for (t, d, i) in self.paths(&over) {
                self.latency(t, d, i)?;
            }
        }
        if opts.cases.setup {
            for (t, d, i) in self.paths(&over) {
                self.setup(t, d, i)?;
            }
        }
        if opts.cases.memory {
            self.memory(run)?;
        }
        Ok(())
    }

    /// The port a case connects to: the backend itself for raw loopback,
    /// else the tunnel's listen port that leads to it.
    fn port(&mut self, kind: Kind, i: Option<usize>, d: Direction) -> Result<u16, BenchError> {
        let Some(dep) = i.and_then(|i| self.deployments.get_mut(i)) else {
            return Ok(match kind {
                Kind::Sink | Kind::Counted => self.sink.port,
                Kind::Once => self.once.port,
                Kind::Echo | Kind::Hold => self.echo.port,
            });
        };
        dep.check_running()?;
        Ok(dep.ports.to(kind, d))
    }

    fn bulk(
        &mut self,
        t: Transport,
        d: Direction,
        i: Option<usize>,
        n: usize,
    ) -> Result<(), BenchError> {
        let figure = format!("bulk_{n}");
        let id = figures::id(&figure, t, d);
        let streams = if n == 1 { "stream" } else { "streams" };
        let what = format!("{n} {streams}, {}", figures::path_label(t, d));
        let port = self.port(Kind::Sink, i, d)?;
        let pids = i
            .and_then(|i| self.deployments.get(i))
            .map(|dep| (dep.server.pid(), dep.client.pid()));
        let cpu_before = pids.map(cpu_pair).transpose()?;
        let own_before = own_cpu()?;
        let transfer = cases::bulk(&what, port, self.opts.size, n, Ending::HalfClose)
            .map_err(|e| self.explain(i, e))?;
        let own_used = own_cpu()? - own_before;
        let gib = transfer.bytes as f64 / f64::from(1u32 << 30);
        let rate = transfer.bytes_per_sec();
        self.samples.add(&id, rate);
        let mut line = format!("  {what}: {}", Unit::BytesPerSec.format(rate));
        if (t, n) == (Transport::Raw, 1) {
            // Both ends of the connection are threads of the bench.
            let per_gib = own_used / gib;
            self.samples.add("cpu_per_gib.raw", per_gib);
            line.push_str(&format!(", both ends {}", Unit::SecsPerGib.format(per_gib)));
        }
        if let (Some(pids), Some(before), 1) = (pids, cpu_before, n) {
            let after = cpu_pair(pids)?;
            for (p, used) in [
                ("server", after.0 - before.0),
                ("client", after.1 - before.1),
            ] {
                let per_gib = used / gib;
                self.samples.add(
                    &format!("{}.{p}", figures::id("cpu_per_gib", t, d)),
                    per_gib,
                );
                line.push_str(&format!(", {p} {}", Unit::SecsPerGib.format(per_gib)));
            }
        }
        eprintln!("{line}");
        self.check_after(i)
    }

    fn latency(&mut self, t: Transport, d: Direction, i: Option<usize>) -> Result<(), BenchError> {
        let what = format!("ping-pong, {}", figures::path_label(t, d));
        let port = self.port(Kind::Echo, i, d)?;
        let rtts = cases::ping_pong(&what, port, self.opts.round_trips, options::MESSAGE_BYTES)
            .map_err(|e| self.explain(i, e))?;
        let p50 = stats::percentile(&rtts, 50.0).unwrap_or(0.0);
        let p99 = stats::percentile(&rtts, 99.0).unwrap_or(0.0);
        self.samples.add(&figures::id("rtt_p50", t, d), p50);
        self.samples.add(&figures::id("rtt_p99", t, d), p99);
        eprintln!(
            "  {what}: p50 {}, p99 {}",
            Unit::Secs.format(p50),
            Unit::Secs.format(p99)
        );
        self.check_after(i)
    }

    fn setup(&mut self, t: Transport, d: Direction, i: Option<usize>) -> Result<(), BenchError> {
        let what = format!("setups, {}", figures::path_label(t, d));
        let port = self.port(Kind::Once, i, d)?;
        let rate = cases::setup(&what, port, self.opts.setups).map_err(|e| self.explain(i, e))?;
        self.samples.add(&figures::id("setup", t, d), rate);
        eprintln!("  {what}: {}", Unit::PerSec.format(rate));
        self.check_after(i)
    }

    /// A fresh ws:// pair: its memory idle, then with the idle streams
    /// open through its `up-hold` tunnel.
    fn memory(&mut self, run: usize) -> Result<(), BenchError> {
        let n = self.opts.idle_streams;
        let hold = HoldProcess::start()?;
        let targets = Targets {
            sink: self.sink.port,
            echo: self.echo.port,
            once: self.once.port,
            hold: Some(hold.port),
        };
        let dir = self.scratch.path.join(format!("memory-{run}"));
        let mut dep = Deployment::start(self.tcpws, &dir, Transport::Ws, targets, None)?;
        thread::sleep(SETTLE);
        let pids = [("server", dep.server.pid()), ("client", dep.client.pid())];
        let mut idle = [0.0; 2];
        for (slot, (p, pid)) in idle.iter_mut().zip(pids) {
            *slot = rss(pid)?;
            self.samples.add(&format!("rss_idle.{p}"), *slot);
        }
        let start = Instant::now();
        let what = format!("memory, {n} idle streams over ws srv-listen");
        let port = dep.ports.to(Kind::Hold, Direction::ServerListen);
        let open = cases::open_idle(&what, port, n).map_err(|e| dep.explain(e))?;
        let opened_in = start.elapsed();
        thread::sleep(SETTLE);
        dep.check_running()?;
        let mut line = format!("  {what}: opened in {:.2} s; RSS", opened_in.as_secs_f64());
        for ((p, pid), before) in pids.into_iter().zip(idle) {
            let with = rss(pid)?;
            self.samples.add(&format!("rss_streams.{p}"), with);
            self.samples
                .add(&format!("rss_per_stream.{p}"), (with - before) / n as f64);
            line.push_str(&format!(
                " {p} {} -> {}",
                Unit::Bytes.format(before),
                Unit::Bytes.format(with)
            ));
        }
        eprintln!("{line}");
        match server_metrics::get(dep.ports.ws, "tcpws_streams") {
            Some(v) if v == n as f64 => {}
            other => self.notes.push(format!(
                "memory run {run}: the server's /metrics says tcpws_streams {other:?} \
                 with {n} idle streams open"
            )),
        }
        // The tunnel goes first, so that the TIME_WAIT of the idle streams
        // stays on its side (see backends.rs, once).
        self.notes.extend(dep.stop());
        drop(open);
        drop(hold);
        Ok(())
    }

    /// The hostile case, on a ws:// pair of its own.
    fn hostile(&mut self) -> Result<hostile::Outcome, BenchError> {
        let targets = Targets {
            sink: self.sink.port,
            echo: self.echo.port,
            once: self.once.port,
            hold: None,
        };
        let dir = self.scratch.path.join("hostile");
        hostile::run(self.opts, self.tcpws, &dir, targets)
    }

    /// Reads the peak memory of the tunnel processes, stops them and
    /// returns the samples and the notes, with what the processes logged.
    fn finish(mut self) -> Result<(Samples, Vec<String>), BenchError> {
        for d in &self.deployments {
            for (p, pid) in [("server", d.server.pid()), ("client", d.client.pid())] {
                let peak = memory::peak_rss_bytes(pid)
                    .map_err(BenchError::io(format!("read the memory of process {pid}")))?;
                let id = format!("rss_peak.{}.{p}", d.transport);
                self.samples.add(&id, peak as f64);
            }
        }
        for d in self.deployments {
            self.notes.extend(d.stop());
        }
        Ok((self.samples, self.notes))
    }

    /// `e` with what the deployment that carried the case says: its exit
    /// if a process has gone, else the end of both logs.
    fn explain(&mut self, i: Option<usize>, e: BenchError) -> BenchError {
        match i.and_then(|i| self.deployments.get_mut(i)) {
            Some(dep) => dep.explain(e),
            None => e,
        }
    }

    fn check_after(&mut self, i: Option<usize>) -> Result<(), BenchError> {
        match i.and_then(|i| self.deployments.get_mut(i)) {
            Some(dep) => dep.check_running(),
            None => Ok(()),
        }
    }
}

/// CPU seconds used so far by the bench process (all its threads).
fn own_cpu() -> Result<f64, BenchError> {
    memory::cpu_secs(std::process::id()).map_err(BenchError::io("read the bench's CPU time"))
}

fn cpu_pair((server, client): (u32, u32)) -> Result<(f64, f64), BenchError> {
    let read =
        |pid| memory::cpu_secs(pid).map_err(BenchError::io(format!("read the CPU time of {pid}")));
    Ok((read(server)?, read(client)?))
}

fn rss(pid: u32) -> Result<f64, BenchError> {
    memory::rss_bytes(pid)
        .map(|b| b as f64)
        .map_err(BenchError::io(format!("read the memory of process {pid}")))
}
