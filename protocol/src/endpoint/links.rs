//! The WebSocket links as the protocol sees them: up, down, failed,
//! messages in, and the link's part in its session.

use std::time::Instant;

use log::{debug, info, warn};

use super::*;

/// Frames one [`Endpoint::handle_message_part`] takes at most: a few
/// hundred microseconds of the loop however cheap or costly the frames.
pub const FRAMES_PER_TURN: usize = 256;

impl Endpoint {
    /// A WebSocket link is up: accepted by the server, or connected by a
    /// client after [`Output::ConnectServer`].
    ///
    /// `up` says who the peer is and carries the link's fresh random values.
    pub fn handle_link_up(&mut self, link: LinkId, up: LinkUp, now: Instant) {
        if self.view.is_some() {
            self.connecting = false;
            self.timers.cancel(Timer::ConnectServer);
        }
        if self.shut_down {
            self.outputs.push_back(Output::CloseLink {
                link,
                reason: "shutting down".into(),
            });
            return;
        }
        let handshake = match self.config.role {
            // With a secret the server speaks first, so the client's proof
            // can follow its Hello without waiting a round trip for it.
            Role::Server => self
                .config
                .shared_secret
                .as_ref()
                .map(|_| Frame::AuthChallenge { nonce: up.nonce }),
            Role::Client(client) => {
                let session = self.sessions[Slot::CLIENT].as_ref().filter(|s| !s.leaving);
                Some(Frame::Hello(Hello {
                    version: PROTOCOL_VERSION,
                    client,
                    token: session.map_or(0, |s| s.token),
                    epoch: self.epoch(),
                    ctl_rx: session.map_or(0, |s| s.control.received()),
                    window: self.config.stream_window,
                    nonce: self.config.shared_secret.as_ref().map(|_| up.nonce),
                }))
            }
        };
        self.links.insert(
            link,
            Link {
                slot: None,
                handshake: handshake.into_iter().collect(),
                keepalive_due: false,
                goodbye: None,
                up,
                auth: AuthStage::Start,
                refusal: None,
            },
        );
        self.timers
            .set(Timer::LinkIdle(link), now + self.config.keepalive_timeout);
        self.timers.set(
            Timer::LinkKeepalive(link),
            now + self.config.keepalive_interval,
        );
        self.timers
            .set(Timer::Handshake(link), now + self.config.handshake_timeout);
    }

    /// Client: the connection attempt asked for by [`Output::ConnectServer`] failed.
    pub fn handle_link_failed(&mut self, reason: &str, now: Instant) {
        if self.view.is_none() {
            return;
        }
        debug!("connecting to the server failed: {reason}");
        self.connecting = false;
        self.timers.cancel(Timer::ConnectServer);
        self.schedule_reconnect(now);
    }

    /// The link carried something this protocol never sends (a text
    /// WebSocket message, say): a violation, counted, and the link closed.
    pub fn handle_violation(&mut self, link: LinkId, reason: &str, now: Instant) {
        if self.links.contains_key(&link) {
            self.stats.protocol_errors += 1;
            if let Some(note) = self.log_limits.violations.allow(now) {
                warn!("closing {link}: {}{note}", frame::printable(reason));
            }
            self.close_link(link, reason.to_owned(), now);
        }
    }

    /// A link closed or failed underneath us.
    pub fn handle_link_down(&mut self, link: LinkId, reason: &str, now: Instant) {
        if self.links.contains_key(&link) {
            info!("{link} down: {}", frame::printable(reason));
            self.detach_link(link, now);
        }
    }

    /// One binary WebSocket message arrived on `link`.
    pub fn handle_message(&mut self, link: LinkId, message: &[u8], now: Instant) {
        let mut rest = message;
        while let Some(at) = self.handle_message_part(link, rest, now) {
            rest = &rest[at..];
        }
    }

