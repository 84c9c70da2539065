//! The rustls server and client configs a node's TLS settings call for.

use std::path::Path;
use std::sync::Arc;

use log::{debug, info, warn};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::server::danger::ClientCertVerifier;
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, Error as TlsError, ServerConfig};
use rustls_pki_types::ServerName;

use crate::error::RuntimeError;
use crate::settings::TlsSettings;
use crate::tls::files::{load_identity, load_roots, system_roots, tls_error, Identity};
use crate::tls::own_certificate::{check_own_certificate, Purpose};
use crate::tls::pinned::{Pinned, Pins};
use crate::tls::{ClientTls, TLS_BUNDLE_KEY, TRUSTED_CA_KEY, TRUSTED_PEERS_KEY};

/// The rustls server config: our bundle and, under mutual TLS, the
/// client verifier (the CA, then the pins when given).
pub(crate) fn server_config(
    tls: &TlsSettings,
    provider: &Arc<CryptoProvider>,
) -> Result<ServerConfig, RuntimeError> {
    let (bundle, identity) = own_identity(
        tls,
        Purpose::Server,
        "a TLS server (https or wss serverUrl)",
        "its",
        provider,
    )?;
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
            Some(peers) => Arc::new(Pinned::new(inner, Pins::load(peers)?)),
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
            listed_in(tls)
        );
        builder.with_client_cert_verifier(verifier)
    } else {
        info!("TLS on (server certificate from {})", bundle.display());
        builder.with_no_client_auth()
    };
    builder
        .with_single_cert(identity.chain, identity.key)
        .map_err(refused(bundle))
}

/// The rustls client config: the server verified against the CA bundle
/// or the system roots (then the pins, under mutual TLS), and our bundle
/// under mutual TLS.
pub(crate) fn client_config(
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
                .with_custom_certificate_verifier(Arc::new(Pinned::new(inner, Pins::load(peers)?))),
            None => {
                warn!(
                    "mutual TLS without {TRUSTED_PEERS_KEY}: any server certificate issued by {roots_from} for {host} is accepted"
                );
                builder.with_webpki_verifier(inner)
            }
        };
        let (bundle, identity) =
            own_identity(tls, Purpose::Client, "mutual TLS", "the client's", provider)?;
        info!(
            "TLS on, with mutual TLS: the server at {host} must present a certificate issued by {roots_from}{}; ours comes from {}",
            listed_in(tls),
            bundle.display()
        );
        builder
            .with_client_auth_cert(identity.chain, identity.key)
            .map_err(refused(bundle))?
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

/// The node's own key and certificates (`tlsBundleFilePath`), checked for
/// `purpose`. Without the setting, the error says `needed_by` needs `whose`
/// key and certificate.
fn own_identity<'t>(
    tls: &'t TlsSettings,
    purpose: Purpose,
    needed_by: &str,
    whose: &str,
    provider: &Arc<CryptoProvider>,
) -> Result<(&'t Path, Identity), RuntimeError> {
    let bundle = tls.bundle.as_deref().ok_or_else(|| {
        RuntimeError::Settings(format!(
            "{needed_by} needs {TLS_BUNDLE_KEY}: {whose} key and certificate"
        ))
    })?;
    let identity = load_identity(bundle, provider)?;
    check_own_certificate(&identity, purpose, provider)
        .map_err(|why| tls_error(TLS_BUNDLE_KEY, bundle, why))?;
    Ok((bundle, identity))
}

/// rustls's refusal of the node's key and certificate, as an error naming
/// the bundle.
fn refused(bundle: &Path) -> impl FnOnce(TlsError) -> RuntimeError + '_ {
    move |e| {
        tls_error(
            TLS_BUNDLE_KEY,
            bundle,
            format!("rustls refused the key and certificate: {e}"),
        )
    }
}

/// " and listed in FILE" when peers are pinned, for the log.
fn listed_in(tls: &TlsSettings) -> String {
    tls.trusted_peers
        .as_deref()
        .map(|p| format!(" and listed in {}", p.display()))
        .unwrap_or_default()
}
