//! A deterministic simulation of the whole three-node tcpws system in one
//! thread, on virtual time, with a seeded network, fake TCP apps and faults.
//!
//! One [`World`] holds the server and both clients (each a real
//! [`tcpws_protocol::Endpoint`] driven by a fake runtime that obeys every
//! [`tcpws_protocol::Output`] exactly as the drain contract says), the
//! WebSocket wires between them ([`net`]), the external apps and backends
//! ([`app`]) whose bytes are checked at every offset ([`pattern`]), and one
//! seeded [`Rng`] every random choice comes from. The loop jumps to the next
//! event; the invariants (ARCHITECTURE.md, "Invariants") are checked after every
//! step, and a violation panics with the seed that replays it.

pub mod app;
pub mod clock;
pub mod config;
pub mod election;
pub mod invariants;
pub mod net;
pub mod node;
pub mod pattern;
pub mod random;
pub mod rng;
pub mod scenario;
pub mod switch;
pub mod tcp;
pub mod trace;
pub mod world;

use std::fmt;

use tcpws_protocol::ClientId;

pub use app::{AppId, AppPlan, AppRole, BackendMode, Status};
pub use config::{Dial, PathConfig, SimConfig};
pub use rng::Rng;
pub use world::{Fault, Intrusion, World};

/// One of the three processes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Node {
    Server,
    C1,
    C2,
}

impl Node {
    /// All three, in a fixed order.
    pub const ALL: [Node; 3] = [Node::Server, Node::C1, Node::C2];

    /// 0 for the server, 1 and 2 for the clients.
    pub fn index(self) -> usize {
        match self {
            Node::Server => 0,
            Node::C1 => 1,
            Node::C2 => 2,
        }
    }

    /// The node of a client.
    pub fn client(c: ClientId) -> Node {
        match c {
            ClientId::One => Node::C1,
            ClientId::Two => Node::C2,
        }
    }

    /// The client id of a client node.
    pub fn client_id(self) -> Option<ClientId> {
        match self {
            Node::Server => None,
            Node::C1 => Some(ClientId::One),
            Node::C2 => Some(ClientId::Two),
        }
    }
}

impl fmt::Display for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Node::Server => "S",
            Node::C1 => "C1",
            Node::C2 => "C2",
        })
    }
}
