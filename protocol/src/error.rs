//! Why a link was closed by the protocol.

use std::fmt;

use crate::frame::DecodeError;
use crate::ids::StreamId;

/// A peer broke the protocol; the link is closed with this as its reason and
/// every other link and stream carries on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProtocolError {
    /// A message did not decode.
    Malformed(DecodeError),
    /// The peer speaks another protocol version.
    Version { ours: u16, theirs: u16 },
    /// A second Hello or Welcome on one link.
    SecondHandshake,
    /// A session frame before the Hello/Welcome exchange.
    BeforeHandshake,
    /// A frame this node never expects at this point (`what` names it).
    Unexpected(&'static str),
    /// A frame only the other role receives (`what` names it): both ends
    /// are clients, or both are servers.
    WrongRole(&'static str),
    /// A Hello or Welcome (`what`) granting a window below 1 KiB.
    WindowTooSmall { what: &'static str, window: u32 },
    /// A control frame out of sequence.
    ControlGap { seq: u64, expected: u64 },
    /// A frame for a session that has ended.
    SessionGone,
    /// An Open with a stream id the peer had used or could not allocate.
    StaleStreamId(StreamId),
    /// An OpenResult for a stream the peer opened itself.
    OpenResultForPeerStream(StreamId),
    /// Data for a stream that was never opened.
    UnknownStream(StreamId),
    /// Data beyond the stream's Fin.
    DataPastFin(StreamId),
    /// A Fin before data already received, or moving an earlier Fin.
    FinMismatch { stream: StreamId, final_offset: u64 },
    /// Data beyond the credit we granted.
    FlowControl {
        stream: StreamId,
        end: u64,
        limit: u64,
    },
    /// The peer made us refuse more Opens in a second than an app could.
    OpenFlood { refused: u32 },
    /// The peer left more control frames unacknowledged than a session keeps.
    ControlBacklog { pending: usize, limit: usize },
    /// Data cut into more out-of-order pieces than a stream holds, or whose
    /// pieces would cost more than the window.
    TooFragmented {
        stream: StreamId,
        ranges: usize,
        cost: usize,
    },
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProtocolError::Malformed(e) => write!(f, "malformed message: {e}"),
            ProtocolError::Version { ours, theirs } => write!(
                f,
                "protocol version mismatch: we speak {ours}, the peer speaks {theirs}"
            ),
            ProtocolError::SecondHandshake => {
                write!(f, "protocol violation: a second hello on one link")
            }
            ProtocolError::BeforeHandshake => {
                write!(f, "protocol violation: a frame before the hello")
            }
            ProtocolError::WrongRole(what) | ProtocolError::Unexpected(what) => {
                write!(f, "protocol violation: {what}")
            }
            ProtocolError::WindowTooSmall { what, window } => write!(
                f,
                "protocol violation: {what}: window of {window} bytes is below 1024"
            ),
            ProtocolError::ControlGap { seq, expected } => write!(
                f,
                "protocol violation: control sequence {seq} where {expected} was due"
            ),
            ProtocolError::SessionGone => {
                write!(f, "protocol violation: frame for a session that ended")
            }
            ProtocolError::StaleStreamId(stream) => {
                write!(f, "protocol violation: open of {stream}: id not fresh")
            }
            ProtocolError::OpenResultForPeerStream(stream) => write!(
                f,
                "protocol violation: an open-result for {stream}, which the peer opened"
            ),
            ProtocolError::UnknownStream(stream) => {
                write!(f, "protocol violation: data for {stream}, never opened")
            }
            ProtocolError::DataPastFin(stream) => {
                write!(f, "protocol violation: {stream}: data past its fin")
            }
            ProtocolError::FinMismatch {
                stream,
                final_offset,
            } => write!(
                f,
                "protocol violation: {stream}: fin at {final_offset} contradicts the data received"
            ),
            ProtocolError::FlowControl { stream, end, limit } => write!(
                f,
                "flow control violation: {stream}: data up to offset {end} exceeds the credit of {limit}"
            ),
            ProtocolError::OpenFlood { refused } => write!(
                f,
                "protocol violation: {refused} opens refused within a second, more than \
                 the {} a session may cause",
                crate::endpoint::MAX_REFUSED_OPENS_PER_SEC
            ),
            ProtocolError::ControlBacklog { pending, limit } => write!(
                f,
                "protocol violation: {pending} control frames wait for the peer's \
                 acknowledgement, more than the {limit} a session keeps"
            ),
            ProtocolError::TooFragmented {
                stream,
                ranges,
                cost,
            } => write!(
                f,
                "protocol violation: {stream}: data cut into {ranges} out-of-order pieces \
                 (costing {cost} bytes held); a stream holds at most {} within its window",
                crate::reorder::MAX_HELD_RANGES
            ),
        }
    }
}

impl std::error::Error for ProtocolError {}

impl From<DecodeError> for ProtocolError {
    fn from(e: DecodeError) -> Self {
        ProtocolError::Malformed(e)
    }
}
