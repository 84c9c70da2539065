//! The tcpws protocol, sans-IO: a deterministic state machine that carries
//! TCP connections over WebSocket links between one server and two backup
//! clients. It never touches a socket, a file, a thread or the clock.
//!
//! # Roles
//!
//! One [`Endpoint`] per process: the server, client 1 or client 2. A client
//! keeps one *session* with the server; the server keeps one per client. A
//! session outlives its WebSocket: if the link comes back within
//! [`Config::failover_after`] (or, with no other client online to take
//! over, [`Config::resume_grace`]) every stream carries on with no byte lost
//! or doubled. A planned stop ([`Endpoint::handle_shutdown`]) says Goodbye
//! and hands over at once.
//!
//! # Driving an endpoint (the drain contract)
//!
//! Every input is a `handle_*` call that carries `now`. After **every** call:
//!
//! 1. drain [`Endpoint::poll_output`] until `None` and act on each [`Output`];
//! 2. for each link whose socket can take more bytes, call
//!    [`Endpoint::poll_transmit`] until it returns `false`, sending each
//!    filled buffer as one binary WebSocket message;
//! 3. sleep until [`Endpoint::poll_timeout`] (or the next I/O event) and call
//!    [`Endpoint::handle_timeout`], which is safe to call early or twice.
//!
//! Data flows by pull, so nothing queues without bound:
//!
//! * app → tunnel: read a TCP socket only up to [`Endpoint::send_capacity`]
//!   bytes and pass them to [`Endpoint::handle_app_data`]. When the capacity is
//!   0 stop reading; [`Output::ResumeReading`] says when to read again.
//! * tunnel → app: on [`Output::Deliver`] write [`Endpoint::recv_chunk`] to the
//!   socket and report what was written with [`Endpoint::handle_app_written`],
//!   until the chunk is empty or the socket would block.
//!
//! # Wire format
//!
//! See [`frame`] for the byte layout a peer implementation follows.

pub mod frame;

mod auth;
mod config;
mod control;
mod election;
mod endpoint;
mod error;
mod health;
mod ids;
pub mod log_limit;
mod output;
mod peer;
mod rate;
mod reorder;
mod rng;
mod send_buffer;
mod session;
mod stats;
mod stream;
mod timer;

pub use auth::{Nonce, Proof, SharedSecret, NONCE_LEN, PROOF_LEN};
pub use config::{Config, ConfigError};
pub use endpoint::{Endpoint, FRAMES_PER_TURN};
pub use error::ProtocolError;
pub use health::Health;
pub use ids::{ClientId, ConnId, LinkId, Role, StreamId, TunnelId};
pub use output::{ActiveReason, Output};
pub use peer::{Certified, LinkUp};
pub use stats::{Stats, TunnelStats};

/// The protocol version this crate speaks; a hello with another is refused.
pub const PROTOCOL_VERSION: u16 = 2;

/// An arbitrary origin for unit tests: only differences between instants
/// matter to the protocol, and production code never reads the clock.
#[cfg(test)]
#[allow(clippy::disallowed_methods)]
pub(crate) fn test_origin() -> std::time::Instant {
    std::time::Instant::now()
}
