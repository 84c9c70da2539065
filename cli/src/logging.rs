//! The process logger: lines like `2026-11-25T10:00:00.123Z INFO  target: message`
//! to stdout (when `logToStdout`), always to a daily log file in the home
//! directory, and to syslog over UDP when `logToSysloyHost` is set.
//!
//! Filtering is env_logger's: `RUST_LOG`, when set, replaces the config's
//! level. Writing never panics: a sink that fails is reported once on
//! stderr and its later failures are ignored.

mod daily_file;
mod syslog;

use std::io::{self, Write};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock, PoisonError, RwLock};

use jiff::Timestamp;
use log::{Level, LevelFilter, Log, Metadata, Record};

use crate::config::{ConfigError, LoggingConfig};
use daily_file::DailyFile;
use syslog::Syslog;

/// Crates whose debug output drowns ours; held at INFO unless the level is
/// TRACE or `RUST_LOG` says otherwise.
const CHATTY: [&str; 3] = ["rustls", "tungstenite", "mio"];

/// Installs the logger for the process. Fails if the log file cannot be
/// opened, the syslog host cannot be resolved, or a logger is installed already.
pub fn init(cfg: &LoggingConfig, home: &Path) -> Result<(), ConfigError> {
    let filter = build_filter(cfg.level, std::env::var("RUST_LOG").ok().as_deref());
    let now = now();
    let file = DailyFile::open(home, cfg.days_to_keep, now).map_err(|source| ConfigError::Io {
        path: DailyFile::path_for(home, now),
        action: "open log file",
        source,
    })?;
    let syslog = match &cfg.syslog {
        None => None,
        Some(target) => Some(
            Syslog::connect(&target.host, target.port, target.facility).map_err(|e| {
                ConfigError::key(
                    "logging.syslog.logToSysloyHost",
                    format!("cannot send to {}:{}: {e}", target.host, target.port),
                )
            })?,
        ),
    };
    let max_level = filter.filter();
    let logger: &'static Logger = Box::leak(Box::new(Logger {
        filter: RwLock::new(filter),
        stdout: cfg.log_to_stdout,
        file: Mutex::new(file),
        syslog,
        failed: Default::default(),
    }));
    log::set_logger(logger).map_err(|e| ConfigError::Logger(e.to_string()))?;
    let _ = INSTALLED.set(logger);
    log::set_max_level(max_level);
    Ok(())
}

/// The logger [`init`] installed, for [`set_level`].
static INSTALLED: OnceLock<&'static Logger> = OnceLock::new();

/// Changes the level of the installed logger (a reload of `logging.level`);
/// `RUST_LOG`, when set, still wins. Does nothing before [`init`].
pub fn set_level(level: LevelFilter) {
    let Some(logger) = INSTALLED.get() else {
        return;
    };
    let filter = build_filter(level, std::env::var("RUST_LOG").ok().as_deref());
    let max_level = filter.filter();
    *logger
        .filter
        .write()
        .unwrap_or_else(PoisonError::into_inner) = filter;
    log::set_max_level(max_level);
}

/// env_logger's filter (its writer is never used): `rust_log` when set and
/// non-empty, else `level` with the [`CHATTY`] crates held at INFO.
fn build_filter(level: LevelFilter, rust_log: Option<&str>) -> env_logger::Logger {
    let mut builder = env_logger::Builder::new();
    match rust_log {
        Some(spec) if !spec.trim().is_empty() => {
            builder.parse_filters(spec);
        }
        _ => {
            builder.filter_level(level);
            if level < LevelFilter::Trace {
                for module in CHATTY {
                    builder.filter_module(module, level.min(LevelFilter::Info));
                }
            }
        }
    }
    builder.build()
}

/// The time of a log line and of the file it goes to; a clock set before
/// 1970 reads as 1970-01-01.
fn now() -> Timestamp {
    Timestamp::now().max(Timestamp::UNIX_EPOCH)
}

