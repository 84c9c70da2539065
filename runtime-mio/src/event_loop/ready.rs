//! The ready queue: sockets waiting for their turn to read. One read per
//! turn, each followed by a full drain, so busy sockets take turns.

use std::collections::VecDeque;

use tcpws_protocol::{ConnId, LinkId};

use crate::server_port::listener::HttpPort;

/// A socket waiting for its turn to read.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Ready {
    Link(LinkId),
    Conn(ConnId),
    /// An HTTP port, when a turn's accepts did not reach `WouldBlock`.
    Listener(HttpPort),
}

/// Sockets in the order their turns come, each at most once: the socket's
/// own `queued` flag says whether it waits already, and its reader clears
/// the flag when the turn comes.
#[derive(Debug, Default)]
pub(crate) struct ReadyQueue {
    queue: VecDeque<Ready>,
}

impl ReadyQueue {
    /// Queues `who` unless `queued` says it waits already, and sets the flag.
    pub(crate) fn push(&mut self, who: Ready, queued: &mut bool) {
        if !*queued {
            *queued = true;
            self.queue.push_back(who);
        }
    }

    /// The socket whose turn it is.
    pub(crate) fn pop(&mut self) -> Option<Ready> {
        self.queue.pop_front()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }
}
