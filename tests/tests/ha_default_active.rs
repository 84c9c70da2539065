//! HA rule: the first client online is active; before any election client
//! 1 takes that default role from a client 2 that carries no connection yet;
//! this first choice causes no listen-socket blackout.

use tcpws_protocol::ClientId;
use tcpws_tests::sim::scenario::{
    expect, expect_complete, millis, secs, settle, wait_final, wait_up, world, Watch,
};
use tcpws_tests::sim::{AppPlan, Node, SimConfig};

const NAME: &str = "ha_default_active";

/// Both clients start together, client 2's hello happens to reach the server
/// first: client 1 comes online while client 2 carries nothing yet, so it
/// takes the default role (README, "High availability").
#[test]
fn client_1_is_active_when_both_start_together() {
    let mut cfg = SimConfig::default();
    cfg.paths[0].latency = (millis(8), millis(8));
    cfg.paths[1].latency = (millis(1), millis(1));
    let mut w = world(NAME, cfg);
    let mut watch = Watch::new(&w);
    watch.run_until(&mut w, secs(5), |w| {
        w.active_of(Node::Server).is_some() && w.link_up(ClientId::One) && w.link_up(ClientId::Two)
    });
    wait_up(&mut w);
    expect(
        &w,
        w.active_of(Node::Server) == Some(ClientId::One),
        "client 1 is the default choice",
    );
    for c in [Node::C1, Node::C2] {
        expect(
            &w,
            w.active_of(c) == Some(ClientId::One),
            format_args!("{c} agrees client 1 is active"),
        );
    }
    // Once open, no listen socket closes again: the first choice is no switch.
    watch.run_for(&mut w, secs(10));
    for node in Node::ALL {
        let opened = watch
            .listen
            .iter()
            .find(|&&(_, n, open)| n == node && open)
            .map(|&(t, _, _)| t);
        let Some(opened) = opened else {
            w.fail(
                "scenario",
                format_args!("{node} never opened its listen sockets"),
            );
        };
        expect(
            &w,
            opened < secs(1),
            format_args!("{node} opened its listen sockets only at {opened:?}"),
        );
        expect(
            &w,
            !watch.ever_closed(node, opened),
            format_args!(
                "{node} closed its listen sockets after the default choice: {:?}",
                watch.listen
            ),
        );
    }
    // Server listen tunnels lead to client 1's backends.
    let app = w.app_connect(Node::Server, "s1", AppPlan::bulk(50_000));
    wait_final(&mut w, app, secs(10));
    expect_complete(&w, app);
    expect(
        &w,
        w.peer(app).map(|p| p.node()) == Some(Node::C1),
        "s1 reaches client 1",
    );
    settle(&mut w, secs(10));
}

#[test]
fn client_1_is_active_when_it_is_online_first() {
    let cfg = SimConfig {
        initially_down: vec![Node::C2],
        ..SimConfig::default()
    };
    let mut w = world(NAME, cfg);
    wait_up(&mut w);
    w.start(Node::C2);
    wait_up(&mut w);
    expect(
        &w,
        w.active_of(Node::Server) == Some(ClientId::One),
        "client 1 is the default choice",
    );
    let app = w.app_connect(Node::Server, "s2", AppPlan::bulk(30_000));
    wait_final(&mut w, app, secs(10));
    expect_complete(&w, app);
    expect(
        &w,
        w.peer(app).map(|p| p.node()) == Some(Node::C1),
        "s2 reaches client 1",
    );
    settle(&mut w, secs(10));
}

#[test]
fn client_2_is_active_when_client_1_is_offline() {
    let cfg = SimConfig {
        initially_down: vec![Node::C1],
        ..SimConfig::default()
    };
    let mut w = world(NAME, cfg);
    wait_up(&mut w);
    expect(
        &w,
        w.active_of(Node::Server) == Some(ClientId::Two),
        "client 2 is the default choice",
    );
    expect(
        &w,
        w.listens_all(Node::Server),
        "the server listens with one client online",
    );
    let app = w.app_connect(Node::Server, "s2", AppPlan::bulk(30_000));
    wait_final(&mut w, app, secs(10));
    expect_complete(&w, app);
    expect(
        &w,
        w.peer(app).map(|p| p.node()) == Some(Node::C2),
        "s2 reaches client 2",
    );
    w.start(Node::C1);
    wait_up(&mut w);
    settle(&mut w, secs(10));
}

#[test]
fn nothing_listens_and_nobody_is_active_without_clients() {
    let cfg = SimConfig {
        initially_down: vec![Node::C1, Node::C2],
        ..SimConfig::default()
    };
    let mut w = world(NAME, cfg);
    w.run_for(secs(5));
    expect(
        &w,
        w.active_of(Node::Server).is_none(),
        "no client online: nobody is active",
    );
    expect(
        &w,
        w.listens_none(Node::Server),
        "no client online: the server does not listen",
    );
    let app = w.app_connect(Node::Server, "s1", AppPlan::bulk(10));
    expect(
        &w,
        w.app(app).status.is_final(),
        "a connect to a closed listen socket is refused",
    );
    w.start(Node::C2);
    wait_up(&mut w);
    expect(
        &w,
        w.active_of(Node::Server) == Some(ClientId::Two),
        "client 2, alone online, is active",
    );
    expect(
        &w,
        w.listens_all(Node::Server),
        "the server listens once a client is online",
    );
    w.start(Node::C1);
    wait_up(&mut w);
    settle(&mut w, secs(10));
}
