//! TLS for the end-to-end tests: certificates made with rcgen and written in
//! the seed's file layout (`cat Root.crt CA.crt My.{crt,key}` and so on),
//! the per-node `dataExchange` keys that use them, and the harness's own
//! HTTPS client for the server's `/metrics`.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};

/// A certificate and its private key.
pub struct Issued {
    pub cert: rcgen::Certificate,
    pub key: KeyPair,
}

impl Issued {
    pub fn cert_pem(&self) -> String {
        self.cert.pem()
    }

    pub fn key_pem(&self) -> String {
        self.key.serialize_pem()
    }

    pub fn der(&self) -> CertificateDer<'static> {
        self.cert.der().clone()
    }
}

/// A root and an intermediate CA, as the seed's `Root.crt` and `CA.crt`.
pub struct Pki {
    pub root: Issued,
    pub ca: Issued,
}

impl Pki {
    pub fn new(name: &str) -> Pki {
        let root = {
            let key = KeyPair::generate().expect("root key");
            let cert = ca_params(&format!("{name} root"))
                .self_signed(&key)
                .expect("root certificate");
            Issued { cert, key }
        };
        let ca = issue(ca_params(&format!("{name} CA")), &root);
        Pki { root, ca }
    }

    /// A node certificate for 127.0.0.1 and localhost, good for TLS Web
    /// Server and Client Authentication (the seed asks for both).
    pub fn leaf(&self, cn: &str) -> Issued {
        let mut p = CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
            .expect("leaf params");
        p.distinguished_name.push(DnType::CommonName, cn);
        p.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        issue(p, &self.ca)
    }

    /// `cat Root.crt CA.crt > trusted-ca-chain.pem`
    pub fn trusted_ca_pem(&self) -> String {
        [self.root.cert_pem(), self.ca.cert_pem()].concat()
    }

    /// `cat Root.crt CA.crt My.{crt,key} > key-cert-ca-root-chain.pem`
    pub fn bundle_pem(&self, leaf: &Issued) -> String {
        [
            self.root.cert_pem(),
            self.ca.cert_pem(),
            leaf.cert_pem(),
            leaf.key_pem(),
        ]
        .concat()
    }
}

fn ca_params(cn: &str) -> CertificateParams {
    let mut p = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    p.distinguished_name.push(DnType::CommonName, cn);
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    p
}

fn issue(params: CertificateParams, by: &Issued) -> Issued {
    let key = KeyPair::generate().expect("key");
    let cert = params
        .signed_by(&key, &by.cert, &by.key)
        .expect("certificate");
    Issued { cert, key }
}

/// `cat MyCert.{crt,key} > certs-of-peers.pem`, for each peer.
pub fn peers_pem(peers: &[&Issued]) -> String {
    peers
        .iter()
        .flat_map(|p| [p.cert_pem(), p.key_pem()])
        .collect()
}

/// Writes `text` to `dir/name` and returns the path.
pub fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::create_dir_all(path.parent().unwrap_or(dir))
        .expect("create the certificate directory");
    std::fs::write(&path, text).expect("write a PEM file");
    path
}

/// One node's TLS keys in `dataExchange`.
#[derive(Debug, Clone, Default)]
pub struct NodeTls {
    /// An https:// serverUrl (else http://).
    pub tls: bool,
    pub mutual: bool,
    pub bundle: Option<PathBuf>,
    pub trusted_ca: Option<PathBuf>,
    pub trusted_peers: Option<PathBuf>,
}

impl NodeTls {
    /// Sets serverUrl's scheme and the TLS keys in `dx`.
    pub fn apply(&self, dx: &mut serde_json::Value, ws_port: u16) {
        let scheme = if self.tls { "https" } else { "http" };
        dx["serverUrl"] = format!("{scheme}://127.0.0.1:{ws_port}").into();
        dx["enableMutualTLS"] = self.mutual.into();
        for (key, path) in [
            ("tlsBundleFilePath", &self.bundle),
            (
                "mutualTLSTrustedCACertificateBundleFilePath",
                &self.trusted_ca,
            ),
            (
                "mutualTLSTrustedPeerCertificateBundleFilePath",
                &self.trusted_peers,
            ),
        ] {
            if let Some(path) = path {
                dx[key] = path.display().to_string().into();
            }
        }
    }
}

/// TLS for a whole cluster.
#[derive(Debug, Clone)]
pub struct ClusterTls {
    pub server: NodeTls,
    /// Client 1 and client 2.
    pub clients: [NodeTls; 2],
    /// How the harness reaches the server's HTTP endpoints over TLS (None:
    /// plain HTTP).
    pub probe: Option<Arc<rustls::ClientConfig>>,
}

/// A client config for the harness: trusts `trusted`'s root, presents
/// `identity` (for a mutual TLS server) when given.
pub fn probe_config(trusted: &Pki, identity: Option<(&Pki, &Issued)>) -> Arc<rustls::ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    roots.add(trusted.root.der()).expect("trust the root");
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_root_certificates(roots);
    let config = match identity {
        Some((pki, leaf)) => {
            let chain = vec![leaf.der(), pki.ca.der()];
            let key = PrivateKeyDer::from_pem_slice(leaf.key_pem().as_bytes()).expect("key");
            builder
                .with_client_auth_cert(chain, key)
                .expect("client identity")
        }
        None => builder.with_no_client_auth(),
    };
    Arc::new(config)
}

/// An HTTPS GET against 127.0.0.1:port; returns the body of a 200 answer.
pub fn https_get(config: &Arc<rustls::ClientConfig>, port: u16, path: &str) -> io::Result<String> {
    let name = ServerName::try_from("127.0.0.1").expect("server name");
    let conn = rustls::ClientConnection::new(config.clone(), name).map_err(io::Error::other)?;
    let sock = TcpStream::connect(("127.0.0.1", port))?;
    sock.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut tls = rustls::StreamOwned::new(conn, sock);
    write!(
        tls,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )?;
    let mut raw = Vec::new();
    match tls.read_to_end(&mut raw) {
        Ok(_) => {}
        // The server may close without close_notify once it has answered.
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof && !raw.is_empty() => {}
        Err(e) => return Err(e),
    }
    let out = String::from_utf8_lossy(&raw);
    let (head, body) = out
        .split_once("\r\n\r\n")
        .ok_or_else(|| io::Error::other("no HTTP head"))?;
    if !head.starts_with("HTTP/1.1 200") {
        return Err(io::Error::other(format!("HTTP status: {head}")));
    }
    Ok(body.to_string())
}

/// Every certificate in a PEM file (keys skipped), as the nodes read them.
pub fn certs_in(pem: &str) -> Vec<CertificateDer<'static>> {
    CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .expect("valid PEM")
}

/// The certificate the server on 127.0.0.1:port presents now, from a
/// fresh TLS handshake with `config` (which must trust it).
pub fn served_certificate(
    config: &Arc<rustls::ClientConfig>,
    port: u16,
) -> CertificateDer<'static> {
    let name = ServerName::try_from("127.0.0.1").expect("server name");
    let mut conn = rustls::ClientConnection::new(config.clone(), name).expect("TLS client");
    let mut sock = TcpStream::connect(("127.0.0.1", port)).expect("connect for a handshake");
    sock.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("read timeout");
    while conn.is_handshaking() {
        conn.complete_io(&mut sock).expect("TLS handshake");
    }
    conn.peer_certificates().expect("a server certificate")[0].clone()
}
