//! The server role: the hello exchange, the election's outcomes (switch,
//! failover, handover) and the connections held for a client whose link is
//! down.

use std::time::Instant;

use log::{debug, info, warn};

use super::*;

impl Endpoint {
    /// A client saw first data on its listen socket as standby.
    pub(super) fn on_claim(
        &mut self,
        slot: Slot,
        epoch: u64,
        now: Instant,
    ) -> Result<(), ProtocolError> {
        if self.view.is_some() {
            return Err(ProtocolError::WrongRole("a claim sent to a client"));
        }
        let client = self.session_mut(slot)?.client;
        if self.shut_down {
            debug!("{client} claims activity while this server stops: ignored");
            return Ok(());
        }
        debug!("{client} claims activity (it saw epoch {epoch})");
        if let Some(change) = self.election.on_claim(client) {
            self.apply_change(change, now);
        }
        Ok(())
    }

    /// A Hello the server has checked (and, with a shared secret,
    /// authenticated): resume its session or start a new one, and queue
    /// the Welcome.
    pub(super) fn accept_hello(&mut self, link: LinkId, hello: Hello, now: Instant) {
        let client = hello.client;
        let slot = Slot::of(client);
        let Some(peer) = self.links.get(&link).map(|l| l.up.peer) else {
            return;
        };
        let resumable = hello.token != 0
            && self.sessions[slot]
                .as_ref()
                .is_some_and(|s| same_token(s.token, hello.token) && !s.leaving);
        let resumed = if resumable {
            let old_link = self.sessions[slot].as_ref().and_then(|s| s.link);
            if let Some(old) = old_link.filter(|old| *old != link) {
                self.outputs.push_back(Output::CloseLink {
                    link: old,
                    reason: "replaced by a newer link of the same session".into(),
                });
                self.forget_link(old);
            }
            if let Some(s) = self.sessions[slot].as_mut() {
                s.resume(link, hello.ctl_rx);
                s.peer_window = hello.window;
            }
            self.timers.cancel(Timer::SessionGrace(slot));
            self.timers.cancel(Timer::Failover(slot));
            self.stats.resumes += 1;
            info!("{client} resumed its session on {link} from {peer}");
            true
        } else {
            // Held connections never reached the old session's peer: the
            // new session of the same (still active) client carries them.
            let held = self.take_held(slot);
            if let Some(old) = self.sessions[slot].as_ref() {
                let was = match (old.link.is_some(), old.peer) {
                    (true, Some(addr)) => format!("live on {addr}"),
                    (false, Some(addr)) => format!("last seen on {addr}, link down"),
                    (_, None) => "never linked".to_string(),
                };
                if let Some(note) = self.log_limits.new_sessions.allow(now) {
                    let proved = if self.config.shared_secret.is_some() {
                        "; it proved the shared secret"
                    } else {
                        ""
                    };
                    warn!(
                        "{client} from {peer} starts a new session, replacing its session \
                         ({was}){proved}{note}"
                    );
                }
                self.end_session(slot, "the client started a new session", now, false);
            }
            let token = self.links.get(&link).map_or(1, |l| l.up.token.max(1));
            let mut session = Session::new(client, token, hello.window, true);
            session.link = Some(link);
            self.sessions[slot] = Some(session);
            info!("{client} connected on {link} from {peer} (new session)");
            let one_online = self.online(Slot::of(ClientId::One));
            let two_carries = self.sessions[Slot::of(ClientId::Two)]
                .as_ref()
                .is_some_and(|s| {
                    s.streams
                        .values()
                        .any(|st| matches!(st.origin, Origin::Listen(_)))
                });
            if let Some(change) = self.election.on_session_up(client, one_online, two_carries) {
                self.apply_change(change, now);
            }
            let target = self
                .election
                .active
                .map(Slot::of)
                .filter(|&s| self.linked(s));
            for s in held {
                match target {
                    Some(target) => self.rehome(target, s),
                    None => self.close_held(s),
                }
            }
            false
        };
        // The active client may have been down past the failover delay,
        // waiting for this one.
        if let Some(active) = self.election.active.filter(|a| *a != client) {
            self.failover_due(Slot::of(active), now);
        }
        let control_received = self.sessions[slot]
            .as_ref()
            .map_or(0, |s| s.control.received());
        if let Some(s) = self.sessions[slot].as_mut() {
            s.peer = Some(peer);
        }
        self.attach_link(link, slot);
        if let Some(l) = self.links.get_mut(&link) {
            l.handshake.push(Frame::Welcome(Welcome {
                version: PROTOCOL_VERSION,
                token: self.sessions[slot].as_ref().map_or(0, |s| s.token),
                resumed,
                ctl_rx: control_received,
                window: self.config.stream_window,
                grace_ms: u32::try_from(self.config.resume_grace.as_millis()).unwrap_or(u32::MAX),
                active: self.election.active,
                epoch: self.election.epoch,
            }));
        }
        self.update_listeners(now);
    }

