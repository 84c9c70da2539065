//! The tcpws wire format, version 2: pure functions over byte slices.
//!
//! A WebSocket **binary message** carries one or more whole frames, back to
//! back; a frame never spans two messages. Every integer is big-endian.
//!
//! ```text
//! frame   = kind:u8  len:u32  body[len]
//! ```
//!
//! | kind | name        | body                                                                  |
//! |------|-------------|-----------------------------------------------------------------------|
//! | 0x01 | Hello       | version:u16 role:u8(=1 client) client:u8 token:u128 epoch:u64 ctl_rx:u64 window:u32 auth:u8(0 none, 1 secret) [nonce:32 when auth=1] |
//! | 0x02 | Welcome     | version:u16 token:u128 resumed:u8(0,1) ctl_rx:u64 window:u32 grace_ms:u32 active:u8 epoch:u64 |
//! | 0x03 | Open        | seq:u64 stream:u64 name_len:u8 name[name_len] (UTF-8)                 |
//! | 0x04 | OpenResult  | seq:u64 stream:u64 accepted:u8(0,1) reason_len:u16 reason (UTF-8)     |
//! | 0x05 | Data        | stream:u64 offset:u64 payload[len-16]                                 |
//! | 0x06 | Ack         | stream:u64 consumed:u64                                               |
//! | 0x07 | Fin         | seq:u64 stream:u64 final_offset:u64                                   |
//! | 0x08 | Reset       | seq:u64 stream:u64 code:u8 reason_len:u16 reason (UTF-8)              |
//! | 0x09 | Claim       | seq:u64 epoch:u64                                                     |
//! | 0x0A | Active      | seq:u64 client:u8(0 none,1,2) epoch:u64 why:u8                        |
//! | 0x0B | ControlAck  | seq:u64                                                               |
//! | 0x0C | Keepalive   | (empty)                                                               |
//! | 0x0D | Goodbye     | reason_len:u16 reason (UTF-8)                                         |
//! | 0x0E | AuthChallenge | nonce:32 (server → client)                                          |
//! | 0x0F | AuthProof   | proof:32 (HMAC-SHA256, either way)                                    |
//! | 0x10 | AuthRefused | reason_len:u16 reason (UTF-8) (server → client)                       |
//!
//! * **Hello / Welcome** open a link. The client sends Hello first with the
//!   resume `token` of its session (0 for none), the highest election `epoch`
//!   it has seen, the highest control `seq` it received (`ctl_rx`) and its
//!   receive `window` per stream. The server answers Welcome: the session's
//!   token, whether it was `resumed`, its own `ctl_rx` and window, the resume
//!   grace period, and who is active at which epoch.
//! * **Authentication** (when the server has a shared secret). The server
//!   speaks first: AuthChallenge with its fresh random nonce, as soon as the
//!   link is up. The client says `auth=1` in its Hello with its own fresh
//!   `nonce`, and sends its AuthProof once the challenge is in (so the
//!   handshake costs no round trip more than Hello/Welcome). Only after the
//!   proof does the server look at the Hello's token or any session; it
//!   sends its own AuthProof right before the Welcome, which the client
//!   accepts only after checking that proof. Both proofs are
//!   HMAC-SHA256 under the secret over `"tcpws-auth-hmac-sha256" version:u16
//!   role:u8 client:u8 client_nonce[32] server_nonce[32]`, with role 1 for
//!   the client's proof and 0 for the server's, so the secret never crosses
//!   the wire and a recorded proof is worthless on another link. A Hello the
//!   server will not take (no proof where it needs one, a proof where it has
//!   no secret, a wrong proof, an id the TLS certificate may not claim) gets
//!   AuthRefused with the reason, then the link closes; no session, stream or
//!   election is touched.
//! * **Control frames** (Open, OpenResult, Fin, Reset, Claim, Active) carry a
//!   per-session sequence number starting at 1. They are delivered exactly
//!   once, in order: the receiver acknowledges the highest seq it has with
//!   ControlAck, the sender keeps unacknowledged ones and sends them again
//!   after a resume, and the receiver drops any seq it has already seen.
//! * **Data** places `payload` at byte `offset` of the stream; bytes already
//!   received are dropped. **Ack** says the receiver has delivered `consumed`
//!   bytes to its application: the sender may free them and may send up to
//!   `consumed + window` (the window from the peer's Hello or Welcome).
//! * **Fin** says the sender's direction ends at `final_offset` (half-close).
//!   **Reset** aborts both directions of the stream.
//! * **Claim** (client → server): first data arrived on a standby client's
//!   listen socket. **Active** (server → client): who is active now.
//! * **Goodbye** (either way, after the sender's last data): the sender ends
//!   the session on purpose (a planned stop) and closes the link. The
//!   receiver does not wait for a resume: the server hands over to the other
//!   client at once, a client starts a new session when it reconnects.
//! * Stream ids: odd when the server opened the stream, even for a client.
//!
//! Lengths are bounded before anything is allocated ([`MAX_FRAME_BODY`],
//! [`MAX_TUNNEL_NAME`], [`MAX_REASON`]); an unknown kind, a bad length, bad
//! UTF-8 or a value out of its range (a flag other than 0 or 1, say) is
//! [`DecodeError::Invalid`] and closes the link. Every frame has exactly one
//! encoding.

