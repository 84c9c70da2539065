//! The `logging` object: level, stdout, daily files and syslog.

use log::LevelFilter;

use super::json::Obj;
use super::{url, ConfigError};

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

/// Reads the `logging` object (`obj`), adding a warning per unknown key.
pub(super) fn read(obj: &Obj, warnings: &mut Vec<String>) -> Result<LoggingConfig, ConfigError> {
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
    let default_port = obj.port("logToSysloyPort", Some(514))?;
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
        port: port.unwrap_or(default_port),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse;
    use crate::config::testing::ok;

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
}
