//! Lossless resume: a client whose WebSocket drops and comes back within the
//! grace period keeps every tunnel connection; bytes in flight are replayed
//! and duplicates dropped. Past the grace period, streams are reset on both
//! sides.

use tcpws_tests::sim::scenario::{expect, expect_complete, millis, secs, settle, wait_up, world};
use tcpws_tests::sim::{AppId, AppPlan, BackendMode, Node, SimConfig, Status, World};

const NAME: &str = "resume_lossless";

/// Big transfers both ways through the active client, in flight.
fn start_transfers(w: &mut World) -> Vec<AppId> {
    let active = Node::client(w.active_of(Node::Server).expect("up"));
    vec![
        w.app_connect(Node::Server, "s1", AppPlan::bulk(3_000_000)),
        w.app_connect(
            Node::Server,
            "s2",
            AppPlan::bulk(1_000).with_backend(BackendMode::Stream(3_000_000)),
        ),
        w.app_connect(active, "c1", AppPlan::bulk(3_000_000)),
    ]
}

fn finish_intact(w: &mut World, apps: &[AppId]) {
    let all = apps.to_vec();
    w.wait_for("the transfers to finish", secs(60), |w| {
        all.iter().all(|&a| w.app(a).status.is_final())
    });
    for &a in apps {
        expect_complete(w, a);
    }
}

fn in_flight(w: &World, apps: &[AppId]) -> bool {
    apps.iter()
        .all(|&a| w.app(a).status == Status::Open && w.app(a).received > 0)
}

#[test]
fn a_cut_shorter_than_grace_loses_nothing() {
    let mut w = world(NAME, SimConfig::default());
    wait_up(&mut w);
    let active = w.active_of(Node::Server).expect("up");
    let resumes = w.endpoint(Node::Server).expect("up").stats().resumes;
    let apps = start_transfers(&mut w);
    w.run_for(millis(300));
    expect(
        &w,
        in_flight(&w, &apps),
        "the transfers are in flight at the cut",
    );
    w.cut_link(active);
    w.run_for(millis(100));
    w.cut_link(active);
    finish_intact(&mut w, &apps);
    expect(
        &w,
        w.active_of(Node::Server) == Some(active),
        "a blip switched the active client",
    );
    let after = w.endpoint(Node::Server).expect("up").stats().resumes;
    expect(&w, after > resumes, "the session was not resumed");
    settle(&mut w, secs(10));
}

#[test]
fn a_partition_shorter_than_the_keepalive_timeout_loses_nothing() {
    let mut w = world(NAME, SimConfig::default());
    wait_up(&mut w);
    let active = w.active_of(Node::Server).expect("up");
    let apps = start_transfers(&mut w);
    w.run_for(millis(300));
    expect(
        &w,
        in_flight(&w, &apps),
        "the transfers are in flight at the partition",
    );
    w.partition(active);
    w.run_for(secs(2));
    w.restore_link(active);
    finish_intact(&mut w, &apps);
    settle(&mut w, secs(10));
}

#[test]
fn a_partition_past_the_keepalive_timeout_but_within_grace_loses_nothing() {
    // A failover delay as long as the grace: the standby, online, never
    // takes over, so the session waits for its client.
    let cfg = SimConfig {
        resume_grace: secs(10),
        failover_after: secs(10),
        ..SimConfig::default()
    };
    let mut w = world(NAME, cfg);
    wait_up(&mut w);
    let active = w.active_of(Node::Server).expect("up");
    let apps = start_transfers(&mut w);
    w.run_for(millis(300));
    expect(
        &w,
        in_flight(&w, &apps),
        "the transfers are in flight at the partition",
    );
    w.partition(active);
    w.run_for(secs(6));
    expect(
        &w,
        !w.link_up(active),
        "the keepalive timeout closed the link",
    );
    w.restore_link(active);
    finish_intact(&mut w, &apps);
    expect(
        &w,
        w.active_of(Node::Server) == Some(active),
        "the partition switched the active client",
    );
    settle(&mut w, secs(10));
}

#[test]
fn many_blips_on_a_slow_link_lose_nothing() {
    let mut cfg = SimConfig::default();
    for p in &mut cfg.paths {
        p.latency = (millis(20), millis(80));
        p.bandwidth = Some(2_000_000);
    }
    let mut w = world(NAME, cfg);
    wait_up(&mut w);
    let active = w.active_of(Node::Server).expect("up");
    let apps = start_transfers(&mut w);
    for i in 0..10u64 {
        w.run_for(millis(300 + 70 * i));
        w.cut_link(active);
    }
    finish_intact(&mut w, &apps);
    settle(&mut w, secs(10));
}

#[test]
fn grace_expiry_resets_streams_on_both_sides() {
    let cfg = SimConfig::default();
    let mut w = world(NAME, cfg);
    wait_up(&mut w);
    let active = w.active_of(Node::Server).expect("up");
    let anode = Node::client(active);
    let down = w.app_connect(Node::Server, "s1", AppPlan::manual());
    w.app_write(down, 1_000);
    let up = w.app_connect(anode, "c2", AppPlan::manual());
    w.app_write(up, 1_000);
    w.run_for(millis(300));
    let apps = [down, up];
    for a in apps {
        expect(
            &w,
            w.peer(a).is_some(),
            format_args!("{a} reached its backend"),
        );
    }
    // Keepalive timeout (4 s) + grace (5 s) + slack: both sides give up.
    w.partition(active);
    w.run_for(secs(12));
    for a in apps {
        for x in [w.app(a), w.peer(a).expect("checked")] {
            expect(
                &w,
                x.status == Status::Reset,
                format_args!(
                    "{} ({:?}) is {:?} after the grace period, expected Reset",
                    x.id, x.role, x.status
                ),
            );
        }
    }
    expect(
        &w,
        w.host(anode).expect("up").conns.is_empty(),
        "the cut-off client still holds connections",
    );
    w.restore_link(active);
    settle(&mut w, secs(15));
}
