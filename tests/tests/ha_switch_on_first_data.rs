//! HA rule: a standby client becomes active when the first data arrives on
//! a TCP connection accepted by one of its listen sockets (not on connect,
//! and not on the active client's own sockets).

use tcpws_tests::sim::scenario::{
    expect, expect_complete, millis, secs, settle, wait_active, wait_final, wait_up, world,
};
use tcpws_tests::sim::{AppPlan, Node, SimConfig, Status, World};

const NAME: &str = "ha_switch_on_first_data";

fn up() -> (World, tcpws_protocol::ClientId) {
    let mut w = world(NAME, SimConfig::default());
    wait_up(&mut w);
    let active = w
        .active_of(Node::Server)
        .expect("wait_up saw an active client");
    (w, active)
}

#[test]
fn first_data_on_the_standby_switches() {
    let (mut w, active) = up();
    let standby = active.other();
    let epoch = w.epoch_of(Node::Server);
    let app = w.app_connect(Node::client(standby), "c1", AppPlan::manual());
    // Connecting alone is not data.
    w.run_for(secs(2));
    expect(
        &w,
        w.active_of(Node::Server) == Some(active),
        "a connect without data switched",
    );
    w.app_write(app, 1);
    let t0 = w.now();
    wait_active(&mut w, standby, secs(1));
    expect(
        &w,
        w.now() - t0 < millis(200),
        format_args!("the switch took {:?}", w.now() - t0),
    );
    expect(
        &w,
        w.epoch_of(Node::Server) > epoch,
        "the switch raised the epoch",
    );
    w.app_write(app, 20_000);
    w.app_finish(app);
    wait_final(&mut w, app, secs(10));
    expect_complete(&w, app);
    settle(&mut w, secs(10));
}

#[test]
fn data_on_the_active_clients_listen_socket_does_not_switch() {
    let (mut w, active) = up();
    let epoch = w.epoch_of(Node::Server);
    let app = w.app_connect(Node::client(active), "c2", AppPlan::bulk(40_000));
    wait_final(&mut w, app, secs(10));
    expect_complete(&w, app);
    expect(
        &w,
        w.active_of(Node::Server) == Some(active),
        "data on the active client switched",
    );
    expect(
        &w,
        w.epoch_of(Node::Server) == epoch,
        "data on the active client changed the epoch",
    );
    settle(&mut w, secs(10));
}

#[test]
fn server_listen_traffic_follows_the_switch() {
    let (mut w, active) = up();
    let standby = active.other();
    let before = w.app_connect(Node::Server, "s1", AppPlan::bulk(10_000));
    wait_final(&mut w, before, secs(5));
    expect_complete(&w, before);
    expect(
        &w,
        w.peer(before).map(|p| p.node()) == Some(Node::client(active)),
        "s1 reaches the active client",
    );

    let trigger = w.app_connect(Node::client(standby), "c2", AppPlan::bulk(5_000));
    wait_active(&mut w, standby, secs(1));
    // The server's sockets reopen after the standby close; then s1 leads to the new active client.
    w.wait_for("the server to listen again", secs(6), |w| {
        w.listens_all(Node::Server)
    });
    let after = w.app_connect(Node::Server, "s1", AppPlan::bulk(10_000));
    expect(
        &w,
        w.app(after).status == Status::Open,
        "s1 refused after reopening",
    );
    wait_final(&mut w, after, secs(5));
    expect_complete(&w, after);
    expect(
        &w,
        w.peer(after).map(|p| p.node()) == Some(Node::client(standby)),
        "s1 follows the switch",
    );
    wait_final(&mut w, trigger, secs(5));
    expect_complete(&w, trigger);
    settle(&mut w, secs(10));
}
