//! The event loop's side of open tunnel connections: readiness (including
//! a dial that finished or moves on to the next address), reads into the
//! protocol in ready-queue turns, delivery of the protocol's bytes, and
//! closing with a FIN or a reset.

use std::io;
use std::time::Instant;

use log::{debug, error, trace};
use mio::event::Event;
use mio::Interest;
use tcpws_protocol::ConnId;

use crate::error::describe;
use crate::event_loop::ready::Ready;
use crate::event_loop::{EventLoop, DIRECT_READ};
use crate::tcp::dial;
use crate::tunnel::conn::{self, ConnState};

impl EventLoop {
    /// A readiness event on a tunnel socket (a handler): a dial's progress,
    /// a socket error, delivery when writable, a read turn when readable.
    pub(crate) fn conn_event(&mut self, id: ConnId, event: &Event, now: Instant) {
        let Some(conn) = self.conns.get_mut(&id) else {
            return;
        };
        if let ConnState::Dialing { .. } = conn.state {
            match dial::check(&conn.stream) {
                dial::Progress::Pending => return,
                dial::Progress::Connected => {
                    conn.state = ConnState::Open;
                    if let Err(e) = conn.stream.set_nodelay(true) {
                        debug!("cannot set TCP_NODELAY on {id}: {e}");
                    }
                    conn::keep_alive(&conn.stream, self.settings.tcp_keepalive, id);
                    debug!("{id}: connected to {}", conn.peer);
                    self.endpoint.handle_dial_result(id, Ok(()), now);
                    self.queue_conn(id);
                }
                dial::Progress::Failed(e) => {
                    let failed = conn.peer;
                    let next = match &mut conn.state {
                        ConnState::Dialing { fallback, .. } => fallback.connect_next(e),
                        ConnState::Open => Err(e),
                    };
                    let e = match next {
                        Ok((mut stream, addr)) => {
                            debug!("{id}: cannot connect to {failed}; trying {addr}");
                            let interest = Interest::READABLE | Interest::WRITABLE;
                            match self
                                .poll
                                .registry()
                                .register(&mut stream, conn.token, interest)
                            {
                                Ok(()) => {
                                    conn.stream = stream;
                                    conn.peer = addr;
                                    return;
                                }
                                Err(e) => e,
                            }
                        }
                        Err(e) => e,
                    };
                    let tunnel = conn.tunnel;
                    let target = self.dial_target(tunnel);
                    let reason = format!("cannot connect to {target}: {}", describe(&e));
                    debug!("{id}: {reason}");
                    self.drop_conn(id, false);
                    self.endpoint.handle_dial_result(id, Err(reason), now);
                }
            }
            self.pump(now);
            return;
        }
        if event.is_error() {
            // A reset on a socket we no longer read (after its EOF) would
            // otherwise go unnoticed until the next write.
            if let Ok(Some(e)) = conn.stream.take_error() {
                let reason = format!("socket error: {}", describe(&e));
                self.conn_failed(id, reason, now);
                self.pump(now);
                return;
            }
        }
        if event.is_writable() {
            self.deliver(id, now);
        }
        if event.is_readable() || event.is_read_closed() || event.is_error() {
            self.queue_conn(id);
        }
        self.pump(now);
    }

    /// Gives an open connection that can still read a turn in the ready queue.
    pub(crate) fn queue_conn(&mut self, id: ConnId) {
        if let Some(conn) = self.conns.get_mut(&id) {
            if conn.is_open() && !conn.read_closed {
                self.ready.push(Ready::Conn(id), &mut conn.queued);
            }
        }
    }

    /// One read from a tunnel socket into the protocol, up to its send
    /// capacity (a turn of the ready queue).
    pub(crate) fn read_conn_once(&mut self, id: ConnId, now: Instant) {
        let Some(conn) = self.conns.get_mut(&id) else {
            return;
        };
        conn.queued = false;
        if !conn.is_open() || conn.read_closed {
            return;
        }
        let capacity = self.endpoint.send_capacity(id);
        if capacity == 0 {
            return; // Output::ResumeReading queues it again.
        }
        // A stream moving bulk data is read straight into its send buffer;
        // a new or idle one through the scratch buffer, so its own stays
        // as small as what it holds.
        let (result, direct) = match self.endpoint.app_read_buf(id) {
            Some(room) => {
                let want = room.len().min(DIRECT_READ);
                (conn.read(&mut room[..want]), true)
            }
            None => {
                let want = capacity.min(self.scratch.len());
                (conn.read(&mut self.scratch[..want]), false)
            }
        };
        match result {
            Ok(0) => {
                conn.read_closed = true;
                trace!("{id}: end of stream from {}", conn.peer);
                self.endpoint.handle_app_eof(id, now);
            }
            Ok(n) => {
                let taken = if direct {
                    self.endpoint.handle_app_read(id, n, now)
                } else {
                    self.endpoint.handle_app_data(id, &self.scratch[..n], now)
                };
                if taken < n {
                    // The protocol promised to take up to send_capacity; dropping
                    // the rest would corrupt the stream, so reset it instead.
                    let reason =
                        format!("the protocol took {taken} of {n} bytes within its capacity");
                    error!("{id}: {reason}");
                    self.drop_conn(id, true);
                    self.endpoint.handle_app_reset(id, &reason, now);
                } else {
                    // Even a short read may leave bytes behind (Linux stops
                    // at urgent data; an EOF queued behind the bytes brings
                    // no new edge): read again until WouldBlock.
                    self.queue_conn(id);
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => {
                let reason = format!("read failed: {}", describe(&e));
                self.conn_failed(id, reason, now);
            }
        }
    }

    /// `Output::Deliver` (and every writable event): write the protocol's
    /// bytes until none are left or the socket would block.
    pub(crate) fn deliver(&mut self, id: ConnId, now: Instant) {
        loop {
            let Some(conn) = self.conns.get_mut(&id) else {
                return;
            };
            if !conn.is_open() {
                return;
            }
            let chunk = self.endpoint.recv_chunk(id);
            if chunk.is_empty() {
                return;
            }
            match conn.write(chunk) {
                Ok(n) => self.endpoint.handle_app_written(id, n, now),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) => {
                    let reason = format!("write failed: {}", describe(&e));
                    self.conn_failed(id, reason, now);
                    return;
                }
            }
        }
    }

    /// The socket failed: drop it and report the reset.
    pub(crate) fn conn_failed(&mut self, id: ConnId, reason: String, now: Instant) {
        if let Some(conn) = self.conns.get(&id) {
            debug!("{id} ({}): {reason}", conn.peer);
        }
        self.drop_conn(id, false);
        self.endpoint.handle_app_reset(id, &reason, now);
    }

    /// `Output::Close`.
    pub(crate) fn close_conn(&mut self, id: ConnId, reset: bool) {
        if self.resolving.remove(&id).is_some() {
            debug!("{id}: closed while its target resolved");
        }
        if self.conns.contains_key(&id) {
            debug!("{id}: closing{}", if reset { " with a reset" } else { "" });
            self.drop_conn(id, reset);
        }
    }

    /// Forgets and closes the socket; `reset` makes the close a TCP RST.
    pub(crate) fn drop_conn(&mut self, id: ConnId, reset: bool) {
        let Some(mut conn) = self.conns.remove(&id) else {
            return;
        };
        if reset {
            if let Err(e) = conn::set_linger_zero(&conn.stream) {
                debug!("{id}: cannot set SO_LINGER 0 for a reset: {e}");
            }
        }
        self.forget(conn.token, Some(&mut conn.stream));
    }
}
