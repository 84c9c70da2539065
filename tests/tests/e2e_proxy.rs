//! End to end through a real HTTP CONNECT proxy (Debian's tinyproxy,
//! started by each test): echo and a 100 MB transfer, credentials right
//! and wrong (refusals logged with the status and the proxy's address,
//! never with the password), and the proxy restarted mid-stream with the
//! stream intact and no failover.

mod support;

use std::time::Duration;

use support::tinyproxy::Tinyproxy;
use support::*;

/// `dataExchange.httpProxyUrl` for a proxy on 127.0.0.1:`port`.
fn proxy_url(port: u16, auth: Option<(&str, &str)>) -> String {
    match auth {
        Some((user, password)) => format!("http://{user}:{password}@127.0.0.1:{port}"),
        None => format!("http://127.0.0.1:{port}"),
    }
}

/// A cluster whose clients named in `urls` (config dir, proxy URL) go
/// through the proxy; `extra` adds dataExchange keys on every node.
fn cluster(
    test: &str,
    ports: Ports,
    opts: Options,
    urls: &[(&str, String)],
    extra: serde_json::Value,
) -> Cluster {
    Cluster::start_custom(test, opts, ports, |node, config| {
        if let Some((_, url)) = urls.iter().find(|(n, _)| *n == node) {
            config["dataExchange"]["httpProxyUrl"] = url.clone().into();
        }
        for (k, v) in extra.as_object().into_iter().flatten() {
            config["dataExchange"][k] = v.clone();
        }
    })
}

/// How many times `node` logged that its link to the server came up.
fn links_up(node: &Node) -> usize {
    node.log().matches("up: connected to the server at").count()
}

#[test]
fn echo_and_100_mb_through_tinyproxy() {
    let test = "proxy-bulk";
    let ports = Ports::pick();
    let Some(proxy) = Tinyproxy::start(&side_dir(test, "proxy"), &[ports.ws], None, test) else {
        return;
    };
    let url = proxy_url(proxy.port, None);
    let c = cluster(
        test,
        ports,
        Options::default(),
        &[("client1", url.clone()), ("client2", url)],
        serde_json::json!({}),
    );
    let via = format!("through the HTTP proxy at 127.0.0.1:{}", proxy.port);
    for node in [&c.client1, &c.client2] {
        assert!(node.log().contains(&via), "{} did not go {via}", node.name);
    }
    assert!(
        proxy
            .log()
            .contains(&format!("CONNECT 127.0.0.1:{} HTTP/1.1", ports.ws)),
        "tinyproxy saw no CONNECT:\n{}",
        proxy.log()
    );
    echo_once(
        &mut connect(c.ports.server[0]),
        b"server-listen through the proxy",
    );
    echo_once(
        &mut connect(c.client_port(1, 0)),
        b"client-listen through the proxy",
    );
    let (sent, received) = transfer_sha(c.ports.server[0], 15, 100 << 20);
    assert_eq!(sent, received, "SHA-256 of the 100 MB echo differs");
}

#[test]
fn proxy_credentials_right_and_wrong() {
    let test = "proxy-auth";
    let (user, good, bad) = ("tcpws-user", "right-pass-4f2a", "wrong-pass-9c1d");
    let ports = Ports::pick();
    let dir = side_dir(test, "proxy");
    let Some(proxy) = Tinyproxy::start(&dir, &[ports.ws], Some((user, good)), test) else {
        return;
    };
    let mut c = cluster(
        test,
        ports,
        Options {
            expect_links: 1,
            ..Options::default()
        },
        &[
            ("client1", proxy_url(proxy.port, Some((user, good)))),
            ("client2", proxy_url(proxy.port, Some((user, bad)))),
        ],
        serde_json::json!({}),
    );
    echo_once(&mut connect(c.ports.server[0]), b"with the right password");

    // Refused, said so with the status and the proxy, and retried.
    let refused = format!("the HTTP proxy at 127.0.0.1:{} refused CONNECT", proxy.port);
    let refusals = |node: &Node, status: &str| {
        node.log()
            .lines()
            .filter(|l| l.contains(&refused) && l.contains(status))
            .count()
    };
    // tinyproxy answers wrong credentials with 401, missing ones with 407.
    wait_until(
        "client 2's refusals and retries",
        Duration::from_secs(20),
        || refusals(&c.client2, ": 401 ") >= 2,
    );
    assert_eq!(c.metric("tcpws_links_up"), Some(1.0));

    // Without credentials: 407.
    let config_path = c.client2.dir.join("config.json");
    let mut config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&config_path).unwrap()).unwrap();
    config["dataExchange"]["httpProxyUrl"] = proxy_url(proxy.port, None).into();
    std::fs::write(&config_path, config.to_string()).unwrap();
    c.client2.restart();
    wait_until("client 2's 407", Duration::from_secs(20), || {
        refusals(&c.client2, ": 407 ") >= 1
    });

    // No password anywhere: logs, nor what `tcpws check` prints.
    config["dataExchange"]["httpProxyUrl"] = proxy_url(proxy.port, Some((user, bad))).into();
    std::fs::write(&config_path, config.to_string()).unwrap();
    let check = std::process::Command::new(tcpws_bin())
        .arg("check")
        .arg(&c.client2.dir)
        .output()
        .expect("run tcpws check");
    let check = String::from_utf8_lossy(&check.stdout).to_string()
        + &String::from_utf8_lossy(&check.stderr);
    assert!(
        check.contains("HTTP proxy:       http://***@127.0.0.1:"),
        "{check}"
    );
    for (what, text) in [
        ("server", c.server.log()),
        ("client1", c.client1.log()),
        ("client2", c.client2.log()),
        ("tcpws check", check),
    ] {
        for secret in [good, bad] {
            assert!(!text.contains(secret), "{what} shows a proxy password");
        }
    }
}

#[test]
fn a_proxy_restart_mid_stream_is_a_blip_not_a_failover() {
    let test = "proxy-restart";
    let ports = Ports::pick();
    let Some(mut proxy) = Tinyproxy::start(&side_dir(test, "proxy"), &[ports.ws], None, test)
    else {
        return;
    };
    // Client 2 is direct, so it is an online standby: the server would
    // fail over to it if client 1's link stayed down failoverAfterSecs.
    let c = cluster(
        test,
        ports,
        Options {
            grace_secs: 10,
            ..Options::default()
        },
        &[("client1", proxy_url(proxy.port, None))],
        serde_json::json!({ "failoverAfterSecs": 4 }),
    );
    assert_eq!(links_up(&c.client1), 1);
    let len = 24 << 20;
    // The reader holds still until the link is back, with bytes in flight.
    let (sent, received) = transfer_sha_with(c.ports.server[0], 23, len, len / 3, || {
        proxy.restart();
        wait_until(
            "client 1's link back through the restarted proxy",
            Duration::from_secs(20),
            || links_up(&c.client1) >= 2,
        );
    });
    assert_eq!(sent, received, "the stream lost or changed bytes");
    assert_eq!(c.active(), Some(1), "the restart caused a failover");
    echo_once(&mut connect(c.ports.server[0]), b"after the restart");
}
