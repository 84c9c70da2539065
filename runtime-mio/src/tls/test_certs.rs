//! Certificates made for the unit tests (rcgen): roots, CAs and leaves.

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose,
};
use rustls_pki_types::CertificateDer;

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

/// Parameters for a CA, or for a leaf for localhost and 127.0.0.1 that
/// may serve as server and as client.
pub(crate) fn params(cn: &str, ca: bool) -> CertificateParams {
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

/// A self-signed root CA.
pub(crate) fn root(cn: &str) -> Made {
    let key = KeyPair::generate().unwrap();
    let cert = params(cn, true).self_signed(&key).unwrap();
    Made { cert, key }
}

/// A certificate for `cn` (a CA when `ca`) issued by `by`.
pub(crate) fn issue(cn: &str, ca: bool, by: &Made) -> Made {
    issue_with(params(cn, ca), by)
}

/// A certificate with `params` issued by `by`.
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

/// The certificate as rustls takes it.
pub(crate) fn der(m: &Made) -> CertificateDer<'static> {
    m.cert.der().clone()
}
