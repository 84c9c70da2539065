//! The seed-compatible `config.json`: every key of the Python seed, with its
//! defaults, plus optional new keys in the same camelCase style.
//!
//! Parsing goes through `serde_json::Value` so that every problem names its
//! full key path: an unknown key is a warning (`logging.syslg: unknown key,
//! ignored`), a wrong type or value an error that says what was expected
//! (`tcpTunnelListens[1].listenPort: expected an integer 1-65535, got "80a"`).
//! A key set to `null` counts as not set. The file is untrusted input: its
//! size is bounded before it is read and nothing in here panics on it.
//!
//! Choices where the seed README is silent, taken from the seed's code:
//! `listenBindAddress` defaults to `"127.0.0.1"`; `logging.syslog` also
//! takes the seed's `logToSysloyPort` (default 514) and `logToSysloyProtocol`
//! (the syslog facility name, default `"user"`).

mod error;
mod home;
mod json;
mod settings;
mod summary;
mod url;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;

use log::LevelFilter;
use serde_json::Value;
use tcpws_protocol::ClientId;

pub use error::ConfigError;
pub use home::{load, load_existing};
pub use url::ServerUrl;

use json::Obj;

/// The most bytes of config text we read.
pub const MAX_CONFIG_BYTES: u64 = 1024 * 1024;

/// The longest tunnel name, host or bind address, in bytes.
pub const MAX_NAME: usize = 255;

/// The smallest and largest `dataExchange.perConnectionBufferBytes`.
pub const BUFFER_BYTES: std::ops::RangeInclusive<u64> = 65_536..=1024 * 1024 * 1024;

/// A whole config file, checked and with every default filled in.
#[derive(Debug, Clone, PartialEq)]
pub struct FileConfig {
    /// `weAreServer` (default false).
    pub we_are_server: bool,
    /// `clientId`, 1 or 2 (default 1); only clients use it.
    pub client_id: ClientId,
    /// `standbySocketCloseDurationSecs` (default 30).
    pub standby_close: Duration,
    /// `dataExchange`.
    pub data_exchange: DataExchange,
    /// `logging`.
    pub logging: LoggingConfig,
    /// `tcpTunnelListens[]`, in file order.
    pub listens: Vec<ListenTunnel>,
    /// `tcpTunnelConnects[]`, in file order.
    pub connects: Vec<ConnectTunnel>,
}

/// The `dataExchange` object: the WebSocket link and its tuning.
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
    /// `serverBindAddress` (server only; default `0.0.0.0`): where the server
    /// listens for WebSockets. The seed listened on every interface at the
    /// port of `serverUrl`, whatever its host; so do we unless told otherwise.
    pub server_bind_address: String,
}

/// The `logging` object.
#[derive(Debug, Clone, PartialEq)]
pub struct LoggingConfig {
    /// `level`, e.g. `DEBUG` (the default) or `WARNING`.
    pub level: LevelFilter,
    /// `logToStdout` (default true).
    pub log_to_stdout: bool,
    /// `daysToKeep` (default 14): daily log files older than this are deleted.
    pub days_to_keep: u32,
    /// `syslog.logToSysloyHost` (the seed's spelling), when set.
    pub syslog: Option<SyslogTarget>,
}

/// Where to send syslog datagrams.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyslogTarget {
    pub host: String,
    pub port: u16,
    /// The facility number (1 = `user`).
    pub facility: u8,
}

/// One `tcpTunnelListens[]` entry: accept TCP here, carry it to the peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenTunnel {
    pub name: String,
    pub bind_address: String,
    pub port: u16,
}

/// One `tcpTunnelConnects[]` entry: streams arriving for `name` dial here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectTunnel {
    pub name: String,
    pub host: String,
    pub port: u16,
}

const PORT: &str = "an integer 1-65535";

/// Parses config text. Returns the config with defaults filled in and the
/// warnings (unknown keys), or the first error.
pub fn parse(text: &str) -> Result<(FileConfig, Vec<String>), ConfigError> {
    if text.len() as u64 > MAX_CONFIG_BYTES {
        return Err(ConfigError::TooLarge {
            file: None,
            size: text.len() as u64,
            limit: MAX_CONFIG_BYTES,
        });
    }
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let value: Value = serde_json::from_str(text).map_err(|e| ConfigError::Json {
        file: None,
        line: e.line(),
        column: e.column(),
        message: json_message(&e),
    })?;
    let mut warnings = Vec::new();
    let config = read_root(&value, &mut warnings)?;
    Ok((config, warnings))
}

