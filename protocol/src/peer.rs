//! What the runtime tells the protocol about a new link: who is on the
//! other end, what its TLS certificate lets it claim, and the fresh random
//! values its handshake needs.

use std::net::SocketAddr;

use crate::auth::Nonce;
use crate::ids::ClientId;

/// The argument of [`Endpoint::handle_link_up`](crate::Endpoint::handle_link_up).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkUp {
    /// The peer's address, for logs.
    pub peer: SocketAddr,
    /// Server: which client ids this link's TLS certificate lets it claim.
    pub certified: Certified,
    /// Fresh bytes from the OS's CSPRNG (in the simulation: its seeded
    /// source): this side's handshake nonce.
    pub nonce: Nonce,
    /// Fresh from the same source: server, the resume token of a session
    /// this link may start (0 is never used as a token).
    pub token: u128,
}

/// Server: the client ids a link may claim, from the certificate it
/// presented under mutual TLS (`mutualTLSClientCertificates`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Certified {
    /// Ids are not bound to certificates (plain ws://, or mutual TLS
    /// without the mapping): the link may claim either id.
    Unbound,
    /// The link presented this client's certificate: it may claim only
    /// this id.
    Client(ClientId),
    /// Ids are bound and the certificate is neither client's: it may claim
    /// none.
    Neither,
}

impl Certified {
    /// Whether a link with this certificate may say it is `client`.
    pub fn may_claim(self, client: ClientId) -> bool {
        match self {
            Certified::Unbound => true,
            Certified::Client(c) => c == client,
            Certified::Neither => false,
        }
    }
}
