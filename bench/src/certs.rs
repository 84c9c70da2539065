//! A throwaway PKI for the wss:// cases: a self-signed CA and a server
//! certificate for 127.0.0.1 issued by it, written as the PEM files the
//! config keys name (and, split, as a peer's flags take them).

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose,
};

use crate::error::BenchError;

/// The files of one PKI.
#[derive(Debug, Clone)]
pub struct CertFiles {
    /// The server's key, certificate and the CA (`tlsBundleFilePath`).
    pub bundle: PathBuf,
    /// The CA certificate the client trusts
    /// (`mutualTLSTrustedCACertificateBundleFilePath`).
    pub ca: PathBuf,
    /// The server's certificate and the CA alone, for a peer that takes
    /// the key apart (wstunnel's `--tls-certificate`).
    pub chain: PathBuf,
    /// The server's key alone (wstunnel's `--tls-private-key`).
    pub key: PathBuf,
}

/// Makes the certificates and writes them into `dir`.
pub fn write(dir: &Path) -> Result<CertFiles, BenchError> {
    let failed = |e: rcgen::Error| BenchError::Tunnel(format!("cannot make a certificate: {e}"));
    let ca_key = KeyPair::generate().map_err(failed)?;
    let mut ca = CertificateParams::new(Vec::<String>::new()).map_err(failed)?;
    ca.distinguished_name
        .push(DnType::CommonName, "tcpws bench CA");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca = ca.self_signed(&ca_key).map_err(failed)?;

    let key = KeyPair::generate().map_err(failed)?;
    let mut leaf = CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])
        .map_err(failed)?;
    leaf.distinguished_name
        .push(DnType::CommonName, "tcpws bench server");
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let leaf = leaf.signed_by(&key, &ca, &ca_key).map_err(failed)?;

    std::fs::create_dir_all(dir).map_err(BenchError::io(format!("create {}", dir.display())))?;
    let files = CertFiles {
        bundle: dir.join("server-bundle.pem"),
        ca: dir.join("ca.pem"),
        chain: dir.join("server-chain.pem"),
        key: dir.join("server-key.pem"),
    };
    let chain = [leaf.pem(), ca.pem()].concat();
    let bundle = [chain.clone(), key.serialize_pem()].concat();
    for (path, text) in [
        (&files.bundle, bundle),
        (&files.ca, ca.pem()),
        (&files.chain, chain),
        (&files.key, key.serialize_pem()),
    ] {
        std::fs::write(path, text).map_err(BenchError::io(format!("write {}", path.display())))?;
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_a_bundle_and_a_ca() {
        let dir = std::env::temp_dir().join(format!("tcpws-bench-certs-{}", std::process::id()));
        let files = write(&dir).unwrap();
        let bundle = std::fs::read_to_string(&files.bundle).unwrap();
        assert_eq!(bundle.matches("BEGIN CERTIFICATE").count(), 2);
        assert!(bundle.contains("PRIVATE KEY"));
        let ca = std::fs::read_to_string(&files.ca).unwrap();
        assert_eq!(ca.matches("BEGIN CERTIFICATE").count(), 1);
        let chain = std::fs::read_to_string(&files.chain).unwrap();
        assert_eq!(chain.matches("BEGIN CERTIFICATE").count(), 2);
        assert!(!chain.contains("PRIVATE KEY"));
        let key = std::fs::read_to_string(&files.key).unwrap();
        assert!(key.contains("PRIVATE KEY") && !key.contains("CERTIFICATE"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
