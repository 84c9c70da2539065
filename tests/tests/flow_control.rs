//! Flow control: per-stream windows bound memory, one slow reader never
//! stalls the other streams, and a fast sender is held back by TCP
//! backpressure instead of buffering without limit.

use tcpws_tests::sim::scenario::{
    expect, expect_complete, secs, settle, wait_final, wait_up, world,
};
use tcpws_tests::sim::{AppPlan, BackendMode, Node, SimConfig, Status};

const NAME: &str = "flow_control";

#[test]
fn a_slow_reader_does_not_stall_other_streams() {
    let cfg = SimConfig::default();
    let window = u64::from(cfg.stream_window);
    let tcp = cfg.tcp_buffer as u64;
    let mut w = world(NAME, cfg);
    wait_up(&mut w);
    let active = Node::client(w.active_of(Node::Server).expect("up"));

    // 100 KB/s readers at both ends of both tunnel kinds.
    let mut slow_plan = AppPlan::bulk(10).with_backend(BackendMode::Stream(3_000_000));
    slow_plan.read_rate = Some(1_000);
    let slow_down = w.app_connect(Node::Server, "s1", slow_plan.clone());
    let slow_up = w.app_connect(active, "c1", slow_plan);
    let mut slow_sink = AppPlan::bulk(3_000_000).with_backend(BackendMode::Sink);
    slow_sink.backend_read_rate = Some(1_000);
    let stalled_backend = w.app_connect(Node::Server, "s2", slow_sink);

    let t0 = w.now();
    let fast: Vec<_> = (0..3)
        .flat_map(|_| {
            [
                w.app_connect(Node::Server, "s2", AppPlan::bulk(1_000_000)),
                w.app_connect(active, "c2", AppPlan::bulk(1_000_000)),
            ]
        })
        .collect();
    for &app in &fast {
        wait_final(&mut w, app, secs(10));
        expect_complete(&w, app);
    }
    let took = w.now() - t0;
    expect(
        &w,
        took < secs(5),
        format_args!("the fast transfers took {took:?} next to the slow readers"),
    );

    // The slow streams are held back, not buffered: what is in flight is
    // bounded by the socket buffers and the windows at both ends.
    let bound = 3 * tcp + 2 * window;
    for app in [slow_down, slow_up] {
        let a = w.app(app);
        let b = w.peer(app).expect("reached a backend");
        expect(
            &w,
            a.status == Status::Open,
            format_args!("{app} finished too early"),
        );
        let in_flight = b.sent - a.received;
        expect(
            &w,
            in_flight <= bound,
            format_args!("{in_flight} bytes in flight toward a slow reader, bound {bound}"),
        );
    }
    let a = w.app(stalled_backend);
    let b = w.peer(stalled_backend).expect("reached a backend");
    let in_flight = a.sent - b.received;
    expect(
        &w,
        in_flight <= bound,
        format_args!("{in_flight} bytes in flight toward a slow backend, bound {bound}"),
    );
    for node in Node::ALL {
        let s = w.endpoint(node).expect("up").stats();
        expect(
            &w,
            s.bytes_buffered <= 2 * window * s.streams.max(1),
            format_args!(
                "{node} buffers {} bytes for {} streams",
                s.bytes_buffered, s.streams
            ),
        );
    }
    for app in [slow_down, slow_up, stalled_backend] {
        w.app_reset(app);
    }
    settle(&mut w, secs(10));
}

#[test]
fn a_large_window_carries_a_big_unread_echo() {
    let cfg = SimConfig {
        stream_window: 4 * 1024 * 1024,
        ..SimConfig::default()
    };
    let mut w = world(NAME, cfg);
    wait_up(&mut w);
    // The app writes everything before it reads anything (as the seed's
    // unbounded buffers allowed); the window holds the echo meanwhile.
    let mut plan = AppPlan::bulk(3_000_000);
    plan.read_rate = Some(0);
    let app = w.app_connect(Node::Server, "s1", plan);
    w.wait_for("the app to write everything", secs(10), |w| w.app(app).shut);
    expect(
        &w,
        w.app(app).received == 0,
        "the app read before it wrote everything",
    );
    w.app_set_read_rate(app, None);
    wait_final(&mut w, app, secs(10));
    expect_complete(&w, app);
    settle(&mut w, secs(10));
}
