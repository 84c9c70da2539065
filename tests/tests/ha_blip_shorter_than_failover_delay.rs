//! HA rule: a WebSocket blip of the active client shorter than the failover
//! delay resumes its session, with the standby online: nothing is reset,
//! nothing switches, every byte arrives once.

use tcpws_tests::sim::scenario::{expect, expect_complete, millis, secs, settle, wait_up, world};
use tcpws_tests::sim::{AppPlan, BackendMode, Node, SimConfig, Status};

const NAME: &str = "ha_blip_shorter_than_failover_delay";

#[test]
fn a_blip_of_the_active_client_resumes_and_resets_nothing() {
    let mut w = world(NAME, SimConfig::default());
    wait_up(&mut w);
    let active = w.active_of(Node::Server).expect("up");
    let epoch = w.epoch_of(Node::Server);
    let resets = w.endpoint(Node::Server).expect("up").stats().streams_reset;
    let apps = [
        w.app_connect(Node::Server, "s1", AppPlan::bulk(3_000_000)),
        w.app_connect(
            Node::Server,
            "s2",
            AppPlan::bulk(1_000).with_backend(BackendMode::Stream(3_000_000)),
        ),
        w.app_connect(Node::client(active), "c1", AppPlan::bulk(3_000_000)),
    ];
    w.run_for(millis(300));
    for app in apps {
        expect(
            &w,
            w.app(app).status == Status::Open && w.app(app).received > 0,
            format_args!("{app} is in flight at the cut"),
        );
    }
    // Two cuts in a row: the client's first retry is quick, well inside the delay.
    w.cut_link(active);
    w.run_for(millis(150));
    w.cut_link(active);
    w.wait_for("every transfer to end", secs(60), |w| {
        apps.iter().all(|&a| w.app(a).status.is_final())
    });
    for app in apps {
        expect_complete(&w, app);
    }
    expect(
        &w,
        w.active_of(Node::Server) == Some(active) && w.epoch_of(Node::Server) == epoch,
        "a blip shorter than the failover delay changed the active client",
    );
    expect(
        &w,
        w.endpoint(Node::Server).expect("up").stats().streams_reset == resets,
        "a blip reset streams",
    );
    settle(&mut w, secs(10));
}
