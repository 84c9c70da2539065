//! The local TCP connections: accepts, dial results, bytes read from and
//! written to the applications, EOF and resets.

use std::time::Instant;

use log::{debug, warn};

use super::*;

impl Endpoint {
    /// The socket asked for by [`Output::StartListening`] could not be
    /// bound (the port is taken, say): it is asked for again a second
    /// later, as long as the listen sockets are wanted.
    pub fn handle_listen_failed(&mut self, tunnel: TunnelId, reason: &str, now: Instant) {
        if !self.listening || self.unbound.get(tunnel.0) != Some(&false) {
            return;
        }
        debug!("listen socket of {tunnel:?} failed ({reason}); asking again");
        self.unbound[tunnel.0] = true;
        self.timers
            .set(Timer::ListenRetry(tunnel), now + LISTEN_RETRY);
    }

    /// A TCP connection was accepted on `listens[tunnel]`. `None`: close it,
    /// there is nowhere to route it.
    #[must_use = "None means the connection must be closed"]
    pub fn handle_accept(&mut self, tunnel: TunnelId, now: Instant) -> Option<ConnId> {
        let name = self.config.listens.get(tunnel.0)?.clone();
        if !self.listening || self.shut_down {
            return None;
        }
        let slot = match self.config.role {
            Role::Server => match self.election.active {
                Some(c) if self.online(Slot::of(c)) => Slot::of(c),
                _ => {
                    warn!("refusing a connection on tunnel {name:?}: no active client");
                    return None;
                }
            },
            Role::Client(_) => {
                if !self.online(Slot::CLIENT) {
                    return None;
                }
                Slot::CLIENT
            }
        };
        let failover_after = self.config.failover_after;
        let server = self.view.is_none();
        let window = self.config.stream_window;
        let max_streams = self.config.max_streams;
        let conn = ConnId(self.next_conn);
        let session = self.sessions[slot].as_mut()?;
        if session.streams.len() >= max_streams {
            warn!("refusing a connection on tunnel {name:?}: {max_streams} streams open");
            return None;
        }
        self.next_conn += 1;
        // The active client's link is down: hold the connection for the
        // failover delay (a resume or a failover carries it), no longer.
        let held = server && session.link.is_none();
        if held
            && session
                .down_since
                .is_some_and(|d| now >= d + failover_after)
        {
            warn!(
                "refusing a connection on tunnel {name:?}: {}'s link is down and no client can carry it",
                session.client
            );
            return None;
        }
        let id = session.allocate_stream();
        let mut stream = Stream::new(Origin::Listen(tunnel), conn, window);
        stream.held = held;
        session.streams.insert(id, stream);
        session.control.push(Control::Open {
            stream: id,
            tunnel: name.clone(),
        });
        self.conns.insert(conn, ConnRef { slot, stream: id });
        self.stats.streams_opened += 1;
        if let Some(t) = self.tunnel_stats.of(Origin::Listen(tunnel)) {
            t.streams_opened += 1;
        }
        debug!(
            "{conn} accepted on tunnel {name:?} opens {id} to {}",
            session.client
        );
        Some(conn)
    }

    /// The dial asked for by [`Output::Dial`] finished.
    pub fn handle_dial_result(&mut self, conn: ConnId, result: Result<(), String>, now: Instant) {
        let Some((r, session)) = conn_session(&self.conns, &mut self.sessions, conn) else {
            return;
        };
        if !matches!(session.streams.get(&r.stream), Some(s) if !s.confirmed) {
            return; // a second report for one dial: nothing to decide
        }
        self.timers.cancel(Timer::Dial(conn));
        match result {
            Ok(()) => {
                if let Some(s) = session.streams.get_mut(&r.stream) {
                    s.confirmed = true;
                }
                session.control.push(Control::OpenResult {
                    stream: r.stream,
                    accepted: true,
                    reason: String::new(),
                });
                self.signal_deliver(r.slot, r.stream);
                self.recv_progress(r.slot, r.stream, now);
            }
            Err(reason) => self.dial_failed(conn, reason),
        }
    }

    /// The dial of `conn` failed or took too long: its stream is refused.
    pub(super) fn dial_failed(&mut self, conn: ConnId, reason: String) {
        let Some((r, session)) = conn_session(&self.conns, &mut self.sessions, conn) else {
            return;
        };
        warn!("{conn}: dial for {} failed: {reason}", r.stream);
        self.stats.opens_refused += 1;
        session.control.push(Control::OpenResult {
            stream: r.stream,
            accepted: false,
            reason,
        });
        session.streams.remove(&r.stream);
        self.conns.remove(&conn);
    }

    /// Bytes read from `conn`'s socket. Returns how many were taken (all of
    /// them when `data.len() <= send_capacity(conn)`).
    #[must_use = "bytes beyond the count were not taken"]
    pub fn handle_app_data(&mut self, conn: ConnId, data: &[u8], now: Instant) -> usize {
        let window = self.config.stream_window;
        let Some(s) = self.stream_of_conn_mut(conn) else {
            return 0;
        };
        let capacity = s.send_capacity(window);
        if capacity == 0 {
            s.read_paused = true;
        }
        let n = data.len().min(capacity);
        if n == 0 {
            return 0;
        }
        s.send.push(&data[..n], capacity);
        self.took_app_bytes(conn, n, now);
        n
    }

