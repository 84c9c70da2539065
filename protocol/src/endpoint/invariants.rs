//! The endpoint's own invariants, for tests, the simulation and the fuzzer.

use super::*;

impl Endpoint {
    /// Checks the protocol's internal invariants: buffers within the window,
    /// server-listen streams routed only to the active client, the connection
    /// table consistent. For tests and the simulation.
    pub fn check_invariants(&self) -> Result<(), String> {
        let window = self.config.stream_window as usize;
        for session in self.sessions.iter().flatten() {
            for (id, s) in &session.streams {
                if s.send.len() > window {
                    return Err(format!(
                        "{}: {id} holds {} unacknowledged bytes, window {window}",
                        self.role(),
                        s.send.len()
                    ));
                }
                if s.recv.buffered() > window {
                    return Err(format!(
                        "{}: {id} buffers {} received bytes, window {window}",
                        self.role(),
                        s.recv.buffered()
                    ));
                }
                if self.view.is_none()
                    && !session.leaving
                    && matches!(s.origin, Origin::Listen(_))
                    && self.election.active != Some(session.client)
                {
                    return Err(format!(
                        "server: {id} from a server listen socket is routed to {} but {:?} is active",
                        session.client, self.election.active
                    ));
                }
                if let Some(conn) = s.conn {
                    match self.conns.get(&conn) {
                        Some(r) if r.stream == *id => {}
                        _ => {
                            return Err(format!(
                                "{}: {id} has {conn} not in the table",
                                self.role()
                            ))
                        }
                    }
                }
            }
        }
        for (conn, r) in &self.conns {
            let ok = self.sessions[r.slot]
                .as_ref()
                .and_then(|s| s.streams.get(&r.stream))
                .is_some_and(|s| s.conn == Some(*conn));
            if !ok {
                return Err(format!(
                    "{}: {conn} points to a missing stream",
                    self.role()
                ));
            }
        }
        if self.listening && !Slot::ALL.into_iter().any(|slot| self.online(slot)) {
            return Err(format!("{}: listening without a session", self.role()));
        }
        Ok(())
    }
}
