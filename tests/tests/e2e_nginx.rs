//! End to end behind a real nginx (Debian's, started by each test): the
//! server listens on plain ws:// on loopback, nginx terminates TLS with a
//! certificate made here and forwards the WebSocket on a path, and the
//! clients connect to nginx with wss. Echo, bulk, a failover by first
//! data, `nginx -s reload` mid-stream with no byte lost, wss through
//! tinyproxy to nginx; and the README shows the location block these
//! tests use.

mod support;

use std::io::{Read, Write};
use std::time::Duration;

use support::nginx::{Nginx, LOCATION, PATH};
use support::tinyproxy::Tinyproxy;
use support::*;

/// A cluster behind nginx (clients through it, the server on loopback
/// only). A test binds every field (`nginx: _nginx`, not `..`): an unbound
/// one is dropped, and its process stopped, at once.
struct BehindNginx {
    c: Cluster,
    nginx: Nginx,
    /// The clients' HTTP proxy, when they go through one.
    proxy: Option<Tinyproxy>,
}

/// Starts nginx, then the cluster behind it, `extra` added to every node's
/// dataExchange; `None` when nginx is not installed (outside CI).
fn behind_nginx(test: &str, opts: Options, extra: serde_json::Value) -> Option<BehindNginx> {
    behind_nginx_with(test, opts, extra, false)
}

/// [`behind_nginx`]; with `via_proxy` the clients reach nginx through
/// tinyproxy (`None` too when tinyproxy is not installed, outside CI).
fn behind_nginx_with(
    test: &str,
    opts: Options,
    extra: serde_json::Value,
    via_proxy: bool,
) -> Option<BehindNginx> {
    let ports = Ports::pick();
    let pki = tls::Pki::new("nginx");
    let leaf = pki.leaf("nginx");
    let dir = side_dir(test, "nginx");
    let chain = leaf.cert_pem() + &pki.ca.cert_pem();
    let nginx = Nginx::start(&dir, ports.ws, &chain, &leaf.key_pem(), test)?;
    let ca = tls::write(&dir, "trusted-ca.pem", &pki.trusted_ca_pem());
    let proxy = match via_proxy {
        true => Some(Tinyproxy::start(
            &side_dir(test, "proxy"),
            &[nginx.port],
            None,
            test,
        )?),
        false => None,
    };
    let c = Cluster::start_custom(test, opts, ports, |node, config| {
        let dx = &mut config["dataExchange"];
        if node == "server" {
            dx["serverUrl"] = format!("http://127.0.0.1:{}{PATH}", ports.ws).into();
            dx["serverBindAddress"] = "127.0.0.1".into();
        } else {
            dx["serverUrl"] = format!("https://127.0.0.1:{}{PATH}", nginx.port).into();
            dx["mutualTLSTrustedCACertificateBundleFilePath"] = ca.display().to_string().into();
            if let Some(p) = &proxy {
                dx["httpProxyUrl"] = format!("http://127.0.0.1:{}", p.port).into();
            }
        }
        for (k, v) in extra.as_object().into_iter().flatten() {
            dx[k] = v.clone();
        }
    });
    let url = format!("wss://127.0.0.1:{}{PATH}", nginx.port);
    for node in [&c.client1, &c.client2] {
        assert!(
            node.log()
                .contains(&format!("connected to the server at {url}")),
            "{} did not connect through nginx:\n{}",
            node.name,
            nginx.log()
        );
    }
    Some(BehindNginx { c, nginx, proxy })
}

/// How many times `node` logged that its link to the server came up.
fn links_up(node: &Node) -> usize {
    node.log().matches("up: connected to the server at").count()
}

#[test]
fn echo_and_bulk_through_nginx() {
    let Some(BehindNginx {
        c,
        nginx: _nginx,
        proxy: _proxy,
    }) = behind_nginx("nginx-bulk", Options::default(), serde_json::json!({}))
    else {
        return;
    };
    echo_once(
        &mut connect(c.ports.server[0]),
        b"server-listen behind nginx",
    );
    echo_once(
        &mut connect(c.client_port(1, 0)),
        b"client-listen behind nginx",
    );
    for (what, port) in [
        ("server-listen", c.ports.server[0]),
        ("client-listen", c.client_port(1, 0)),
    ] {
        let (sent, received) = transfer_sha(port, 31, 32 << 20);
        assert_eq!(sent, received, "{what}: SHA-256 of the echo differs");
    }
}

