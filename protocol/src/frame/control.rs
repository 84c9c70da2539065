//! Control frame bodies: the part of the protocol delivered exactly once and
//! in order across resumes.

use super::{ActiveWhy, ResetCode};
use crate::ids::{ClientId, StreamId};

/// A control frame's body: delivered once, in order, across resumes. `S` is
/// `&str` when decoded and `String` when queued for sending.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Control<S> {
    Open {
        stream: StreamId,
        tunnel: S,
    },
    OpenResult {
        stream: StreamId,
        accepted: bool,
        reason: S,
    },
    Fin {
        stream: StreamId,
        final_offset: u64,
    },
    Reset {
        stream: StreamId,
        code: ResetCode,
        reason: S,
    },
    Claim {
        epoch: u64,
    },
    Active {
        client: Option<ClientId>,
        epoch: u64,
        why: ActiveWhy,
    },
}

impl<S: AsRef<str>> Control<S> {
    /// An owned copy, for queueing.
    pub fn to_owned_control(&self) -> Control<String> {
        match self {
            Control::Open { stream, tunnel } => Control::Open {
                stream: *stream,
                tunnel: tunnel.as_ref().to_owned(),
            },
            Control::OpenResult {
                stream,
                accepted,
                reason,
            } => Control::OpenResult {
                stream: *stream,
                accepted: *accepted,
                reason: reason.as_ref().to_owned(),
            },
            Control::Fin {
                stream,
                final_offset,
            } => Control::Fin {
                stream: *stream,
                final_offset: *final_offset,
            },
            Control::Reset {
                stream,
                code,
                reason,
            } => Control::Reset {
                stream: *stream,
                code: *code,
                reason: reason.as_ref().to_owned(),
            },
            Control::Claim { epoch } => Control::Claim { epoch: *epoch },
            Control::Active { client, epoch, why } => Control::Active {
                client: *client,
                epoch: *epoch,
                why: *why,
            },
        }
    }
}
