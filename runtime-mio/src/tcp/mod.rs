//! Plain TCP, shared by the server port, the client's link and the tunnels:
//! non-blocking connects that fall back to a name's next address, resolving
//! and binding listen sockets, and a spare descriptor for the open-files limit.

pub(crate) mod dial;
pub(crate) mod fd_reserve;
pub(crate) mod listen;
