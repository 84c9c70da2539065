//! Bad targets: an unknown tunnel name is refused and the TCP connection
//! closed; an unreachable or hanging backend refuses that one stream only.

use std::time::Duration;

use tcpws_tests::sim::scenario::{
    expect, expect_complete, millis, secs, settle, wait_final, wait_up, world,
};
use tcpws_tests::sim::{AppPlan, Dial, Node, SimConfig, Status};

const NAME: &str = "refused_opens";

#[test]
fn an_unknown_tunnel_name_is_refused() {
    let mut cfg = SimConfig::default();
    cfg.client_listens.push("c9".into());
    cfg.server_listens.push("s9".into());
    let mut w = world(NAME, cfg);
    wait_up(&mut w);
    let active = Node::client(w.active_of(Node::Server).expect("up"));
    let refused_before = w.endpoint(Node::Server).expect("up").stats().opens_refused;
    for (node, tunnel) in [(active, "c9"), (Node::Server, "s9")] {
        let app = w.app_connect(node, tunnel, AppPlan::manual());
        w.app_write(app, 1_000);
        wait_final(&mut w, app, secs(1));
        let a = w.app(app);
        expect(
            &w,
            a.peer.is_none(),
            format_args!("{node}/{tunnel} reached a backend"),
        );
        expect(
            &w,
            a.received == 0,
            format_args!("{node}/{tunnel} received bytes"),
        );
        expect(
            &w,
            w.host(node).expect("up").conns.is_empty(),
            format_args!("{node} still holds the connection"),
        );
    }
    let refused = w.endpoint(Node::Server).expect("up").stats().opens_refused
        + w.endpoint(active).expect("up").stats().opens_refused;
    expect(
        &w,
        refused >= refused_before + 2,
        "the refusals were not counted",
    );
    // Known tunnels still work.
    let app = w.app_connect(Node::Server, "s1", AppPlan::bulk(10_000));
    wait_final(&mut w, app, secs(5));
    expect_complete(&w, app);
    settle(&mut w, secs(10));
}

#[test]
fn an_unreachable_backend_refuses_that_stream_only() {
    let mut w = world(NAME, SimConfig::default());
    wait_up(&mut w);
    let active = Node::client(w.active_of(Node::Server).expect("up"));
    w.set_dial(active, "s1", Dial::Refuse);
    w.set_dial(active, "s2", Dial::Hang(Duration::from_secs(3)));
    w.set_dial(Node::Server, "c1", Dial::Refuse);
    let healthy = w.app_connect(active, "c2", AppPlan::bulk(500_000));
    let refused = w.app_connect(Node::Server, "s1", AppPlan::bulk(1_000));
    let hanging = w.app_connect(Node::Server, "s2", AppPlan::bulk(1_000));
    let refused_up = w.app_connect(active, "c1", AppPlan::bulk(1_000));
    for app in [refused, refused_up] {
        wait_final(&mut w, app, secs(1));
        expect(
            &w,
            w.app(app).status != Status::Done || w.app(app).sent == 0,
            format_args!("{app} looked delivered"),
        );
    }
    w.run_for(millis(500));
    expect(
        &w,
        w.app(hanging).status == Status::Open,
        "the hanging dial ended early",
    );
    wait_final(&mut w, healthy, secs(10));
    expect_complete(&w, healthy);
    wait_final(&mut w, hanging, secs(5));
    expect(
        &w,
        w.app(hanging).peer.is_none(),
        "the hanging dial reached a backend",
    );
    settle(&mut w, secs(10));
}
