//! Tunnels' local TCP: listen sockets and the connections accepted on them,
//! dials to connect targets (names resolved off the loop), and the reads and
//! writes between those sockets and the protocol. `listening`, `dialing` and
//! `conn_io` are the event loop's handling of each.

pub(crate) mod conn;
pub(crate) mod conn_io;
pub(crate) mod dialing;
pub(crate) mod listener;
pub(crate) mod listening;
pub(crate) mod resolver;
