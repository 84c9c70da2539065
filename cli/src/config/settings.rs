//! Turning a [`FileConfig`] into what the runtime runs: the protocol's
//! [`Config`](tcpws_protocol::Config) plus addresses and TLS files.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use tcpws_protocol::{Config, Role};
use tcpws_runtime_mio::{ConnectSpec, ListenSpec, NodeSettings, ServerAddr, TlsSettings};

use super::{ConfigError, FileConfig};

const TLS_BUNDLE: &str = "dataExchange.tlsBundleFilePath";
const TRUSTED_CA: &str = "dataExchange.mutualTLSTrustedCACertificateBundleFilePath";
const TRUSTED_PEERS: &str = "dataExchange.mutualTLSTrustedPeerCertificateBundleFilePath";

impl FileConfig {
    /// This node's role: the server, or client 1 or 2.
    pub fn role(&self) -> Role {
        if self.we_are_server {
            Role::Server
        } else {
            Role::Client(self.client_id)
        }
    }

    /// The settings the runtime needs. TLS is on when the server URL is
    /// `https` or `wss`; the TLS files are then checked here, so a missing
    /// file is a config error naming its key:
    /// * a TLS server needs `tlsBundleFilePath` (its key and certificate);
    /// * mutual TLS needs `tlsBundleFilePath` and
    ///   `mutualTLSTrustedCACertificateBundleFilePath` on both sides;
    /// * a needed path must name an existing file; any other path that names
    ///   no file is dropped, as the seed does, so the seed's placeholder
    ///   paths do no harm.
    ///
    /// Without TLS all the file paths are ignored.
    pub fn to_node_settings(&self) -> Result<NodeSettings, ConfigError> {
        let dx = &self.data_exchange;
        let mut protocol = Config::new(self.role());
        protocol.listens = self.listens.iter().map(|l| l.name.clone()).collect();
        protocol.connects = self.connects.iter().map(|c| c.name.clone()).collect();
        protocol.standby_close = self.standby_close;
        protocol.stream_window = dx.buffer_bytes;
        protocol.resume_grace = dx.resume_grace;
        protocol.failover_after = dx.failover_after;
        protocol.keepalive_interval = dx.keepalive_interval;
        protocol.keepalive_timeout = dx.keepalive_timeout;
        protocol.rng_seed = fresh_seed();
        protocol
            .validate()
            .map_err(|why| ConfigError::key("(settings)", why))?;

        let tls = if dx.server_url.tls() {
            let mutual = dx.enable_mutual_tls;
            let bundle = tls_file(
                TLS_BUNDLE,
                dx.tls_bundle.as_deref(),
                self.we_are_server || mutual,
            )?;
            let trusted_ca = tls_file(TRUSTED_CA, dx.trusted_ca.as_deref(), mutual)?;
            let trusted_peers = tls_file(TRUSTED_PEERS, dx.trusted_peers.as_deref(), mutual)?;
            if bundle.is_none() && (self.we_are_server || mutual) {
                let why = if self.we_are_server {
                    "a TLS server (https or wss serverUrl)"
                } else {
                    "mutual TLS"
                };
                return Err(ConfigError::key(
                    TLS_BUNDLE,
                    format!(
                        "expected the path of a PEM key + certificate bundle, needed for {why}"
                    ),
                ));
            }
            if mutual && trusted_ca.is_none() {
                return Err(ConfigError::key(
                    TRUSTED_CA,
                    "expected the path of a PEM file of the peer's CA certificates, \
                     needed for mutual TLS",
                ));
            }
            Some(TlsSettings {
                bundle,
                mutual,
                trusted_ca,
                trusted_peers,
            })
        } else {
            None
        };

        Ok(NodeSettings {
            protocol,
            server: ServerAddr {
                host: if self.we_are_server {
                    dx.server_bind_address.clone()
                } else {
                    dx.server_url.host.clone()
                },
                port: dx.server_url.port,
                path: dx.server_url.path.clone(),
                tls: dx.server_url.tls(),
            },
            listens: self
                .listens
                .iter()
                .map(|l| ListenSpec {
                    name: l.name.clone(),
                    bind_address: l.bind_address.clone(),
                    port: l.port,
                })
                .collect(),
            connects: self
                .connects
                .iter()
                .map(|c| ConnectSpec {
                    name: c.name.clone(),
                    host: c.host.clone(),
                    port: c.port,
                })
                .collect(),
            tls,
            connect_timeout: dx.connect_timeout,
        })
    }
}

/// `path` when it is set and names a file. A path naming nothing is an
/// error naming `key` when the file is `needed`, else dropped (the seed's rule).
fn tls_file(key: &str, path: Option<&Path>, needed: bool) -> Result<Option<PathBuf>, ConfigError> {
    match path {
        None => Ok(None),
        Some(p) if p.is_file() => Ok(Some(p.to_path_buf())),
        Some(_) if !needed => Ok(None),
        Some(p) => Err(ConfigError::key(
            key,
            format!(
                "expected the path of a readable file, got {:?} (not found)",
                p.display().to_string()
            ),
        )),
    }
}

/// A seed for reconnect jitter that differs between processes and runs.
fn fresh_seed() -> u64 {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    nanos ^ (u64::from(std::process::id()) << 32) ^ 0x7463_7077_7321
}