    /// Room to read `conn`'s socket into directly, with no copy: free space
    /// in the stream's send buffer, at most [`Endpoint::send_capacity`]
    /// bytes. `None` when the stream takes no direct reads now (its buffer
    /// is small, as it is for a new or idle stream, or it takes nothing):
    /// read elsewhere and call [`Endpoint::handle_app_data`]. After reading
    /// into a prefix of the room, call [`Endpoint::handle_app_read`].
    pub fn app_read_buf(&mut self, conn: ConnId) -> Option<&mut [u8]> {
        let window = self.config.stream_window;
        let s = self.stream_of_conn_mut(conn)?;
        let capacity = s.send_capacity(window);
        s.send.direct_room(capacity)
    }

    /// `n` bytes were read from `conn`'s socket into the start of the room
    /// [`Endpoint::app_read_buf`] gave. Returns how many were taken: `n`,
    /// unless `n` is longer than that room was.
    #[must_use = "bytes beyond the count were not taken"]
    pub fn handle_app_read(&mut self, conn: ConnId, n: usize, now: Instant) -> usize {
        let window = self.config.stream_window;
        let Some(s) = self.stream_of_conn_mut(conn) else {
            return 0;
        };
        let n = n.min(s.send_capacity(window)).min(s.send.spare_len());
        if n == 0 {
            return 0;
        }
        s.send.commit(n);
        self.took_app_bytes(conn, n, now);
        n
    }

    pub(super) fn stream_of_conn_mut(&mut self, conn: ConnId) -> Option<&mut Stream> {
        let (r, session) = conn_session(&self.conns, &mut self.sessions, conn)?;
        session.streams.get_mut(&r.stream)
    }

    /// The send buffer of `conn`'s stream just took `n > 0` bytes: pause at
    /// a full window, claim activity on a standby's first data, transmit.
    pub(super) fn took_app_bytes(&mut self, conn: ConnId, n: usize, _now: Instant) {
        let window = self.config.stream_window;
        let Some((r, session)) = conn_session(&self.conns, &mut self.sessions, conn) else {
            return;
        };
        let Some(s) = session.streams.get_mut(&r.stream) else {
            return;
        };
        let first_on_listen = !s.saw_app_data && matches!(s.origin, Origin::Listen(_));
        s.saw_app_data = true;
        if s.send_capacity(window) == 0 {
            s.read_paused = true;
        }
        self.stats.bytes_from_apps += n as u64;
        if let Some(t) = self.tunnel_stats.of(s.origin) {
            t.bytes_from_apps += n as u64;
        }
        session.queue_tx(r.stream);
        if first_on_listen {
            self.claim_if_standby(r.slot);
        }
    }

    /// The application finished writing (its socket read returned 0).
    pub fn handle_app_eof(&mut self, conn: ConnId, now: Instant) {
        let Some((r, session)) = conn_session(&self.conns, &mut self.sessions, conn) else {
            return;
        };
        let Some(s) = session.streams.get_mut(&r.stream) else {
            return;
        };
        s.end_app();
        if !s.fin_queued() {
            s.finish_send();
            let final_offset = s.send.written();
            session.control.push(Control::Fin {
                stream: r.stream,
                final_offset,
            });
        }
        self.recv_progress(r.slot, r.stream, now);
    }

    /// `conn`'s socket failed or was reset; the runtime has dropped it.
    pub fn handle_app_reset(&mut self, conn: ConnId, reason: &str, _now: Instant) {
        let Some(r) = self.conns.remove(&conn) else {
            return;
        };
        debug!("{conn} reset by its application: {reason}");
        if let Some(session) = self.sessions[r.slot].as_mut() {
            if let Some(mut s) = session.streams.remove(&r.stream) {
                s.conn = None;
                session.control.push(Control::Reset {
                    stream: r.stream,
                    code: ResetCode::Application,
                    reason: reason.to_owned(),
                });
                self.stats.streams_reset += 1;
            }
        }
    }

    /// `n` bytes of [`Endpoint::recv_chunk`] were written to `conn`'s socket.
    pub fn handle_app_written(&mut self, conn: ConnId, n: usize, now: Instant) {
        let window = self.config.stream_window;
        let Some((r, session)) = conn_session(&self.conns, &mut self.sessions, conn) else {
            return;
        };
        let Some(s) = session.streams.get_mut(&r.stream) else {
            return;
        };
        let before = s.recv.consumed();
        s.recv.consume(n);
        let taken = s.recv.consumed() - before;
        if s.recv.chunk().is_empty() {
            s.deliver_signaled = false;
        }
        let ack = s.ack_worth_sending(window);
        self.stats.bytes_to_apps += taken;
        if let Some(t) = self.tunnel_stats.of(s.origin) {
            t.bytes_to_apps += taken;
        }
        if ack {
            session.queue_ack(r.stream);
        }
        self.recv_progress(r.slot, r.stream, now);
    }
}
