//! systemd's readiness protocol (`Type=notify`): the binary sends READY=1
//! on the socket named by NOTIFY_SOCKET once its listen sockets are bound
//! (a client: once its first link attempt is under way, even with no
//! server to reach), and STOPPING=1 when SIGTERM stops it.

mod support;

use std::os::unix::net::UnixDatagram;
use std::time::{Duration, Instant};

use serde_json::json;
use support::*;

/// Receives datagrams on `socket` until one holds the line `line`; panics
/// naming it after 20 s.
fn wait_for_line(socket: &UnixDatagram, line: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut buf = [0u8; 4096];
    let mut seen = Vec::new();
    while Instant::now() < deadline {
        socket
            .set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        if let Ok(n) = socket.recv(&mut buf) {
            let text = String::from_utf8_lossy(&buf[..n]).into_owned();
            if text.lines().any(|l| l == line) {
                return;
            }
            seen.push(text);
        }
    }
    panic!("no {line:?} on NOTIFY_SOCKET; got {seen:?}");
}

#[test]
fn ready_and_stopping_reach_the_notify_socket() {
    let root = scratch_dir("notify");
    let ws = free_port();
    let logging = json!({"level": "DEBUG", "logToStdout": true, "daysToKeep": 1});
    let dx = json!({"serverUrl": format!("http://127.0.0.1:{ws}")});
    write_config(
        &root.join("server"),
        &json!({"weAreServer": true, "dataExchange": dx, "logging": logging}),
    );
    write_config(
        &root.join("client1"),
        &json!({"clientId": 1, "dataExchange": dx, "logging": logging}),
    );
    for name in ["client1", "server"] {
        let path = root.join(format!("{name}.notify"));
        let socket = UnixDatagram::bind(&path).expect("bind the notify socket");
        let mut node = Node::start_with_env(name, root.join(name), &[("NOTIFY_SOCKET", &path)]);
        wait_for_line(&socket, "READY=1");
        if name == "server" {
            assert!(port_open(ws), "READY before the WebSocket port was bound");
        }
        node.sigterm();
        wait_for_line(&socket, "STOPPING=1");
        let status = node.terminate().expect("exit status");
        assert!(status.success(), "{name}: {status}\n{}", node.log());
    }
    let _ = std::fs::remove_dir_all(&root);
}
