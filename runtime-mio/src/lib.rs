//! The tcpws runtime: a hand-written, single-threaded mio event loop that
//! drives the sans-IO [`tcpws_protocol::Endpoint`].
//!
//! This crate is the only code that reads the clock and touches sockets. It
//! owns the WebSocket links (frames of its own; tungstenite for the client's
//! HTTP handshake), the tunnels' TCP listen and connect
//! sockets, the server's HTTP port (`/healthz`, `/metrics`, the WebSocket
//! upgrade), TLS on that port and its links when the server URL is https/wss
//! (rustls, driven by the same loop), and its own I/O deadlines (handshakes,
//! dials, bind retries). Every decision about the tunnel (who is active, what
//! to resend, when to close or listen, reconnect backoff) is the protocol's:
//! the loop feeds it inputs, obeys its [`tcpws_protocol::Output`]s and sleeps
//! until its next deadline.
//!
//! The parts: `node` (the public [`Node`]), `event_loop` (the loop, its drain
//! contract and its deadlines), `server_port` (the server's WebSocket/HTTP
//! port), `link` (WebSocket links and the plain or TLS byte stream under
//! them), `tunnel` (listen sockets, dials and tunnel connections), `tcp`
//! (connect and bind helpers) and `tls` (certificate files, rustls configs,
//! pinning).
//!
//! ```no_run
//! use tcpws_runtime_mio::{install_signal_handlers, Node, NodeSettings, RuntimeError};
//!
//! /// Runs a node until SIGINT or SIGTERM.
//! fn serve(settings: NodeSettings) -> Result<(), RuntimeError> {
//!     let node = Node::new(settings)?;
//!     install_signal_handlers(node.handle())?;
//!     node.run()
//! }
//! ```

mod error;
mod event_loop;
mod fd_limit;
mod handle;
mod link;
mod node;
mod server_port;
mod service_manager;
mod settings;
mod signals;
mod tcp;
mod tls;
mod tunnel;

/// The runtime's parsers of peer bytes as pure functions, for the fuzz
/// targets: the server port's HTTP handling (fuzz/fuzz_targets/http_head.rs:
/// the request head parser and the loop that reads a head from a socket,
/// the router, and the responses it leads to) and a link's WebSocket frame
/// reader (ws_frames.rs). Not a stable API: it follows the runtime's
/// internals.
#[doc(hidden)]
pub mod fuzzing {
    pub use crate::event_loop::SCRATCH;
    pub use crate::link::ws_reader::{Frame, FrameReader, Message, INITIAL_BUFFER, MAX_BUFFER};
    pub use crate::server_port::incoming::{read_head, Step};
    pub use crate::server_port::request_head::{parse_head, HeadError, RequestHead, MAX_HEAD};
    pub use crate::server_port::response::{error_response, response, upgrade_response};
    pub use crate::server_port::routing::{route, Route};
}

pub use error::RuntimeError;
pub use fd_limit::{raise_fd_limit, FdLimit};
pub use handle::{NodeHandle, Status};
pub use node::Node;
pub use settings::{
    ConnectSpec, HttpProxy, ListenSpec, NodeSettings, ProxyCredentials, ServerAddr, TlsSettings,
};
pub use signals::{install_signal_handlers, install_signal_handlers_with_reload};
pub use tls::{check_tls, TLS_BUNDLE_KEY, TRUSTED_CA_KEY, TRUSTED_PEERS_KEY};