/// `2026-11-25T10:00:00.123Z INFO  target: message` and a newline.
fn line(now: Timestamp, level: Level, text: &str) -> String {
    format!("{now:.3} {level:<5} {text}\n")
}

/// The installed logger: one filter (replaced by a reload), up to three sinks.
struct Logger {
    filter: RwLock<env_logger::Logger>,
    stdout: bool,
    file: Mutex<DailyFile>,
    syslog: Option<Syslog>,
    /// Per sink (stdout, file, syslog): whether a failure was reported.
    failed: [AtomicBool; 3],
}

const STDOUT: usize = 0;
const FILE: usize = 1;
const SYSLOG: usize = 2;

impl Logger {
    /// Reports the first failure of a sink on stderr; later ones are dropped.
    fn report(&self, sink: usize, result: io::Result<()>) {
        if let Err(e) = result {
            if !self.failed[sink].swap(true, Ordering::Relaxed) {
                let name = ["stdout", "the log file", "syslog"][sink];
                let _ = writeln!(
                    io::stderr(),
                    "tcpws: cannot write log to {name}: {e} (further errors ignored)"
                );
            }
        }
    }
}

impl Log for Logger {
    fn enabled(&self, metadata: &Metadata) -> bool {
        self.filter
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .enabled(metadata)
    }

    fn log(&self, record: &Record) {
        let matches = self
            .filter
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .matches(record);
        if !matches {
            return;
        }
        let now = now();
        let text = format!("{}: {}", record.target(), record.args());
        let line = line(now, record.level(), &text);
        if self.stdout {
            self.report(STDOUT, io::stdout().lock().write_all(line.as_bytes()));
        }
        let mut file = self
            .file
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        self.report(FILE, file.write(now, line.as_bytes()));
        drop(file);
        if let Some(syslog) = &self.syslog {
            self.report(SYSLOG, syslog.send(record.level(), &text));
        }
    }

    fn flush(&self) {
        if self.stdout {
            self.report(STDOUT, io::stdout().lock().flush());
        }
        let mut file = self
            .file
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        self.report(FILE, file.flush());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_start_with_the_utc_time_to_the_millisecond() {
        let t = Timestamp::from_millisecond(20_782 * 86_400_000 + 36_000_123).unwrap();
        assert_eq!(
            line(t, Level::Info, "tcpws: up"),
            "2026-11-25T10:00:00.123Z INFO  tcpws: up\n"
        );
        let t = Timestamp::new(0, 999_999_999).unwrap();
        assert_eq!(
            line(t, Level::Warn, "x"),
            "1970-01-01T00:00:00.999Z WARN  x\n",
            "cut, not rounded"
        );
        assert_eq!(
            line(Timestamp::UNIX_EPOCH, Level::Error, "x"),
            "1970-01-01T00:00:00.000Z ERROR x\n"
        );
    }

    fn allows(filter: &env_logger::Logger, target: &str, level: Level) -> bool {
        filter.enabled(&Metadata::builder().target(target).level(level).build())
    }

    #[test]
    fn config_level_holds_chatty_crates_at_info() {
        let f = build_filter(LevelFilter::Debug, None);
        assert!(allows(&f, "tcpws", Level::Debug));
        assert!(!allows(&f, "tcpws", Level::Trace));
        assert!(!allows(&f, "rustls::conn", Level::Debug));
        assert!(allows(&f, "rustls::conn", Level::Info));
        let f = build_filter(LevelFilter::Warn, Some(""));
        assert!(!allows(&f, "tcpws", Level::Info));
        assert!(!allows(&f, "mio", Level::Info));
    }

    #[test]
    fn rust_log_overrides_the_config_level() {
        let f = build_filter(LevelFilter::Error, Some("info,rustls=trace"));
        assert!(allows(&f, "tcpws", Level::Info));
        assert!(allows(&f, "rustls", Level::Trace));
        assert_eq!(f.filter(), LevelFilter::Trace);
    }
}
