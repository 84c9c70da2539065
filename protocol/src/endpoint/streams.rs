//! A stream's lifecycle after data moved: deliver, half-close, close,
//! forget or reset.

use std::time::Instant;

use super::*;

impl Endpoint {
    pub(super) fn signal_deliver(&mut self, slot: Slot, stream: StreamId) {
        let Some(s) = self.sessions[slot]
            .as_mut()
            .and_then(|x| x.streams.get_mut(&stream))
        else {
            return;
        };
        if s.socket_ready() && !s.deliver_signaled && !s.recv.chunk().is_empty() {
            s.deliver_signaled = true;
            if let Some(conn) = s.conn {
                self.outputs.push_back(Output::Deliver { conn });
            }
        }
    }

    /// After data was delivered or a fin arrived: half-close the socket when
    /// the peer's direction is complete, close it when both are, forget the
    /// stream when nothing is left to resend.
    pub(super) fn recv_progress(&mut self, slot: Slot, stream: StreamId, now: Instant) {
        let window = self.config.stream_window;
        let Some(session) = self.sessions[slot].as_mut() else {
            return;
        };
        let Some(s) = session.streams.get_mut(&stream) else {
            return;
        };
        let mut ack = false;
        if s.recv_finished() && s.socket_ready() && !s.shutdown_sent() {
            s.mark_shut();
            ack = s.ack_worth_sending(window);
            if let Some(conn) = s.conn {
                self.outputs.push_back(Output::ShutdownWrite { conn });
            }
        }
        if s.shutdown_sent() && s.app_eof() {
            if let Some(conn) = s.conn.take() {
                self.conns.remove(&conn);
                self.outputs.push_back(Output::Close { conn, reset: false });
            }
        }
        if ack {
            session.queue_ack(stream);
        }
        self.finish_if_done(slot, stream, now);
    }

    pub(super) fn finish_if_done(&mut self, slot: Slot, stream: StreamId, now: Instant) {
        let Some(session) = self.sessions[slot].as_mut() else {
            return;
        };
        if session.leaving {
            // Nothing is resent or acknowledged any more: a stream whose
            // socket closed is done.
            if session
                .streams
                .get(&stream)
                .is_some_and(|s| s.conn.is_none())
            {
                session.streams.remove(&stream);
                self.end_if_drained(slot, now);
            }
        } else if session.streams.get(&stream).is_some_and(Stream::is_done) {
            session.forget_finished(stream);
        }
    }

    /// Forgets a stream and resets its socket; tells the peer when `notify`
    /// carries a reason.
    pub(super) fn drop_stream(
        &mut self,
        slot: Slot,
        stream: StreamId,
        notify: Option<(ResetCode, &str)>,
    ) {
        let Some(session) = self.sessions[slot].as_mut() else {
            return;
        };
        let Some(s) = session.streams.remove(&stream) else {
            return;
        };
        if let Some((code, reason)) = notify {
            session.control.push(Control::Reset {
                stream,
                code,
                reason: reason.to_owned(),
            });
        }
        if let Some(conn) = s.conn {
            self.conns.remove(&conn);
            self.outputs.push_back(Output::Close { conn, reset: true });
        }
        self.stats.streams_reset += 1;
    }
}
