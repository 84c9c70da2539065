//! Property tests on a two-node world (server and client 1): any sequence of
//! app connections, cuts, partitions, restarts and pauses keeps every
//! invariant after every step, and the world converges once the faults
//! stop. Generated with a fixed quickcheck seed, so runs are repeatable;
//! a failure prints the shrunk operation list and the simulation seed.

use std::time::Duration;

use quickcheck::{Arbitrary, Gen, QuickCheck};
use tcpws_protocol::ClientId;
use tcpws_tests::sim::invariants::{converged, convergence_problems};
use tcpws_tests::sim::{AppPlan, BackendMode, Fault, Node, SimConfig, World};

#[derive(Debug, Clone)]
enum Op {
    /// An app through a server (`to_server`) or client listen tunnel.
    Connect {
        to_server: bool,
        second_tunnel: bool,
        kib: u16,
        backend: u8,
        reset: bool,
    },
    Cut,
    Partition {
        ms: u16,
    },
    Restart {
        server: bool,
        down_ms: u16,
    },
    Wait {
        ms: u16,
    },
}

impl Arbitrary for Op {
    fn arbitrary(g: &mut Gen) -> Op {
        match u8::arbitrary(g) % 10 {
            0..=4 => Op::Connect {
                to_server: bool::arbitrary(g),
                second_tunnel: bool::arbitrary(g),
                kib: u16::arbitrary(g) % 512,
                backend: u8::arbitrary(g) % 3,
                reset: u8::arbitrary(g) % 10 == 0,
            },
            5 => Op::Cut,
            6 => Op::Partition {
                ms: u16::arbitrary(g) % 8_000,
            },
            7 => Op::Restart {
                server: bool::arbitrary(g),
                down_ms: u16::arbitrary(g) % 3_000,
            },
            _ => Op::Wait {
                ms: u16::arbitrary(g) % 2_000,
            },
        }
    }

    fn shrink(&self) -> Box<dyn Iterator<Item = Op>> {
        match self.clone() {
            Op::Connect { kib, .. } if kib > 1 => {
                let mut smaller = self.clone();
                if let Op::Connect { kib: k, .. } = &mut smaller {
                    *k = kib / 2;
                }
                Box::new(std::iter::once(smaller))
            }
            Op::Partition { ms } if ms > 100 => {
                Box::new(std::iter::once(Op::Partition { ms: ms / 2 }))
            }
            Op::Wait { ms } if ms > 10 => Box::new(std::iter::once(Op::Wait { ms: ms / 2 })),
            _ => Box::new(std::iter::empty()),
        }
    }
}

fn run(ops: Vec<Op>) -> bool {
    let cfg = SimConfig {
        initially_down: vec![Node::C2],
        ..SimConfig::default()
    };
    let mut w = World::new(0x5EED, cfg);
    w.set_replay("cargo test -p tcpws-tests --release --test sim_properties (the failing op list is printed)");
    w.run_for(Duration::from_millis(200));
    for op in &ops {
        apply(&mut w, op);
        w.run_for(Duration::from_millis(50));
    }
    w.heal_all();
    if !w.run_until(Duration::from_secs(60), converged) {
        let problems = convergence_problems(&w);
        w.fail("convergence (invariant 4)", problems.join("\n  "));
    }
    true
}

fn apply(w: &mut World, op: &Op) {
    match *op {
        Op::Connect {
            to_server,
            second_tunnel,
            kib,
            backend,
            reset,
        } => {
            let node = if to_server { Node::Server } else { Node::C1 };
            let tunnel = w.config().listens(node)[usize::from(second_tunnel)].clone();
            let bytes = u64::from(kib) * 1024;
            let mut plan = AppPlan::bulk(bytes).with_backend(match backend {
                0 => BackendMode::Echo,
                1 => BackendMode::Stream(bytes / 2),
                _ => BackendMode::Sink,
            });
            plan.chunk = (1, 32 * 1024);
            if reset {
                plan.reset_after = Some(Duration::from_millis(u64::from(kib)));
            }
            w.app_connect(node, &tunnel, plan);
        }
        Op::Cut => w.apply(Fault::Cut(ClientId::One)),
        Op::Partition { ms } => {
            w.apply(Fault::Partition(ClientId::One));
            w.schedule(
                Duration::from_millis(u64::from(ms)),
                Fault::Heal(ClientId::One),
            );
        }
        Op::Restart { server, down_ms } => {
            let node = if server { Node::Server } else { Node::C1 };
            w.apply(Fault::Crash(node));
            w.schedule(
                Duration::from_millis(u64::from(down_ms)),
                Fault::Start(node),
            );
        }
        Op::Wait { ms } => w.run_for(Duration::from_millis(u64::from(ms))),
    }
}

#[test]
fn sim_two_node_op_sequences() {
    QuickCheck::new()
        .rng(Gen::from_size_and_seed(24, 0x7C9_5EED))
        .tests(40)
        .quickcheck(run as fn(Vec<Op>) -> bool);
}
