//! End to end over TLS with the real binary: wss:// carries echo, a bulk
//! transfer (`TCPWS_E2E_MB`, default 16) and a switch by first data; mutual
//! TLS works with the seed's file layout; and each wrong certificate or
//! wrong scheme is refused and logged on both sides while client 1's
//! streams carry on. Certificates are made here with rcgen.

mod support;

use std::path::PathBuf;
use std::time::Duration;

use support::tls::{peers_pem, probe_config, write, ClusterTls, NodeTls, Pki};
use support::*;

fn megabytes() -> usize {
    std::env::var("TCPWS_E2E_MB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(16)
}

/// Where a test's certificate files live (apart from the cluster's
/// directory, which the cluster recreates).
fn cert_dir(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tcpws-e2e-{}-{test}-certs", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// The certificates of one cluster: a server PKI and a client PKI, each a
/// root and an intermediate CA, and a leaf per node.
struct Certs {
    dir: PathBuf,
    server_pki: Pki,
    client_pki: Pki,
    server: support::tls::Issued,
    clients: [support::tls::Issued; 2],
}

impl Certs {
    fn new(test: &str) -> Certs {
        let server_pki = Pki::new("server");
        let client_pki = Pki::new("clients");
        let server = server_pki.leaf("tcpws server");
        let clients = [
            client_pki.leaf("tcpws client 1"),
            client_pki.leaf("tcpws client 2"),
        ];
        Certs {
            dir: cert_dir(test),
            server_pki,
            client_pki,
            server,
            clients,
        }
    }

    /// The server's files in the seed's layout; with `mutual`, clients must
    /// present a certificate from the client CA that `pinned` lists.
    fn server(&self, mutual: bool, pinned: &[usize]) -> NodeTls {
        let dir = self.dir.join("server");
        let peers: Vec<_> = pinned.iter().map(|&i| &self.clients[i]).collect();
        NodeTls {
            tls: true,
            mutual,
            bundle: Some(write(
                &dir,
                "key-cert-ca-root-chain.pem",
                &self.server_pki.bundle_pem(&self.server),
            )),
            trusted_ca: Some(write(
                &dir,
                "mtls/trusted-ca-chain.pem",
                &self.client_pki.trusted_ca_pem(),
            )),
            trusted_peers: Some(write(&dir, "certs-of-peers.pem", &peers_pem(&peers))),
        }
    }

    /// Client `i`'s files in the seed's layout, trusting the server CA and
    /// pinning the server's certificate.
    fn client(&self, i: usize, mutual: bool) -> NodeTls {
        let dir = self.dir.join(format!("client{}", i + 1));
        NodeTls {
            tls: true,
            mutual,
            bundle: Some(write(
                &dir,
                "key-cert-ca-root-chain.pem",
                &self.client_pki.bundle_pem(&self.clients[i]),
            )),
            trusted_ca: Some(write(
                &dir,
                "mtls/trusted-ca-chain.pem",
                &self.server_pki.trusted_ca_pem(),
            )),
            trusted_peers: Some(write(
                &dir,
                "certs-of-peers.pem",
                &peers_pem(&[&self.server]),
            )),
        }
    }

    /// Mutual TLS everywhere, both clients pinned.
    fn mutual(&self) -> ClusterTls {
        ClusterTls {
            server: self.server(true, &[0, 1]),
            clients: [self.client(0, true), self.client(1, true)],
            probe: Some(probe_config(
                &self.server_pki,
                Some((&self.client_pki, &self.clients[0])),
            )),
        }
    }
}

fn options(tls: ClusterTls, expect_links: u64) -> Options {
    Options {
        tls: Some(tls),
        expect_links,
        ..Options::default()
    }
}

#[test]
fn wss_echo_bulk_and_switch_by_first_data() {
    let certs = Certs::new("wss");
    let tls = ClusterTls {
        server: certs.server(false, &[]),
        clients: [certs.client(0, false), certs.client(1, false)],
        probe: Some(probe_config(&certs.server_pki, None)),
    };
    let c = Cluster::start_with("wss", options(tls, 2));
    let health = c.http("/healthz").expect("healthz over TLS");
    assert!(health.starts_with("ok\nrole server\n"), "{health}");
    for port in [c.ports.server[0], c.client_port(1, 0)] {
        let mut s = connect(port);
        echo_once(&mut s, b"hello over wss");
    }
    let len = megabytes() << 20;
    for (what, port) in [
        ("server-listen", c.ports.server[1]),
        ("client-listen", c.client_port(1, 1)),
    ] {
        let (sent, received) = transfer_sha(port, 42, len);
        assert_eq!(sent, received, "{what}: SHA-256 of the echo differs");
    }

    // First data on client 2's listen socket makes it active; that
    // connection survives the switch and server tunnels then reach it.
    let mut trigger = connect(c.client_port(2, 0));
    echo_once(&mut trigger, b"first data through client 2");
    c.wait_active(2);
    echo_once(&mut trigger, b"still there after the switch");
    let before = c.backend2.accepted();
    let mut s = connect_when_open(
        c.ports.server[0],
        Duration::from_secs(STANDBY_CLOSE_SECS + 3),
    );
    echo_once(&mut s, b"routed to client 2");
    assert!(
        c.backend2.accepted() > before,
        "server tunnel did not reach client 2"
    );
    assert_eq!(c.metric("tcpws_links_up"), Some(2.0));
    for n in [&c.client1, &c.client2] {
        assert!(
            n.log().contains("over TLSv1_3"),
            "{} did not log its TLS session",
            n.name
        );
    }
}

#[test]
fn mutual_tls_with_the_seed_file_layout() {
    let certs = Certs::new("mtls");
    let c = Cluster::start_with("mtls", options(certs.mutual(), 2));
    for port in [c.ports.server[0], c.client_port(1, 0)] {
        let mut s = connect(port);
        echo_once(&mut s, b"hello over mutual TLS");
    }
    let len = (megabytes() << 20) / 4;
    let (sent, received) = transfer_sha(c.client_port(1, 1), 7, len);
    assert_eq!(sent, received, "SHA-256 of the echo differs");
    let server_log = c.server.log();
    assert!(
        server_log.contains("mutual TLS"),
        "the server did not say it requires client certificates"
    );
}

/// Client 2 is set up wrong: it never gets a link, the server and client 2
/// both log why (`server_says`, `client2_says`), and client 1's streams,
/// old and new, carry on.
fn refused_while_client_1_carries_on(
    test: &str,
    tls: ClusterTls,
    server_says: &str,
    client2_says: &str,
) {
    let c = Cluster::start_with(test, options(tls, 1));
    let mut healthy = connect(c.ports.server[0]);
    echo_once(&mut healthy, b"healthy before");
    wait_until(
        "the refusal logged on both sides",
        Duration::from_secs(20),
        || c.server.log().contains(server_says) && c.client2.log().contains(client2_says),
    );
    echo_once(&mut healthy, b"healthy after");
    let mut fresh = connect(c.client_port(1, 0));
    echo_once(&mut fresh, b"a new stream through client 1");
    assert_eq!(
        c.metric("tcpws_links_up"),
        Some(1.0),
        "client 2 must not get a link"
    );
    assert_eq!(c.active(), Some(1));
}

#[test]
fn client_without_a_certificate_is_refused() {
    let certs = Certs::new("nocert");
    let mut tls = certs.mutual();
    tls.clients[1].mutual = false; // sends no certificate
    refused_while_client_1_carries_on(
        "nocert",
        tls,
        "peer sent no certificates",
        "received fatal alert: CertificateRequired",
    );
}

#[test]
fn client_certificate_from_another_ca_is_refused() {
    let certs = Certs::new("otherca");
    let mut tls = certs.mutual();
    let rogue_pki = Pki::new("rogue");
    let rogue = rogue_pki.leaf("tcpws client 2");
    let dir = certs.dir.join("client2");
    tls.clients[1].bundle = Some(write(
        &dir,
        "rogue-bundle.pem",
        &rogue_pki.bundle_pem(&rogue),
    ));
    refused_while_client_1_carries_on(
        "otherca",
        tls,
        "invalid peer certificate: UnknownIssuer",
        "received fatal alert: UnknownCA",
    );
}

#[test]
fn client_certificate_not_pinned_is_refused() {
    let certs = Certs::new("clientpin");
    let mut tls = certs.mutual();
    tls.server = certs.server(true, &[0]); // client 2's certificate is not listed
    refused_while_client_1_carries_on(
        "clientpin",
        tls,
        "the client certificate is not in the pinned peer bundle",
        "received fatal alert: CertificateUnknown",
    );
}

#[test]
fn server_certificate_not_pinned_by_the_client_is_refused() {
    let certs = Certs::new("serverpin");
    let mut tls = certs.mutual();
    // Client 2 pins another certificate from the right CA.
    let other = certs.server_pki.leaf("another server");
    let dir = certs.dir.join("client2");
    tls.clients[1].trusted_peers = Some(write(&dir, "other-peer.pem", &peers_pem(&[&other])));
    refused_while_client_1_carries_on(
        "serverpin",
        tls,
        "received fatal alert: CertificateUnknown",
        "the server certificate is not in the pinned peer bundle",
    );
}

#[test]
fn plain_ws_client_to_a_tls_server_is_refused() {
    let certs = Certs::new("plaintotls");
    let mut tls = certs.mutual();
    tls.clients[1] = NodeTls::default(); // http://
    refused_while_client_1_carries_on(
        "plaintotls",
        tls,
        "plain HTTP on a TLS port",
        "this port speaks TLS",
    );
}

#[test]
fn tls_client_to_a_plain_server_is_refused() {
    let certs = Certs::new("tlstoplain");
    let tls = ClusterTls {
        server: NodeTls::default(),
        clients: [NodeTls::default(), certs.client(1, false)],
        probe: None,
    };
    refused_while_client_1_carries_on(
        "tlstoplain",
        tls,
        "looks like a TLS handshake on a plain port",
        "answered in plain text",
    );
}
