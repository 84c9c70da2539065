//! TLS policy and material: the PEM files the config names, the rustls
//! server and client configs made from them, and the verifiers that pin the
//! peer's certificate on top of rustls's own WebPKI checks.
//!
//! Everything here runs once, in [`Node::new`](crate::Node::new), so a bad
//! file stops the node at start with an error naming the config key and the
//! file; nothing falls back to plain text.
//!
//! * A server presents the key and certificate of `tlsBundleFilePath`. With
//!   mutual TLS it requires a client certificate that chains to
//!   `mutualTLSTrustedCACertificateBundleFilePath` and, when
//!   `mutualTLSTrustedPeerCertificateBundleFilePath` is given, is one of the
//!   certificates in that file (compared byte for byte).
//! * A client verifies the server's certificate against
//!   `mutualTLSTrustedCACertificateBundleFilePath` when given, else against
//!   the system's trust store, and checks it names the serverUrl host (a DNS
//!   name, or an IP address SAN for a literal address). With mutual TLS it
//!   also pins the server's certificate to the peer bundle and presents its
//!   own `tlsBundleFilePath`.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use log::{debug, info, warn};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{verify_server_cert_signed_by_trust_anchor, WebPkiServerVerifier};
use rustls::crypto::CryptoProvider;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::{ParsedCertificate, WebPkiClientVerifier};
use rustls::{
    AlertDescription, CertificateError, ClientConfig, DigitallySignedStruct, DistinguishedName,
    Error as TlsError, OtherError, RootCertStore, ServerConfig, SignatureScheme,
};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};

use crate::error::RuntimeError;
use crate::settings::{NodeSettings, TlsSettings};

/// The config key of the node's own key + certificate + chain bundle.
pub const TLS_BUNDLE_KEY: &str = "dataExchange.tlsBundleFilePath";
/// The config key of the CA certificates that may issue the peer's certificate.
pub const TRUSTED_CA_KEY: &str = "dataExchange.mutualTLSTrustedCACertificateBundleFilePath";
/// The config key of the peer certificates pinned under mutual TLS.
pub const TRUSTED_PEERS_KEY: &str = "dataExchange.mutualTLSTrustedPeerCertificateBundleFilePath";

/// The largest PEM file we read (a bundle is a few KiB; a system-wide CA
/// list a few hundred).
const MAX_PEM_FILE: u64 = 16 * 1024 * 1024;

/// rustls's cap on TLS bytes queued for the socket, per connection. Twice the
/// protocol's default message (256 KiB) plus record overhead, so one
/// `write` takes a whole message: tungstenite then never shifts a partly
/// written frame, and a stalled link holds at most this much in rustls.
pub(crate) const BUFFER_LIMIT: usize = 512 * 1024 + 16 * 1024;

/// The TLS side of a node, ready to wrap sockets.
#[derive(Clone)]
pub(crate) enum TlsContext {
    Server(Arc<ServerConfig>),
    Client(ClientTls),
}

/// What a client needs to open a TLS connection to the server.
#[derive(Clone)]
pub(crate) struct ClientTls {
    pub(crate) config: Arc<ClientConfig>,
    /// The name the server's certificate must carry (from serverUrl).
    pub(crate) name: ServerName<'static>,
}

/// The ring provider: it builds fast and needs no C toolchain beyond cc.
fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Builds the node's TLS context from its settings: `None` for a plain
/// `ws://` node. Every file is read and checked here.
pub(crate) fn load(settings: &NodeSettings) -> Result<Option<TlsContext>, RuntimeError> {
    let is_server = settings.protocol.role == tcpws_protocol::Role::Server;
    if !settings.server.tls {
        if settings.tls.is_some() {
            debug!("TLS files are configured but serverUrl is not https/wss: they are not used");
        }
        return Ok(None);
    }
    let default = TlsSettings {
        bundle: None,
        mutual: false,
        trusted_ca: None,
        trusted_peers: None,
    };
    let tls = settings.tls.as_ref().unwrap_or(&default);
    let provider = provider();
    let context = if is_server {
        TlsContext::Server(Arc::new(server_config(tls, &provider)?))
    } else {
        TlsContext::Client(client_config(tls, &settings.server.host, &provider)?)
    };
    Ok(Some(context))
}

