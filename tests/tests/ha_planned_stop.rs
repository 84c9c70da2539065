//! HA rule: a planned stop (SIGTERM) says Goodbye. The active client's
//! stop hands over to the other client at once, with no failover delay; the
//! leaving node's tunnel connections end with FIN after what they hold,
//! not with a reset. A stopping server tells both clients, which end their
//! sessions at once and reconnect.

use tcpws_protocol::ClientId;
use tcpws_tests::sim::scenario::{
    expect, expect_complete, millis, secs, settle, wait_active, wait_final, wait_up, world,
};
use tcpws_tests::sim::{AppId, AppPlan, Node, SimConfig, Status, World};

const NAME: &str = "ha_planned_stop";

/// An app through `node`'s listen `tunnel` that wrote and got its echo.
fn echoing(w: &mut World, node: Node, tunnel: &str) -> AppId {
    let app = w.app_connect(node, tunnel, AppPlan::manual());
    w.app_write(app, 5_000);
    w.wait_for("the echo", secs(2), |w| w.app(app).received >= 5_000);
    app
}

/// Both ends of `app` read a clean EOF and were not reset; the app then
/// closes its side too.
fn ended_with_fin(w: &mut World, app: AppId) {
    for a in [w.app(app), w.peer(app).expect("paired")] {
        expect(
            w,
            a.eof && a.status != Status::Reset,
            format_args!(
                "{} ({:?}) ended {:?}, eof {}: expected a FIN",
                a.id, a.role, a.status, a.eof
            ),
        );
    }
    w.app_finish(app);
}

#[test]
fn a_planned_stop_of_the_active_client_hands_over_at_once() {
    let mut w = world(NAME, SimConfig::default());
    wait_up(&mut w);
    let active = w.active_of(Node::Server).expect("up");
    let other = active.other();
    let down = echoing(&mut w, Node::Server, "s1");
    let up = echoing(&mut w, Node::client(active), "c1");
    let epoch = w.epoch_of(Node::Server);
    let t0 = w.now();
    w.stop(Node::client(active));
    wait_active(&mut w, other, secs(1));
    let took = w.now() - t0;
    // One way on the path, at most 10 ms in this config, plus slack.
    expect(
        &w,
        took <= millis(50),
        format_args!("the handover took {took:?}"),
    );
    expect(
        &w,
        w.epoch_of(Node::Server) > epoch,
        "the handover raised the epoch",
    );
    let handovers = w.endpoint(Node::Server).expect("up").stats().handovers;
    expect(
        &w,
        handovers == 1,
        format_args!("{handovers} handovers counted"),
    );
    w.wait_for("the old connections to end", secs(3), |w| {
        [down, up]
            .iter()
            .all(|&a| w.app(a).eof && w.peer(a).is_some_and(|p| p.eof))
    });
    ended_with_fin(&mut w, down);
    ended_with_fin(&mut w, up);
    let app = w.app_connect(Node::Server, "s2", AppPlan::bulk(20_000));
    wait_final(&mut w, app, secs(5));
    expect_complete(&w, app);
    expect(
        &w,
        w.peer(app).map(|p| p.node()) == Some(Node::client(other)),
        "s2 reaches the other client",
    );
    w.wait_for("the stopped client to exit", secs(3), |w| {
        !w.is_up(Node::client(active))
    });
    w.start(Node::client(active));
    settle(&mut w, secs(15));
    expect(
        &w,
        w.active_of(Node::Server) == Some(other),
        "the restarted client took over",
    );
}

#[test]
fn a_planned_stop_of_the_standby_changes_nothing_for_the_active_one() {
    let mut w = world(NAME, SimConfig::default());
    wait_up(&mut w);
    let active = w.active_of(Node::Server).expect("up");
    let standby = active.other();
    let epoch = w.epoch_of(Node::Server);
    let through_active = echoing(&mut w, Node::Server, "s1");
    w.stop(Node::client(standby));
    w.run_for(secs(3));
    expect(
        &w,
        w.active_of(Node::Server) == Some(active) && w.epoch_of(Node::Server) == epoch,
        "the standby's stop changed the active client",
    );
    expect(
        &w,
        w.app(through_active).status == Status::Open,
        "the standby's stop touched a connection through the active client",
    );
    w.app_finish(through_active);
    wait_final(&mut w, through_active, secs(5));
    expect_complete(&w, through_active);
    w.start(Node::client(standby));
    settle(&mut w, secs(15));
}

#[test]
fn a_planned_stop_of_the_server_ends_the_sessions_at_once() {
    let cfg = SimConfig::default();
    let grace = cfg.resume_grace;
    let mut w = world(NAME, cfg);
    wait_up(&mut w);
    let active = w.active_of(Node::Server).expect("up");
    let down = echoing(&mut w, Node::Server, "s1");
    w.stop(Node::Server);
    // The clients do not wait for a resume: they stop listening at once.
    w.wait_for("the clients to stop listening", millis(100), |w| {
        w.listens_none(Node::C1) && w.listens_none(Node::C2)
    });
    w.wait_for("the old connection to end", secs(3), |w| {
        w.app(down).eof && w.peer(down).is_some_and(|p| p.eof)
    });
    ended_with_fin(&mut w, down);
    w.wait_for("the server to exit", secs(3), |w| !w.is_up(Node::Server));
    expect(
        &w,
        w.now() < secs(1) + grace,
        "the scenario must end the sessions before the grace would have",
    );
    w.start(Node::Server);
    wait_up(&mut w);
    expect(
        &w,
        w.active_of(Node::Server).is_some(),
        "nobody is active after the server's restart",
    );
    let _ = active;
    let _ = ClientId::One;
    settle(&mut w, secs(15));
}
