//! Frame dispatch: what each frame from the peer does to the session.

use std::time::Instant;

use log::{debug, info, warn};

use super::*;

/// Most Opens of one session the endpoint refuses in a second; past it
/// the peer's link is closed.
pub(crate) const MAX_REFUSED_OPENS_PER_SEC: u32 = 1024;

impl Endpoint {
    pub(super) fn process_frame(
        &mut self,
        link: LinkId,
        frame: Frame<'_>,
        now: Instant,
    ) -> Result<(), ProtocolError> {
        let slot = self.links.get(&link).and_then(|l| l.slot);
        match (frame, slot) {
            (Frame::Keepalive, _) => Ok(()),
            (Frame::Hello(h), None) => self.on_hello(link, h, now),
            (Frame::AuthChallenge { nonce }, None) => self.on_auth_challenge(link, nonce, now),
            (Frame::AuthProof { proof }, None) => self.on_auth_proof(link, proof, now),
            (Frame::AuthRefused { reason }, None) => {
                self.on_auth_refused(link, reason, now);
                Ok(())
            }
            (Frame::Welcome(w), None) => self.on_welcome(link, w, now),
            (
                Frame::Hello(_)
                | Frame::Welcome(_)
                | Frame::AuthChallenge { .. }
                | Frame::AuthProof { .. }
                | Frame::AuthRefused { .. },
                Some(_),
            ) => Err(ProtocolError::SecondHandshake),
            (_, None) => Err(ProtocolError::BeforeHandshake),
            (Frame::Goodbye { reason }, Some(slot)) => {
                match self.view {
                    Some(_) => info!(
                        "the server ended our session on purpose: {}",
                        frame::printable(reason)
                    ),
                    None => info!(
                        "{} ended its session on purpose: {}",
                        self.session_mut(slot)?.client,
                        frame::printable(reason)
                    ),
                }
                self.close_link(link, "goodbye received".into(), now);
                self.leave_session(slot, now);
                Ok(())
            }
            (Frame::Control { seq, body }, Some(slot)) => {
                let session = self.session_mut(slot)?;
                match session.control.receive(seq) {
                    Incoming::Duplicate => Ok(()),
                    Incoming::Gap { expected } => Err(ProtocolError::ControlGap { seq, expected }),
                    Incoming::Deliver => self.on_control(slot, body, now),
                }
            }
            (Frame::ControlAck { seq }, Some(slot)) => {
                self.session_mut(slot)?.control.acknowledge(seq);
                Ok(())
            }
            (
                Frame::Data {
                    stream,
                    offset,
                    payload,
                },
                Some(slot),
            ) => self.on_data(slot, stream, offset, payload),
            (Frame::Ack { stream, consumed }, Some(slot)) => {
                self.on_ack(slot, stream, consumed, now);
                Ok(())
            }
        }
    }

    pub(super) fn session_mut(&mut self, slot: Slot) -> Result<&mut Session, ProtocolError> {
        self.sessions[slot]
            .as_mut()
            .ok_or(ProtocolError::SessionGone)
    }

    pub(super) fn on_control(
        &mut self,
        slot: Slot,
        body: Control<&str>,
        now: Instant,
    ) -> Result<(), ProtocolError> {
        match body {
            Control::Open { stream, tunnel } => self.on_open(slot, stream, tunnel, now),
            Control::OpenResult {
                stream,
                accepted,
                reason,
            } => {
                let session = self.session_mut(slot)?;
                let Some(s) = session.streams.get_mut(&stream) else {
                    return Ok(());
                };
                if !matches!(s.origin, Origin::Listen(_)) {
                    return Err(ProtocolError::OpenResultForPeerStream(stream));
                }
                if accepted {
                    s.confirmed = true;
                } else {
                    warn!(
                        "{stream}: the peer refused to open it: {}",
                        frame::printable(reason)
                    );
                    self.stats.opens_refused += 1;
                    self.drop_stream(slot, stream, None);
                }
                Ok(())
            }
            Control::Fin {
                stream,
                final_offset,
            } => {
                let session = self.session_mut(slot)?;
                let Some(s) = session.streams.get_mut(&stream) else {
                    return Ok(());
                };
                if final_offset < s.recv.contiguous_end()
                    || s.peer_fin().is_some_and(|f| f != final_offset)
                {
                    return Err(ProtocolError::FinMismatch {
                        stream,
                        final_offset,
                    });
                }
                s.set_peer_fin(final_offset);
                self.recv_progress(slot, stream, now);
                Ok(())
            }
            Control::Reset {
                stream,
                code,
                reason,
            } => {
                debug!(
                    "{stream} reset by the peer ({code:?}): {}",
                    frame::printable(reason)
                );
                self.drop_stream(slot, stream, None);
                Ok(())
            }
            Control::Claim { epoch } => self.on_claim(slot, epoch, now),
            Control::Active { client, epoch, why } => self.on_announcement(client, epoch, why, now),
        }
    }

