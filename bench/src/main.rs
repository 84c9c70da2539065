//! `tcpws-bench`: the tunnel measured against raw loopback TCP on the same
//! machine in the same run, so the ratios hold on a noisy box.
//!
//! It starts a real server and client 1 as `tcpws run` processes (one pair
//! over ws://, one over wss://, and a fresh ws:// pair per memory run),
//! runs sink and echo backends as threads of its own (and the hold backend
//! of the idle streams as a process of its own), and measures, each case
//! `--runs` times, the median reported:
//! * one-stream bulk throughput (raw loopback, then through a server-listen
//!   and a client-listen tunnel over each transport), timed until the far
//!   end has counted every byte, with the CPU seconds per GiB of each
//!   tunnel process;
//! * aggregate throughput of 8 and 100 concurrent streams;
//! * 500-byte ping-pong round trips with `TCP_NODELAY`: p50, p99, and the
//!   p50 the tunnel adds;
//! * connections set up per second (connect, one byte echoed, closed by
//!   the far end);
//! * resident memory of each tunnel process idle and with 10,000 idle
//!   streams open end to end, and at its peak over the other cases;
//! * with `--cases hostile` (not part of `all`), once, on a fresh ws://
//!   pair: a healthy stream's ping-pong times idle and during each of four
//!   attacks on the server (silent connections, links without a Hello,
//!   out-of-order pieces, an Open flood), with the server's memory and how
//!   soon it closed every hostile connection.
//!
//! With `--peer wstunnel=PATH` it measures peers instead, side by side
//! with tcpws, the bare-relay floor and raw loopback, in alternating
//! rounds (see [`compare`]), then tcpws's memory case alone.
//!
//! Progress goes to stderr; the table (or `--json`) to stdout. Every child
//! process is stopped and the scratch directory removed on every way out.

mod backends;
mod bench;
mod cases;
mod certs;
mod compare;
mod error;
mod figures;
mod hostile;
mod launch;
mod limits;
mod machine;
mod memory;
mod options;
mod processes;
mod report;
mod server_metrics;
mod stats;
mod websocket;

use std::path::PathBuf;
use std::process::ExitCode;

use tcpws::args::EXIT_CONFIG;

use options::{BenchArgs, Options};

/// The table (or JSON) on stdout, progress on stderr; exit code 2 for bad
/// options, 1 if a case could not be measured. Targets missed are
/// reported, not failed: this is a benchmark, not a test.
fn main() -> ExitCode {
    let args: BenchArgs = match tcpws::args::parse("tcpws-bench") {
        Ok(args) => args,
        Err(code) => return code,
    };
    let helper = if args.serve_hold {
        Some(backends::serve_hold())
    } else {
        args.serve_relay.as_deref().map(compare::floor::serve)
    };
    if let Some(outcome) = helper {
        return match outcome {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        };
    }
    let opts = match Options::from_args(&args) {
        Ok(opts) => opts,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    let run = |tcpws: PathBuf| {
        if opts.peers.is_empty() {
            bench::run(&opts, &tcpws)
        } else {
            compare::run(&opts, &tcpws)
        }
    };
    let report = match launch::tcpws_binary().and_then(run) {
        Ok(report) => report,
        Err(e) => {
            eprintln!("bench failed: {e}");
            return ExitCode::FAILURE;
        }
    };
    for note in &report.notes {
        eprintln!("note: {note}");
    }
    if opts.json {
        println!("{:#}", report.json());
    } else {
        let (passed, missed) = report.score();
        println!(
            "{}",
            report::heading(
                &report.options["runs"],
                report.cpus,
                report.wall_secs,
                report.other_cpus
            )
        );
        println!();
        print!("{}", report.table());
        println!();
        println!("targets: {passed} met, {missed} missed");
    }
    ExitCode::SUCCESS
}