mod control;
mod decode;
mod encode;
mod printable;
#[cfg(test)]
mod tests;

use std::fmt;

use crate::auth::{Nonce, Proof};
use crate::ids::{ClientId, StreamId};

pub use control::Control;
pub use decode::{frames, Frames};
pub use encode::{control_len, cut, encode_control, encode_data_header};
pub use printable::{printable, Printable};

/// Largest frame body accepted (a Data frame's payload plus its 16-byte header).
pub const MAX_FRAME_BODY: usize = 1024 * 1024 + 16;
/// Largest WebSocket message either side sends or accepts: a frame of the
/// largest body with 64 KiB to spare for the acks and control frames that
/// share its message. [`Config::max_message`](crate::Config::max_message)
/// may not exceed it, and the runtime refuses longer messages before
/// buffering them, so a peer can make a link hold no more than this.
pub const MAX_MESSAGE: usize = 1024 * 1024 + 64 * 1024;
/// Longest tunnel name, in bytes.
pub const MAX_TUNNEL_NAME: usize = 255;
/// Longest refusal or reset reason, in bytes; longer ones are cut when encoding.
pub const MAX_REASON: usize = 1024;
/// Bytes in front of every frame body: kind and length.
pub const FRAME_HEADER: usize = 5;
/// Bytes a Data frame adds in front of its payload.
pub const DATA_OVERHEAD: usize = FRAME_HEADER + 16;

// A message can carry the largest frame the decoder accepts.
const _: () = assert!(MAX_MESSAGE >= FRAME_HEADER + MAX_FRAME_BODY);

pub(crate) const KIND_HELLO: u8 = 0x01;
pub(crate) const KIND_WELCOME: u8 = 0x02;
pub(crate) const KIND_OPEN: u8 = 0x03;
pub(crate) const KIND_OPEN_RESULT: u8 = 0x04;
pub(crate) const KIND_DATA: u8 = 0x05;
pub(crate) const KIND_ACK: u8 = 0x06;
pub(crate) const KIND_FIN: u8 = 0x07;
pub(crate) const KIND_RESET: u8 = 0x08;
pub(crate) const KIND_CLAIM: u8 = 0x09;
pub(crate) const KIND_ACTIVE: u8 = 0x0A;
pub(crate) const KIND_CONTROL_ACK: u8 = 0x0B;
pub(crate) const KIND_KEEPALIVE: u8 = 0x0C;
pub(crate) const KIND_GOODBYE: u8 = 0x0D;
pub(crate) const KIND_AUTH_CHALLENGE: u8 = 0x0E;
pub(crate) const KIND_AUTH_PROOF: u8 = 0x0F;
pub(crate) const KIND_AUTH_REFUSED: u8 = 0x10;

