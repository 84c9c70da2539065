//! HA rule: on a switch the server closes every tunnel connection that went
//! through the old active client, on the server and on that client, with
//! nothing left open on either side.

use tcpws_tests::sim::scenario::{
    expect, millis, secs, settle, trigger_switch, wait_active, wait_up, world,
};
use tcpws_tests::sim::{AppPlan, BackendMode, Node, SimConfig, Status};

const NAME: &str = "ha_switch_closes_old_connections";

#[test]
fn every_connection_through_the_old_active_client_is_closed_on_both_sides() {
    let mut w = world(NAME, SimConfig::default());
    wait_up(&mut w);
    let old_active = w.active_of(Node::Server).expect("up");
    let old_node = Node::client(old_active);
    let new_active = old_active.other();

    // Server listen → old active: one idle, one streaming toward a slow reader.
    let idle = w.app_connect(Node::Server, "s1", AppPlan::manual());
    w.app_write(idle, 10);
    let mut streaming_plan = AppPlan::manual().with_backend(BackendMode::Stream(10_000_000));
    streaming_plan.read_rate = Some(2_000);
    let streaming = w.app_connect(Node::Server, "s2", streaming_plan);
    w.app_write(streaming, 10);
    // Old active's listen → server: mid-transfer.
    let upward = w.app_connect(old_node, "c1", AppPlan::manual());
    w.app_write(upward, 200_000);
    w.run_for(millis(300));
    let apps = [idle, streaming, upward];
    for app in apps {
        expect(
            &w,
            w.peer(app).is_some(),
            format_args!("{app} reached its backend"),
        );
    }

    let t0 = w.now();
    let trigger = trigger_switch(&mut w, new_active, AppPlan::manual());
    w.app_write(trigger, 10);
    wait_active(&mut w, new_active, secs(1));
    w.run_for(secs(1));

    for app in apps {
        for a in [w.app(app), w.peer(app).expect("checked")] {
            expect(
                &w,
                matches!(a.status, Status::Reset),
                format_args!(
                    "{} ({:?}) should have been reset by the switch within 1 s, is {:?} at {:?}",
                    a.id,
                    a.role,
                    a.status,
                    w.now() - t0
                ),
            );
        }
    }
    // Nothing of them is left in the old active client's runtime or endpoint.
    let h = w.host(old_node).expect("up");
    expect(
        &w,
        h.conns.is_empty(),
        format_args!(
            "{old_node} still holds {:?}",
            h.conns.keys().collect::<Vec<_>>()
        ),
    );
    let stats = h.endpoint.stats();
    expect(
        &w,
        stats.streams == 0 && stats.conns == 0,
        format_args!("{old_node}'s endpoint still has {stats:?}"),
    );
    // The server holds only the trigger's backend connection.
    let server_conns = w.host(Node::Server).expect("up").conns.len();
    expect(
        &w,
        server_conns == 1,
        format_args!("the server holds {server_conns} connections, expected 1"),
    );
    w.app_finish(trigger);
    settle(&mut w, secs(10));
}
