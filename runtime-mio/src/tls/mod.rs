//! TLS policy and material: the PEM files the config names, the rustls
//! server and client configs made from them, and the verifiers that pin the
//! peer's certificate on top of rustls's own WebPKI checks.
//!
//! Everything here runs in [`Node::new`](crate::Node::new), so a bad file
//! stops the node at start with an error naming the config key and the
//! file; nothing falls back to plain text. A reload (SIGHUP, `reload`) runs
//! it again and keeps the old configs when a file fails.
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

pub(crate) mod client_ids;
pub(crate) mod config;
pub(crate) mod files;
pub(crate) mod own_certificate;
pub(crate) mod pinned;
pub(crate) mod reload;
#[cfg(test)]
pub(crate) mod test_certs;

use std::sync::Arc;

use log::debug;
use rustls::crypto::CryptoProvider;
use rustls::{
    AlertDescription, CertificateError, ClientConfig, Error as TlsError, OtherError, ServerConfig,
};
use rustls_pki_types::ServerName;

use crate::error::RuntimeError;
use crate::settings::{NodeSettings, TlsSettings};
use config::{client_config, server_config};

/// The config key of the node's own key + certificate + chain bundle.
pub const TLS_BUNDLE_KEY: &str = "dataExchange.tlsBundleFilePath";
/// The config key of the CA certificates that may issue the peer's certificate.
pub const TRUSTED_CA_KEY: &str = "dataExchange.mutualTLSTrustedCACertificateBundleFilePath";
/// The config key of the peer certificates pinned under mutual TLS.
pub const TRUSTED_PEERS_KEY: &str = "dataExchange.mutualTLSTrustedPeerCertificateBundleFilePath";

/// rustls's cap on TLS bytes queued for the socket, per connection. Twice the
/// protocol's default message (1 MiB) plus record overhead, so one
/// `write` takes a whole message, and a stalled link holds at most this
/// much in rustls.
pub(crate) const BUFFER_LIMIT: usize = 2 * 1024 * 1024 + 64 * 1024;

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
        client_certificates: None,
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
    load(settings)?;
    if settings.protocol.role == tcpws_protocol::Role::Server {
        client_ids::ClientIds::load(settings)?;
    }
    Ok(())
}
