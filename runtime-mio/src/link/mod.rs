//! WebSocket links and the layers under them: the byte stream (plain TCP or
//! TLS), our in-place data frames, the open link, the client's connect
//! attempt (through an HTTP proxy when configured), and sockets on their
//! way out. The `impl EventLoop` files
//! (`connect`, `link_io`, `closing_sockets`) are the loop's handling of each.

pub(crate) mod closing;
pub(crate) mod closing_sockets;
pub(crate) mod connect;
pub(crate) mod http_proxy;
pub(crate) mod link_io;
pub(crate) mod link_stream;
pub(crate) mod link_up;
pub(crate) mod server_dial;
pub(crate) mod transport;
pub(crate) mod websocket;
pub(crate) mod ws_frame;
pub(crate) mod ws_reader;
