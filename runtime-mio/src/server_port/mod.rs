//! The server's WebSocket/HTTP port: connections accepted on it, their
//! request heads and routing, the `/healthz` and `/metrics` answers, and the
//! upgrade that makes a link. `accept` is the event loop's handling of it.

pub(crate) mod accept;
pub(crate) mod http;
pub(crate) mod incoming;
