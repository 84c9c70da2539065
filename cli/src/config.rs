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

mod data_exchange;
mod error;
mod home;
mod json;
mod logging;
mod proxy_url;
mod secret;
mod security;
mod settings;
mod suggest;
mod summary;
#[cfg(test)]
mod testing;
mod tunnels;
mod url;

use std::time::Duration;

use serde_json::Value;
use tcpws_protocol::ClientId;

pub use data_exchange::{DataExchange, BUFFER_BYTES};
pub use error::ConfigError;
pub use home::{load, load_existing};
pub use logging::{LoggingConfig, SyslogTarget};
pub use tunnels::{ConnectTunnel, ListenTunnel};
pub use url::ServerUrl;

use json::Obj;

/// The most bytes of config text we read.
pub const MAX_CONFIG_BYTES: u64 = 1024 * 1024;

/// The longest tunnel name, host or bind address, in bytes.
pub const MAX_NAME: usize = 255;

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

/// The keys of the top-level object.
const ROOT_KEYS: [&str; 7] = [
    "weAreServer",
    "clientId",
    "standbySocketCloseDurationSecs",
    "dataExchange",
    "logging",
    "tcpTunnelListens",
    "tcpTunnelConnects",
];

fn read_root(value: &Value, warnings: &mut Vec<String>) -> Result<FileConfig, ConfigError> {
    let root = Obj::root(value)?;
    root.warn_unknown(&ROOT_KEYS, warnings);
    let we_are_server = root.bool("weAreServer", false)?;
    let id = root.int("clientId", 1..=2, Some(1), "1 or 2")?;
    let client_id =
        ClientId::from_number(id).ok_or_else(|| ConfigError::key("clientId", "expected 1 or 2"))?;
    let standby_close = root.secs(
        "standbySocketCloseDurationSecs",
        Duration::from_secs(30),
        false,
    )?;
    let data_exchange = data_exchange::read(&root.section("dataExchange")?, warnings)?;
    if we_are_server && data_exchange.http_proxy.is_some() {
        warnings.push(
            "dataExchange.httpProxyUrl is for clients: the server ignores it \
             (put nginx or another reverse proxy in front of the server instead)"
                .to_string(),
        );
    }
    let logging = logging::read(&root.section("logging")?, warnings)?;
    let listens = tunnels::read_listens(&root, warnings)?;
    let connects = tunnels::read_connects(&root, warnings)?;
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

#[cfg(test)]
mod tests {
    use log::LevelFilter;
    use quickcheck::{Arbitrary, Gen, QuickCheck};
    use std::path::Path;

    use super::testing::{err, ok, SEED_CLIENT_1, SEED_CLIENT_2, SEED_SERVER};
    use super::*;

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
                "weAreServr: unknown key, ignored; did you mean weAreServer?",
                "logging.syslg: unknown key, ignored; did you mean syslog?",
                "logging.syslog.logToSyslogHost: unknown key, ignored; did you mean logToSysloyHost?",
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
            const PATHS: [&[&str]; 13] = [
                &[],
                &["weAreServer"],
                &["clientId"],
                &["standbySocketCloseDurationSecs"],
                &["dataExchange"],
                &["dataExchange", "serverUrl"],
                &["dataExchange", "httpProxyUrl"],
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