/// The client's greeting; the first frame on every link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hello {
    pub version: u16,
    pub client: ClientId,
    /// Resume token of the session to continue, 0 for a new one.
    pub token: u128,
    /// Highest election epoch the client has seen.
    pub epoch: u64,
    /// Highest control sequence number the client has received in that session.
    pub ctl_rx: u64,
    /// The client's receive window per stream.
    pub window: u32,
    /// The client's fresh nonce when it has a shared secret and will prove
    /// it (`auth=1`); `None` for a client without one.
    pub nonce: Option<Nonce>,
}

/// The server's answer to [`Hello`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Welcome {
    pub version: u16,
    pub token: u128,
    /// Whether the session named by the Hello's token continues.
    pub resumed: bool,
    /// Highest control sequence number the server has received in the session.
    pub ctl_rx: u64,
    /// The server's receive window per stream.
    pub window: u32,
    /// How long the server keeps the session after its link drops.
    pub grace_ms: u32,
    pub active: Option<ClientId>,
    pub epoch: u64,
}

/// Why a stream was reset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResetCode {
    /// The application's TCP connection failed or was reset.
    Application = 0,
    /// The switch to another active client closed it.
    Switched = 1,
    /// The session ended (grace period over, peer restarted, shutdown).
    SessionEnded = 2,
    /// The peer broke the protocol for this stream.
    Protocol = 3,
}

impl ResetCode {
    pub(crate) fn from_byte(b: u8) -> Option<ResetCode> {
        Some(match b {
            0 => ResetCode::Application,
            1 => ResetCode::Switched,
            2 => ResetCode::SessionEnded,
            3 => ResetCode::Protocol,
            _ => return None,
        })
    }
}

/// Why the active client is who it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActiveWhy {
    /// The first client online was picked (client 1 preferred); no election yet.
    Default = 0,
    /// First data on the standby's listen socket.
    Claim = 1,
    /// The active client's link was down past the failover delay with the
    /// other client online, or past the resume grace.
    Failover = 2,
    /// The active client stopped on purpose (it said Goodbye).
    Handover = 3,
}

impl ActiveWhy {
    pub(crate) fn from_byte(b: u8) -> Option<ActiveWhy> {
        Some(match b {
            0 => ActiveWhy::Default,
            1 => ActiveWhy::Claim,
            2 => ActiveWhy::Failover,
            3 => ActiveWhy::Handover,
            _ => return None,
        })
    }

    /// A word for logs.
    pub fn as_str(self) -> &'static str {
        match self {
            ActiveWhy::Default => "default choice",
            ActiveWhy::Claim => "first data on the standby's listen socket",
            ActiveWhy::Failover => "failover: the active client's link was down too long",
            ActiveWhy::Handover => "handover: the active client stopped on purpose",
        }
    }
}

/// One decoded frame, borrowing its payload from the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame<'a> {
    Hello(Hello),
    Welcome(Welcome),
    Control {
        seq: u64,
        body: Control<&'a str>,
    },
    Data {
        stream: StreamId,
        offset: u64,
        payload: &'a [u8],
    },
    Ack {
        stream: StreamId,
        consumed: u64,
    },
    ControlAck {
        seq: u64,
    },
    Keepalive,
    /// The sender ends the session on purpose, for `reason`.
    Goodbye {
        reason: &'a str,
    },
    /// Server: prove you know the shared secret; here is my nonce.
    AuthChallenge {
        nonce: Nonce,
    },
    /// The sender's proof of the shared secret over this link's transcript.
    AuthProof {
        proof: Proof,
    },
    /// Server: the handshake is refused for `reason`; the link closes.
    AuthRefused {
        reason: &'a str,
    },
}

/// Why bytes did not decode to a frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// More bytes are needed: at least this many in all. Nothing was consumed.
    Incomplete { needed: usize },
    /// The bytes can never be a valid frame; the reason names the problem.
    Invalid(String),
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::Incomplete { needed } => {
                write!(f, "truncated frame: {needed} bytes needed")
            }
            DecodeError::Invalid(why) => write!(f, "invalid frame: {why}"),
        }
    }
}

impl std::error::Error for DecodeError {}
