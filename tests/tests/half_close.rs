//! Half-close: a FIN in one direction is carried across; the other
//! direction keeps flowing until it closes too.

use tcpws_tests::sim::scenario::{
    expect, expect_complete, millis, secs, settle, wait_final, wait_up, world,
};
use tcpws_tests::sim::{AppPlan, BackendMode, Node, SimConfig, Status};

const NAME: &str = "half_close";

#[test]
fn the_app_finishes_first_and_the_backend_keeps_streaming() {
    let mut w = world(NAME, SimConfig::default());
    wait_up(&mut w);
    let active = Node::client(w.active_of(Node::Server).expect("up"));
    let plan = AppPlan::bulk(10_000).with_backend(BackendMode::Stream(1_500_000));
    let down = w.app_connect(Node::Server, "s1", plan.clone());
    let up = w.app_connect(active, "c1", plan);
    for app in [down, up] {
        w.wait_for("the app to finish writing", secs(5), |w| w.app(app).shut);
        expect(
            &w,
            w.app(app).received < 1_000_000,
            "the backend was done before the app's FIN",
        );
    }
    for app in [down, up] {
        wait_final(&mut w, app, secs(20));
        expect_complete(&w, app);
        expect(
            &w,
            w.app(app).payload_received() == 1_500_000,
            "the whole stream arrived after the FIN",
        );
    }
    settle(&mut w, secs(10));
}

#[test]
fn the_backend_finishes_first_and_the_app_keeps_writing() {
    let mut w = world(NAME, SimConfig::default());
    wait_up(&mut w);
    let active = Node::client(w.active_of(Node::Server).expect("up"));
    for node in [Node::Server, active] {
        let tunnel = w.config().listens(node)[1].clone();
        let app = w.app_connect(
            node,
            &tunnel,
            AppPlan::manual().with_backend(BackendMode::Stream(5_000)),
        );
        w.app_write(app, 100);
        w.wait_for("the backend's FIN", secs(5), |w| w.app(app).eof);
        expect(
            &w,
            w.app(app).status == Status::Open,
            "the app's connection closed with the backend's FIN",
        );
        for _ in 0..10 {
            w.app_write(app, 100_000);
            w.run_for(millis(50));
        }
        w.app_finish(app);
        wait_final(&mut w, app, secs(20));
        expect_complete(&w, app);
        let b = w.peer(app).expect("completed");
        expect(
            &w,
            b.payload_received() == 1_000_100,
            "the backend read everything after its own FIN",
        );
    }
    settle(&mut w, secs(10));
}