fn server_config(
    tls: &TlsSettings,
    provider: &Arc<CryptoProvider>,
) -> Result<ServerConfig, RuntimeError> {
    let bundle = tls.bundle.as_deref().ok_or_else(|| {
        RuntimeError::Settings(format!(
            "a TLS server (https or wss serverUrl) needs {TLS_BUNDLE_KEY}: its key and certificate"
        ))
    })?;
    let identity = load_identity(bundle, provider)?;
    check_own_certificate(&identity, Purpose::Server, provider)
        .map_err(|why| tls_error(TLS_BUNDLE_KEY, bundle, why))?;
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| RuntimeError::Settings(format!("TLS protocol versions: {e}")))?;
    let builder = if tls.mutual {
        let ca = tls.trusted_ca.as_deref().ok_or_else(|| {
            RuntimeError::Settings(format!(
                "mutual TLS needs {TRUSTED_CA_KEY}: the CA certificates of the clients"
            ))
        })?;
        let roots = load_roots(TRUSTED_CA_KEY, ca)?;
        let inner = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
            .build()
            .map_err(|e| tls_error(TRUSTED_CA_KEY, ca, e.to_string()))?;
        let verifier: Arc<dyn ClientCertVerifier> = match tls.trusted_peers.as_deref() {
            Some(peers) => Arc::new(PinnedClientVerifier {
                inner,
                pins: Pins::load(peers)?,
            }),
            None => {
                warn!(
                    "mutual TLS without {TRUSTED_PEERS_KEY}: any client certificate issued by {} is accepted",
                    ca.display()
                );
                inner
            }
        };
        info!(
            "TLS on, with mutual TLS: clients must present a certificate issued by {}{}",
            ca.display(),
            tls.trusted_peers
                .as_deref()
                .map(|p| format!(" and listed in {}", p.display()))
                .unwrap_or_default()
        );
        builder.with_client_cert_verifier(verifier)
    } else {
        info!("TLS on (server certificate from {})", bundle.display());
        builder.with_no_client_auth()
    };
    builder
        .with_single_cert(identity.chain, identity.key)
        .map_err(|e| {
            tls_error(
                TLS_BUNDLE_KEY,
                bundle,
                format!("rustls refused the key and certificate: {e}"),
            )
        })
}

fn client_config(
    tls: &TlsSettings,
    host: &str,
    provider: &Arc<CryptoProvider>,
) -> Result<ClientTls, RuntimeError> {
    let name = ServerName::try_from(host.to_string()).map_err(|_| {
        RuntimeError::Settings(format!(
            "the serverUrl host {host:?} cannot be checked against a TLS certificate: \
             it is neither a DNS name nor an IP address"
        ))
    })?;
    let (roots, roots_from) = match tls.trusted_ca.as_deref() {
        Some(ca) => (load_roots(TRUSTED_CA_KEY, ca)?, ca.display().to_string()),
        None => (system_roots()?, "the system trust store".to_string()),
    };
    let inner = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|e| {
            RuntimeError::Settings(format!("cannot verify servers with {roots_from}: {e}"))
        })?;
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| RuntimeError::Settings(format!("TLS protocol versions: {e}")))?;
    let config = if tls.mutual {
        let builder = match tls.trusted_peers.as_deref() {
            Some(peers) => builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(PinnedServerVerifier {
                    inner,
                    pins: Pins::load(peers)?,
                })),
            None => {
                warn!(
                    "mutual TLS without {TRUSTED_PEERS_KEY}: any server certificate issued by {roots_from} for {host} is accepted"
                );
                builder.with_webpki_verifier(inner)
            }
        };
        let bundle = tls.bundle.as_deref().ok_or_else(|| {
            RuntimeError::Settings(format!(
                "mutual TLS needs {TLS_BUNDLE_KEY}: the client's key and certificate"
            ))
        })?;
        let identity = load_identity(bundle, provider)?;
        check_own_certificate(&identity, Purpose::Client, provider)
            .map_err(|why| tls_error(TLS_BUNDLE_KEY, bundle, why))?;
        info!(
            "TLS on, with mutual TLS: the server at {host} must present a certificate issued by {roots_from}{}; ours comes from {}",
            tls.trusted_peers
                .as_deref()
                .map(|p| format!(" and listed in {}", p.display()))
                .unwrap_or_default(),
            bundle.display()
        );
        builder
            .with_client_auth_cert(identity.chain, identity.key)
            .map_err(|e| {
                tls_error(
                    TLS_BUNDLE_KEY,
                    bundle,
                    format!("rustls refused the key and certificate: {e}"),
                )
            })?
    } else {
        if tls.bundle.is_some() {
            debug!("{TLS_BUNDLE_KEY} is not sent to the server without mutual TLS");
        }
        info!("TLS on: the server at {host} must present a certificate issued by {roots_from}");
        builder.with_webpki_verifier(inner).with_no_client_auth()
    };
    Ok(ClientTls {
        config: Arc::new(config),
        name,
    })
}