#[test]
fn failover_by_first_data_through_nginx() {
    let Some(BehindNginx {
        c,
        nginx: _nginx,
        proxy: _proxy,
    }) = behind_nginx("nginx-failover", Options::default(), serde_json::json!({}))
    else {
        return;
    };
    // First data on the standby's listen socket makes it active; the
    // triggering connection keeps working through the switch.
    let mut trigger = connect(c.client_port(2, 0));
    let msg = b"first data on client 2";
    trigger.write_all(msg).unwrap();
    let mut back = vec![0u8; msg.len()];
    trigger.read_exact(&mut back).expect("the trigger's echo");
    assert_eq!(&back, msg);
    c.wait_active(2);
    echo_once(&mut trigger, b"after the switch");
    // Server tunnels reopen and go to client 2.
    let before = c.backend2.accepted();
    let mut s = connect_when_open(
        c.ports.server[0],
        Duration::from_secs(STANDBY_CLOSE_SECS + 5),
    );
    echo_once(&mut s, b"to the new active client");
    assert_eq!(c.backend2.accepted(), before + 1);
}

#[test]
fn an_nginx_reload_mid_stream_loses_no_byte() {
    // Both links drop within a second of each other; a failover delay and
    // grace above that keep it a blip on a loaded machine.
    let Some(BehindNginx {
        c,
        nginx,
        proxy: _proxy,
    }) = behind_nginx(
        "nginx-reload",
        Options {
            grace_secs: 10,
            ..Options::default()
        },
        serde_json::json!({ "failoverAfterSecs": 4 }),
    )
    else {
        return;
    };
    assert_eq!(links_up(&c.client1), 1);
    let len = 24 << 20;
    // The reader holds still until the link is back, so the drop (up to
    // worker_shutdown_timeout after the reload) comes mid-stream, with
    // bytes in flight, however fast the rest would have gone.
    let (sent, received) = transfer_sha_with(c.ports.server[0], 37, len, len / 3, || {
        nginx.reload();
        wait_until(
            "client 1's link back after the reload",
            Duration::from_secs(20),
            || links_up(&c.client1) >= 2,
        );
    });
    assert_eq!(sent, received, "the stream lost or changed bytes");
    assert_eq!(c.active(), Some(1), "the reload caused a failover");
    echo_once(&mut connect(c.ports.server[0]), b"after the reload");
}

/// Both at once, as a client behind a corporate proxy sees a server
/// behind nginx: wss through CONNECT, TLS end to end with nginx.
#[test]
fn wss_through_a_proxy_to_nginx() {
    let Some(BehindNginx {
        c,
        proxy,
        nginx: _nginx,
    }) = behind_nginx_with(
        "nginx-via-proxy",
        Options::default(),
        serde_json::json!({}),
        true,
    )
    else {
        return;
    };
    let proxy = proxy.expect("the proxy");
    for node in [&c.client1, &c.client2] {
        assert!(
            node.log().contains(&format!(
                "through the HTTP proxy at 127.0.0.1:{}",
                proxy.port
            )),
            "{} did not go through the proxy",
            node.name
        );
    }
    echo_once(
        &mut connect(c.ports.server[0]),
        b"server-listen via proxy and nginx",
    );
    let (sent, received) = transfer_sha(c.client_port(1, 0), 41, 16 << 20);
    assert_eq!(sent, received, "SHA-256 of the echo differs");
}

#[test]
fn the_readme_shows_the_nginx_location_the_tests_use() {
    let readme = concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md");
    let text = std::fs::read_to_string(readme).expect("read README.md");
    assert!(
        text.contains(LOCATION),
        "README.md must show this block verbatim (tests/tests/support/nginx.rs):\n{LOCATION}"
    );
}
