//! HA rule: the rules keep working after any number of reconnects, restarts
//! and switches (the seed's stop after its first WebSocket reconnect).

use tcpws_protocol::ClientId;
use tcpws_tests::sim::scenario::{
    expect, expect_complete, secs, settle, trigger_switch, wait_active, wait_final, wait_up, world,
};
use tcpws_tests::sim::{AppPlan, Node, SimConfig, World};

const NAME: &str = "ha_repeated_switches";

fn switch_to(w: &mut World, to: ClientId) {
    let epoch = w.epoch_of(Node::Server);
    let trigger = trigger_switch(w, to, AppPlan::bulk(30_000));
    wait_active(w, to, secs(2));
    expect(
        w,
        w.epoch_of(Node::Server) > epoch,
        "a switch raised the epoch",
    );
    wait_final(w, trigger, secs(10));
    expect_complete(w, trigger);
    // Once the blackout is over, both server tunnels lead to the new active client.
    w.wait_for("the server to reopen", secs(6), |w| {
        w.listens_all(Node::Server)
    });
    for tunnel in ["s1", "s2"] {
        let app = w.app_connect(Node::Server, tunnel, AppPlan::bulk(20_000));
        wait_final(w, app, secs(10));
        expect_complete(w, app);
        expect(
            w,
            w.peer(app).map(|p| p.node()) == Some(Node::client(to)),
            format_args!("{tunnel} follows the switch to {to}"),
        );
    }
    w.wait_for("the new standby to reopen", secs(6), |w| {
        w.listens_all(Node::client(to.other()))
    });
}

#[test]
fn switch_back_and_forth() {
    let mut w = world(NAME, SimConfig::default());
    wait_up(&mut w);
    let first = w.active_of(Node::Server).expect("up").other();
    let mut to = first;
    for _ in 0..4 {
        switch_to(&mut w, to);
        to = to.other();
    }
    settle(&mut w, secs(10));
}

#[test]
fn switches_between_cuts_and_restarts() {
    let mut w = world(NAME, SimConfig::default());
    wait_up(&mut w);
    let mut to = w.active_of(Node::Server).expect("up").other();
    for round in 0..4 {
        switch_to(&mut w, to);
        match round % 4 {
            0 => w.cut_link(to),
            1 => w.cut_link(to.other()),
            2 => w.restart(Node::client(to.other())),
            _ => w.restart(Node::Server),
        }
        wait_up(&mut w);
        w.wait_for("the server to listen", secs(10), |w| {
            w.listens_all(Node::Server)
        });
        to = w.active_of(Node::Server).expect("up").other();
    }
    settle(&mut w, secs(15));
}
