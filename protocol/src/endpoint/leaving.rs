//! Planned stops: a node that stops itself, or a peer that says Goodbye.
//! The session takes no link again; its streams deliver what they hold and
//! close with FIN.

use std::time::Instant;

use super::*;

impl Endpoint {
    /// Stops the node on purpose (a planned stop): closes the listen
    /// sockets, ends every stream's sending direction after what it holds,
    /// says Goodbye on every session link once that is sent (the server
    /// then hands over at once), and closes every tunnel connection with FIN
    /// after writing what it received. What is still open
    /// after a couple of seconds is reset. Nothing is started afterwards.
    pub fn handle_shutdown(&mut self, now: Instant) {
        if self.shut_down {
            return;
        }
        self.shut_down = true;
        let reason = match self.config.role {
            Role::Server => "the server is shutting down".to_string(),
            Role::Client(c) => format!("{c} is shutting down"),
        };
        // No new dial, and no verdict on one under way: the runtime drops it.
        self.timers.cancel(Timer::Reconnect);
        self.timers.cancel(Timer::ConnectServer);
        let links: Vec<(LinkId, Option<Slot>)> =
            self.links.iter().map(|(id, l)| (*id, l.slot)).collect();
        for (link, slot) in links {
            let attached = slot.and_then(|s| self.sessions[s].as_ref().map(|x| (s, x)));
            match attached {
                Some((slot, session)) if session.link == Some(link) && !session.leaving => {
                    self.finish_sending(slot);
                    if let Some(l) = self.links.get_mut(&link) {
                        l.goodbye = Some(reason.clone());
                    }
                }
                _ => self.close_link(link, reason.clone(), now),
            }
        }
        for slot in Slot::ALL {
            let detached = self.sessions[slot]
                .as_ref()
                .is_some_and(|s| s.link.is_none() && !s.leaving);
            if detached {
                self.leave_session(slot, now);
            }
        }
        self.update_listeners(now);
    }

    /// Ends the sending direction of every stream of `slot` where it stands
    /// (a planned stop): a Fin after the bytes already taken, no more reads.
    pub(super) fn finish_sending(&mut self, slot: Slot) {
        let Some(session) = self.sessions[slot].as_mut() else {
            return;
        };
        let mut fins = Vec::new();
        for (id, s) in session.streams.iter_mut() {
            s.end_app();
            if !s.fin_queued() && s.socket_ready() {
                s.finish_send();
                fins.push(Control::Fin {
                    stream: *id,
                    final_offset: s.send.written(),
                });
            }
        }
        for fin in fins {
            session.control.push(fin);
        }
    }

    /// The session in `slot` ended on purpose (a Goodbye either way): it
    /// takes no link again. On the server the election hands over at once.
    /// Its streams deliver what they hold, then close with FIN; what is left
    /// after [`LEAVE_DRAIN`] is reset.
    pub(super) fn leave_session(&mut self, slot: Slot, now: Instant) {
        let Some(session) = self.sessions[slot].as_mut() else {
            return;
        };
        if session.leaving {
            return;
        }
        session.leaving = true;
        session.link = None;
        session.down_since = None;
        let client = session.client;
        let ids: Vec<StreamId> = session.streams.keys().copied().collect();
        self.timers.cancel(Timer::Failover(slot));
        self.timers
            .set(Timer::SessionGrace(slot), now + LEAVE_DRAIN);
        // A server that stops itself elects nobody: its sessions all go.
        if self.view.is_none() && !self.shut_down {
            let other_online = self.online(Slot::of(client.other()));
            let change = self
                .election
                .on_session_gone(client, other_online, ActiveWhy::Handover);
            if let Some(change) = change {
                self.apply_change(change, now);
            }
        }
        for id in ids {
            self.wind_down(slot, id, now);
        }
        self.end_if_drained(slot, now);
        self.update_listeners(now);
    }

    /// A stream of a leaving session: nothing more arrives, so what it
    /// holds in order is all it delivers; then FIN. A connection not yet
    /// dialled is closed at once.
    pub(super) fn wind_down(&mut self, slot: Slot, stream: StreamId, now: Instant) {
        let Some(s) = self.sessions[slot]
            .as_mut()
            .and_then(|x| x.streams.get_mut(&stream))
        else {
            return;
        };
        let end = s.recv.contiguous_end();
        let cut_short = s.peer_fin().is_some_and(|f| f > end);
        if !s.socket_ready() || cut_short {
            // Not dialled yet, or the peer's known end will never arrive:
            // a FIN would pass a short stream off as whole.
            self.drop_stream(slot, stream, None);
            return;
        }
        s.finish_send();
        s.set_peer_fin(end);
        self.signal_deliver(slot, stream);
        self.recv_progress(slot, stream, now);
    }

    /// Ends a leaving session once its last stream is gone.
    pub(super) fn end_if_drained(&mut self, slot: Slot, now: Instant) {
        let drained = self.sessions[slot]
            .as_ref()
            .is_some_and(|s| s.leaving && s.streams.is_empty());
        if drained {
            self.end_session(slot, "it ended on purpose", now, false);
        }
    }
}
