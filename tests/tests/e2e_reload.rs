//! SIGHUP rotates certificates without dropping anything: after the
//! server's bundle file is replaced, new TLS handshakes get the new
//! certificate while the links and the streams already up carry on; a
//! broken file keeps the certificate in use, and the log says which key
//! and file failed. SIGHUP also applies a new `logging.level`, and keeps
//! the level in use when the config no longer parses.

mod support;

use std::path::Path;
use std::time::Duration;

use serde_json::json;

use support::tls::{probe_config, served_certificate, write, ClusterTls, NodeTls, Pki};
use support::*;

const WAIT: Duration = Duration::from_secs(20);

#[test]
fn sighup_rotates_the_certificate_and_a_broken_file_keeps_the_old_one() {
    let pki = Pki::new("server");
    let (old, new) = (pki.leaf("tcpws server"), pki.leaf("tcpws server, rotated"));
    let certs = std::env::temp_dir().join(format!("tcpws-e2e-{}-reload-certs", std::process::id()));
    let bundle = write(&certs, "bundle.pem", &pki.bundle_pem(&old));
    let trusted = write(&certs, "trusted-ca.pem", &pki.trusted_ca_pem());
    let client = NodeTls {
        tls: true,
        trusted_ca: Some(trusted),
        ..NodeTls::default()
    };
    let tls = ClusterTls {
        server: NodeTls {
            tls: true,
            bundle: Some(bundle.clone()),
            ..NodeTls::default()
        },
        clients: [client.clone(), client],
        probe: Some(probe_config(&pki, None)),
    };
    let opts = Options {
        tls: Some(tls),
        ..Options::default()
    };
    let c = Cluster::start_with("reload", opts);
    let probe = c.probe.clone().expect("the harness's TLS client");
    assert_eq!(served_certificate(&probe, c.ports.ws), old.der());

    // A stream each way, open across both reloads.
    let mut from_client = connect(c.client_port(1, 0));
    echo_once(&mut from_client, b"before the reload");
    let mut from_server = connect(c.ports.server[0]);
    echo_once(&mut from_server, b"before the reload");
    let untouched = |c: &Cluster, from_client: &mut _, from_server: &mut _, when: &str| {
        echo_once(from_client, when.as_bytes());
        echo_once(from_server, when.as_bytes());
        assert_eq!(c.metric("tcpws_links_up"), Some(2.0), "{when}");
        assert_eq!(c.metric("tcpws_resumes_total"), Some(0.0), "{when}");
        assert_eq!(c.metric("tcpws_sessions_ended_total"), Some(0.0), "{when}");
        assert_eq!(c.metric("tcpws_streams_reset_total"), Some(0.0), "{when}");
    };

    // Rotation: the new certificate for new handshakes.
    write(&certs, "bundle.pem", &pki.bundle_pem(&new));
    c.server.sighup();
    wait_until("the server reloads", WAIT, || {
        c.server.log().contains("reload: TLS files read again")
    });
    assert_eq!(served_certificate(&probe, c.ports.ws), new.der());
    untouched(&c, &mut from_client, &mut from_server, "after the rotation");

    // A broken file: the rotated certificate stays, the log names it.
    write(&certs, "bundle.pem", "not a PEM file\n");
    c.server.sighup();
    let refused = format!(
        "reload: dataExchange.tlsBundleFilePath: cannot use {}",
        bundle.display()
    );
    wait_until("the server refuses the broken file", WAIT, || {
        let log = c.server.log();
        log.lines()
            .any(|l| l.contains(&refused) && l.contains("keeping the TLS files loaded before"))
    });
    assert_eq!(served_certificate(&probe, c.ports.ws), new.der());
    untouched(
        &c,
        &mut from_client,
        &mut from_server,
        "after the broken file",
    );
    let _ = std::fs::remove_dir_all(&certs);
}

#[test]
fn sighup_applies_a_new_log_level_and_keeps_it_when_the_config_breaks() {
    let root = scratch_dir("reload-level");
    let ws = free_port();
    let config = |level: &str| {
        json!({
            "weAreServer": true,
            "dataExchange": {"serverUrl": format!("http://127.0.0.1:{ws}")},
            "logging": {"level": level, "logToStdout": true, "daysToKeep": 1},
        })
    };
    write_config(&root, &config("WARNING"));
    let mut server = Node::start_with_env("server", root.clone(), &[("RUST_LOG", Path::new(""))]);
    // Each GET /healthz is a DEBUG line, when DEBUG is on.
    let debug_lines = |server: &Node| server.log().matches("GET /healthz from").count();
    wait_until("the server answers", WAIT, || {
        http_status(ws, "/healthz").is_ok()
    });
    assert_eq!(debug_lines(&server), 0, "DEBUG lines at WARNING");

    write_config(&root, &config("DEBUG"));
    server.sighup();
    wait_until("DEBUG lines after the reload", WAIT, || {
        let _ = http_status(ws, "/healthz");
        debug_lines(&server) > 0
    });
    assert!(server.log().contains("reload: logging.level is now DEBUG"));

    // A config that no longer parses: the error names the key and the
    // file, and DEBUG stays.
    write_config(&root, &config("LOUD"));
    server.sighup();
    let refused = format!(
        "reload: {}: logging.level: expected one of",
        root.join("config.json").display()
    );
    wait_until("the reload refused", WAIT, || {
        server.log().contains(&refused)
    });
    let before = debug_lines(&server);
    http_status(ws, "/healthz").unwrap();
    wait_until("still DEBUG", WAIT, || debug_lines(&server) > before);
    assert!(server.terminate().is_some_and(|s| s.success()));
    let _ = std::fs::remove_dir_all(&root);
}