fn tls_error(key: &'static str, file: &Path, why: impl Into<String>) -> RuntimeError {
    RuntimeError::Tls {
        key,
        file: file.to_path_buf(),
        why: why.into(),
    }
}

/// Reads a PEM file, bounded.
fn read_pem(key: &'static str, path: &Path) -> Result<Vec<u8>, RuntimeError> {
    use std::io::Read;
    let file = std::fs::File::open(path).map_err(|e| {
        tls_error(
            key,
            path,
            format!("cannot open it: {}", crate::error::describe(&e)),
        )
    })?;
    let mut bytes = Vec::new();
    file.take(MAX_PEM_FILE + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| {
            tls_error(
                key,
                path,
                format!("cannot read it: {}", crate::error::describe(&e)),
            )
        })?;
    if bytes.len() as u64 > MAX_PEM_FILE {
        return Err(tls_error(
            key,
            path,
            format!(
                "it is larger than {} MiB; expected a PEM file",
                MAX_PEM_FILE >> 20
            ),
        ));
    }
    Ok(bytes)
}

/// A node's own key and certificates, ready for rustls.
#[derive(Debug)]
pub(crate) struct Identity {
    /// The node's certificate first, then the rest of the bundle.
    pub(crate) chain: Vec<CertificateDer<'static>>,
    pub(crate) key: PrivateKeyDer<'static>,
}

fn load_identity(path: &Path, provider: &CryptoProvider) -> Result<Identity, RuntimeError> {
    let pem = read_pem(TLS_BUNDLE_KEY, path)?;
    parse_identity(&pem, provider).map_err(|why| tls_error(TLS_BUNDLE_KEY, path, why))
}

/// Parses a bundle holding one private key and the node's certificate with
/// its chain, in any order (the seed builds it with
/// `cat Root.crt CA.crt My.crt My.key`). The node's certificate is the one
/// whose public key is the private key's; the others follow it in reverse
/// file order, which is issuer order for the seed's layout (rustls peers
/// search the chain in any order anyway).
pub(crate) fn parse_identity(pem: &[u8], provider: &CryptoProvider) -> Result<Identity, String> {
    let mut certs = parse_certs(pem)?;
    let mut keys = PrivateKeyDer::pem_slice_iter(pem);
    let key = match keys.next() {
        None => {
            return Err(
                "it holds no private key (expected a PRIVATE KEY, RSA PRIVATE KEY or \
                        EC PRIVATE KEY section)"
                    .into(),
            )
        }
        Some(Err(e)) => return Err(format!("it is not valid PEM: {e}")),
        Some(Ok(key)) => key,
    };
    if keys.next().is_some() {
        return Err(
            "it holds more than one private key; expected exactly one, the node's own".into(),
        );
    }
    if certs.is_empty() {
        return Err(
            "it holds no certificate (expected the node's certificate and its chain \
                    as CERTIFICATE sections)"
                .into(),
        );
    }
    let signing_key = provider
        .key_provider
        .load_private_key(key.clone_key())
        .map_err(|e| format!("its private key cannot be used: {e}"))?;
    let spki = signing_key
        .public_key()
        .ok_or("cannot tell which certificate belongs to its private key")?;
    let mut leaf = None;
    for (i, cert) in certs.iter().enumerate() {
        let parsed = ParsedCertificate::try_from(cert)
            .map_err(|e| format!("certificate {} of {} is not valid: {e}", i + 1, certs.len()))?;
        if leaf.is_none() && parsed.subject_public_key_info() == spki {
            leaf = Some(i);
        }
    }
    let Some(leaf) = leaf else {
        return Err(format!(
            "none of its {} certificate(s) is for its private key (expected the node's own \
             certificate next to its key)",
            certs.len()
        ));
    };
    let mut chain = vec![certs.remove(leaf)];
    chain.extend(certs.into_iter().rev());
    Ok(Identity { chain, key })
}

/// Every certificate in a PEM file; other sections (such as keys) are skipped.
pub(crate) fn parse_certs(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, String> {
    CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("it is not valid PEM: {e}"))
}