/// serde_json's message without its trailing " at line L column C".
fn json_message(e: &serde_json::Error) -> String {
    let full = e.to_string();
    match full.rfind(" at line ") {
        Some(at) => full[..at].to_string(),
        None => full,
    }
}

fn read_root(value: &Value, warnings: &mut Vec<String>) -> Result<FileConfig, ConfigError> {
    let root = Obj::root(value)?;
    root.warn_unknown(
        &[
            "weAreServer",
            "clientId",
            "standbySocketCloseDurationSecs",
            "dataExchange",
            "logging",
            "tcpTunnelListens",
            "tcpTunnelConnects",
        ],
        warnings,
    );
    let we_are_server = root.bool("weAreServer", false)?;
    let id = root.int("clientId", 1..=2, Some(1), "1 or 2")?;
    let client_id =
        ClientId::from_number(id).ok_or_else(|| ConfigError::key("clientId", "expected 1 or 2"))?;
    let standby_close = root.secs(
        "standbySocketCloseDurationSecs",
        Duration::from_secs(30),
        false,
    )?;
    let data_exchange = read_data_exchange(&root.section("dataExchange")?, warnings)?;
    let logging = read_logging(&root.section("logging")?, warnings)?;
    let listens = read_listens(&root, warnings)?;
    let connects = read_connects(&root, warnings)?;
    Ok(FileConfig {
        we_are_server,
        client_id,
        standby_close,
        data_exchange,
        logging,
        listens,
        connects,
    })
}

fn read_data_exchange(obj: &Obj, warnings: &mut Vec<String>) -> Result<DataExchange, ConfigError> {
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
            "serverBindAddress",
        ],
        warnings,
    );
    let url_text = obj.string("serverUrl")?.unwrap_or("http://localhost:8080");
    let server_url = ServerUrl::parse(url_text)
        .map_err(|why| ConfigError::key(obj.path_of("serverUrl"), why))?;
    let path = |key: &str| -> Result<Option<PathBuf>, ConfigError> {
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
    Ok(DataExchange {
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
    })
}

fn read_logging(obj: &Obj, warnings: &mut Vec<String>) -> Result<LoggingConfig, ConfigError> {
    obj.warn_unknown(&["level", "logToStdout", "daysToKeep", "syslog"], warnings);
    let level = match obj.get("level") {
        None => LevelFilter::Debug,
        Some(value) => value.as_str().and_then(level_from_name).ok_or_else(|| {
            obj.wrong(
                "level",
                "one of TRACE, DEBUG, INFO, WARNING, WARN, ERROR, CRITICAL",
                value,
            )
        })?,
    };
    let syslog = match obj.object("syslog")? {
        Some(syslog) => read_syslog(&syslog, warnings)?,
        None => None,
    };
    Ok(LoggingConfig {
        level,
        log_to_stdout: obj.bool("logToStdout", true)?,
        days_to_keep: obj
            .int(
                "daysToKeep",
                0..=36_500,
                Some(14),
                "an integer number of days 0-36500",
            )?
            .try_into()
            .unwrap_or(14),
        syslog,
    })
}

/// Python logging level names (the seed's), case-insensitive.
fn level_from_name(name: &str) -> Option<LevelFilter> {
    Some(match name.to_ascii_uppercase().as_str() {
        "TRACE" | "NOTSET" => LevelFilter::Trace,
        "DEBUG" => LevelFilter::Debug,
        "INFO" => LevelFilter::Info,
        "WARNING" | "WARN" => LevelFilter::Warn,
        "ERROR" | "CRITICAL" | "FATAL" => LevelFilter::Error,
        "OFF" => LevelFilter::Off,
        _ => return None,
    })
}

