//! What can go wrong reading a config file or setting up from it.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

/// A config or setup error. Every case names what to fix: the file, the
/// line and column, or the full key path (`tcpTunnelListens[1].listenPort`).
#[derive(Debug)]
pub enum ConfigError {
    /// A file or directory could not be read, written or created.
    Io {
        path: PathBuf,
        /// What we were doing, e.g. "read config file".
        action: &'static str,
        source: io::Error,
    },
    /// The config text is longer than [`MAX_CONFIG_BYTES`](super::MAX_CONFIG_BYTES).
    TooLarge {
        file: Option<PathBuf>,
        size: u64,
        limit: u64,
    },
    /// The text is not JSON (or not UTF-8); line and column are 1-based.
    Json {
        file: Option<PathBuf>,
        line: usize,
        column: usize,
        message: String,
    },
    /// A key holds a wrong type or value, or a required key is missing.
    Key {
        file: Option<PathBuf>,
        key: String,
        message: String,
    },
    /// The logger could not be installed (e.g. one is installed already).
    Logger(String),
}

impl ConfigError {
    /// A key error: `key` is the full path, `message` says what was expected.
    pub(crate) fn key(key: impl Into<String>, message: impl Into<String>) -> ConfigError {
        ConfigError::Key {
            file: None,
            key: key.into(),
            message: message.into(),
        }
    }

    /// Records which file the text came from, for the message.
    pub fn in_file(mut self, path: &Path) -> ConfigError {
        match &mut self {
            ConfigError::TooLarge { file, .. }
            | ConfigError::Json { file, .. }
            | ConfigError::Key { file, .. } => *file = Some(path.to_path_buf()),
            ConfigError::Io { .. } | ConfigError::Logger(_) => {}
        }
        self
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Io {
                path,
                action,
                source,
            } => write!(f, "cannot {action} {}: {source}", path.display()),
            ConfigError::TooLarge { file, size, limit } => {
                if let Some(file) = file {
                    write!(f, "{}: ", file.display())?;
                }
                write!(
                    f,
                    "config is too large ({size} bytes; at most {limit} bytes are read)"
                )
            }
            ConfigError::Json {
                file,
                line,
                column,
                message,
            } => {
                if let Some(file) = file {
                    write!(f, "{}:", file.display())?;
                }
                write!(f, "{line}:{column}: invalid JSON: {message}")
            }
            ConfigError::Key { file, key, message } => {
                if let Some(file) = file {
                    write!(f, "{}: ", file.display())?;
                }
                write!(f, "{key}: {message}")
            }
            ConfigError::Logger(message) => write!(f, "cannot set up logging: {message}"),
        }
    }
}

impl std::error::Error for ConfigError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ConfigError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}