/// Certificates from a file that must hold at least one.
fn load_certs(
    key: &'static str,
    path: &Path,
) -> Result<Vec<CertificateDer<'static>>, RuntimeError> {
    let pem = read_pem(key, path)?;
    let certs = parse_certs(&pem).map_err(|why| tls_error(key, path, why))?;
    if certs.is_empty() {
        return Err(tls_error(
            key,
            path,
            "it holds no certificate (expected CERTIFICATE sections)",
        ));
    }
    Ok(certs)
}

/// Trust anchors from a CA bundle; every certificate in it must be usable.
fn load_roots(key: &'static str, path: &Path) -> Result<RootCertStore, RuntimeError> {
    let certs = load_certs(key, path)?;
    let mut roots = RootCertStore::empty();
    let total = certs.len();
    for (i, cert) in certs.into_iter().enumerate() {
        roots.add(cert).map_err(|e| {
            tls_error(
                key,
                path,
                format!(
                    "certificate {} of {total} cannot be a trust anchor: {e}",
                    i + 1
                ),
            )
        })?;
    }
    Ok(roots)
}

/// The operating system's trust store (with `SSL_CERT_FILE` / `SSL_CERT_DIR`
/// honoured), for a client given no CA bundle.
fn system_roots() -> Result<RootCertStore, RuntimeError> {
    let found = rustls_native_certs::load_native_certs();
    for e in &found.errors {
        debug!("reading the system trust store: {e}");
    }
    let mut roots = RootCertStore::empty();
    let (added, ignored) = roots.add_parsable_certificates(found.certs);
    debug!("{added} system trust anchors loaded ({ignored} unusable)");
    if roots.is_empty() {
        let why = found
            .errors
            .first()
            .map_or_else(|| "it is empty".to_string(), |e| e.to_string());
        return Err(RuntimeError::Settings(format!(
            "no {TRUSTED_CA_KEY} is given and the system trust store has no usable \
             certificate ({why}): set it to the CA bundle that issued the server's certificate"
        )));
    }
    Ok(roots)
}

/// What the node's own certificate must be good for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Purpose {
    Server,
    Client,
}

/// Checks the node's own certificate now, as its peer will: within its
/// validity period and allowed for `purpose` (extended key usage), with the
/// chain in the bundle signing it. The bundle's other certificates serve as
/// trust anchors; a chain that leaves the bundle cannot be followed here and
/// is left to the peer.
pub(crate) fn check_own_certificate(
    identity: &Identity,
    purpose: Purpose,
    provider: &Arc<CryptoProvider>,
) -> Result<(), String> {
    let Some((leaf, rest)) = identity.chain.split_first() else {
        return Err("it holds no certificate".into());
    };
    let mut roots = RootCertStore::empty();
    let anchors = if rest.is_empty() {
        std::slice::from_ref(leaf)
    } else {
        rest
    };
    roots.add_parsable_certificates(anchors.iter().cloned());
    if roots.is_empty() {
        debug!(
            "no certificate of the bundle can serve as an anchor; its chain is left to the peer"
        );
        return Ok(());
    }
    let now = UnixTime::now();
    let result = match purpose {
        Purpose::Server => ParsedCertificate::try_from(leaf).and_then(|parsed| {
            verify_server_cert_signed_by_trust_anchor(
                &parsed,
                &roots,
                rest,
                now,
                provider.signature_verification_algorithms.all,
            )
        }),
        Purpose::Client => {
            WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                .build()
                .map_err(|e| TlsError::General(e.to_string()))
                .and_then(|v| v.verify_client_cert(leaf, rest, now).map(|_| ()))
        }
    };
    match result {
        Ok(()) => Ok(()),
        Err(TlsError::InvalidCertificate(CertificateError::UnknownIssuer)) => {
            debug!("the bundle's certificate is issued by a CA outside the bundle; the peer checks that chain");
            Ok(())
        }
        Err(e) => {
            let role = match purpose {
                Purpose::Server => {
                    "a TLS server (it needs the TLS Web Server Authentication usage)"
                }
                Purpose::Client => {
                    "a mutual TLS client (it needs the TLS Web Client Authentication usage)"
                }
            };
            Err(format!("its certificate cannot serve {role}: {e}"))
        }
    }
}