    pub(super) fn on_open(
        &mut self,
        slot: Slot,
        stream: StreamId,
        tunnel: &str,
        now: Instant,
    ) -> Result<(), ProtocolError> {
        let window = self.config.stream_window;
        let max_streams = self.config.max_streams;
        let target = self.config.connects.iter().position(|n| n == tunnel);
        let role = self.role();
        let conn = ConnId(self.next_conn);
        let shut_down = self.shut_down;
        let session = self.session_mut(slot)?;
        if !session.accept_peer_id(stream) {
            return Err(ProtocolError::StaleStreamId(stream));
        }
        let refusal = match target {
            _ if shut_down => Some(format!("the {role} is shutting down")),
            None => Some(format!(
                "no tunnel named {tunnel:?} connects from the {role}"
            )),
            Some(_) if session.streams.len() >= max_streams => {
                Some(format!("the {role} has {max_streams} streams open"))
            }
            Some(_) => None,
        };
        if let (None, Some(t)) = (&refusal, target) {
            session.streams.insert(
                stream,
                Stream::new(Origin::Connect(TunnelId(t)), conn, window),
            );
            self.next_conn += 1;
            self.conns.insert(conn, ConnRef { slot, stream });
            self.stats.streams_opened += 1;
            if let Some(c) = self.tunnel_stats.of(Origin::Connect(TunnelId(t))) {
                c.streams_opened += 1;
            }
            self.outputs.push_back(Output::Dial {
                conn,
                tunnel: TunnelId(t),
            });
            self.timers
                .set(Timer::Dial(conn), now + self.config.connect_timeout);
            return Ok(());
        }
        let reason = refusal.unwrap_or_default();
        // Answered in any case: the Open counts as delivered.
        session.control.push(Control::OpenResult {
            stream,
            accepted: false,
            reason: reason.clone(),
        });
        // An honest peer opens a stream per connection its app made; one
        // that makes us refuse faster than this is flooding the loop. The
        // count restarts with each link, so a resume is not held against it.
        let refused = session.refused_opens.note(now);
        self.stats.opens_refused += 1;
        if refused > MAX_REFUSED_OPENS_PER_SEC {
            return Err(ProtocolError::OpenFlood { refused });
        }
        if let Some(note) = self.log_limits.refused_opens.allow(now) {
            warn!("refusing {stream}: {reason}{note}");
        }
        Ok(())
    }

    pub(super) fn on_data(
        &mut self,
        slot: Slot,
        stream: StreamId,
        offset: u64,
        payload: &[u8],
    ) -> Result<(), ProtocolError> {
        let session = self.session_mut(slot)?;
        let Some(s) = session.streams.get_mut(&stream) else {
            if session.is_forgotten(stream) {
                // Late or resent data for a finished stream: acknowledge it so
                // the sender can forget the stream too.
                session.queue_stale_ack(stream, offset + payload.len() as u64);
                return Ok(());
            }
            return Err(ProtocolError::UnknownStream(stream));
        };
        let end = offset + payload.len() as u64;
        if s.peer_fin().is_some_and(|f| end > f) {
            return Err(ProtocolError::DataPastFin(stream));
        }
        match s.recv.insert(offset, payload) {
            Ok(0) => {
                if end <= s.recv.consumed() {
                    // A resend of bytes already delivered: the peer missed our
                    // ack, so repeat it.
                    session.queue_ack(stream);
                }
                Ok(())
            }
            Ok(_) => {
                self.signal_deliver(slot, stream);
                Ok(())
            }
            Err(ReorderError::BeyondWindow { end, limit }) => {
                Err(ProtocolError::FlowControl { stream, end, limit })
            }
            Err(ReorderError::TooFragmented { ranges, cost }) => {
                Err(ProtocolError::TooFragmented {
                    stream,
                    ranges,
                    cost,
                })
            }
        }
    }

    pub(super) fn on_ack(&mut self, slot: Slot, stream: StreamId, consumed: u64, now: Instant) {
        let window = self.config.stream_window;
        let Some(session) = self.sessions[slot].as_mut() else {
            return;
        };
        let Some(s) = session.streams.get_mut(&stream) else {
            return;
        };
        if !s.send.ack(consumed) {
            return;
        }
        if s.read_paused && s.send_capacity(window) > 0 {
            s.read_paused = false;
            if let Some(conn) = s.conn {
                self.outputs.push_back(Output::ResumeReading { conn });
            }
        }
        session.queue_tx(stream);
        self.finish_if_done(slot, stream, now);
    }
}
