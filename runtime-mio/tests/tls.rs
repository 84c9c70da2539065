//! A server node and a client-1 node over wss:// on loopback, in threads:
//! TLS and mutual TLS carry tunnels both ways and a bulk transfer, and the
//! server's HTTP endpoints answer over TLS. Certificates are made here with
//! rcgen and written in the seed's bundle layout.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
mod support;

use support::*;
use tcpws_protocol::{ClientId, Config, Role};
use tcpws_runtime_mio::{ConnectSpec, ListenSpec, NodeSettings, ServerAddr, TlsSettings};

struct Made {
    cert: rcgen::Certificate,
    key: KeyPair,
}

fn made(cn: &str, ca: bool, by: Option<&Made>) -> Made {
    let sans = if ca {
        vec![]
    } else {
        vec!["127.0.0.1".to_string()]
    };
    let mut p = CertificateParams::new(sans).unwrap();
    p.distinguished_name.push(DnType::CommonName, cn);
    if ca {
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.key_usages = vec![KeyUsagePurpose::KeyCertSign];
    }
    let key = KeyPair::generate().unwrap();
    let cert = match by {
        Some(issuer) => p.signed_by(&key, &issuer.cert, &issuer.key).unwrap(),
        None => p.self_signed(&key).unwrap(),
    };
    Made { cert, key }
}

/// The seed's files for one side: root + CA, and a leaf issued by the CA.
struct Side {
    bundle: PathBuf,
    trusted_ca: PathBuf,
    peer: PathBuf,
    root_der: CertificateDer<'static>,
    leaf_der: CertificateDer<'static>,
    chain_pem: String,
    key_pem: String,
}

fn side(dir: &Path, name: &str) -> Side {
    let root = made(&format!("{name} root"), true, None);
    let ca = made(&format!("{name} CA"), true, Some(&root));
    let leaf = made(name, false, Some(&ca));
    let write = |file: &str, parts: &[String]| {
        let path = dir.join(file);
        std::fs::write(&path, parts.concat()).unwrap();
        path
    };
    let (root_pem, ca_pem, leaf_pem, key_pem) = (
        root.cert.pem(),
        ca.cert.pem(),
        leaf.cert.pem(),
        leaf.key.serialize_pem(),
    );
    Side {
        // cat Root.crt CA.crt My.{crt,key}
        bundle: write(
            &format!("{name}-key-cert-ca-root-chain.pem"),
            &[
                root_pem.clone(),
                ca_pem.clone(),
                leaf_pem.clone(),
                key_pem.clone(),
            ],
        ),
        // cat Root.crt CA.crt
        trusted_ca: write(
            &format!("{name}-trusted-ca.pem"),
            &[root_pem, ca_pem.clone()],
        ),
        // cat MyCert.{crt,key}
        peer: write(
            &format!("{name}-cert.pem"),
            &[leaf_pem.clone(), key_pem.clone()],
        ),
        root_der: root.cert.der().clone(),
        leaf_der: leaf.cert.der().clone(),
        chain_pem: [leaf_pem, ca_pem].concat(),
        key_pem,
    }
}