fn read_syslog(obj: &Obj, warnings: &mut Vec<String>) -> Result<Option<SyslogTarget>, ConfigError> {
    obj.warn_unknown(
        &["logToSysloyHost", "logToSysloyPort", "logToSysloyProtocol"],
        warnings,
    );
    let default_port = obj.int("logToSysloyPort", 1..=65_535, Some(514), PORT)?;
    let facility = match obj.get("logToSysloyProtocol") {
        None => 1,
        Some(value) => value.as_str().and_then(facility_from_name).ok_or_else(|| {
            obj.wrong(
                "logToSysloyProtocol",
                "a syslog facility name such as \"user\", \"daemon\" or \"local0\"",
                value,
            )
        })?,
    };
    let Some(text) = obj.string("logToSysloyHost")? else {
        return Ok(None);
    };
    let (host, port) = url::split_host_port(text).map_err(|why| {
        ConfigError::key(
            obj.path_of("logToSysloyHost"),
            format!("expected \"host\" or \"host:port\" or null, got {text:?} ({why})"),
        )
    })?;
    Ok(Some(SyslogTarget {
        host,
        port: port.unwrap_or(u16::try_from(default_port).unwrap_or(514)),
        facility,
    }))
}

/// RFC 3164 facility numbers by name.
fn facility_from_name(name: &str) -> Option<u8> {
    const NAMES: [&str; 12] = [
        "kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron",
        "authpriv", "ftp",
    ];
    let name = name.to_ascii_lowercase();
    if let Some(i) = NAMES.iter().position(|n| *n == name) {
        return u8::try_from(i).ok();
    }
    let n: u8 = name.strip_prefix("local")?.parse().ok()?;
    (n < 8).then_some(16 + n)
}

fn read_listens(root: &Obj, warnings: &mut Vec<String>) -> Result<Vec<ListenTunnel>, ConfigError> {
    let mut names = BTreeSet::new();
    let mut out = Vec::new();
    for (path, value) in root.array("tcpTunnelListens")? {
        let obj = Obj::at(path, value)?;
        obj.warn_unknown(&["tunnelName", "listenBindAddress", "listenPort"], warnings);
        let name = read_name(&obj, &mut names)?;
        out.push(ListenTunnel {
            name,
            bind_address: obj.text("listenBindAddress", MAX_NAME, Some("127.0.0.1"))?,
            port: port(&obj, "listenPort")?,
        });
    }
    Ok(out)
}

fn read_connects(
    root: &Obj,
    warnings: &mut Vec<String>,
) -> Result<Vec<ConnectTunnel>, ConfigError> {
    let mut names = BTreeSet::new();
    let mut out = Vec::new();
    for (path, value) in root.array("tcpTunnelConnects")? {
        let obj = Obj::at(path, value)?;
        obj.warn_unknown(&["tunnelName", "connectToHost", "connectToPort"], warnings);
        let name = read_name(&obj, &mut names)?;
        out.push(ConnectTunnel {
            name,
            host: obj.text("connectToHost", MAX_NAME, None)?,
            port: port(&obj, "connectToPort")?,
        });
    }
    Ok(out)
}

/// `tunnelName`, which must not repeat within its list.
fn read_name(obj: &Obj, seen: &mut BTreeSet<String>) -> Result<String, ConfigError> {
    let name = obj.text("tunnelName", MAX_NAME, None)?;
    if !seen.insert(name.clone()) {
        return Err(ConfigError::key(
            obj.path_of("tunnelName"),
            format!("expected a name not used by another entry of this list, got {name:?} again"),
        ));
    }
    Ok(name)
}

/// A required port number.
fn port(obj: &Obj, key: &str) -> Result<u16, ConfigError> {
    let n = obj.int(key, 1..=65_535, None, PORT)?;
    u16::try_from(n).map_err(|_| ConfigError::key(obj.path_of(key), format!("expected {PORT}")))
}

#[cfg(test)]
mod tests {
    use super::home::default_config_text;
    use super::*;
    use quickcheck::{Arbitrary, Gen, QuickCheck};
    use std::fs;
    use std::path::Path;