    /// Like [`Endpoint::handle_message`], but takes at most
    /// [`FRAMES_PER_TURN`] frames: returns where in `message` the rest
    /// starts (hand it over again, before anything else of this link), or
    /// `None` once the message is done or the link ended. A runtime gives
    /// other sockets their turns in between, so a peer's long message of
    /// cheap frames (a flood of Opens, say) never holds the loop in one
    /// piece; the frames act as if the peer had sent them in several
    /// messages.
    pub fn handle_message_part(
        &mut self,
        link: LinkId,
        message: &[u8],
        now: Instant,
    ) -> Option<usize> {
        match self.links.get(&link) {
            Some(l) if l.refusal.is_none() => {}
            // Unknown, or refused and waiting to say so: nothing counts.
            _ => return None,
        }
        self.timers
            .set(Timer::LinkIdle(link), now + self.config.keepalive_timeout);
        let mut frames = frame::frames(message);
        for _ in 0..FRAMES_PER_TURN {
            let frame = frames.next()?;
            let result = frame
                .map_err(ProtocolError::from)
                .and_then(|f| self.process_frame(link, f, now))
                .and_then(|()| self.check_backlog(link));
            if let Err(e) = result {
                self.stats.protocol_errors += 1;
                if let Some(note) = self.log_limits.violations.allow(now) {
                    warn!("closing {link}: {e}{note}");
                }
                self.close_link(link, e.to_string(), now);
                return None;
            }
            // Gone, or refused: nothing after the refusal counts, not
            // even the rest of this message.
            if !matches!(self.links.get(&link), Some(l) if l.refusal.is_none()) {
                return None;
            }
        }
        let at = message.len() - frames.remaining();
        (at < message.len()).then_some(at)
    }

    /// A peer that keeps making us answer (refused Opens, say) and never
    /// acknowledges would grow our control queue without end: past
    /// [`Endpoint::control_backlog_limit`] frames sent and unacknowledged its
    /// link is closed. Frames we queued ourselves while the link was down do
    /// not count until they are sent, so a resume after a long outage is
    /// never refused.
    fn check_backlog(&self, link: LinkId) -> Result<(), ProtocolError> {
        let Some(slot) = self.links.get(&link).and_then(|l| l.slot) else {
            return Ok(());
        };
        let pending = self.sessions[slot]
            .as_ref()
            .map_or(0, |s| s.control.unacknowledged());
        let limit = self.control_backlog_limit();
        if pending > limit {
            return Err(ProtocolError::ControlBacklog { pending, limit });
        }
        Ok(())
    }

    /// Most control frames a session keeps for its peer: a few per stream
    /// it may hold (open, result, fin, reset) and some room.
    pub(super) fn control_backlog_limit(&self) -> usize {
        self.config
            .max_streams
            .saturating_mul(4)
            .saturating_add(1024)
    }

    pub(super) fn has_link(&self) -> bool {
        !self.links.is_empty()
    }

    /// Closes a link on our own initiative.
    pub(super) fn close_link(&mut self, link: LinkId, reason: String, now: Instant) {
        self.outputs.push_back(Output::CloseLink { link, reason });
        self.detach_link(link, now);
    }

    pub(super) fn forget_link(&mut self, link: LinkId) {
        self.links.remove(&link);
        self.timers.cancel(Timer::LinkIdle(link));
        self.timers.cancel(Timer::LinkKeepalive(link));
        self.timers.cancel(Timer::Handshake(link));
    }

    /// The handshake of `link` is done: it carries `slot` from now on.
    pub(super) fn attach_link(&mut self, link: LinkId, slot: Slot) {
        if let Some(l) = self.links.get_mut(&link) {
            l.slot = Some(slot);
        }
        self.timers.cancel(Timer::Handshake(link));
    }

    /// The link is gone: its session (if any) waits out the grace period.
    pub(super) fn detach_link(&mut self, link: LinkId, now: Instant) {
        let slot = self.links.get(&link).and_then(|l| l.slot);
        self.forget_link(link);
        if let Some(slot) = slot.filter(|_| self.shut_down) {
            // Lost before its Goodbye went out: a stop all the same.
            if self.sessions[slot]
                .as_ref()
                .is_some_and(|s| s.link == Some(link))
            {
                self.leave_session(slot, now);
            }
            return;
        }
        if let Some(slot) = slot {
            let grace = self.grace;
            if let Some(s) = self.sessions[slot].as_mut() {
                if s.link == Some(link) {
                    s.link = None;
                    if !s.leaving {
                        s.down_since = Some(now);
                        self.timers.set(Timer::SessionGrace(slot), now + grace);
                        if self.view.is_none() {
                            self.timers
                                .set(Timer::Failover(slot), now + self.config.failover_after);
                        }
                    }
                }
            }
        }
        if self.view.is_some() && !self.connecting && !self.has_link() {
            self.schedule_reconnect(now);
        }
    }
}
