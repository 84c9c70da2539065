//! Why a bench could not run or finish.

use std::fmt;
use std::io;

/// A bench failure. Bad options are told apart from everything else
/// because nothing was started for them (exit code 2).
#[derive(Debug)]
pub enum BenchError {
    /// A bad command-line value; the message names the option.
    Usage(String),
    /// An operating-system limit too low for the cases asked for.
    Limit(String),
    /// The `tcpws` binary to measure could not be built or found.
    Build(String),
    /// An I/O failure of the bench itself (`what` it was doing).
    Io { what: String, source: io::Error },
    /// The tunnel misbehaved: a process exited, a stream stalled or lost
    /// bytes. The message says which case and what was seen.
    Tunnel(String),
}

impl BenchError {
    /// An [`BenchError::Io`] for `what`.
    pub fn io(what: impl Into<String>) -> impl FnOnce(io::Error) -> BenchError {
        let what = what.into();
        move |source| BenchError::Io { what, source }
    }
}

impl fmt::Display for BenchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BenchError::Usage(why)
            | BenchError::Limit(why)
            | BenchError::Build(why)
            | BenchError::Tunnel(why) => f.write_str(why),
            BenchError::Io { what, source } => write!(f, "{what}: {source}"),
        }
    }
}

impl std::error::Error for BenchError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            BenchError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}