    /// The seed README's "Example Client Configuration", verbatim.
    const SEED_CLIENT_1: &str = r#"
{
    "dataExchange": {
        "enableMutualTLS": false,
        "mutualTLSTrustedCACertificateBundleFilePath": "/Users/jchesney/Downloads/tcp_svr/trusted-ca.pem",
        "mutualTLSTrustedPeerCertificateBundleFilePath": "/Users/jchesney/Downloads/tcp_svr/certs-of-peers.pem",
        "serverUrl": "http://localhost:8080",
        "tlsBundleFilePath": "/Users/jchesney/Downloads/tcp_svr/key-cert-ca-root-chain.pem"
    },
    "logging": {
        "daysToKeep": 14,
        "level": "DEBUG",
        "logToStdout": true,
        "syslog": {
            "logToSysloyHost": null
        }
    },
    "tcpTunnelConnects": [
        {
            "connectToHost": "search.brave.com",
            "connectToPort": 80,
            "tunnelName": "brave"
        },
        {
            "connectToHost": "127.0.0.1",
            "connectToPort": 22,
            "tunnelName": "test_ssh"
        }
    ],
    "tcpTunnelListens": [
        {
            "listenBindAddress": "127.0.0.1",
            "listenPort": 8091,
            "tunnelName": "duckduckgo"
        }],
    "weAreServer": false,
    "clientId": 1
}
"#;

    /// The seed README's "Example Second Client Configuration", verbatim.
    const SEED_CLIENT_2: &str = r#"
{
    "dataExchange": {
        "serverUrl": "http://localhost:8080"
    },
    "tcpTunnelListens": [
        {
            "listenBindAddress": "127.0.0.1",
            "listenPort": 8094,
            "tunnelName": "duckduckgo"
        }],
    "weAreServer": false,
    "clientId": 2
}
"#;

    /// The seed README's "Example Server Configuration", verbatim.
    const SEED_SERVER: &str = r#"
{
    "dataExchange": {
        "enableMutualTLS": false,
        "mutualTLSTrustedCACertificateBundleFilePath": "/Users/jchesney/Downloads/tcp_svr/trusted-ca.pem",
        "mutualTLSTrustedPeerCertificateBundleFilePath": "/Users/jchesney/Downloads/tcp_svr/certs-of-peers.pem",
        "serverUrl": "http://localhost:8080",
        "tlsBundleFilePath": "/Users/jchesney/Downloads/tcp_svr/key-cert-ca-root-chain.pem"
    },
    "logging": {
        "daysToKeep": 14,
        "level": "DEBUG",
        "logToStdout": true,
        "syslog": {
            "logToSysloyHost": null
        }
    },
    "tcpTunnelConnects": [
        {
            "connectToHost": "duckduckgo.com",
            "connectToPort": 80,
            "tunnelName": "duckduckgo"
        }
    ],
    "tcpTunnelListens": [
        {
            "listenBindAddress": "127.0.0.1",
            "listenPort": 8092,
            "tunnelName": "brave"
        },
        {
            "listenBindAddress": "127.0.0.1",
            "listenPort": 8022,
            "tunnelName": "test_ssh"
        }
    ],
    "weAreServer": true
}
"#;

    fn ok(text: &str) -> (FileConfig, Vec<String>) {
        match parse(text) {
            Ok(parsed) => parsed,
            Err(e) => panic!("{text} should parse: {e}"),
        }
    }

    /// The error message for `text`, which must not parse.
    fn err(text: &str) -> String {
        match parse(text) {
            Ok((config, _)) => panic!("{text} should not parse, got {config:?}"),
            Err(e) => e.to_string(),
        }
    }

    fn key_of(e: &ConfigError) -> Option<&str> {
        match e {
            ConfigError::Key { key, .. } => Some(key),
            _ => None,
        }
    }

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("tcpws-config-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn seed_client_1_parses_unchanged() {
        let (c, warnings) = ok(SEED_CLIENT_1);
        assert!(warnings.is_empty(), "{warnings:?}");
        assert!(!c.we_are_server);
        assert_eq!(c.client_id, ClientId::One);
        let dx = &c.data_exchange;
        assert_eq!(
            dx.server_url,
            ServerUrl::parse("http://localhost:8080").unwrap()
        );
        assert!(!dx.server_url.tls() && !dx.enable_mutual_tls);
        assert_eq!(
            dx.tls_bundle.as_deref(),
            Some(Path::new(
                "/Users/jchesney/Downloads/tcp_svr/key-cert-ca-root-chain.pem"
            ))
        );
        assert_eq!(
            dx.trusted_ca.as_deref(),
            Some(Path::new(
                "/Users/jchesney/Downloads/tcp_svr/trusted-ca.pem"
            ))
        );
        assert_eq!(
            dx.trusted_peers.as_deref(),
            Some(Path::new(
                "/Users/jchesney/Downloads/tcp_svr/certs-of-peers.pem"
            ))
        );
        assert_eq!(c.logging.level, LevelFilter::Debug);
        assert!(c.logging.log_to_stdout);
        assert_eq!(c.logging.days_to_keep, 14);
        assert_eq!(c.logging.syslog, None);
        assert_eq!(
            c.connects,
            vec![
                ConnectTunnel {
                    name: "brave".into(),
                    host: "search.brave.com".into(),
                    port: 80
                },
                ConnectTunnel {
                    name: "test_ssh".into(),
                    host: "127.0.0.1".into(),
                    port: 22
                },
            ]
        );
        assert_eq!(
            c.listens,
            vec![ListenTunnel {
                name: "duckduckgo".into(),
                bind_address: "127.0.0.1".into(),
                port: 8091
            }]
        );
        assert_eq!(c.standby_close, Duration::from_secs(30));
    }

