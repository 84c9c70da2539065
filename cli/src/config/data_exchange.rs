//! The `dataExchange` object: the WebSocket link and its tuning.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;

use super::json::Obj;
use super::{proxy_url, ConfigError, ServerUrl};

/// The smallest and largest `dataExchange.perConnectionBufferBytes`.
pub const BUFFER_BYTES: std::ops::RangeInclusive<u64> = 65_536..=1024 * 1024 * 1024;
/// The values `dataExchange.tcpKeepaliveSecs` takes: 0 (off) up to the
/// longest idle time Linux accepts for `TCP_KEEPIDLE`.
pub const TCP_KEEPALIVE_SECS: std::ops::RangeInclusive<u64> = 0..=32_767;

/// The `dataExchange` settings, with every default filled in.
#[derive(Debug, Clone, PartialEq)]
pub struct DataExchange {
    /// `serverUrl` (default `http://localhost:8080`).
    pub server_url: ServerUrl,
    /// `enableMutualTLS` (default false).
    pub enable_mutual_tls: bool,
    /// `tlsBundleFilePath`: our key, certificate and chain (PEM).
    pub tls_bundle: Option<PathBuf>,
    /// `mutualTLSTrustedCACertificateBundleFilePath`: CAs the peer's certificate must chain to.
    pub trusted_ca: Option<PathBuf>,
    /// `mutualTLSTrustedPeerCertificateBundleFilePath`: the peer certificates we accept.
    pub trusted_peers: Option<PathBuf>,
    /// `perConnectionBufferBytes` (default 4 MiB, 64 KiB to 1 GiB).
    pub buffer_bytes: u32,
    /// `resumeGraceSecs` (default 30).
    pub resume_grace: Duration,
    /// `failoverAfterSecs` (default 2, or the resume grace if shorter; at
    /// most the resume grace): how long the active client's link may be
    /// down before the server fails over to an online standby.
    pub failover_after: Duration,
    /// `keepaliveIntervalSecs` (default 5).
    pub keepalive_interval: Duration,
    /// `keepaliveTimeoutSecs` (default 20, longer than the interval).
    pub keepalive_timeout: Duration,
    /// `connectTimeoutSecs` (default 10): dialling the server or a connect target.
    pub connect_timeout: Duration,
    /// `handshakeTimeoutSecs` (default 5): how long an incoming connection
    /// may take to finish TLS and its HTTP upgrade, and then again to
    /// complete the tcpws handshake (hello, proofs, welcome).
    pub handshake_timeout: Duration,
    /// `sharedSecretFilePath`: a file holding the secret every node must
    /// prove it knows (all three nodes, or none).
    pub shared_secret_file: Option<PathBuf>,
    /// `mutualTLSClientCertificates` (server, mutual TLS): client 1's and
    /// client 2's certificate files; a client may claim only the id whose
    /// certificate it presented.
    pub client_certificates: Option<[PathBuf; 2]>,
    /// `tcpKeepaliveSecs` (default 60; 0 turns it off, `None` here): TCP
    /// keepalive on tunnel connections, the first probe after this long
    /// idle, then every max(idle / 6, 1) s, 5 probes.
    pub tcp_keepalive: Option<Duration>,
    /// `serverBindAddress` (server only; default `0.0.0.0`): where the server
    /// listens for WebSockets. The seed listened on every interface at the
    /// port of `serverUrl`, whatever its host; so do we unless told otherwise.
    pub server_bind_address: String,
    /// `httpProxyUrl` (clients; default none): the HTTP proxy the client
    /// reaches the server through with CONNECT. Environment variables such
    /// as `https_proxy` are not read.
    pub http_proxy: Option<tcpws_runtime_mio::HttpProxy>,
    /// `metricsBindAddress` (e.g. `127.0.0.1:9464`; default none): serve
    /// `/healthz` and `/metrics` there, and no longer on the WebSocket port.
    pub metrics_bind: Option<std::net::SocketAddr>,
}