/// The peer certificates accepted under mutual TLS, from
/// `mutualTLSTrustedPeerCertificateBundleFilePath` (keys in it are ignored).
#[derive(Debug)]
pub(crate) struct Pins {
    certs: Vec<CertificateDer<'static>>,
    file: PathBuf,
}

impl Pins {
    fn load(path: &Path) -> Result<Pins, RuntimeError> {
        Ok(Pins {
            certs: load_certs(TRUSTED_PEERS_KEY, path)?,
            file: path.to_path_buf(),
        })
    }

    /// `Ok` when `end_entity` is one of the pinned certificates, byte for byte.
    fn check(&self, end_entity: &CertificateDer<'_>, peer: &'static str) -> Result<(), TlsError> {
        if self.certs.iter().any(|c| c.as_ref() == end_entity.as_ref()) {
            return Ok(());
        }
        Err(TlsError::InvalidCertificate(CertificateError::Other(
            OtherError(Arc::new(NotPinned {
                peer,
                file: self.file.clone(),
            })),
        )))
    }
}

/// A valid peer certificate that is not in the pinned peer bundle.
#[derive(Debug)]
struct NotPinned {
    peer: &'static str,
    file: PathBuf,
}

impl fmt::Display for NotPinned {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the {} certificate is not in the pinned peer bundle {} ({TRUSTED_PEERS_KEY})",
            self.peer,
            self.file.display()
        )
    }
}

impl std::error::Error for NotPinned {}

/// rustls's WebPKI server verification (chain, validity, usage, name), then
/// the pin. Signatures are rustls's to check.
#[derive(Debug)]
struct PinnedServerVerifier {
    inner: Arc<WebPkiServerVerifier>,
    pins: Pins,
}

impl ServerCertVerifier for PinnedServerVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, TlsError> {
        let verified = self.inner.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        )?;
        self.pins.check(end_entity, "server")?;
        Ok(verified)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, TlsError> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, TlsError> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// rustls's WebPKI client verification (chain, validity, usage), then the
/// pin. Signatures are rustls's to check.
#[derive(Debug)]
struct PinnedClientVerifier {
    inner: Arc<dyn ClientCertVerifier>,
    pins: Pins,
}

impl ClientCertVerifier for PinnedClientVerifier {
    fn offer_client_auth(&self) -> bool {
        self.inner.offer_client_auth()
    }

