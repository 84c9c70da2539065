//! `/healthz` tells whether a node can carry traffic: the server answers
//! 200 only while a client is active and its session is up, a client only
//! while its session with the server is up, and 503 with the reason
//! otherwise. With `metricsBindAddress` both endpoints live on their own
//! port, on the server and on a client, and leave the WebSocket port; the
//! per-tunnel counters carry a `tunnel` label.

mod support;

use std::time::Duration;

use serde_json::json;
use support::*;

const WAIT: Duration = Duration::from_secs(20);

/// Waits until `GET /healthz` on `port` answers `status` with a body
/// starting with `body`.
fn wait_health(what: &str, port: u16, status: u16, body: &str) {
    wait_until(what, WAIT, || {
        http_status(port, "/healthz").is_ok_and(|(s, b)| s == status && b.starts_with(body))
    });
}

#[test]
fn healthz_follows_the_client_and_metrics_have_their_own_port() {
    let root = scratch_dir("health");
    let (ws, server_http, client_http, listen) =
        (free_port(), free_port(), free_port(), free_port());
    let backend = EchoBackend::start();
    let dx = |http: u16| {
        json!({
            "serverUrl": format!("http://127.0.0.1:{ws}"),
            "metricsBindAddress": format!("127.0.0.1:{http}"),
            "keepaliveIntervalSecs": 1,
            "keepaliveTimeoutSecs": 4,
        })
    };
    let logging = json!({"level": "DEBUG", "logToStdout": true, "daysToKeep": 1});
    write_config(
        &root.join("server"),
        &json!({
            "weAreServer": true,
            "dataExchange": dx(server_http),
            "logging": logging,
            "tcpTunnelConnects": [
                {"tunnelName": "c1", "connectToHost": "127.0.0.1", "connectToPort": backend.port}
            ],
        }),
    );
    write_config(
        &root.join("client1"),
        &json!({
            "clientId": 1,
            "dataExchange": dx(client_http),
            "logging": logging,
            "tcpTunnelListens": [
                {"tunnelName": "c1", "listenBindAddress": "127.0.0.1", "listenPort": listen}
            ],
        }),
    );

    // A server with no client cannot carry anything: 503.
    let mut server = Node::start("server", root.join("server"));
    wait_health(
        "server 503 without a client",
        server_http,
        503,
        "not ready: no client is active",
    );

    // Both 200 once client 1 is active.
    let mut client = Node::start("client1", root.join("client1"));
    wait_health("client 200", client_http, 200, "ok\n");
    wait_health(
        "server 200",
        server_http,
        200,
        "ok\nrole server\nactive client 1",
    );
    // The WebSocket port no longer answers them.
    for path in ["/healthz", "/metrics"] {
        assert_eq!(
            http_status(ws, path).unwrap().0,
            404,
            "{path} on the WebSocket port"
        );
    }

    // One connection through tunnel c1, counted on both ends by name.
    let mut s = connect_when_open(listen, WAIT);
    echo_once(&mut s, b"hello");
    drop(s);
    let client_sample = |name: &str| {
        let body = http_get(client_http, "/metrics").unwrap_or_default();
        sample(&body, &format!("{name}{{tunnel=\"c1\",end=\"listen\"}}"))
    };
    wait_until("client counts the tunnel's bytes", WAIT, || {
        client_sample("tcpws_tunnel_bytes_to_apps_total") == Some(5.0)
    });
    assert_eq!(client_sample("tcpws_tunnel_connections_total"), Some(1.0));
    assert_eq!(
        client_sample("tcpws_tunnel_bytes_from_apps_total"),
        Some(5.0)
    );
    let server_metrics = http_get(server_http, "/metrics").unwrap();
    assert_eq!(
        sample(
            &server_metrics,
            "tcpws_tunnel_connections_total{tunnel=\"c1\",end=\"connect\"}"
        ),
        Some(1.0),
        "{server_metrics}"
    );

    // The client goes: its session waits out the grace, but carries nothing.
    client.kill();
    wait_health(
        "server 503 once the client is gone",
        server_http,
        503,
        "not ready: client 1 is active but its session has no link",
    );
    // It comes back: 200 again.
    client.restart();
    wait_health("server 200 again", server_http, 200, "ok\n");
    wait_health("client 200 again", client_http, 200, "ok\n");

    // The server stops: the client is up but has no session.
    assert!(server.terminate().is_some_and(|s| s.success()));
    wait_health(
        "client 503 without a server",
        client_http,
        503,
        "not ready: no session with the server",
    );
    client.kill();
    let _ = std::fs::remove_dir_all(&root);
}
