//! Random seeds through the whole simulated system (fault phase, liveness
//! phase, probe), and the determinism check.
//!
//! * `cargo test -p tcpws-tests --release sim` runs seeds `0..TCPWS_SIM_SEEDS`
//!   (default 200);
//! * `TCPWS_SIM_SEED=S cargo test -p tcpws-tests --release sim -- --nocapture`
//!   replays seed S alone and prints its whole trace.

use std::panic::{self, AssertUnwindSafe};
use std::time::Instant;

use tcpws_tests::sim::random::run_seed;

fn env_u64(name: &str) -> Option<u64> {
    let v = std::env::var(name).ok()?;
    match v.trim().parse() {
        Ok(n) => Some(n),
        Err(_) => panic!("{name}={v:?} is not a number"),
    }
}

fn panic_text(e: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = e.downcast_ref::<String>() {
        s.clone()
    } else if let Some(s) = e.downcast_ref::<&str>() {
        (*s).to_owned()
    } else {
        "non-string panic".to_owned()
    }
}

#[test]
fn sim_random_seeds() {
    if let Some(seed) = env_u64("TCPWS_SIM_SEED") {
        let out = run_seed(seed, true);
        eprintln!(
            "seed {seed}: ok, {:?} virtual, {:?}",
            out.virtual_time, out.counters
        );
        return;
    }
    let seeds = env_u64("TCPWS_SIM_SEEDS").unwrap_or(200);
    let started = Instant::now();
    let mut failures: Vec<(u64, String)> = Vec::new();
    let mut virtual_total = std::time::Duration::ZERO;
    let mut intrusions = 0;
    for seed in 0..seeds {
        match panic::catch_unwind(AssertUnwindSafe(|| run_seed(seed, false))) {
            Ok(out) => {
                virtual_total += out.virtual_time;
                intrusions += out.counters.intrusions;
            }
            Err(e) => failures.push((seed, panic_text(&*e))),
        }
    }
    eprintln!(
        "{seeds} seeds, {} failed, {:?} of virtual time, {intrusions} intrusions refused, in {:?}",
        failures.len(),
        virtual_total,
        started.elapsed()
    );
    if let Some((_, first)) = failures.first() {
        let list: Vec<String> = failures
            .iter()
            .map(|(s, m)| format!("  seed={s}: {}", m.lines().next().unwrap_or("")))
            .collect();
        panic!(
            "{} of {seeds} seeds failed:\n{}\n\nfirst failure in full:\n{first}",
            failures.len(),
            list.join("\n")
        );
    }
}

#[test]
fn sim_same_seed_same_trace() {
    for seed in [3, 17] {
        let a = run_seed(seed, false);
        let b = run_seed(seed, false);
        assert_eq!(a, b, "seed={seed}: two runs of one seed differ");
        assert!(a.trace_len > 100, "seed={seed}: suspiciously short trace");
    }
}