    fn client_auth_mandatory(&self) -> bool {
        self.inner.client_auth_mandatory()
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.inner.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, TlsError> {
        let verified = self
            .inner
            .verify_client_cert(end_entity, intermediates, now)?;
        self.pins.check(end_entity, "client")?;
        Ok(verified)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, TlsError> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, TlsError> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// A TLS error as a reason for the log, with a hint where the usual cause is
/// a setting on one side or the other.
pub(crate) fn describe(e: &TlsError) -> String {
    if let TlsError::InvalidCertificate(CertificateError::Other(OtherError(inner))) = e {
        // rustls shows these with Debug; ours (the pin) read better as Display.
        return format!("invalid peer certificate: {inner}");
    }
    let hint = match e {
        TlsError::NoCertificatesPresented => {
            "mutual TLS needs enableMutualTLS and tlsBundleFilePath on the client"
        }
        TlsError::AlertReceived(AlertDescription::CertificateRequired) => {
            "the server requires a client certificate: set enableMutualTLS and tlsBundleFilePath"
        }
        TlsError::AlertReceived(AlertDescription::UnknownCA) => {
            "the peer does not trust the CA that issued our certificate \
             (its mutualTLSTrustedCACertificateBundleFilePath)"
        }
        TlsError::AlertReceived(
            AlertDescription::BadCertificate
            | AlertDescription::CertificateUnknown
            | AlertDescription::AccessDenied,
        ) => {
            "the peer refused our certificate (is it in the peer's \
             mutualTLSTrustedPeerCertificateBundleFilePath?)"
        }
        TlsError::AlertReceived(AlertDescription::CertificateExpired) => {
            "the peer says our certificate has expired or is not valid yet"
        }
        TlsError::AlertReceived(AlertDescription::UnsupportedCertificate) => {
            "the peer says our certificate is not allowed for this use (extended key usage)"
        }
        TlsError::InvalidCertificate(CertificateError::UnknownIssuer) => {
            "the peer's certificate is not issued by a CA we trust \
             (mutualTLSTrustedCACertificateBundleFilePath, or the system roots)"
        }
        TlsError::InvalidMessage(_) => "is the peer speaking TLS?",
        _ => "",
    };
    if hint.is_empty() {
        e.to_string()
    } else {
        format!("{e} ({hint})")
    }
}

/// The checks a node makes at start, for `tcpws check` and the like: loads
/// every TLS file `settings` name and builds the TLS configs, without binding
/// or connecting anything.
pub fn check_tls(settings: &NodeSettings) -> Result<(), RuntimeError> {
    load(settings).map(|_| ())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
        KeyUsagePurpose,
    };

    /// A certificate and its key, in PEM.
    pub(crate) struct Made {
        pub(crate) cert: rcgen::Certificate,
        pub(crate) key: KeyPair,
    }

    impl Made {
        pub(crate) fn cert_pem(&self) -> String {
            self.cert.pem()
        }
        pub(crate) fn key_pem(&self) -> String {
            self.key.serialize_pem()
        }
    }

    fn params(cn: &str, ca: bool) -> CertificateParams {
        let mut p = CertificateParams::new(if ca {
            vec![]
        } else {
            vec!["localhost".to_string(), "127.0.0.1".to_string()]
        })
        .unwrap();
        p.distinguished_name.push(DnType::CommonName, cn);
        if ca {
            p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        } else {
            p.extended_key_usages = vec![
                ExtendedKeyUsagePurpose::ServerAuth,
                ExtendedKeyUsagePurpose::ClientAuth,
            ];
        }
        p
    }

    pub(crate) fn root(cn: &str) -> Made {
        let key = KeyPair::generate().unwrap();
        let cert = params(cn, true).self_signed(&key).unwrap();
        Made { cert, key }
    }

    pub(crate) fn issue(cn: &str, ca: bool, by: &Made) -> Made {
        issue_with(params(cn, ca), by)
    }

    pub(crate) fn issue_with(params: CertificateParams, by: &Made) -> Made {
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &by.cert, &by.key).unwrap();
        Made { cert, key }
    }

    /// Root, intermediate CA and a leaf, as the seed's README builds them.
    pub(crate) fn chain(cn: &str) -> (Made, Made, Made) {
        let root = root(&format!("{cn} root"));
        let ca = issue(&format!("{cn} CA"), true, &root);
        let leaf = issue(cn, false, &ca);
        (root, ca, leaf)
    }

    fn der(m: &Made) -> CertificateDer<'static> {
        m.cert.der().clone()
    }

    #[test]
    fn the_seed_bundle_order_finds_the_leaf_and_orders_the_chain() {
        let (root, ca, leaf) = chain("node");
        // cat Root.crt CA.crt My.{crt,key}
        let pem = [
            root.cert_pem(),
            ca.cert_pem(),
            leaf.cert_pem(),
            leaf.key_pem(),
        ]
        .concat();
        let id = parse_identity(pem.as_bytes(), &provider()).unwrap();
        assert_eq!(id.chain, vec![der(&leaf), der(&ca), der(&root)]);
        check_own_certificate(&id, Purpose::Server, &provider()).unwrap();
        check_own_certificate(&id, Purpose::Client, &provider()).unwrap();
    }

    #[test]
    fn any_order_finds_the_certificate_of_the_key() {
        let (root, ca, leaf) = chain("node");
        let orders = [
            [
                leaf.key_pem(),
                leaf.cert_pem(),
                ca.cert_pem(),
                root.cert_pem(),
            ],
            [
                ca.cert_pem(),
                leaf.key_pem(),
                root.cert_pem(),
                leaf.cert_pem(),
            ],
            [
                leaf.cert_pem(),
                root.cert_pem(),
                ca.cert_pem(),
                leaf.key_pem(),
            ],
        ];
        for order in orders {
            let id = parse_identity(order.concat().as_bytes(), &provider()).unwrap();
            assert_eq!(id.chain[0], der(&leaf));
            assert_eq!(id.chain.len(), 3);
        }
        // A lone certificate and key work too.
        let pem = [leaf.key_pem(), leaf.cert_pem()].concat();
        let id = parse_identity(pem.as_bytes(), &provider()).unwrap();
        assert_eq!(id.chain, vec![der(&leaf)]);
        check_own_certificate(&id, Purpose::Server, &provider()).unwrap();
    }

