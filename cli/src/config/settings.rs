//! Turning a [`FileConfig`] into what the runtime runs: the protocol's
//! [`Config`](tcpws_protocol::Config) plus addresses and TLS files.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use tcpws_protocol::{Config, Role};
use tcpws_runtime_mio::{ConnectSpec, ListenSpec, NodeSettings, ServerAddr, TlsSettings};

use super::{secret, ConfigError, FileConfig};

const TLS_BUNDLE: &str = "dataExchange.tlsBundleFilePath";
const TRUSTED_CA: &str = "dataExchange.mutualTLSTrustedCACertificateBundleFilePath";
const TRUSTED_PEERS: &str = "dataExchange.mutualTLSTrustedPeerCertificateBundleFilePath";
const CLIENT_CERTIFICATES: &str = "dataExchange.mutualTLSClientCertificates";

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
        protocol.connect_timeout = dx.connect_timeout;
        protocol.handshake_timeout = dx.handshake_timeout;
        protocol.keepalive_interval = dx.keepalive_interval;
        protocol.keepalive_timeout = dx.keepalive_timeout;
        protocol.rng_seed = fresh_seed();
        protocol.shared_secret = match &dx.shared_secret_file {
            Some(path) => Some(secret::read(path)?),
            None => None,
        };
        protocol
            .validate()
            .map_err(|why| ConfigError::key("(settings)", why.to_string()))?;

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
            let client_certificates = match &dx.client_certificates {
                Some([one, two]) if self.we_are_server => {
                    if !mutual {
                        return Err(ConfigError::key(
                            CLIENT_CERTIFICATES,
                            "binds client ids to TLS client certificates: it needs enableMutualTLS",
                        ));
                    }
                    let one = tls_file(CLIENT_CERTIFICATES, Some(one), true)?;
                    let two = tls_file(CLIENT_CERTIFICATES, Some(two), true)?;
                    one.zip(two).map(|(a, b)| [a, b])
                }
                _ => None,
            };
            Some(TlsSettings {
                bundle,
                mutual,
                trusted_ca,
                trusted_peers,
                client_certificates,
            })
        } else {
            if self.we_are_server && dx.client_certificates.is_some() {
                return Err(ConfigError::key(
                    CLIENT_CERTIFICATES,
                    "binds client ids to TLS client certificates: it needs a wss:// or \
                     https:// serverUrl with enableMutualTLS",
                ));
            }
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
            tcp_keepalive: dx.tcp_keepalive,
            http_proxy: if self.we_are_server {
                None
            } else {
                dx.http_proxy.clone()
            },
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

#[cfg(test)]
mod tests {
    use std::fs;
    use std::time::Duration;

    use tcpws_protocol::ClientId;

    use crate::config::testing::{key_of, ok, temp_dir, SEED_CLIENT_1, SEED_SERVER};

    #[test]
    fn node_settings_follow_the_config() {
        let (c, _) = ok(SEED_CLIENT_1);
        let s = c.to_node_settings().unwrap();
        assert_eq!(s.protocol.role, tcpws_protocol::Role::Client(ClientId::One));
        assert_eq!(s.protocol.listens, ["duckduckgo"]);
        assert_eq!(s.protocol.connects, ["brave", "test_ssh"]);
        assert_eq!(s.protocol.stream_window, 4_194_304);
        assert_eq!(s.protocol.keepalive_timeout, Duration::from_secs(20));
        assert_eq!(
            (
                s.server.host.as_str(),
                s.server.port,
                s.server.path.as_str(),
                s.server.tls
            ),
            ("localhost", 8080, "/", false)
        );
        assert_eq!(
            (s.listens[0].bind_address.as_str(), s.listens[0].port),
            ("127.0.0.1", 8091)
        );
        assert_eq!(
            (s.connects[1].host.as_str(), s.connects[1].port),
            ("127.0.0.1", 22)
        );
        assert!(
            s.tls.is_none(),
            "the seed's TLS paths are ignored over http"
        );
        assert_eq!(s.connect_timeout, Duration::from_secs(10));
        assert_eq!(s.tcp_keepalive, Some(Duration::from_secs(60)));
        let (c, _) = ok(SEED_SERVER);
        assert_eq!(
            c.to_node_settings().unwrap().protocol.role,
            tcpws_protocol::Role::Server
        );
    }

    #[test]
    fn tls_settings_check_the_files_they_need() {
        let dir = temp_dir("tls");
        let pem = dir.join("bundle.pem");
        fs::write(&pem, "not checked here").unwrap();
        let with = |extra: &str| {
            let text = format!(
                r#"{{"dataExchange": {{"serverUrl": "https://h:9443"{extra}}}{}}}"#,
                ""
            );
            ok(&text).0
        };
        let server = |extra: &str| {
            let mut c = with(extra);
            c.we_are_server = true;
            c
        };
        // A TLS server needs its bundle, and the file must exist.
        let e = server("").to_node_settings().unwrap_err();
        assert_eq!(key_of(&e), Some("dataExchange.tlsBundleFilePath"));
        let e = server(r#", "tlsBundleFilePath": "/no/such/file.pem""#)
            .to_node_settings()
            .unwrap_err();
        assert_eq!(key_of(&e), Some("dataExchange.tlsBundleFilePath"));
        let ok_bundle = format!(r#", "tlsBundleFilePath": {:?}"#, pem.display().to_string());
        let tls = server(&ok_bundle).to_node_settings().unwrap().tls.unwrap();
        assert_eq!(
            (tls.bundle.as_deref(), tls.mutual),
            (Some(pem.as_path()), false)
        );
        // Without mutual TLS a client drops paths that name nothing, as the seed does.
        let tls =
            with(r#", "mutualTLSTrustedCACertificateBundleFilePath": "/path/to/trusted-ca.pem""#)
                .to_node_settings()
                .unwrap()
                .tls
                .unwrap();
        assert_eq!((tls.bundle, tls.trusted_ca), (None, None));
        // Mutual TLS needs the bundle and the trusted CAs, both existing.
        let mutual = format!(r#", "enableMutualTLS": true{ok_bundle}"#);
        let e = with(&mutual).to_node_settings().unwrap_err();
        assert_eq!(
            key_of(&e),
            Some("dataExchange.mutualTLSTrustedCACertificateBundleFilePath")
        );
        let full = format!(
            r#"{mutual}, "mutualTLSTrustedCACertificateBundleFilePath": {:?}"#,
            pem.display().to_string()
        );
        let tls = with(&full).to_node_settings().unwrap().tls.unwrap();
        assert!(tls.mutual && tls.trusted_ca.is_some() && tls.trusted_peers.is_none());
        let _ = fs::remove_dir_all(&dir);
    }
}
