//! Why a node could not start or keep running.

use std::fmt;
use std::io;
use std::path::PathBuf;

/// A failure that stops a [`Node`](crate::Node) from starting or running.
/// Each message names what failed and why, ready for a user to read.
#[derive(Debug)]
pub enum RuntimeError {
    /// A socket could not be bound; `what` says what it was for
    /// (e.g. "the WebSocket").
    Bind {
        what: String,
        addr: String,
        source: io::Error,
    },
    /// A host name did not resolve to any address.
    Resolve {
        what: String,
        addr: String,
        source: io::Error,
    },
    /// The settings contradict themselves (e.g. tunnel lists out of step with
    /// the protocol config).
    Settings(String),
    /// A TLS file named by the config `key` is missing, unreadable or holds
    /// the wrong things (no key, no certificate, an expired certificate...).
    Tls {
        key: &'static str,
        file: PathBuf,
        why: String,
    },
    /// The protocol refused its configuration.
    Protocol(String),
    /// The OS poller failed (creating it, registering with it or waiting on it).
    Poll {
        what: &'static str,
        source: io::Error,
    },
    /// The SIGINT/SIGTERM/SIGHUP handlers could not be installed.
    Signals(io::Error),
}

impl fmt::Display for RuntimeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RuntimeError::Bind { what, addr, source } => {
                write!(
                    f,
                    "cannot listen on {addr} for {what}: {}",
                    describe(source)
                )
            }
            RuntimeError::Resolve { what, addr, source } => {
                write!(f, "cannot resolve {addr} for {what}: {}", describe(source))
            }
            RuntimeError::Settings(why) => write!(f, "invalid runtime settings: {why}"),
            RuntimeError::Tls { key, file, why } => {
                write!(f, "{key}: cannot use {}: {why}", file.display())
            }
            RuntimeError::Protocol(why) => write!(f, "invalid protocol configuration: {why}"),
            RuntimeError::Poll { what, source } => write!(f, "event loop failed {what}: {source}"),
            RuntimeError::Signals(e) => {
                write!(f, "cannot install the SIGINT/SIGTERM/SIGHUP handlers: {e}")
            }
        }
    }
}

impl std::error::Error for RuntimeError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            RuntimeError::Bind { source, .. }
            | RuntimeError::Resolve { source, .. }
            | RuntimeError::Poll { source, .. } => Some(source),
            RuntimeError::Signals(e) => Some(e),
            _ => None,
        }
    }
}

/// A short, lower-case description of an I/O error: the error kind for the
/// common socket failures ("address in use"), the OS text otherwise.
pub(crate) fn describe(e: &io::Error) -> String {
    use io::ErrorKind::*;
    match e.kind() {
        AddrInUse | AddrNotAvailable | PermissionDenied | ConnectionRefused | ConnectionReset
        | ConnectionAborted | TimedOut | HostUnreachable | NetworkUnreachable => {
            e.kind().to_string()
        }
        _ => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bind_error_names_address_purpose_and_cause() {
        let e = RuntimeError::Bind {
            what: "the WebSocket".into(),
            addr: "127.0.0.1:8080".into(),
            source: io::Error::from(io::ErrorKind::AddrInUse),
        };
        assert_eq!(
            e.to_string(),
            "cannot listen on 127.0.0.1:8080 for the WebSocket: address in use"
        );
    }

    #[test]
    fn tls_error_names_key_and_file() {
        let e = RuntimeError::Tls {
            key: "dataExchange.tlsBundleFilePath",
            file: PathBuf::from("/etc/tcpws/bundle.pem"),
            why: "it holds no private key".into(),
        };
        assert_eq!(
            e.to_string(),
            "dataExchange.tlsBundleFilePath: cannot use /etc/tcpws/bundle.pem: it holds no private key"
        );
    }
}
