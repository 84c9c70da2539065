//! What the protocol needs to know about the node: role, tunnels, timings.

use std::fmt;
use std::time::Duration;

use crate::auth::SharedSecret;
use crate::ids::Role;

/// The protocol's view of a node's configuration. The CLI builds it from
/// config.json; the simulation builds it directly.
#[derive(Debug, Clone)]
pub struct Config {
    /// Server, client 1 or client 2.
    pub role: Role,
    /// Names of the tunnels this node listens for (index = [`TunnelId`](crate::TunnelId)).
    pub listens: Vec<String>,
    /// Names of the tunnels this node connects out for (index = [`TunnelId`](crate::TunnelId)).
    pub connects: Vec<String>,
    /// The seed's `standbySocketCloseDurationSecs`: how long listen sockets
    /// stay closed after a switch.
    pub standby_close: Duration,
    /// Bytes buffered per stream and direction: the receive window we grant
    /// and the most we hold unacknowledged for resend.
    pub stream_window: u32,
    /// How long a session outlives its WebSocket before its streams are reset.
    pub resume_grace: Duration,
    /// Server: how long the active client's link may be down before the
    /// server fails over to the other client, if that one is online. A
    /// connection accepted on a listen socket meanwhile waits at most this
    /// long for a client to carry it. At most `resume_grace`.
    pub failover_after: Duration,
    /// How long a dial of a connect target (name lookup included), or a
    /// client's WebSocket to the server (handshakes included), may take
    /// before the protocol gives up on it.
    pub connect_timeout: Duration,
    /// How long a link may take from coming up to carrying its session
    /// (hello, proofs, welcome); then it is closed. Keepalives do not
    /// extend it.
    pub handshake_timeout: Duration,
    /// Send a keepalive after this long without sending anything.
    pub keepalive_interval: Duration,
    /// Close a link after this long without receiving anything.
    pub keepalive_timeout: Duration,
    /// First delay before a client redials the server; doubles per failure.
    pub reconnect_min: Duration,
    /// Cap of the reconnect delay.
    pub reconnect_max: Duration,
    /// Most streams one session may hold; opens beyond it are refused.
    pub max_streams: usize,
    /// Largest WebSocket message `poll_transmit` builds, in bytes: 1024 to
    /// [`MAX_MESSAGE`](crate::frame::MAX_MESSAGE), the most a peer accepts.
    pub max_message: usize,
    /// Seeds the jitter of reconnect delays. Tokens and nonces, which must
    /// be unguessable, come with each link instead ([`LinkUp`](crate::LinkUp)).
    pub rng_seed: u64,
    /// `sharedSecretFilePath`: the secret a client must prove it knows
    /// before the server gives it a session (and the server proves back).
    /// Both ends need it, or neither.
    pub shared_secret: Option<SharedSecret>,
}

impl Config {
    /// A config with the documented defaults for everything but the role and tunnels.
    pub fn new(role: Role) -> Config {
        Config {
            role,
            listens: Vec::new(),
            connects: Vec::new(),
            standby_close: Duration::from_secs(30),
            stream_window: 4 * 1024 * 1024,
            resume_grace: Duration::from_secs(30),
            failover_after: Duration::from_secs(2),
            connect_timeout: Duration::from_secs(10),
            handshake_timeout: Duration::from_secs(5),
            keepalive_interval: Duration::from_secs(5),
            keepalive_timeout: Duration::from_secs(20),
            reconnect_min: Duration::from_millis(100),
            reconnect_max: Duration::from_secs(5),
            max_streams: 65_536,
            max_message: 1024 * 1024,
            rng_seed: 0x7463_7077_7321,
            shared_secret: None,
        }
    }

    /// Checks the limits the protocol relies on; the error names the field.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.stream_window < 1024 {
            return Err(ConfigError::StreamWindow(self.stream_window));
        }
        if self.max_message < 1024 || self.max_message > crate::frame::MAX_MESSAGE {
            return Err(ConfigError::MaxMessage(self.max_message));
        }
        if self.failover_after > self.resume_grace {
            return Err(ConfigError::FailoverPastGrace {
                failover_after: self.failover_after,
                resume_grace: self.resume_grace,
            });
        }
        if self.connect_timeout.is_zero() {
            return Err(ConfigError::ConnectTimeout);
        }
        if self.handshake_timeout.is_zero() {
            return Err(ConfigError::HandshakeTimeout);
        }
        if self.keepalive_interval.is_zero() || self.keepalive_timeout <= self.keepalive_interval {
            return Err(ConfigError::Keepalive);
        }
        if self.reconnect_min.is_zero() || self.reconnect_max < self.reconnect_min {
            return Err(ConfigError::Reconnect);
        }
        if self.max_streams == 0 {
            return Err(ConfigError::MaxStreams);
        }
        for name in self.listens.iter().chain(&self.connects) {
            if name.is_empty() || name.len() > crate::frame::MAX_TUNNEL_NAME {
                return Err(ConfigError::TunnelName(name.clone()));
            }
        }
        Ok(())
    }
}

/// A [`Config`] the protocol cannot run with; each case names its field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigError {
    StreamWindow(u32),
    MaxMessage(usize),
    FailoverPastGrace {
        failover_after: Duration,
        resume_grace: Duration,
    },
    ConnectTimeout,
    HandshakeTimeout,
    Keepalive,
    Reconnect,
    MaxStreams,
    TunnelName(String),
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::StreamWindow(w) => {
                write!(f, "stream_window must be at least 1024 bytes, got {w}")
            }
            ConfigError::MaxMessage(m) => write!(
                f,
                "max_message must be between 1024 and {} bytes, got {m}",
                crate::frame::MAX_MESSAGE
            ),
            ConfigError::FailoverPastGrace {
                failover_after,
                resume_grace,
            } => write!(
                f,
                "failover_after ({failover_after:?}) must not exceed resume_grace ({resume_grace:?})"
            ),
            ConfigError::ConnectTimeout => write!(f, "connect_timeout must be above 0"),
            ConfigError::HandshakeTimeout => write!(f, "handshake_timeout must be above 0"),
            ConfigError::Keepalive => write!(
                f,
                "keepalive_timeout must be longer than a non-zero keepalive_interval"
            ),
            ConfigError::Reconnect => {
                write!(f, "reconnect_max must be at least a non-zero reconnect_min")
            }
            ConfigError::MaxStreams => write!(f, "max_streams must be at least 1"),
            ConfigError::TunnelName(name) => write!(
                f,
                "tunnel name {name:?} must be 1 to {} bytes long",
                crate::frame::MAX_TUNNEL_NAME
            ),
        }
    }
}

impl std::error::Error for ConfigError {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::MAX_MESSAGE;

    #[test]
    fn max_message_stays_within_what_a_peer_accepts() {
        let mut c = Config::new(Role::Server);
        c.max_message = MAX_MESSAGE;
        assert_eq!(c.validate(), Ok(()));
        c.max_message = MAX_MESSAGE + 1;
        assert_eq!(c.validate(), Err(ConfigError::MaxMessage(MAX_MESSAGE + 1)));
        c.max_message = 1023;
        assert_eq!(c.validate(), Err(ConfigError::MaxMessage(1023)));
    }
}
