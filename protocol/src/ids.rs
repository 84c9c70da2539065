//! Identifiers shared between the protocol and the runtime.

use std::fmt;

/// Which of the two backup clients a node is (the seed's `clientId`: 1 or 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ClientId {
    One,
    Two,
}

impl ClientId {
    /// Parses the wire / config number; anything but 1 or 2 is `None`.
    pub fn from_number(n: u64) -> Option<ClientId> {
        match n {
            1 => Some(ClientId::One),
            2 => Some(ClientId::Two),
            _ => None,
        }
    }

    /// The number used on the wire and in config files.
    pub fn number(self) -> u8 {
        match self {
            ClientId::One => 1,
            ClientId::Two => 2,
        }
    }

    /// The other client of the pair.
    pub fn other(self) -> ClientId {
        match self {
            ClientId::One => ClientId::Two,
            ClientId::Two => ClientId::One,
        }
    }
}

impl fmt::Display for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "client {}", self.number())
    }
}

/// What a node is: the server, or one of the two clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    Server,
    Client(ClientId),
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Role::Server => f.write_str("server"),
            Role::Client(id) => id.fmt(f),
        }
    }
}

/// A WebSocket link, numbered by the runtime. Never reused within a process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LinkId(pub u64);

impl fmt::Display for LinkId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "link#{}", self.0)
    }
}

/// A local TCP connection, numbered by the protocol (from `handle_accept` or
/// an [`Output::Dial`](crate::Output::Dial)). Never reused within a process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConnId(pub u64);

impl fmt::Display for ConnId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "conn#{}", self.0)
    }
}

/// A tunnel: an index into [`Config::listens`](crate::Config::listens) or
/// [`Config::connects`](crate::Config::connects), as the output says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TunnelId(pub usize);

/// A multiplexed stream within one client session. Streams opened by the
/// server are odd, streams opened by a client even, so both ends allocate
/// without colliding; ids only grow within a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StreamId(pub u64);

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "stream#{}", self.0)
    }
}
