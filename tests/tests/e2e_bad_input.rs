//! End to end: bad input gets a clear error and disturbs nothing else.

mod support;

use std::io::{Read, Write};
use std::process::Command;
use std::time::Duration;

use support::*;

#[test]
fn unknown_tunnel_name_is_refused_and_logged() {
    // The server connects only c1, so client tunnel c2 is unknown to it.
    let c = Cluster::start_with(
        "unknowntunnel",
        Options {
            server_connects: vec!["c1"],
            ..Options::default()
        },
    );
    let mut healthy = connect(c.client_port(1, 0));
    echo_once(&mut healthy, b"healthy before");
    let mut s = connect(c.client_port(1, 1));
    let _ = s.write_all(b"hello?");
    assert!(
        closed_within(&mut s, Duration::from_secs(5)),
        "refused connection left open"
    );
    wait_until("refusal logged", Duration::from_secs(5), || {
        c.client1.log().contains("c2")
    });
    echo_once(&mut healthy, b"healthy after");
}

#[test]
fn unreachable_backend_closes_that_stream_only() {
    let dead = free_port();
    let c = Cluster::start_with(
        "unreachable",
        Options {
            s1_target_override: Some(dead),
            ..Options::default()
        },
    );
    let mut healthy = connect(c.ports.server[1]);
    echo_once(&mut healthy, b"healthy before");
    let mut s = connect(c.ports.server[0]);
    let _ = s.write_all(b"anyone?");
    assert!(
        closed_within(&mut s, Duration::from_secs(15)),
        "connection to a dead backend left open"
    );
    echo_once(&mut healthy, b"healthy after");
}

#[test]
fn garbage_on_the_websocket_port_does_not_disturb_streams() {
    let c = Cluster::start("garbage");
    let mut healthy = connect(c.ports.server[0]);
    echo_once(&mut healthy, b"healthy before");
    for junk in [
        &b"\x00\x01\x02garbage\r\n\r\n"[..],
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        b"POST /x HTTP/1.1\r\n\r\n",
    ] {
        let mut g = connect(c.ports.ws);
        let _ = g.write_all(junk);
        let mut sink = Vec::new();
        let _ = g.read_to_end(&mut sink);
    }
    echo_once(&mut healthy, b"healthy after");
    assert_eq!(c.metric("tcpws_links_up"), Some(2.0));
}

#[test]
fn bad_config_names_the_key_and_exits_2() {
    let dir = std::env::temp_dir().join(format!("tcpws-e2e-{}-badconfig", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("config.json"),
        r#"{"weAreServer": false, "clientId": 1, "tcpTunnelListens": [{"tunnelName": "x", "listenBindAddress": "127.0.0.1", "listenPort": "eighty"}]}"#,
    )
    .unwrap();
    for sub in ["check", "run"] {
        let out = Command::new(tcpws_bin())
            .arg(sub)
            .arg(&dir)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{sub}: {stderr}");
        assert!(
            stderr.contains("tcpTunnelListens[0].listenPort"),
            "{sub}: {stderr}"
        );
    }
}