/// Reads the `dataExchange` object (`obj`), adding a warning per unknown key.
pub(super) fn read(obj: &Obj, warnings: &mut Vec<String>) -> Result<DataExchange, ConfigError> {
    obj.warn_unknown(
        &[
            "serverUrl",
            "enableMutualTLS",
            "tlsBundleFilePath",
            "mutualTLSTrustedCACertificateBundleFilePath",
            "mutualTLSTrustedPeerCertificateBundleFilePath",
            "perConnectionBufferBytes",
            "resumeGraceSecs",
            "failoverAfterSecs",
            "keepaliveIntervalSecs",
            "keepaliveTimeoutSecs",
            "connectTimeoutSecs",
            "handshakeTimeoutSecs",
            "serverBindAddress",
            "sharedSecretFilePath",
            "mutualTLSClientCertificates",
            "tcpKeepaliveSecs",
            "httpProxyUrl",
            "metricsBindAddress",
        ],
        warnings,
    );
    let url_text = obj.string("serverUrl")?.unwrap_or("http://localhost:8080");
    let server_url = ServerUrl::parse(url_text)
        .map_err(|why| ConfigError::key(obj.path_of("serverUrl"), why))?;
    let path = |key: &str| path_in(obj, key);
    let client_certificates = match obj.object("mutualTLSClientCertificates")? {
        None => None,
        Some(map) => {
            map.warn_unknown(&["1", "2"], warnings);
            let file = |id: &str| -> Result<PathBuf, ConfigError> {
                match path_in(&map, id)? {
                    Some(p) => Ok(p),
                    None => Err(ConfigError::key(
                        map.path_of(id),
                        "expected the path of client's certificate file: \
                         both \"1\" and \"2\" must be given",
                    )),
                }
            };
            Some([file("1")?, file("2")?])
        }
    };
    let buffer_what = format!(
        "an integer number of bytes from {} to {}",
        BUFFER_BYTES.start(),
        BUFFER_BYTES.end()
    );
    let buffer_bytes = obj.int(
        "perConnectionBufferBytes",
        BUFFER_BYTES,
        Some(4 * 1024 * 1024),
        &buffer_what,
    )?;
    let keepalive_interval = obj.secs("keepaliveIntervalSecs", Duration::from_secs(5), true)?;
    let keepalive_timeout = obj.secs("keepaliveTimeoutSecs", Duration::from_secs(20), true)?;
    if keepalive_timeout <= keepalive_interval {
        return Err(ConfigError::key(
            obj.path_of("keepaliveTimeoutSecs"),
            format!(
                "expected more seconds than keepaliveIntervalSecs ({}), got {}",
                keepalive_interval.as_secs_f64(),
                keepalive_timeout.as_secs_f64()
            ),
        ));
    }
    let keepalive_what = format!(
        "an integer number of seconds from {} (off) to {}",
        TCP_KEEPALIVE_SECS.start(),
        TCP_KEEPALIVE_SECS.end()
    );
    let tcp_keepalive = match obj.int(
        "tcpKeepaliveSecs",
        TCP_KEEPALIVE_SECS,
        Some(60),
        &keepalive_what,
    )? {
        0 => None,
        secs => Some(Duration::from_secs(secs)),
    };
    let resume_grace = obj.secs("resumeGraceSecs", Duration::from_secs(30), false)?;
    let failover_after = obj.secs(
        "failoverAfterSecs",
        Duration::from_secs(2).min(resume_grace),
        false,
    )?;
    if failover_after > resume_grace {
        return Err(ConfigError::key(
            obj.path_of("failoverAfterSecs"),
            format!(
                "expected at most resumeGraceSecs ({}) seconds, got {}",
                resume_grace.as_secs_f64(),
                failover_after.as_secs_f64()
            ),
        ));
    }
    let http_proxy = match obj.string("httpProxyUrl")? {
        None | Some("") => None,
        Some(text) => Some(
            proxy_url::parse(text)
                .map_err(|why| ConfigError::key(obj.path_of("httpProxyUrl"), why))?,
        ),
    };
    Ok(DataExchange {
        http_proxy,
        server_url,
        enable_mutual_tls: obj.bool("enableMutualTLS", false)?,
        tls_bundle: path("tlsBundleFilePath")?,
        trusted_ca: path("mutualTLSTrustedCACertificateBundleFilePath")?,
        trusted_peers: path("mutualTLSTrustedPeerCertificateBundleFilePath")?,
        buffer_bytes: u32::try_from(buffer_bytes).unwrap_or(u32::MAX),
        resume_grace,
        failover_after,
        keepalive_interval,
        keepalive_timeout,
        connect_timeout: obj.secs("connectTimeoutSecs", Duration::from_secs(10), true)?,
        handshake_timeout: obj.secs("handshakeTimeoutSecs", Duration::from_secs(5), true)?,
        shared_secret_file: path("sharedSecretFilePath")?,
        client_certificates,
        tcp_keepalive,
        server_bind_address: match obj.string("serverBindAddress")? {
            None => "0.0.0.0".to_string(),
            Some(a) if a.parse::<std::net::IpAddr>().is_ok() => a.to_string(),
            Some(a) => {
                return Err(obj.wrong(
                    "serverBindAddress",
                    "an IP address such as 0.0.0.0 or 127.0.0.1",
                    &Value::String(a.to_string()),
                ))
            }
        },
        metrics_bind: match obj.string("metricsBindAddress")? {
            None => None,
            Some(a) => Some(a.parse().map_err(|_| {
                obj.wrong(
                    "metricsBindAddress",
                    "an IP address and port such as 127.0.0.1:9464 or [::1]:9464",
                    &Value::String(a.to_string()),
                )
            })?),
        },
    })
}

