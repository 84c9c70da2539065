//! The node's own certificate, checked at start as its peer will check it.

use std::sync::Arc;

use log::debug;
use rustls::client::verify_server_cert_signed_by_trust_anchor;
use rustls::crypto::CryptoProvider;
use rustls::server::{ParsedCertificate, WebPkiClientVerifier};
use rustls::{CertificateError, Error as TlsError, RootCertStore};
use rustls_pki_types::UnixTime;

use crate::tls::files::Identity;

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tls::files::parse_identity;
    use crate::tls::provider;
    use crate::tls::test_certs::{issue_with, params, root};
    use rcgen::ExtendedKeyUsagePurpose;

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
}
