//! The client role: the welcome, reconnecting with backoff, and becoming
//! standby after a switch.

use std::time::{Duration, Instant};

use log::info;

use super::*;

impl Endpoint {
    /// Asks the runtime for a WebSocket to the server, within the connect
    /// timeout.
    pub(super) fn connect_server(&mut self, now: Instant) {
        self.connecting = true;
        self.outputs.push_back(Output::ConnectServer);
        self.timers
            .set(Timer::ConnectServer, now + self.config.connect_timeout);
    }

    /// The server announced who is active.
    pub(super) fn on_announcement(
        &mut self,
        client: Option<ClientId>,
        epoch: u64,
        why: ActiveWhy,
        now: Instant,
    ) -> Result<(), ProtocolError> {
        let Some(view) = self.view.as_mut() else {
            return Err(ProtocolError::WrongRole(
                "an announcement sent to the server",
            ));
        };
        let Some(new_standby) = view.on_announce(client, epoch, why) else {
            return Ok(());
        };
        self.outputs.push_back(Output::ActiveChanged {
            active: client,
            epoch,
            why: ActiveReason::Elected(why),
        });
        if new_standby {
            self.become_standby(now);
        }
        Ok(())
    }

    /// First data on a connection our listen socket accepted: claim
    /// activity if we are standby (once per epoch).
    pub(super) fn claim_if_standby(&mut self, slot: Slot) {
        let Some(view) = self.view.as_mut() else {
            return;
        };
        if !view.should_claim() {
            return;
        }
        info!(
            "first data on a standby listen socket: claiming activity (epoch {})",
            view.epoch
        );
        let epoch = view.epoch;
        if let Some(session) = self.sessions[slot].as_mut() {
            session.control.push(Control::Claim { epoch });
        }
    }

    pub(super) fn on_welcome(
        &mut self,
        link: LinkId,
        w: Welcome,
        now: Instant,
    ) -> Result<(), ProtocolError> {
        let Some(me) = self.view.as_ref().map(|v| v.me) else {
            return Err(ProtocolError::WrongRole(
                "a welcome sent to the server: both ends are servers",
            ));
        };
        if w.version != PROTOCOL_VERSION {
            return Err(ProtocolError::Version {
                ours: PROTOCOL_VERSION,
                theirs: w.version,
            });
        }
        if w.window < 1024 {
            return Err(ProtocolError::WindowTooSmall {
                what: "welcome",
                window: w.window,
            });
        }
        if !self.welcome_allowed(link, now) {
            return Ok(());
        }
        let peer = self.links.get(&link).map(|l| l.up.peer);
        self.grace = Duration::from_millis(u64::from(w.grace_ms));
        let resumable = w.resumed
            && self.sessions[Slot::CLIENT]
                .as_ref()
                .is_some_and(|s| same_token(s.token, w.token));
        if w.resumed && !resumable {
            // We ended the session (its grace ran out) while our hello was in
            // flight; the server must drop its half. Reconnect without a token.
            info!("the server resumed a session this client already ended; starting afresh");
            self.close_link(
                link,
                "resumed a session the client already ended; reconnecting afresh".into(),
                now,
            );
            return Ok(());
        }
        if resumable {
            if let Some(s) = self.sessions[Slot::CLIENT].as_mut() {
                s.resume(link, w.ctl_rx);
                s.peer_window = w.window;
            }
            self.timers.cancel(Timer::SessionGrace(Slot::CLIENT));
            self.stats.resumes += 1;
            info!("resumed the session with the server on {link}");
        } else {
            if self.sessions[Slot::CLIENT].is_some() {
                self.end_session(
                    Slot::CLIENT,
                    "the server did not resume our session",
                    now,
                    false,
                );
            }
            let mut session = Session::new(me, w.token, w.window, false);
            session.link = Some(link);
            self.sessions[Slot::CLIENT] = Some(session);
            if let Some(view) = self.view.as_mut() {
                view.reset(w.active, w.epoch);
            }
            info!(
                "connected to the server on {link}; active: {} (epoch {})",
                describe(w.active),
                w.epoch
            );
            self.outputs.push_back(Output::ActiveChanged {
                active: w.active,
                epoch: w.epoch,
                why: ActiveReason::SessionStarted,
            });
        }
        self.reconnect_failures = 0;
        if let Some(s) = self.sessions[Slot::CLIENT].as_mut() {
            s.peer = peer;
        }
        self.attach_link(link, Slot::CLIENT);
        self.update_listeners(now);
        Ok(())
    }

    pub(super) fn schedule_reconnect(&mut self, now: Instant) {
        if self.shut_down {
            return;
        }
        let min = self.config.reconnect_min.as_millis() as u64;
        let max = self.config.reconnect_max.as_millis() as u64;
        let shift = self.reconnect_failures.min(20);
        let delay = min.saturating_mul(1 << shift).min(max);
        let jittered = self.rng.between(delay / 2, delay);
        self.reconnect_failures = self.reconnect_failures.saturating_add(1);
        self.timers
            .set(Timer::Reconnect, now + Duration::from_millis(jittered));
    }

    /// Client: we were active and a switch made us standby. Close the listen
    /// sockets and the connections accepted on them; reopen later.
    pub(super) fn become_standby(&mut self, now: Instant) {
        let ids: Vec<StreamId> = self.sessions[Slot::CLIENT]
            .as_ref()
            .map(|s| {
                s.streams
                    .iter()
                    .filter(|(_, st)| matches!(st.origin, Origin::Listen(_)))
                    .map(|(id, _)| *id)
                    .collect()
            })
            .unwrap_or_default();
        for id in ids {
            self.drop_stream(
                Slot::CLIENT,
                id,
                Some((ResetCode::Switched, "this client became standby")),
            );
        }
        self.start_blackout(now);
    }
}