    /// Server: acts on a change of active client and announces it.
    pub(super) fn apply_change(&mut self, change: Change, now: Instant) {
        let epoch = self.election.epoch;
        self.outputs.push_back(Output::ActiveChanged {
            active: change.to,
            epoch,
            why: ActiveReason::Elected(change.why),
        });
        match change.why {
            ActiveWhy::Claim => {
                self.stats.switches += 1;
                if let (Some(old), Some(new)) = (change.from, change.to) {
                    // Held connections never reached the old client: the
                    // claimer carries them.
                    for s in self.take_held(Slot::of(old)) {
                        self.rehome(Slot::of(new), s);
                    }
                }
                if let Some(old) = change.from {
                    let ids: Vec<StreamId> = self.sessions[Slot::of(old)]
                        .as_ref()
                        .map(|s| s.streams.keys().copied().collect())
                        .unwrap_or_default();
                    for id in ids {
                        self.drop_stream(
                            Slot::of(old),
                            id,
                            Some((ResetCode::Switched, "the active client switched")),
                        );
                    }
                }
                self.start_blackout(now);
            }
            ActiveWhy::Failover => self.stats.failovers += 1,
            ActiveWhy::Handover => self.stats.handovers += 1,
            // Client 1 took the default role from a client 2 that carried
            // no server-listen stream: nothing to close.
            ActiveWhy::Default => {}
        }
        for session in self.sessions.iter_mut().flatten() {
            session.control.push(Control::Active {
                client: change.to,
                epoch,
                why: change.why,
            });
        }
    }

    /// Server: the failover delay of `slot`'s session may have passed. If it
    /// is the active client's, still without a link, and the other client
    /// is linked, fail over to it, moving the connections held for the
    /// active client; with nobody to carry them, close those connections.
    pub(super) fn failover_due(&mut self, slot: Slot, now: Instant) {
        if self.view.is_some() {
            return;
        }
        let Some(session) = self.sessions[slot].as_ref() else {
            return;
        };
        let Some(down) = session.down_since else {
            return;
        };
        if session.leaving || session.link.is_some() || now < down + self.config.failover_after {
            return;
        }
        let client = session.client;
        if self.election.active != Some(client) {
            return;
        }
        let held = session.held_streams();
        let other = Slot::of(client.other());
        if !self.linked(other) {
            debug!(
                "no client can carry {} held connections: closing them",
                held.len()
            );
            for s in self.take_held(slot) {
                self.close_held(s);
            }
            return;
        }
        let secs = self.config.failover_after.as_secs_f64();
        info!(
            "{client}'s link has been down for {secs:.1}s and {} is online: failing over",
            client.other()
        );
        let moving = self.take_held(slot);
        self.end_session(slot, "its link was down past the failover delay", now, true);
        for s in moving {
            self.rehome(other, s);
        }
    }

    /// Takes the held streams (see [`Stream::held`]) out of `slot`'s session.
    pub(super) fn take_held(&mut self, slot: Slot) -> Vec<Stream> {
        let Some(session) = self.sessions[slot].as_mut() else {
            return Vec::new();
        };
        let ids = session.held_streams();
        let mut held = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(s) = session.streams.remove(&id) {
                if !session.control.retract_open(id) {
                    session.control.push(Control::Reset {
                        stream: id,
                        code: ResetCode::Switched,
                        reason: "moved to the other client".into(),
                    });
                }
                held.push(s);
            }
        }
        held
    }

    /// A held stream (taken out of its session) nobody can carry: its
    /// connection is reset; the peer never heard of it.
    pub(super) fn close_held(&mut self, stream: Stream) {
        if let Some(conn) = stream.conn {
            self.conns.remove(&conn);
            self.outputs.push_back(Output::Close { conn, reset: true });
        }
        self.stats.streams_reset += 1;
    }

    /// Server: gives a held stream (the peer never heard of it) to the
    /// session in `slot`, which is active now, as if accepted there.
    pub(super) fn rehome(&mut self, slot: Slot, mut stream: Stream) {
        let (Origin::Listen(tunnel), Some(conn)) = (stream.origin, stream.conn) else {
            return self.close_held(stream);
        };
        let Some(name) = self.config.listens.get(tunnel.0).cloned() else {
            return self.close_held(stream);
        };
        let Some(session) = self.sessions[slot].as_mut() else {
            return self.close_held(stream);
        };
        stream.held = false;
        stream.tx_queued = false;
        stream.ack_queued = false;
        let id = session.allocate_stream();
        session.streams.insert(id, stream);
        session.control.push(Control::Open {
            stream: id,
            tunnel: name,
        });
        if let Some(s) = session.streams.get(&id).filter(|s| s.fin_queued()) {
            // The app finished while held: its Fin stayed with the old session.
            let final_offset = s.send.written();
            session.control.push(Control::Fin {
                stream: id,
                final_offset,
            });
        }
        session.queue_tx(id);
        self.conns.insert(conn, ConnRef { slot, stream: id });
        debug!("{conn} moves to {} as {id}", session.client);
    }
}
