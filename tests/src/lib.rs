//! Tests for tcpws that need more than one crate: the deterministic
//! simulation harness ([`sim`]) and, later, end-to-end tests that start real
//! processes on loopback.

pub mod sim;
