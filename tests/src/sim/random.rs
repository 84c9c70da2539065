//! The random run behind `sim_random_seeds`: a seeded configuration, a
//! fault phase (apps, cuts, partitions, crashes, planned stops, restarts,
//! latency changes, intruders without the shared secret), a
//! liveness phase (everything healed, no new faults) that must converge,
//! and a probe that checks fresh connections still work end to end.

use std::time::Duration;

use tcpws_protocol::ClientId;

use super::app::{AppId, AppPlan, BackendMode, Status};
use super::config::{Dial, PathConfig, SimConfig};
use super::invariants;
use super::rng::{splitmix64, Rng};
use super::world::{Counters, Fault, Intrusion};
use super::{Node, World};

/// What one seed's run produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub seed: u64,
    pub trace_hash: u64,
    pub trace_len: u64,
    pub virtual_time: Duration,
    pub counters: Counters,
}

/// A random configuration for `seed` (drawn from the seed, apart from the
/// world's own RNG stream, so the config does not shift the run's choices).
pub fn random_config(seed: u64) -> SimConfig {
    let mut r = Rng::new(splitmix64(seed ^ 0x5EED_C0F1_6000_0000));
    let mut cfg = SimConfig::default();
    let mut path = || {
        let lo = r.duration(Duration::from_micros(100), Duration::from_millis(5));
        let hi = lo + r.duration(Duration::ZERO, Duration::from_millis(30));
        let bandwidth = if r.chance(0.3) {
            Some(r.range(1_000_000, 20_000_000))
        } else {
            None
        };
        PathConfig {
            latency: (lo, hi),
            bandwidth,
        }
    };
    cfg.paths = [path(), path()];
    cfg.shared_secret = r.chance(0.5);
    cfg.certificate_ids = r.chance(0.3);
    cfg.stream_window = *r.pick(&[16 * 1024, 32 * 1024, 64 * 1024]);
    cfg.max_message = *r.pick(&[4 * 1024, 16 * 1024, 64 * 1024]);
    cfg.tcp_buffer = r.range_usize(64 * 1024, 256 * 1024);
    cfg.link_buffer = r.range_usize(64 * 1024, 256 * 1024);
    cfg.read_chunk = *r.pick(&[4 * 1024, 16 * 1024, 64 * 1024]);
    for node in Node::ALL {
        let connects = if node == Node::Server {
            cfg.server_connects.clone()
        } else {
            cfg.client_connects.clone()
        };
        for t in connects {
            let dial = match r.weighted(&[90, 5, 5]) {
                0 => Dial::Accept,
                1 => Dial::Refuse,
                _ => Dial::Hang(r.duration(Duration::from_millis(500), Duration::from_secs(8))),
            };
            if dial != Dial::Accept {
                cfg.backends.push((node, t, dial));
            }
        }
    }
    cfg
}

/// A random app plan.
pub fn random_plan(r: &mut Rng) -> AppPlan {
    let bytes = match r.weighted(&[8, 40, 37, 15]) {
        0 => 0,
        1 => r.range(1, 4 * 1024),
        2 => r.range(4 * 1024, 64 * 1024),
        _ => r.range(64 * 1024, 384 * 1024),
    };
    // At most ~100 writes 0..50 ms apart, so a plan ends within seconds.
    let writes = r.range(1, 100);
    let max_chunk = (2 * bytes / writes).clamp(1, 64 * 1024);
    let backend = match r.weighted(&[70, 20, 10]) {
        0 => BackendMode::Echo,
        1 => BackendMode::Stream(r.range(0, 256 * 1024)),
        _ => BackendMode::Sink,
    };
    let slow = |r: &mut Rng| {
        if r.chance(0.1) {
            Some(r.range_usize(256, 8 * 1024))
        } else {
            None
        }
    };
    AppPlan {
        bytes,
        chunk: (1, max_chunk),
        interval: (Duration::ZERO, Duration::from_millis(r.range(0, 50))),
        finish: true,
        reset_after: if r.chance(0.05) {
            Some(r.duration(Duration::ZERO, Duration::from_secs(3)))
        } else {
            None
        },
        read_rate: slow(r),
        backend,
        backend_read_rate: slow(r),
    }
}

fn random_client(r: &mut Rng) -> ClientId {
    if r.chance(0.5) {
        ClientId::One
    } else {
        ClientId::Two
    }
}

