//! Why a link was closed by the protocol.

use std::fmt;

use crate::frame::DecodeError;

/// A peer broke the protocol; the link is closed with this as its reason and
/// every other link and stream carries on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProtocolError {
    /// A message did not decode.
    Malformed(DecodeError),
    /// The peer speaks another protocol version.
    Version { ours: u16, theirs: u16 },
    /// A frame that is not allowed at this point (e.g. data before hello).
    Unexpected(String),
    /// The peer sent beyond the credit we granted.
    FlowControl(String),
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProtocolError::Malformed(e) => write!(f, "malformed message: {e}"),
            ProtocolError::Version { ours, theirs } => write!(
                f,
                "protocol version mismatch: we speak {ours}, the peer speaks {theirs}"
            ),
            ProtocolError::Unexpected(what) => write!(f, "protocol violation: {what}"),
            ProtocolError::FlowControl(what) => write!(f, "flow control violation: {what}"),
        }
    }
}

impl std::error::Error for ProtocolError {}

impl From<DecodeError> for ProtocolError {
    fn from(e: DecodeError) -> Self {
        ProtocolError::Malformed(e)
    }
}
