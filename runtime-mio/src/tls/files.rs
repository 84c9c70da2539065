//! The PEM files a TLS node's config names: its own key and certificate
//! bundle, CA bundles and pinned peer bundles. Every error names the config
//! key and the file.

use std::path::Path;

use log::debug;
use rustls::crypto::CryptoProvider;
use rustls::server::ParsedCertificate;
use rustls::RootCertStore;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::error::RuntimeError;
use crate::tls::{TLS_BUNDLE_KEY, TRUSTED_CA_KEY};

/// The largest PEM file we read (a bundle is a few KiB; a system-wide CA
/// list a few hundred).
const MAX_PEM_FILE: u64 = 16 * 1024 * 1024;

/// A TLS setup error naming the config `key` and the file.
pub(crate) fn tls_error(key: &'static str, file: &Path, why: impl Into<String>) -> RuntimeError {
    RuntimeError::Tls {
        key,
        file: file.to_path_buf(),
        why: why.into(),
    }
}

/// Reads a PEM file, bounded.
pub(crate) fn read_pem(key: &'static str, path: &Path) -> Result<Vec<u8>, RuntimeError> {
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

/// The node's own bundle at `path`, read and parsed.
pub(crate) fn load_identity(
    path: &Path,
    provider: &CryptoProvider,
) -> Result<Identity, RuntimeError> {
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
pub(crate) fn load_certs(
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
pub(crate) fn load_roots(key: &'static str, path: &Path) -> Result<RootCertStore, RuntimeError> {
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
pub(crate) fn system_roots() -> Result<RootCertStore, RuntimeError> {
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

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::tls::own_certificate::{check_own_certificate, Purpose};
    use crate::tls::pinned::Pins;
    use crate::tls::provider;
    use crate::tls::test_certs::{chain, der};
    use crate::tls::TRUSTED_PEERS_KEY;

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
}
