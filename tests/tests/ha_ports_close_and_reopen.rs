//! HA rule: on a switch the server and the new standby close their listen
//! sockets and the connections accepted on them at once (within 1 s) and
//! reopen the sockets `standby_close` later (±1 s); the new active client
//! keeps its sockets open.

use std::time::Duration;

use tcpws_tests::sim::scenario::{
    expect, millis, secs, settle, trigger_switch, wait_active, wait_up, world, Watch,
};
use tcpws_tests::sim::{AppPlan, Node, SimConfig, Status};

const NAME: &str = "ha_ports_close_and_reopen";

fn within(a: Duration, b: Duration, tolerance: Duration) -> bool {
    a.abs_diff(b) <= tolerance
}

#[test]
fn server_and_new_standby_close_and_reopen() {
    let cfg = SimConfig::default();
    let close_for = cfg.standby_close;
    let mut w = world(NAME, cfg);
    wait_up(&mut w);
    let old_active = w.active_of(Node::Server).expect("up");
    let new_active = old_active.other();
    let old_node = Node::client(old_active);

    // Connections accepted on the sockets that will close.
    let on_server = w.app_connect(Node::Server, "s1", AppPlan::manual());
    w.app_write(on_server, 5_000);
    let on_old = w.app_connect(old_node, "c2", AppPlan::manual());
    w.app_write(on_old, 5_000);
    w.run_for(millis(500));
    for app in [on_server, on_old] {
        expect(
            &w,
            w.peer(app).is_some(),
            format_args!("{app} reached its backend before the switch"),
        );
    }

    let mut watch = Watch::new(&w);
    let t0 = w.now();
    let trigger = trigger_switch(&mut w, new_active, AppPlan::manual());
    w.app_write(trigger, 100);
    wait_active(&mut w, new_active, secs(1));
    watch.run_for(&mut w, close_for + secs(2));

    for node in [Node::Server, old_node] {
        let (closed, reopened) = watch.close_and_reopen(node, t0);
        let Some(closed) = closed else {
            w.fail(
                "scenario",
                format_args!("{node} never closed its listen sockets: {:?}", watch.listen),
            );
        };
        expect(
            &w,
            closed - t0 <= secs(1),
            format_args!(
                "{node} closed its sockets {:?} after the switch",
                closed - t0
            ),
        );
        let Some(reopened) = reopened else {
            w.fail(
                "scenario",
                format_args!(
                    "{node} never reopened its listen sockets: {:?}",
                    watch.listen
                ),
            );
        };
        expect(
            &w,
            within(reopened - closed, close_for, secs(1)),
            format_args!(
                "{node} reopened {:?} after closing, standby_close is {close_for:?}",
                reopened - closed
            ),
        );
    }
    expect(
        &w,
        !watch.ever_closed(Node::client(new_active), t0),
        "the new active client closed its listen sockets",
    );

    // The connections accepted on the closed sockets were closed at once, at both ends.
    for app in [on_server, on_old] {
        let a = w.app(app);
        expect(
            &w,
            a.status.is_final() && a.ended_at.is_some_and(|t| t - t0 <= secs(1)),
            format_args!(
                "{app} ({:?}) was not closed within 1 s: {:?} at {:?}",
                a.role, a.status, a.ended_at
            ),
        );
        let p = w.peer(app).expect("checked above");
        expect(
            &w,
            p.status.is_final() && p.ended_at.is_some_and(|t| t - t0 <= secs(1)),
            format_args!(
                "the backend {} of {app} was not closed within 1 s: {:?}",
                p.id, p.status
            ),
        );
    }
    expect(
        &w,
        w.app(trigger).status == Status::Open,
        "the trigger connection was closed",
    );
    w.app_finish(trigger);
    settle(&mut w, secs(10));
}

#[test]
fn a_new_connection_during_the_blackout_is_refused_then_accepted() {
    let mut w = world(NAME, SimConfig::default());
    wait_up(&mut w);
    let new_active = w.active_of(Node::Server).expect("up").other();
    let trigger = trigger_switch(&mut w, new_active, AppPlan::bulk(1_000));
    wait_active(&mut w, new_active, secs(1));
    w.run_for(millis(500));
    let early = w.app_connect(Node::Server, "s2", AppPlan::bulk(1_000));
    expect(
        &w,
        w.app(early).status == Status::Refused,
        "the server accepted during its blackout",
    );
    w.wait_for("the server to reopen", secs(5), |w| {
        w.listens_all(Node::Server)
    });
    let late = w.app_connect(Node::Server, "s2", AppPlan::bulk(1_000));
    expect(
        &w,
        w.app(late).status == Status::Open,
        "the server refused after reopening",
    );
    let _ = trigger;
    settle(&mut w, secs(10));
}
