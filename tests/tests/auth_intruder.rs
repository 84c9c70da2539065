//! Authentication in the simulation: with a shared secret on every node, a
//! stranger without it (wrong proofs, replayed handshakes, stolen session
//! tokens, session frames before the proof) at any moment — idle, during
//! transfers, while the active client's link is down and resuming — is
//! refused with nothing else changed (the world checks each attempt), and
//! every transfer completes byte for byte.

use tcpws_protocol::ClientId;
use tcpws_tests::sim::scenario::{expect, expect_complete, millis, secs, settle, wait_up, world};
use tcpws_tests::sim::{AppId, AppPlan, BackendMode, Fault, Intrusion, Node, SimConfig, World};

const NAME: &str = "auth_intruder";

fn with_secret() -> SimConfig {
    SimConfig {
        shared_secret: true,
        ..SimConfig::default()
    }
}

fn every_intrusion(w: &mut World) {
    for c in [ClientId::One, ClientId::Two] {
        for how in [
            Intrusion::WrongProof(c),
            Intrusion::Replay(c),
            Intrusion::StolenToken(c),
            Intrusion::SkipProof(c),
        ] {
            w.apply(Fault::Intrude(how));
            w.run_for(millis(5));
        }
    }
}

fn transfers(w: &mut World, active: ClientId) -> Vec<AppId> {
    vec![
        w.app_connect(Node::Server, "s1", AppPlan::bulk(2_000_000)),
        w.app_connect(
            Node::Server,
            "s2",
            AppPlan::bulk(1_000).with_backend(BackendMode::Stream(2_000_000)),
        ),
        w.app_connect(Node::client(active), "c1", AppPlan::bulk(2_000_000)),
    ]
}

#[test]
fn strangers_without_the_secret_change_nothing() {
    let mut w = world(NAME, with_secret());
    wait_up(&mut w);
    let active = w.active_of(Node::Server).expect("up");
    let before = w.endpoint(Node::Server).expect("up").stats();
    every_intrusion(&mut w);
    let apps = transfers(&mut w, active);
    w.run_for(millis(200));
    every_intrusion(&mut w);
    // The active client's link drops and resumes while strangers replay
    // what they saw of its handshakes.
    w.cut_link(active);
    every_intrusion(&mut w);
    w.wait_for("the transfers to finish", secs(60), |w| {
        apps.iter().all(|&a| w.app(a).status.is_final())
    });
    for &a in &apps {
        expect_complete(&w, a);
    }
    let after = w.endpoint(Node::Server).expect("up").stats();
    expect(
        &w,
        w.active_of(Node::Server) == Some(active),
        "an intruder changed the active client",
    );
    // Three rounds of six refusals and two violations (the session frame
    // before the proof).
    expect(
        &w,
        after.auth_failures == before.auth_failures + 18
            && after.protocol_errors == before.protocol_errors + 6,
        "every intrusion was refused as an authentication failure or a violation",
    );
    expect(
        &w,
        after.streams_reset == before.streams_reset && after.switches == before.switches,
        "an intruder reset a stream or switched the active client",
    );
    settle(&mut w, secs(10));
}
