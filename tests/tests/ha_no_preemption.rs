//! HA rule: there is no preemption: a client coming back does not take over
//! from the active one.

use tcpws_protocol::ClientId;
use tcpws_tests::sim::scenario::{
    expect, expect_complete, secs, settle, wait_active, wait_final, wait_up, world,
};
use tcpws_tests::sim::{AppPlan, Node, SimConfig};

const NAME: &str = "ha_no_preemption";

#[test]
fn client_1_coming_back_after_a_failover_does_not_take_over() {
    let mut w = world(NAME, SimConfig::default());
    wait_up(&mut w);
    // Make client 1 the active one by an election, then lose it.
    if w.active_of(Node::Server) != Some(ClientId::One) {
        let t = w.app_connect(Node::C1, "c1", AppPlan::bulk(100));
        wait_active(&mut w, ClientId::One, secs(1));
        wait_final(&mut w, t, secs(5));
    }
    w.crash(Node::C1);
    wait_active(&mut w, ClientId::Two, secs(10));
    let epoch = w.epoch_of(Node::Server);
    w.start(Node::C1);
    wait_up(&mut w);
    w.run_for(secs(10));
    expect(
        &w,
        w.active_of(Node::Server) == Some(ClientId::Two),
        "client 1 took over when it came back",
    );
    expect(
        &w,
        w.epoch_of(Node::Server) == epoch,
        "the epoch changed without a switch",
    );
    expect(
        &w,
        w.active_of(Node::C1) == Some(ClientId::Two),
        "client 1 does not know client 2 is active",
    );
    w.wait_for("the server to listen", secs(5), |w| {
        w.listens_all(Node::Server)
    });
    let app = w.app_connect(Node::Server, "s1", AppPlan::bulk(10_000));
    wait_final(&mut w, app, secs(5));
    expect_complete(&w, app);
    expect(
        &w,
        w.peer(app).map(|p| p.node()) == Some(Node::C2),
        "s1 still reaches client 2",
    );
    settle(&mut w, secs(10));
}

#[test]
fn reconnects_of_the_standby_do_not_switch() {
    let mut w = world(NAME, SimConfig::default());
    wait_up(&mut w);
    let active = w.active_of(Node::Server).expect("up");
    let standby = active.other();
    let epoch = w.epoch_of(Node::Server);
    for _ in 0..3 {
        w.cut_link(standby);
        w.run_for(secs(2));
        w.restart(Node::client(standby));
        w.run_for(secs(2));
    }
    wait_up(&mut w);
    expect(
        &w,
        w.active_of(Node::Server) == Some(active),
        "a standby reconnect switched",
    );
    expect(
        &w,
        w.epoch_of(Node::Server) == epoch,
        "a standby reconnect changed the epoch",
    );
    settle(&mut w, secs(10));
}

/// Before any election client 1 takes the default role from client 2 only
/// while client 2 carries no connection from the server's listen sockets:
/// a client coming online never resets a live stream.
#[test]
fn client_1_coming_online_never_resets_a_stream_through_client_2() {
    let cfg = SimConfig {
        initially_down: vec![Node::C1],
        ..SimConfig::default()
    };
    let mut w = world(NAME, cfg);
    wait_up(&mut w);
    let live = w.app_connect(Node::Server, "s1", AppPlan::manual());
    w.app_write(live, 4_000);
    w.wait_for("the echo", secs(2), |w| w.app(live).received >= 4_000);
    let epoch = w.epoch_of(Node::Server);
    w.start(Node::C1);
    wait_up(&mut w);
    w.run_for(secs(2));
    expect(
        &w,
        w.active_of(Node::Server) == Some(ClientId::Two) && w.epoch_of(Node::Server) == epoch,
        "client 1 took over from a client 2 that carried a stream",
    );
    expect(
        &w,
        w.app(live).status == tcpws_tests::sim::Status::Open,
        "a client coming online reset a live stream",
    );
    w.app_write(live, 4_000);
    w.app_finish(live);
    wait_final(&mut w, live, secs(5));
    expect_complete(&w, live);
    settle(&mut w, secs(10));
}
