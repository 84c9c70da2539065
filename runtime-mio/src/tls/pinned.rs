//! Certificate pinning under mutual TLS: rustls's WebPKI verification of
//! the peer, then a byte-for-byte match against the pinned peer bundle.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{
    CertificateError, DigitallySignedStruct, DistinguishedName, Error as TlsError, OtherError,
    SignatureScheme,
};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};

use crate::error::RuntimeError;
use crate::tls::files::load_certs;
use crate::tls::TRUSTED_PEERS_KEY;

/// The peer certificates accepted under mutual TLS, from
/// `mutualTLSTrustedPeerCertificateBundleFilePath` (keys in it are ignored).
#[derive(Debug)]
pub(crate) struct Pins {
    certs: Vec<CertificateDer<'static>>,
    file: PathBuf,
}

impl Pins {
    /// The pinned certificates in `path`, which must hold at least one.
    pub(crate) fn load(path: &Path) -> Result<Pins, RuntimeError> {
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

/// A rustls WebPKI verifier of the peer (`V`, a server or a client
/// verifier), then the pin: the peer is accepted only when both agree.
/// Handshake signatures are the inner verifier's to check.
#[derive(Debug)]
pub(crate) struct Pinned<V: ?Sized> {
    inner: Arc<V>,
    pins: Pins,
}

impl<V: ?Sized> Pinned<V> {
    pub(crate) fn new(inner: Arc<V>, pins: Pins) -> Pinned<V> {
        Pinned { inner, pins }
    }

    /// The inner verifier's verdict, kept only if `end_entity` is pinned too.
    fn pinned<T>(
        &self,
        verified: Result<T, TlsError>,
        end_entity: &CertificateDer<'_>,
        peer: &'static str,
    ) -> Result<T, TlsError> {
        let verified = verified?;
        self.pins.check(end_entity, peer)?;
        Ok(verified)
    }
}

/// The signature methods both verifier traits declare, handed to `inner`;
/// a macro because they belong to two different traits.
macro_rules! signatures_by_inner {
    () => {
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
    };
}

/// A client's check of the server: chain, validity, usage and name, then the pin.
impl ServerCertVerifier for Pinned<WebPkiServerVerifier> {
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
        );
        self.pinned(verified, end_entity, "server")
    }

    signatures_by_inner!();
}

/// A server's check of a client: chain, validity and usage, then the pin.
impl ClientCertVerifier for Pinned<dyn ClientCertVerifier> {
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
            .verify_client_cert(end_entity, intermediates, now);
        self.pinned(verified, end_entity, "client")
    }

    signatures_by_inner!();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tls::describe;
    use crate::tls::test_certs::{chain, der};

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
