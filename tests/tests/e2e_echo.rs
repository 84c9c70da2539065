//! End to end: echo through every tunnel direction, ping-pong, and many
//! connections, with the real binary.

mod support;

use std::thread;
use std::time::Duration;

use support::*;

#[test]
fn echo_through_server_and_client_listen_tunnels() {
    let c = Cluster::start("echo");
    for (i, port) in c.ports.server.iter().enumerate() {
        let mut s = connect(*port);
        echo_once(
            &mut s,
            format!("hello via server tunnel s{}", i + 1).as_bytes(),
        );
    }
    assert!(
        c.backend1.accepted() >= 2,
        "server tunnels go to client 1 (active)"
    );
    assert_eq!(c.backend2.accepted(), 0, "nothing routed to the standby");
    for index in 0..2 {
        let mut s = connect(c.client_port(1, index));
        echo_once(
            &mut s,
            format!("hello via client tunnel c{}", index + 1).as_bytes(),
        );
    }
    assert!(c.server_backend.accepted() >= 2);
    assert_eq!(
        c.active(),
        Some(1),
        "traffic on the active client changes nothing"
    );
}

#[test]
fn ping_pong_1000_messages_of_500_bytes() {
    let c = Cluster::start("pingpong");
    for port in [c.ports.server[0], c.client_port(1, 0)] {
        let mut s = connect(port);
        for i in 0..1000u64 {
            echo_once(&mut s, &pattern(i, 500));
        }
    }
}

#[test]
fn ten_concurrent_and_twenty_sequential_connections() {
    let c = Cluster::start("concurrent");
    let port = c.ports.server[1];
    let workers: Vec<_> = (0..10u64)
        .map(|i| {
            thread::spawn(move || {
                let mut s = connect(port);
                for round in 0..20 {
                    echo_once(&mut s, &pattern(i * 100 + round, 4096));
                }
            })
        })
        .collect();
    for w in workers {
        w.join().expect("concurrent connection");
    }
    for i in 0..20u64 {
        let mut s = connect(c.client_port(1, 1));
        echo_once(&mut s, &pattern(1000 + i, 10_000));
    }
}

#[test]
fn health_and_metrics_answer_on_the_websocket_port() {
    let c = Cluster::start("health");
    let health = http_get(c.ports.ws, "/healthz").expect("healthz");
    assert!(health.contains("ok"), "{health}");
    let metrics = http_get(c.ports.ws, "/metrics").expect("metrics");
    for name in ["tcpws_active_client", "tcpws_epoch", "tcpws_links_up"] {
        assert!(metrics.contains(name), "{name} missing from\n{metrics}");
    }
    wait_until("links stay up", Duration::from_secs(1), || {
        c.metric("tcpws_links_up") == Some(2.0)
    });
}
