//! Sessions as a whole: ending one, who is online, and the listen
//! sockets that follow them.

use std::time::Instant;

use log::info;

use super::*;

impl Endpoint {
    /// Ends a session for good: its streams are reset locally (there is no
    /// link to tell the peer), its link closed. On the server, `elect` lets
    /// the loss of the active client fail over to the other.
    pub(super) fn end_session(&mut self, slot: Slot, reason: &str, now: Instant, elect: bool) {
        let Some(session) = self.sessions[slot].take() else {
            return;
        };
        info!(
            "session with {} ended: {reason} ({} streams reset)",
            if self.view.is_some() {
                "the server".to_string()
            } else {
                session.client.to_string()
            },
            session.streams.len()
        );
        self.stats.sessions_ended += 1;
        for s in session.streams.values() {
            if let Some(conn) = s.conn {
                self.conns.remove(&conn);
                self.outputs.push_back(Output::Close { conn, reset: true });
            }
            self.stats.streams_reset += 1;
        }
        if let Some(link) = session.link {
            self.outputs.push_back(Output::CloseLink {
                link,
                reason: format!("session ended: {reason}"),
            });
            self.forget_link(link);
        }
        self.timers.cancel(Timer::SessionGrace(slot));
        self.timers.cancel(Timer::Failover(slot));
        if self.view.is_none() && elect {
            let other_online = self.online(Slot::of(session.client.other()));
            let change =
                self.election
                    .on_session_gone(session.client, other_online, ActiveWhy::Failover);
            if let Some(change) = change {
                self.apply_change(change, now);
            }
        }
        self.update_listeners(now);
    }

    /// Whether `slot` holds a session that may still carry streams: linked,
    /// or waiting for a resume; not one that is leaving.
    pub(super) fn online(&self, slot: Slot) -> bool {
        self.sessions[slot].as_ref().is_some_and(|s| !s.leaving)
    }

    /// Whether `slot` holds a session with a link (and not leaving).
    pub(super) fn linked(&self, slot: Slot) -> bool {
        self.sessions[slot]
            .as_ref()
            .is_some_and(|s| !s.leaving && s.link.is_some())
    }

    pub(super) fn start_blackout(&mut self, now: Instant) {
        let until = now + self.config.standby_close;
        self.blackout_until = Some(until);
        self.timers.set(Timer::ListenBlackoutEnd, until);
        self.update_listeners(now);
    }

    /// Opens or closes the listen sockets to match the rules: open while a
    /// session exists and no switch blackout is running.
    pub(super) fn update_listeners(&mut self, now: Instant) {
        let in_blackout = self.blackout_until.is_some_and(|t| now < t);
        let any_session = Slot::ALL.into_iter().any(|slot| self.online(slot));
        let want = !self.shut_down && !in_blackout && any_session;
        if want == self.listening {
            return;
        }
        self.listening = want;
        // A new decision: every socket is asked for (or closed) afresh.
        for (t, unbound) in self.unbound.iter_mut().enumerate() {
            *unbound = false;
            self.timers.cancel(Timer::ListenRetry(TunnelId(t)));
        }
        info!(
            "{} listen sockets",
            if want { "opening" } else { "closing" }
        );
        for t in 0..self.config.listens.len() {
            let tunnel = TunnelId(t);
            self.outputs.push_back(if want {
                Output::StartListening { tunnel }
            } else {
                Output::StopListening { tunnel }
            });
        }
    }
}
