//! What the protocol asks the runtime to do: plain data, never callbacks.

use std::fmt;

use crate::frame::ActiveWhy;
use crate::ids::{ClientId, ConnId, LinkId, TunnelId};

/// One instruction for the runtime, drained with
/// [`Endpoint::poll_output`](crate::Endpoint::poll_output).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Client only: open a WebSocket to the server, then report
    /// `handle_link_up` or `handle_link_failed`.
    ConnectServer,
    /// Client only: give up the attempt asked for by `ConnectServer` (it
    /// took longer than the connect timeout) and report nothing more for it.
    AbandonConnect,
    /// Close this WebSocket (with this reason in the close frame) and forget it.
    /// The protocol has already forgotten it: do not report `handle_link_down`.
    CloseLink { link: LinkId, reason: String },
    /// Open a TCP connection to the target of `connects[tunnel]`, then report
    /// `handle_dial_result`.
    Dial { conn: ConnId, tunnel: TunnelId },
    /// Bind and listen on the socket of `listens[tunnel]`.
    StartListening { tunnel: TunnelId },
    /// Close the listen socket of `listens[tunnel]`.
    StopListening { tunnel: TunnelId },
    /// Bytes are waiting for `conn`: write [`Endpoint::recv_chunk`](crate::Endpoint::recv_chunk)
    /// to the socket and report them with `handle_app_written`, until it is
    /// empty or the socket would block (then retry when writable).
    Deliver { conn: ConnId },
    /// Everything the peer sent has been delivered and the peer finished:
    /// shut down the write half of `conn`'s socket.
    ShutdownWrite { conn: ConnId },
    /// Close `conn`'s socket (with a TCP reset when `reset`) and forget it.
    Close { conn: ConnId, reset: bool },
    /// `conn` has send capacity again: read its socket (the runtime stopped
    /// when `send_capacity` was 0).
    ResumeReading { conn: ConnId },
    /// Who is active changed (for logs and metrics; the protocol already acted).
    ActiveChanged {
        active: Option<ClientId>,
        epoch: u64,
        why: ActiveReason,
    },
}

/// Why [`Output::ActiveChanged`] was emitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActiveReason {
    /// The server's election changed who is active (on a client: as the
    /// server announced it).
    Elected(ActiveWhy),
    /// A client learned who is active when its session with the server began.
    SessionStarted,
}

impl fmt::Display for ActiveReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ActiveReason::Elected(why) => f.write_str(why.as_str()),
            ActiveReason::SessionStarted => f.write_str("as announced by the server on connect"),
        }
    }
}