    #[test]
    fn seed_client_2_parses_unchanged() {
        let (c, warnings) = ok(SEED_CLIENT_2);
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(c.role(), tcpws_protocol::Role::Client(ClientId::Two));
        assert_eq!(c.data_exchange.server_url.port, 8080);
        assert_eq!(c.listens.len(), 1);
        assert_eq!(c.listens[0].port, 8094);
        assert!(c.connects.is_empty());
        // Everything it leaves out takes the seed's defaults.
        assert_eq!(c.logging, ok("{}").0.logging);
    }

    #[test]
    fn seed_server_parses_unchanged() {
        let (c, warnings) = ok(SEED_SERVER);
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(c.role(), tcpws_protocol::Role::Server);
        let names: Vec<_> = c
            .listens
            .iter()
            .map(|l| (l.name.as_str(), l.port))
            .collect();
        assert_eq!(names, [("brave", 8092), ("test_ssh", 8022)]);
        assert_eq!(c.connects[0].host, "duckduckgo.com");
    }

    #[test]
    fn empty_object_takes_every_default() {
        let (c, warnings) = ok("{}");
        assert!(warnings.is_empty());
        assert!(!c.we_are_server);
        assert_eq!(c.client_id, ClientId::One);
        assert_eq!(c.standby_close, Duration::from_secs(30));
        let dx = &c.data_exchange;
        assert_eq!(dx.server_url.to_string(), "http://localhost:8080/");
        assert!(!dx.enable_mutual_tls);
        assert_eq!(
            (
                dx.tls_bundle.clone(),
                dx.trusted_ca.clone(),
                dx.trusted_peers.clone()
            ),
            (None, None, None)
        );
        assert_eq!(dx.buffer_bytes, 4_194_304);
        assert_eq!(dx.resume_grace, Duration::from_secs(30));
        assert_eq!(dx.failover_after, Duration::from_secs(2));
        assert_eq!(dx.keepalive_interval, Duration::from_secs(5));
        assert_eq!(dx.keepalive_timeout, Duration::from_secs(20));
        assert_eq!(dx.connect_timeout, Duration::from_secs(10));
        assert_eq!(
            c.logging,
            LoggingConfig {
                level: LevelFilter::Debug,
                log_to_stdout: true,
                days_to_keep: 14,
                syslog: None
            }
        );
        assert!(c.listens.is_empty() && c.connects.is_empty());
    }

    #[test]
    fn null_means_not_set() {
        let (c, _) =
            ok(r#"{"weAreServer": null, "dataExchange": {"serverUrl": null}, "logging": null}"#);
        assert_eq!(c, ok("{}").0);
    }

    #[test]
    fn unknown_keys_warn_with_their_path() {
        let (_, warnings) = ok(
            r#"{"logging": {"syslg": {}, "syslog": {"logToSyslogHost": "x"}},
                "tcpTunnelListens": [{"tunnelName": "a", "listenPort": 1, "extra": 1}],
                "weAreServr": true}"#,
        );
        assert_eq!(
            warnings,
            [
                "weAreServr: unknown key, ignored",
                "logging.syslg: unknown key, ignored",
                "logging.syslog.logToSyslogHost: unknown key, ignored",
                "tcpTunnelListens[0].extra: unknown key, ignored",
            ]
        );
    }