/// The file path at `key` of `obj`, or `None` when not set.
fn path_in(obj: &Obj, key: &str) -> Result<Option<PathBuf>, ConfigError> {
    match obj.string(key)? {
        None => Ok(None),
        Some(p) if !p.is_empty() && p.len() <= 4096 && !p.contains('\0') => {
            Ok(Some(PathBuf::from(p)))
        }
        Some(p) => Err(obj.wrong(
            key,
            "a file path (1 to 4096 bytes) or null",
            &Value::String(p.to_string()),
        )),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use crate::config::testing::{err, ok};

    #[test]
    fn seconds_take_integers_and_fractions() {
        let (c, _) = ok(
            r#"{"standbySocketCloseDurationSecs": 2.5, "dataExchange": {"resumeGraceSecs": 0}}"#,
        );
        assert_eq!(c.standby_close, Duration::from_millis(2500));
        assert_eq!(c.data_exchange.resume_grace, Duration::ZERO);
        assert_eq!(
            c.data_exchange.failover_after,
            Duration::ZERO,
            "the failover delay defaults to at most the grace"
        );
        assert!(
            err(r#"{"dataExchange": {"resumeGraceSecs": 5, "failoverAfterSecs": 6}}"#).starts_with(
                "dataExchange.failoverAfterSecs: expected at most resumeGraceSecs (5)"
            )
        );
        let (c, _) = ok(r#"{"dataExchange": {"failoverAfterSecs": 0.5}}"#);
        assert_eq!(c.data_exchange.failover_after, Duration::from_millis(500));
        assert!(err(r#"{"dataExchange": {"keepaliveIntervalSecs": 0}}"#).contains("above 0"));
        assert_eq!(
            err(r#"{"dataExchange": {"keepaliveIntervalSecs": 10, "keepaliveTimeoutSecs": 10}}"#),
            "dataExchange.keepaliveTimeoutSecs: expected more seconds than keepaliveIntervalSecs (10), got 10"
        );
    }

    #[test]
    fn metrics_bind_address_is_an_ip_and_port() {
        let (c, _) = ok(r#"{"dataExchange": {"metricsBindAddress": "127.0.0.1:9464"}}"#);
        assert_eq!(
            c.data_exchange.metrics_bind,
            Some("127.0.0.1:9464".parse().unwrap())
        );
        assert_eq!(ok("{}").0.data_exchange.metrics_bind, None);
        assert!(
            err(r#"{"dataExchange": {"metricsBindAddress": "localhost"}}"#).starts_with(
                "dataExchange.metricsBindAddress: expected an IP address and port such as"
            )
        );
    }

    #[test]
    fn tcp_keepalive_defaults_to_a_minute_and_0_turns_it_off() {
        let (c, w) = ok(r#"{}"#);
        assert!(w.is_empty(), "{w:?}");
        assert_eq!(c.data_exchange.tcp_keepalive, Some(Duration::from_secs(60)));
        let (c, w) = ok(r#"{"dataExchange": {"tcpKeepaliveSecs": 0}}"#);
        assert!(w.is_empty(), "{w:?}");
        assert_eq!(c.data_exchange.tcp_keepalive, None);
        let (c, _) = ok(r#"{"dataExchange": {"tcpKeepaliveSecs": 600}}"#);
        assert_eq!(
            c.data_exchange.tcp_keepalive,
            Some(Duration::from_secs(600))
        );
        assert_eq!(
            err(r#"{"dataExchange": {"tcpKeepaliveSecs": 1.5}}"#),
            "dataExchange.tcpKeepaliveSecs: expected an integer number of seconds from 0 (off) \
             to 32767, got 1.5"
        );
        assert!(err(r#"{"dataExchange": {"tcpKeepaliveSecs": 40000}}"#).contains("to 32767"));
        assert!(err(r#"{"dataExchange": {"tcpKeepaliveSecs": -1}}"#).contains("to 32767"));
    }

    #[test]
    fn client_certificates_need_both_ids() {
        let (c, w) = ok(
            r#"{"dataExchange": {"mutualTLSClientCertificates": {"1": "/a.pem", "2": "/b.pem"}}}"#,
        );
        assert!(w.is_empty(), "{w:?}");
        let [one, two] = c.data_exchange.client_certificates.unwrap();
        assert_eq!(
            (one.to_str(), two.to_str()),
            (Some("/a.pem"), Some("/b.pem"))
        );
        let e = err(r#"{"dataExchange": {"mutualTLSClientCertificates": {"1": "/a.pem"}}}"#);
        assert!(
            e.starts_with("dataExchange.mutualTLSClientCertificates.2: expected the path"),
            "{e}"
        );
        let (_, w) = ok(
            r#"{"dataExchange": {"mutualTLSClientCertificates": {"1": "/a", "2": "/b", "3": "/c"}}}"#,
        );
        assert_eq!(w.len(), 1, "{w:?}");
    }

    #[test]
    fn the_http_proxy_is_optional_and_its_errors_name_the_key() {
        let (c, w) = ok(r#"{"dataExchange": {"httpProxyUrl": "http://u:pw@proxy:3128"}}"#);
        assert!(w.is_empty(), "{w:?}");
        let proxy = c.data_exchange.http_proxy.unwrap();
        assert_eq!((proxy.host.as_str(), proxy.port), ("proxy", 3128));
        for off in [
            r#"{}"#,
            r#"{"dataExchange": {"httpProxyUrl": null}}"#,
            r#"{"dataExchange": {"httpProxyUrl": ""}}"#,
        ] {
            assert_eq!(ok(off).0.data_exchange.http_proxy, None, "{off}");
        }
        let e = err(r#"{"dataExchange": {"httpProxyUrl": "http://u:pw@proxy"}}"#);
        assert!(
            e.starts_with("dataExchange.httpProxyUrl: expected a URL"),
            "{e}"
        );
        assert!(!e.contains("pw"), "{e}");
        let e = err(r#"{"dataExchange": {"httpProxyUrl": 3128}}"#);
        assert!(
            e.starts_with("dataExchange.httpProxyUrl: expected a string"),
            "{e}"
        );
    }

    #[test]
    fn bad_url_scheme_is_an_error() {
        let e = err(r#"{"dataExchange": {"serverUrl": "ftp://localhost:8080"}}"#);
        assert!(
            e.starts_with("dataExchange.serverUrl: expected a URL"),
            "{e}"
        );
        assert!(e.contains("\"ftp\""), "{e}");
        let (c, _) = ok(r#"{"dataExchange": {"serverUrl": "wss://example.org/tunnel"}}"#);
        assert_eq!(
            (
                c.data_exchange.server_url.port,
                c.data_exchange.server_url.tls()
            ),
            (443, true)
        );
    }
}
