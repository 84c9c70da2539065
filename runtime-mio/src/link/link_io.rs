//! The event loop's side of open links: their turns in the ready queue,
//! flushing on writable events, and their end, asked for or not.

use std::time::{Duration, Instant};

use log::{info, trace, warn};
use tcpws_protocol::LinkId;

use crate::event_loop::ready::Ready;
use crate::event_loop::EventLoop;
use crate::link::closing::CLOSE_LINGER;
use crate::link::websocket::{LinkRead, CLOSE_NORMAL};
use tcpws_protocol::frame::printable;

/// How often a link whose peer floods pings or pongs is logged at most.
const CONTROL_FLOOD_LOG_EVERY: Duration = Duration::from_secs(10);

impl EventLoop {
    /// Gives the link a turn in the ready queue.
    pub(crate) fn queue_link(&mut self, id: LinkId) {
        if let Some(link) = self.links.get_mut(&id) {
            self.ready.push(Ready::Link(id), &mut link.queued);
        }
    }

    /// One message from a link into the protocol (a turn of the ready queue).
    pub(crate) fn read_link_once(&mut self, id: LinkId, now: Instant) {
        let Some(link) = self.links.get_mut(&id) else {
            return;
        };
        link.queued = false;
        // The rest of a long message first: the protocol takes a bounded
        // number of frames per turn, so other sockets get theirs between.
        if let Some((message, at)) = link.unfinished.take() {
            let bytes = &link.message(&message)[at..];
            let next = self.endpoint.handle_message_part(id, bytes, now);
            if let Some(link) = self.links.get_mut(&id) {
                link.unfinished = next.map(|n| (message, at + n));
            }
            self.queue_link(id);
            return;
        }
        match link.read() {
            LinkRead::Message(message) => {
                let bytes = link.message(&message);
                trace!("{id}: received a message of {} bytes", bytes.len());
                let next = self.endpoint.handle_message_part(id, bytes, now);
                if let Some(link) = self.links.get_mut(&id) {
                    link.unfinished = next.map(|n| (message, n));
                }
                self.queue_link(id);
            }
            LinkRead::Busy(what) => {
                // Frames that made no message used up this turn: the link
                // waits for its next one behind the other readers, as it
                // would after a message.
                let quiet = link
                    .control_logged
                    .is_some_and(|t| now.saturating_duration_since(t) < CONTROL_FLOOD_LOG_EVERY);
                if !quiet {
                    link.control_logged = Some(now);
                    warn!(
                        "{id} with {}: the peer sent {what} without a message; such \
                         frames get one turn of the loop at a time, as messages do ({} \
                         pings and pongs in all; logged every {}s at most)",
                        link.peer,
                        link.control_frames,
                        CONTROL_FLOOD_LOG_EVERY.as_secs()
                    );
                }
                self.queue_link(id);
            }
            LinkRead::Idle => {
                // Pongs queued by the reads go out now (or when writable).
                if let Err(reason) = link.flush() {
                    self.link_down(id, reason, now);
                }
            }
            // The protocol judges it (and counts it); it answers CloseLink.
            LinkRead::Violation(reason) => self.endpoint.handle_violation(id, &reason, now),
            LinkRead::Down(reason) => self.link_down(id, reason, now),
        }
    }

    /// A writable event: finishes a flush that would have blocked, or sends
    /// TLS records that wait.
    pub(crate) fn flush_link(&mut self, id: LinkId, now: Instant) {
        let Some(link) = self.links.get_mut(&id) else {
            return;
        };
        if !link.blocked && !link.wants_write() {
            return;
        }
        if let Err(reason) = link.flush() {
            self.link_down(id, reason, now);
        }
    }

    /// The link ended without the protocol asking: tell it, and close the socket.
    pub(crate) fn link_down(&mut self, id: LinkId, reason: String, now: Instant) {
        let Some(link) = self.links.remove(&id) else {
            return;
        };
        info!("{id} with {} is down: {}", link.peer, printable(&reason));
        self.add_closing(link.into_closing(None, now + CLOSE_LINGER));
        self.endpoint.handle_link_down(id, &reason, now);
    }

    /// `Output::CloseLink`: close frame with the reason, flush, close.
    pub(crate) fn close_link(&mut self, id: LinkId, reason: &str, now: Instant) {
        let Some(link) = self.links.remove(&id) else {
            return;
        };
        info!("closing {id} with {}: {reason}", link.peer);
        let closing = link.into_closing(Some((CLOSE_NORMAL, reason)), now + CLOSE_LINGER);
        self.add_closing(closing);
    }
}
