//! The server's WebSocket/HTTP port: connections accepted on it, their
//! request heads and routing, the `/healthz` and `/metrics` answers, and the
//! upgrade that makes a link. `accept` is the event loop's handling of it;
//! `http_port` the optional port of their own for `/healthz` and `/metrics`.

pub(crate) mod accept;
pub(crate) mod http_port;
pub(crate) mod incoming;
pub(crate) mod listener;
pub(crate) mod metrics;
pub(crate) mod request_head;
pub(crate) mod response;
pub(crate) mod routing;