    #[test]
    fn peer_bundles_yield_certificates_and_ignore_keys() {
        let (_, _, leaf) = chain("peer");
        let pem = [leaf.cert_pem(), leaf.key_pem()].concat();
        assert_eq!(parse_certs(pem.as_bytes()).unwrap(), vec![der(&leaf)]);
        assert_eq!(parse_certs(leaf.key_pem().as_bytes()).unwrap(), vec![]);
    }

    fn temp_file(name: &str, text: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("tcpws-tls-unit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    fn error_text(e: RuntimeError) -> String {
        assert!(matches!(e, RuntimeError::Tls { .. }), "{e:?}");
        e.to_string()
    }

    #[test]
    fn a_bundle_without_key_or_certificate_names_key_and_file() {
        let (root, ca, leaf) = chain("node");
        let no_key = temp_file(
            "no-key.pem",
            &[root.cert_pem(), ca.cert_pem(), leaf.cert_pem()].concat(),
        );
        let text = error_text(load_identity(&no_key, &provider()).unwrap_err());
        assert!(text.contains(TLS_BUNDLE_KEY), "{text}");
        assert!(text.contains(&no_key.display().to_string()), "{text}");
        assert!(text.contains("no private key"), "{text}");

        let no_cert = temp_file("no-cert.pem", &leaf.key_pem());
        let text = error_text(load_identity(&no_cert, &provider()).unwrap_err());
        assert!(
            text.contains("no certificate") && text.contains("no-cert.pem"),
            "{text}"
        );

        let other = chain("other");
        let wrong = temp_file("wrong.pem", &[other.2.cert_pem(), leaf.key_pem()].concat());
        let text = error_text(load_identity(&wrong, &provider()).unwrap_err());
        assert!(text.contains("is for its private key"), "{text}");

        let missing = no_key.with_file_name("missing.pem");
        let text = error_text(load_identity(&missing, &provider()).unwrap_err());
        assert!(
            text.contains("cannot open") && text.contains("missing.pem"),
            "{text}"
        );

        let garbage = temp_file("garbage.pem", "-----BEGIN CERTIFICATE-----\n!!!!\n");
        let text = error_text(load_identity(&garbage, &provider()).unwrap_err());
        assert!(text.contains("not valid PEM"), "{text}");

        let empty_peers = temp_file("peers.pem", &leaf.key_pem());
        let text = error_text(Pins::load(&empty_peers).unwrap_err());
        assert!(
            text.contains(TRUSTED_PEERS_KEY) && text.contains("no certificate"),
            "{text}"
        );
    }

    #[test]
    fn expired_and_wrong_purpose_certificates_are_refused_at_start() {
        let root = root("root");
        let mut p = params("old", false);
        p.not_before = rcgen::date_time_ymd(2001, 1, 1);
        p.not_after = rcgen::date_time_ymd(2002, 1, 1);
        let old = issue_with(p, &root);
        let pem = [root.cert_pem(), old.cert_pem(), old.key_pem()].concat();
        let id = parse_identity(pem.as_bytes(), &provider()).unwrap();
        let why = check_own_certificate(&id, Purpose::Server, &provider()).unwrap_err();
        assert!(why.contains("expired"), "{why}");

        let mut p = params("client-only", false);
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let client_only = issue_with(p, &root);
        let pem = [
            root.cert_pem(),
            client_only.cert_pem(),
            client_only.key_pem(),
        ]
        .concat();
        let id = parse_identity(pem.as_bytes(), &provider()).unwrap();
        let why = check_own_certificate(&id, Purpose::Server, &provider()).unwrap_err();
        assert!(why.contains("Web Server Authentication"), "{why}");
        check_own_certificate(&id, Purpose::Client, &provider()).unwrap();

        // Issued by a CA outside the bundle: the peer checks the chain.
        let pem = [client_only.cert_pem(), client_only.key_pem()].concat();
        let id = parse_identity(pem.as_bytes(), &provider()).unwrap();
        check_own_certificate(&id, Purpose::Client, &provider()).unwrap();
    }

    #[test]
    fn pins_compare_the_end_entity_certificate() {
        let (_, _, a) = chain("a");
        let (_, _, b) = chain("b");
        let pins = Pins {
            certs: vec![der(&a)],
            file: PathBuf::from("/x/peers.pem"),
        };
        pins.check(&der(&a), "client").unwrap();
        let e = pins.check(&der(&b), "client").unwrap_err();
        let text = describe(&e);
        assert!(
            text.contains("client certificate is not in the pinned peer bundle /x/peers.pem"),
            "{text}"
        );
    }
}