/// Runs seed `seed` through all phases; panics (with the seed) on any
/// violated invariant.
pub fn run_seed(seed: u64, echo_trace: bool) -> Outcome {
    let mut cfg = random_config(seed);
    cfg.echo_trace = echo_trace;
    let mut w = World::new(seed, cfg);

    // Fault phase.
    let fault_phase = w
        .rng()
        .duration(Duration::from_secs(10), Duration::from_secs(25));
    while w.now() < fault_phase {
        let pause = w
            .rng()
            .duration(Duration::from_millis(10), Duration::from_millis(500));
        w.run_for(pause);
        let op = w.rng().weighted(&[70, 8, 3, 2, 2, 2, 4]);
        match op {
            0 => {
                let node = *w
                    .rng()
                    .pick(&[Node::Server, Node::Server, Node::C1, Node::C2]);
                let tunnels = w.config().listens(node).to_vec();
                let tunnel = w.rng().pick(&tunnels).clone();
                let plan = random_plan(w.rng());
                w.app_connect(node, &tunnel, plan);
            }
            1 => {
                let c = random_client(w.rng());
                w.apply(Fault::Cut(c));
            }
            2 => {
                let c = random_client(w.rng());
                let heal = w
                    .rng()
                    .duration(Duration::from_millis(200), Duration::from_secs(9));
                w.apply(Fault::Partition(c));
                w.schedule(heal, Fault::Heal(c));
            }
            3 => {
                // A crash, or a planned stop (the process exits within the
                // shutdown bound), then a start.
                let node = *w.rng().pick(&Node::ALL);
                let down = w.rng().duration(Duration::ZERO, Duration::from_secs(4));
                if w.rng().chance(0.5) {
                    w.apply(Fault::Crash(node));
                    w.schedule(down, Fault::Start(node));
                } else {
                    w.apply(Fault::Stop(node));
                    w.schedule(down + Duration::from_secs(3), Fault::Start(node));
                }
            }
            4 => {
                let c = random_client(w.rng());
                let lo = w
                    .rng()
                    .duration(Duration::from_micros(100), Duration::from_millis(20));
                let hi = lo + w.rng().duration(Duration::ZERO, Duration::from_millis(200));
                w.set_latency(c, lo, hi);
            }
            6 => {
                // A stranger without the secret or the client's certificate
                // at a random moment (a no-op for the seeds with neither).
                let c = random_client(w.rng());
                let how = match w.rng().range(0, 4) {
                    0 => Intrusion::WrongProof(c),
                    1 => Intrusion::Replay(c),
                    2 => Intrusion::StolenToken(c),
                    3 => Intrusion::TwoHellos(c),
                    _ => Intrusion::SkipProof(c),
                };
                w.apply(Fault::Intrude(how));
            }
            _ => {
                // A burst of apps on the standby's listen socket: first data
                // there switches the active client.
                let standby = w
                    .active_of(Node::Server)
                    .map_or(ClientId::Two, ClientId::other);
                let node = Node::client(standby);
                let tunnels = w.config().listens(node).to_vec();
                let tunnel = w.rng().pick(&tunnels).clone();
                let plan = random_plan(w.rng());
                w.app_connect(node, &tunnel, plan);
            }
        }
    }

    // Liveness phase: no new faults, everything healed.
    let cfg = random_config(seed);
    for c in [ClientId::One, ClientId::Two] {
        w.set_latency(c, cfg.paths[0].latency.0, cfg.paths[0].latency.1);
    }
    w.heal_all();
    if !w.run_until(Duration::from_secs(60), invariants::converged) {
        let problems = invariants::convergence_problems(&w);
        w.fail("convergence (invariant 4)", problems.join("\n  "));
    }

    probe(&mut w);

    Outcome {
        seed,
        trace_hash: w.trace_hash(),
        trace_len: w.trace_len(),
        virtual_time: w.now(),
        counters: w.counters().clone(),
    }
}

/// After convergence, fresh connections through every server listen tunnel
/// and every listen tunnel of the active client must carry all their bytes.
pub fn probe(w: &mut World) {
    let Some(active) = w.active_of(Node::Server) else {
        w.fail(
            "convergence (invariant 4)",
            "no active client after the liveness phase",
        );
    };
    let mut probes: Vec<AppId> = Vec::new();
    for node in [Node::Server, Node::client(active)] {
        let tunnels = w.config().listens(node).to_vec();
        for t in tunnels {
            let bytes = w.rng().range(1, 48 * 1024);
            probes.push(w.app_connect(node, &t, AppPlan::bulk(bytes)));
        }
    }
    let all_final = |w: &World| probes.iter().all(|&p| w.app(p).status.is_final());
    if !w.run_until(Duration::from_secs(30), all_final) {
        w.fail(
            "convergence (invariant 4)",
            "probe connections did not finish within 30 s",
        );
    }
    for &p in &probes {
        let a = w.app(p);
        let node = a.node();
        let tunnel = match &a.role {
            super::AppRole::Client { tunnel, .. } => tunnel.clone(),
            super::AppRole::Backend { tunnel, .. } => tunnel.clone(),
        };
        let dial = w.config().dial(
            if node == Node::Server {
                Node::client(active)
            } else {
                Node::Server
            },
            &tunnel,
        );
        if dial != Dial::Accept {
            // The backend refuses or hangs: the probe must not end cleanly
            // with bytes nobody received.
            continue;
        }
        let ok = a.status == Status::Done
            && w.peer(p)
                .is_some_and(|b| b.received == a.sent && a.received == b.sent);
        if !ok {
            w.fail(
                "convergence (invariant 4)",
                format_args!(
                    "probe {p} through {node}/{tunnel} ended {:?}: sent {} received {}, peer {:?}",
                    a.status,
                    a.sent,
                    a.received,
                    w.peer(p).map(|b| (b.id, b.sent, b.received))
                ),
            );
        }
    }
}
