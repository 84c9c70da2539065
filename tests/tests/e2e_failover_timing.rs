//! End to end, with the failover keys at their defaults (resume grace 30 s,
//! failover delay 2 s) and `standbySocketCloseDurationSecs: 2`: how soon the
//! other client answers on the server's listen port after the active one
//! is killed or stopped, that a planned stop ends connections with FIN, and
//! that a cut of the link shorter than the failover delay loses nothing.

mod support;

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::thread;
use std::time::{Duration, Instant};

use support::*;

fn options() -> Options {
    Options {
        grace_secs: 30,
        standby_close_secs: 2,
        ..Options::default()
    }
}

/// Time from `t0` until a connection to the server's first listen port is
/// answered through client 2's backend; fails past `limit`.
fn answered_by_client_2(c: &Cluster, t0: Instant, limit: Duration) -> Duration {
    let before = c.backend2.accepted();
    loop {
        let left = limit.saturating_sub(t0.elapsed());
        assert!(!left.is_zero(), "client 2 did not answer within {limit:?}");
        let Ok(mut s) = TcpStream::connect(("127.0.0.1", c.ports.server[0])) else {
            thread::sleep(Duration::from_millis(10));
            continue;
        };
        s.set_read_timeout(Some(left)).unwrap();
        let mut back = [0u8; 4];
        let answered = s.write_all(b"ping").is_ok() && s.read_exact(&mut back).is_ok();
        if answered && &back == b"ping" && c.backend2.accepted() > before {
            return t0.elapsed();
        }
        // Closed without an answer (no route yet): try again.
        thread::sleep(Duration::from_millis(10));
    }
}

/// Reads until EOF; fails on a reset or past `limit`.
fn expect_fin(s: &mut TcpStream, limit: Duration, what: &str) {
    s.set_read_timeout(Some(limit)).unwrap();
    let mut buf = [0u8; 1024];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return,
            Ok(_) => continue,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                panic!("{what}: still open after {limit:?}")
            }
            Err(e) => panic!("{what}: ended with {e} instead of FIN"),
        }
    }
}

#[test]
fn kill_9_of_the_active_client_fails_over_within_3_s() {
    let mut c = Cluster::start_with("kill9timing", options());
    let t0 = Instant::now();
    c.client1.kill();
    let took = answered_by_client_2(&c, t0, Duration::from_secs(3));
    eprintln!("kill -9: client 2 answered after {took:?}");
    assert!(
        took >= Duration::from_millis(1500),
        "answered after {took:?}, before the 2 s failover delay"
    );
    assert_eq!(c.active(), Some(2));
}

#[test]
fn sigterm_of_the_active_client_hands_over_within_2_5_s_with_fin() {
    let mut c = Cluster::start_with("sigtermtiming", options());
    // One connection each way through client 1, echoed, so nothing is in flight.
    let mut down = connect(c.ports.server[0]);
    echo_once(&mut down, b"through client 1");
    let mut up = connect(c.client_port(1, 0));
    echo_once(&mut up, b"from client 1");
    let (clean, reset) = (c.backend1.clean_ends(), c.backend1.reset_ends());
    let server_resets = c.server_backend.reset_ends();
    let t0 = Instant::now();
    c.client1.sigterm();
    // The connections that were idle at the stop end with FIN on all four
    // sockets. (Checked before probing: a probe that reaches client 1 just
    // before it stops has its echo cut, and is reset.)
    expect_fin(&mut down, Duration::from_secs(3), "server-side connection");
    expect_fin(&mut up, Duration::from_secs(3), "client-side connection");
    wait_until("the backend to see the FIN", Duration::from_secs(3), || {
        c.backend1.clean_ends() > clean
    });
    assert_eq!(
        c.backend1.reset_ends(),
        reset,
        "a backend connection of the leaving client was reset"
    );
    wait_until(
        "the server's backend to see the FIN",
        Duration::from_secs(3),
        || c.server_backend.clean_ends() >= 1,
    );
    assert_eq!(
        c.server_backend.reset_ends(),
        server_resets,
        "the server's backend connection was reset"
    );
    let took = answered_by_client_2(&c, t0, Duration::from_millis(2500));
    eprintln!("SIGTERM: client 2 answered after {took:?}");
    let status = c.client1.terminate().expect("exit status");
    assert!(status.success(), "tcpws exited with {status}");
    let log = c.server.log();
    assert!(
        log.contains("client 1 ended its session on purpose: client 1 is shutting down"),
        "the server did not log why it handed over"
    );
    assert!(
        log.contains("handover: the active client stopped on purpose"),
        "the server did not log the handover"
    );
}

#[test]
fn sigterm_of_the_server_tells_the_clients() {
    let mut c = Cluster::start_with("serversigterm", options());
    let t0 = Instant::now();
    let status = c.server.terminate().expect("exit status");
    assert!(status.success(), "tcpws exited with {status}");
    for node in [&c.client1, &c.client2] {
        wait_until(
            &format!("{} to log the server's goodbye", node.name),
            Duration::from_secs(3),
            || {
                node.log().contains(
                    "the server ended our session on purpose: the server is shutting down",
                )
            },
        );
    }
    assert!(
        t0.elapsed() < Duration::from_secs(4),
        "the clients waited for a timeout"
    );
    c.server.restart();
    c.wait_links(2);
    let mut s = connect_when_open(c.ports.server[0], Duration::from_secs(10));
    echo_once(&mut s, b"after the server came back");
}

#[test]
fn a_cut_shorter_than_the_failover_delay_keeps_a_50_mb_stream_intact() {
    let c = Cluster::start_with(
        "cuttiming",
        Options {
            proxy_client1: true,
            ..options()
        },
    );
    let port = c.ports.server[0];
    let len = 50 * 1024 * 1024;
    let transfer = thread::spawn(move || transfer_sha(port, 7, len));
    wait_until("the transfer to start", Duration::from_secs(10), || {
        c.backend1.accepted() >= 1
    });
    // Let some megabytes pass, then cut client 1's WebSocket.
    let start = Instant::now();
    wait_until("bytes through the tunnel", Duration::from_secs(10), || {
        c.metric("tcpws_bytes_to_apps_total").unwrap_or(0.0) > 5e6
            || start.elapsed() > Duration::from_secs(2)
    });
    c.proxy.as_ref().expect("proxy").cut();
    let (sent, received) = transfer.join().expect("transfer");
    assert_eq!(sent, received, "the stream changed across the cut");
    assert_eq!(c.active(), Some(1), "the cut switched the active client");
    assert!(
        c.metric("tcpws_resumes_total").unwrap_or(0.0) >= 1.0,
        "the session was not resumed"
    );
    assert_eq!(c.metric("tcpws_failovers_total"), Some(0.0));
}