fn scratch(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tcpws-tls-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn settings(role: Role, ws: u16, listen: u16, target: u16, tls: TlsSettings) -> NodeSettings {
    let (listen_name, connect_name) = if role == Role::Server {
        ("to-client", "to-server")
    } else {
        ("to-server", "to-client")
    };
    let mut protocol = Config::new(role);
    protocol.listens = vec![listen_name.into()];
    protocol.connects = vec![connect_name.into()];
    NodeSettings {
        protocol,
        server: ServerAddr {
            host: "127.0.0.1".into(),
            port: ws,
            path: "/".into(),
            tls: true,
        },
        listens: vec![ListenSpec {
            name: listen_name.into(),
            bind_address: "127.0.0.1".into(),
            port: listen,
        }],
        connects: vec![ConnectSpec {
            name: connect_name.into(),
            host: "127.0.0.1".into(),
            port: target,
        }],
        tls: Some(tls),
        connect_timeout: Duration::from_secs(5),
        tcp_keepalive: Some(Duration::from_secs(60)),
        http_proxy: None,
    }
}

fn bulk_echo(port: u16, len: usize) {
    let pattern = |i: usize| (i.wrapping_mul(31) ^ (i >> 11)) as u8;
    let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream.set_read_timeout(Some(WAIT)).unwrap();
    let mut writer = stream.try_clone().unwrap();
    let sender = thread::spawn(move || {
        let chunk: Vec<u8> = (0..len).map(pattern).collect();
        writer.write_all(&chunk).unwrap();
        writer.shutdown(Shutdown::Write).unwrap();
    });
    let mut back = Vec::with_capacity(len);
    let mut reader = stream;
    reader.read_to_end(&mut back).unwrap();
    sender.join().unwrap();
    assert_eq!(back.len(), len, "every byte came back");
    assert!(
        back.iter().enumerate().all(|(i, &b)| b == pattern(i)),
        "bytes differ"
    );
}

/// GET over TLS, trusting `root` and presenting `identity` when given.
fn https_get(
    port: u16,
    path: &str,
    root: &CertificateDer<'static>,
    identity: Option<&Side>,
) -> String {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    roots.add(root.clone()).unwrap();
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    let config = match identity {
        Some(side) => {
            let chain = CertificateDer::pem_slice_iter(side.chain_pem.as_bytes())
                .collect::<Result<Vec<_>, _>>()
                .unwrap();
            let key = PrivateKeyDer::from_pem_slice(side.key_pem.as_bytes()).unwrap();
            builder.with_client_auth_cert(chain, key).unwrap()
        }
        None => builder.with_no_client_auth(),
    };
    let name = ServerName::try_from("127.0.0.1").unwrap();
    let conn = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
    let sock = TcpStream::connect(("127.0.0.1", port)).unwrap();
    sock.set_read_timeout(Some(WAIT)).unwrap();
    let mut tls = rustls::StreamOwned::new(conn, sock);
    write!(tls, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").unwrap();
    let mut text = Vec::new();
    let _ = tls.read_to_end(&mut text);
    String::from_utf8_lossy(&text).into_owned()
}

use rustls::pki_types::pem::PemObject;

#[test]
fn wss_carries_tunnels_and_http() {
    let _ = env_logger::builder().is_test(true).try_init();
    let dir = scratch("wss");
    let server_side = side(&dir, "server");
    let echo = Echo::start();
    let (ws, server_listen, client_listen) = (free_port(), free_port(), free_port());
    let server = Running::start(settings(
        Role::Server,
        ws,
        server_listen,
        echo.port,
        TlsSettings {
            bundle: Some(server_side.bundle.clone()),
            mutual: false,
            trusted_ca: None,
            trusted_peers: None,
            client_certificates: None,
        },
    ));
    let client = Running::start(settings(
        Role::Client(ClientId::One),
        ws,
        client_listen,
        echo.port,
        TlsSettings {
            bundle: None,
            mutual: false,
            trusted_ca: Some(server_side.trusted_ca.clone()),
            trusted_peers: None,
            client_certificates: None,
        },
    ));
    wait_for(&server.handle, "the client over TLS", |s| {
        s.links_up == 1 && s.listening == [true]
    });
    wait_for(&client.handle, "the client listening", |s| {
        s.listening == [true]
    });
    bulk_echo(server_listen, 8 << 20);
    bulk_echo(client_listen, 8 << 20);
    let health = https_get(ws, "/healthz", &server_side.root_der, None);
    assert!(health.starts_with("HTTP/1.1 200 OK\r\n"), "{health}");
    assert!(health.contains("role server"), "{health}");
    let metrics = https_get(ws, "/metrics", &server_side.root_der, None);
    assert!(metrics.contains("tcpws_links_up 1\n"), "{metrics}");
}

#[test]
fn mutual_tls_carries_tunnels_and_pins_peers() {
    let _ = env_logger::builder().is_test(true).try_init();
    let dir = scratch("mutual");
    let server_side = side(&dir, "server");
    let client_side = side(&dir, "client");
    let echo = Echo::start();
    let (ws, server_listen, client_listen) = (free_port(), free_port(), free_port());
    let server = Running::start(settings(
        Role::Server,
        ws,
        server_listen,
        echo.port,
        TlsSettings {
            bundle: Some(server_side.bundle.clone()),
            mutual: true,
            trusted_ca: Some(client_side.trusted_ca.clone()),
            trusted_peers: Some(client_side.peer.clone()),
            client_certificates: None,
        },
    ));
    let client = Running::start(settings(
        Role::Client(ClientId::One),
        ws,
        client_listen,
        echo.port,
        TlsSettings {
            bundle: Some(client_side.bundle.clone()),
            mutual: true,
            trusted_ca: Some(server_side.trusted_ca.clone()),
            trusted_peers: Some(server_side.peer.clone()),
            client_certificates: None,
        },
    ));
    wait_for(&server.handle, "the client over mutual TLS", |s| {
        s.links_up == 1 && s.listening == [true]
    });
    wait_for(&client.handle, "the client listening", |s| {
        s.listening == [true]
    });
    bulk_echo(server_listen, 4 << 20);
    bulk_echo(client_listen, 4 << 20);
    // The HTTP endpoints need a pinned client certificate too.
    let health = https_get(ws, "/healthz", &server_side.root_der, Some(&client_side));
    assert!(health.starts_with("HTTP/1.1 200 OK\r\n"), "{health}");
    let refused = https_get(ws, "/healthz", &server_side.root_der, None);
    assert!(!refused.contains("200 OK"), "{refused}");
    assert_ne!(server_side.leaf_der, client_side.leaf_der);
}

/// `mutualTLSClientCertificates`: a client may claim only the id whose
/// certificate it presented. Client 2's certificate claiming id 1 is
/// refused (and counted) and gets no session; client 1's own works.
#[test]
fn certificate_bound_ids_refuse_another_clients_certificate() {
    let _ = env_logger::builder().is_test(true).try_init();
    let dir = scratch("bound-ids");
    let server_side = side(&dir, "server");
    let one = side(&dir, "client1");
    let two = side(&dir, "client2");
    let both_cas = dir.join("clients-trusted-ca.pem");
    let cas = [&one.trusted_ca, &two.trusted_ca].map(|p| std::fs::read_to_string(p).unwrap());
    std::fs::write(&both_cas, cas.concat()).unwrap();
    let echo = Echo::start();
    let (ws, server_listen, client_listen) = (free_port(), free_port(), free_port());
    let server = Running::start(settings(
        Role::Server,
        ws,
        server_listen,
        echo.port,
        TlsSettings {
            bundle: Some(server_side.bundle.clone()),
            mutual: true,
            trusted_ca: Some(both_cas),
            trusted_peers: None,
            client_certificates: Some([one.peer.clone(), two.peer.clone()]),
        },
    ));
    let client_with = |cert: &Side, listen: u16| {
        settings(
            Role::Client(ClientId::One),
            ws,
            listen,
            echo.port,
            TlsSettings {
                bundle: Some(cert.bundle.clone()),
                mutual: true,
                trusted_ca: Some(server_side.trusted_ca.clone()),
                trusted_peers: None,
                client_certificates: None,
            },
        )
    };
    let impostor = Running::start(client_with(&two, free_port()));
    wait_for(&server.handle, "the impostor refused", |s| {
        s.stats.auth_failures >= 1
    });
    wait_for(&impostor.handle, "the impostor told why", |s| {
        s.stats.auth_failures >= 1
    });
    let status = server.handle.status();
    assert_eq!((status.stats.sessions, status.active), (0, None));
    drop(impostor);
    let client = Running::start(client_with(&one, client_listen));
    wait_for(&server.handle, "client 1 with its own certificate", |s| {
        s.active == Some(ClientId::One) && s.listening == [true]
    });
    wait_for(&client.handle, "the client listening", |s| {
        s.listening == [true]
    });
    bulk_echo(server_listen, 1 << 20);
}