    #[test]
    fn wrong_types_name_the_key_path() {
        let listens = r#"{"tcpTunnelListens": [
            {"tunnelName": "a", "listenPort": 80},
            {"tunnelName": "b", "listenPort": "80a"}]}"#;
        assert_eq!(
            err(listens),
            r#"tcpTunnelListens[1].listenPort: expected an integer 1-65535, got "80a""#
        );
        assert_eq!(
            err(r#"{"weAreServer": "yes"}"#),
            r#"weAreServer: expected true or false, got "yes""#
        );
        assert!(err(r#"{"logging": {"daysToKeep": 1.5}}"#)
            .starts_with("logging.daysToKeep: expected an integer"));
        assert!(err(r#"{"logging": {"level": "LOUD"}}"#)
            .starts_with("logging.level: expected one of TRACE"));
        assert!(err(r#"{"standbySocketCloseDurationSecs": -1}"#)
            .starts_with("standbySocketCloseDurationSecs: expected a number of seconds"));
        assert!(err(r#"{"dataExchange": []}"#).starts_with("dataExchange: expected an object"));
        assert!(
            err(r#"{"tcpTunnelConnects": {}}"#).starts_with("tcpTunnelConnects: expected an array")
        );
        assert!(
            err(r#"{"tcpTunnelConnects": [{"tunnelName": "a", "connectToPort": 1}]}"#).starts_with(
                "tcpTunnelConnects[0].connectToHost: missing, expected a non-empty string"
            )
        );
        assert!(
            err(r#"{"tcpTunnelListens": [{"tunnelName": "a", "listenPort": 0}]}"#)
                .starts_with("tcpTunnelListens[0].listenPort: expected an integer 1-65535, got 0")
        );
        assert!(
            err(r#"{"tcpTunnelListens": [{"tunnelName": "", "listenPort": 1}]}"#)
                .starts_with("tcpTunnelListens[0].tunnelName: expected a non-empty string")
        );
        let long = format!(
            r#"{{"tcpTunnelListens": [{{"tunnelName": "{}", "listenPort": 1}}]}}"#,
            "n".repeat(256)
        );
        assert!(err(&long).starts_with(
            "tcpTunnelListens[0].tunnelName: expected a non-empty string of at most 255 bytes"
        ));
        assert!(err(r#"{"dataExchange": {"perConnectionBufferBytes": 1024}}"#)
            .starts_with("dataExchange.perConnectionBufferBytes: expected an integer number of bytes from 65536"));
        assert!(err("[]").starts_with("(top level): expected a JSON object"));
    }

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
    fn tunnel_names_are_unique_per_list() {
        let dup = r#"{"tcpTunnelConnects": [
            {"tunnelName": "a", "connectToHost": "h", "connectToPort": 1},
            {"tunnelName": "a", "connectToHost": "h", "connectToPort": 2}]}"#;
        assert_eq!(
            err(dup),
            r#"tcpTunnelConnects[1].tunnelName: expected a name not used by another entry of this list, got "a" again"#
        );
        // The same name may be both a listen and a connect of one node.
        ok(
            r#"{"tcpTunnelConnects": [{"tunnelName": "a", "connectToHost": "h", "connectToPort": 1}],
               "tcpTunnelListens": [{"tunnelName": "a", "listenPort": 1}]}"#,
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

    #[test]
    fn client_id_must_be_1_or_2() {
        assert_eq!(
            err(r#"{"clientId": 3}"#),
            "clientId: expected 1 or 2, got 3"
        );
        assert_eq!(
            err(r#"{"clientId": "1"}"#),
            r#"clientId: expected 1 or 2, got "1""#
        );
        assert_eq!(ok(r#"{"clientId": 2}"#).0.client_id, ClientId::Two);
    }

    #[test]
    fn invalid_json_reports_line_and_column() {
        match parse("{\n  \"weAreServer\": true,\n  oops\n}") {
            Err(ConfigError::Json { line, column, .. }) => assert_eq!((line, column), (3, 3)),
            other => panic!("{other:?}"),
        }
        assert!(
            err("{\"a\": 1,}").starts_with("1:9: invalid JSON: trailing comma"),
            "{}",
            err("{\"a\": 1,}")
        );
        assert!(err("").starts_with("1:0: invalid JSON"));
        // A UTF-8 byte order mark, as Windows editors write, is fine.
        ok("\u{feff}{}");
    }

    #[test]
    fn oversize_config_is_refused_before_reading() {
        let big = format!("{{\"x\": \"{}\"}}", "a".repeat(MAX_CONFIG_BYTES as usize));
        assert!(matches!(parse(&big), Err(ConfigError::TooLarge { .. })));
        let dir = temp_dir("big");
        let path = dir.join("config.json");
        fs::write(&path, &big).unwrap();
        let e = load(Some(&path)).unwrap_err();
        assert!(matches!(e, ConfigError::TooLarge { .. }), "{e}");
        assert!(e.to_string().contains("config.json"), "{e}");
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn default_config_round_trips_without_warnings() {
        let (c, warnings) = ok(&default_config_text());
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(c, ok("{}").0);
        let value: Value = serde_json::from_str(&default_config_text()).unwrap();
        for key in [
            "weAreServer",
            "clientId",
            "standbySocketCloseDurationSecs",
            "dataExchange",
            "logging",
            "tcpTunnelListens",
            "tcpTunnelConnects",
        ] {
            assert!(value.get(key).is_some(), "{key}");
        }
        assert!(value["logging"]["syslog"].get("logToSysloyHost").is_some());
    }

    #[test]
    fn load_resolves_the_seed_home_convention() {
        let dir = temp_dir("home");
        // A directory without config.json gets the defaults written into it...
        let loaded = load(Some(&dir)).unwrap();
        assert!(loaded.created && loaded.warnings.is_empty());
        assert_eq!(loaded.path, dir.join("config.json"));
        assert_eq!(loaded.home, dir);
        assert_eq!(
            fs::read_to_string(dir.join("config.json")).unwrap(),
            default_config_text()
        );
        // ...and read back, not overwritten, the next time.
        fs::write(dir.join("config.json"), SEED_SERVER).unwrap();
        let loaded = load(Some(&dir)).unwrap();
        assert!(!loaded.created && loaded.config.we_are_server);
        // A file argument is read as it is; its directory is the home.
        let file = dir.join("other.json");
        fs::write(&file, SEED_CLIENT_2).unwrap();
        let loaded = load(Some(&file)).unwrap();
        assert_eq!(
            (loaded.path.clone(), loaded.home.clone()),
            (file.clone(), dir.clone())
        );
        assert_eq!(loaded.config.client_id, ClientId::Two);
        // Errors name the file.
        fs::write(&file, r#"{"clientId": 7}"#).unwrap();
        let e = load(Some(&file)).unwrap_err().to_string();
        assert_eq!(
            e,
            format!("{}: clientId: expected 1 or 2, got 7", file.display())
        );
        let missing = dir.join("nope");
        let e = load(Some(&missing)).unwrap_err().to_string();
        assert!(e.contains("nope"), "{e}");
        // load_existing never writes.
        let empty = dir.join("empty");
        fs::create_dir(&empty).unwrap();
        assert!(load_existing(&empty).is_err());
        assert!(!empty.join("config.json").exists());
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn logging_levels_and_syslog_targets() {
        for (name, level) in [
            ("debug", LevelFilter::Debug),
            ("Warning", LevelFilter::Warn),
            ("WARN", LevelFilter::Warn),
            ("CRITICAL", LevelFilter::Error),
            ("trace", LevelFilter::Trace),
            ("INFO", LevelFilter::Info),
        ] {
            let text = format!(r#"{{"logging": {{"level": "{name}"}}}}"#);
            assert_eq!(ok(&text).0.logging.level, level, "{name}");
        }
        let syslog = |host: &str| {
            let text = format!(r#"{{"logging": {{"syslog": {{"logToSysloyHost": {host}}}}}}}"#);
            parse(&text).map(|(c, _)| c.logging.syslog)
        };
        let target = |host: &str, port, facility| {
            Some(SyslogTarget {
                host: host.into(),
                port,
                facility,
            })
        };
        assert_eq!(
            syslog("\"logs.example\"").unwrap(),
            target("logs.example", 514, 1)
        );
        assert_eq!(
            syslog("\"10.0.0.1:5514\"").unwrap(),
            target("10.0.0.1", 5514, 1)
        );
        assert_eq!(syslog("\"[::1]:9\"").unwrap(), target("::1", 9, 1));
        assert_eq!(syslog("null").unwrap(), None);
        assert!(syslog("\"h:99999\"")
            .unwrap_err()
            .to_string()
            .starts_with("logging.syslog.logToSysloyHost: expected"));
        assert!(syslog("5")
            .unwrap_err()
            .to_string()
            .starts_with("logging.syslog.logToSysloyHost: expected a string"));
        let (c, _) = ok(
            r#"{"logging": {"syslog": {"logToSysloyHost": "h", "logToSysloyPort": 1514,
                                                    "logToSysloyProtocol": "local3"}}}"#,
        );
        assert_eq!(c.logging.syslog, target("h", 1514, 19));
    }

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

    #[test]
    fn summary_shows_role_tunnels_and_settings() {
        let text = ok(SEED_CLIENT_1).0.summary();
        for expected in [
            "client 1",
            "http://localhost:8080/",
            "TLS:              off",
            "listen   duckduckgo  127.0.0.1:8091 --> server",
            "connect  brave       server --> search.brave.com:80",
            "4 MiB",
            "standby close:    30s",
            "DEBUG",
        ] {
            assert!(text.contains(expected), "{expected:?} missing from\n{text}");
        }
        let text = ok(SEED_SERVER).0.summary();
        assert!(text.contains("127.0.0.1:8092 --> active client"), "{text}");
    }

    /// Any JSON value, a few levels deep, with config keys among the object keys.
    #[derive(Clone, Debug)]
    struct AnyJson(Value);

    fn any_json(g: &mut Gen, depth: u32) -> Value {
        const KEYS: [&str; 8] = [
            "tunnelName",
            "listenPort",
            "connectToHost",
            "serverUrl",
            "level",
            "syslog",
            "logToSysloyHost",
            "x",
        ];
        let kinds = if depth == 0 { 6 } else { 8 };
        match u8::arbitrary(g) % kinds {
            0 => Value::Null,
            1 => Value::Bool(bool::arbitrary(g)),
            2 => Value::from(i64::arbitrary(g)),
            3 => serde_json::Number::from_f64(f64::arbitrary(g)).map_or(Value::Null, Value::Number),
            4 => Value::from(u64::arbitrary(g) % 70_000),
            5 => Value::String(String::arbitrary(g)),
            6 => Value::Array(
                (0..u8::arbitrary(g) % 4)
                    .map(|_| any_json(g, depth - 1))
                    .collect(),
            ),
            _ => Value::Object(
                (0..u8::arbitrary(g) % 4)
                    .map(|_| {
                        (
                            g.choose(&KEYS).unwrap_or(&"x").to_string(),
                            any_json(g, depth - 1),
                        )
                    })
                    .collect(),
            ),
        }
    }

    impl Arbitrary for AnyJson {
        fn arbitrary(g: &mut Gen) -> AnyJson {
            AnyJson(any_json(g, 3))
        }
    }

    #[test]
    fn arbitrary_text_never_panics() {
        fn prop(text: String) -> bool {
            let _ = parse(&text);
            true
        }
        fn prop_bytes(bytes: Vec<u8>) -> bool {
            let _ = parse(&String::from_utf8_lossy(&bytes));
            true
        }
        QuickCheck::new()
            .tests(500)
            .quickcheck(prop as fn(String) -> bool);
        QuickCheck::new()
            .tests(500)
            .quickcheck(prop_bytes as fn(Vec<u8>) -> bool);
    }

    #[test]
    fn arbitrary_values_at_known_keys_never_panic() {
        fn prop(value: AnyJson, at: u8) -> bool {
            const PATHS: [&[&str]; 12] = [
                &[],
                &["weAreServer"],
                &["clientId"],
                &["standbySocketCloseDurationSecs"],
                &["dataExchange"],
                &["dataExchange", "serverUrl"],
                &["dataExchange", "keepaliveTimeoutSecs"],
                &["logging"],
                &["logging", "syslog"],
                &["logging", "syslog", "logToSysloyHost"],
                &["tcpTunnelListens"],
                &["tcpTunnelConnects"],
            ];
            let mut root: Value = serde_json::from_str(SEED_CLIENT_1).unwrap();
            let path = PATHS[usize::from(at) % PATHS.len()];
            let mut slot = &mut root;
            for key in path {
                slot = &mut slot[*key];
            }
            *slot = value.0;
            if let Ok((config, _)) = parse(&root.to_string()) {
                let _ = config.summary();
                let _ = config.to_node_settings();
            }
            true
        }
        QuickCheck::new()
            .tests(1000)
            .quickcheck(prop as fn(AnyJson, u8) -> bool);
    }
}
