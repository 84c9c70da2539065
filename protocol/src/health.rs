//! Whether a node can carry traffic now: what `/healthz` answers.

use std::fmt;

/// A node's readiness to carry tunnel traffic, from
/// [`Endpoint::health`](crate::Endpoint::health).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Health {
    /// Server: a client is active and its session is up. Client: its
    /// session with the server is up.
    Ready,
    /// Not ready; why, for an operator or a load balancer's log.
    Unready(String),
}

impl Health {
    pub fn is_ready(&self) -> bool {
        *self == Health::Ready
    }
}

impl fmt::Display for Health {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Health::Ready => f.write_str("ready"),
            Health::Unready(why) => write!(f, "not ready: {why}"),
        }
    }
}
