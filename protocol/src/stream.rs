//! One tunnelled TCP connection inside a session: both directions, their
//! buffers and credit, and where the stream is in its life.

use crate::ids::{ConnId, TunnelId};
use crate::reorder::Reassembler;
use crate::send_buffer::SendBuffer;

/// Which side of the tunnel the local TCP connection is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Origin {
    /// Accepted on our listen socket of `listens[tunnel]`; we opened the stream.
    Listen(TunnelId),
    /// Dialed by us to `connects[tunnel]` at the peer's request.
    Connect(TunnelId),
}

/// Where our sending direction stands: the application's bytes go out
/// until it finishes; then our Fin goes on the control channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SendState {
    /// The application may still write.
    Open,
    /// We take no more from the application but queued no Fin: a planned
    /// stop of a stream not yet dialled (the stop's wind-down drops it).
    Ended,
    /// Our Fin, at the offset of the last byte taken, is queued or sent.
    Finished,
}

/// Where the peer's direction stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RecvState {
    /// The peer may still send.
    Open,
    /// The peer's direction ends at this offset.
    FinAt(u64),
    /// Everything up to the Fin was delivered and the socket's write half
    /// shut down.
    Shut(u64),
}

/// Per-stream state. Invariants: `send.len() <= window`,
/// `recv.buffered() <= window`.
#[derive(Debug)]
pub(crate) struct Stream {
    pub(crate) origin: Origin,
    /// The local TCP connection, until it is closed.
    pub(crate) conn: Option<ConnId>,
    /// Opener: the peer accepted the open. Dialer: the dial succeeded.
    pub(crate) confirmed: bool,
    pub(crate) send: SendBuffer,
    pub(crate) send_state: SendState,
    pub(crate) recv: Reassembler,
    pub(crate) recv_state: RecvState,
    /// The last `consumed` we told the peer.
    pub(crate) ack_sent: u64,
    /// A Deliver is outstanding: the runtime is writing or waiting to.
    pub(crate) deliver_signaled: bool,
    /// The runtime stopped reading because the send buffer was full.
    pub(crate) read_paused: bool,
    /// Some application data arrived on this stream already.
    pub(crate) saw_app_data: bool,
    pub(crate) tx_queued: bool,
    pub(crate) ack_queued: bool,
    /// Server: accepted on a listen socket while the session had no link,
    /// so the peer has never heard of it; a failover may move it to the
    /// other client's session.
    pub(crate) held: bool,
}

impl Stream {
    pub(crate) fn new(origin: Origin, conn: ConnId, window: u32) -> Stream {
        Stream {
            origin,
            conn: Some(conn),
            confirmed: false,
            send: SendBuffer::default(),
            send_state: SendState::Open,
            recv: Reassembler::new(window),
            recv_state: RecvState::Open,
            ack_sent: 0,
            deliver_signaled: false,
            read_paused: false,
            saw_app_data: false,
            tx_queued: false,
            ack_queued: false,
            held: false,
        }
    }

    /// The application finished writing (its FIN was read), or we stopped
    /// reading it for a planned stop.
    pub(crate) fn app_eof(&self) -> bool {
        self.send_state != SendState::Open
    }

    /// Our Fin is on the control channel.
    pub(crate) fn fin_queued(&self) -> bool {
        self.send_state == SendState::Finished
    }

    /// No more reads from the application.
    pub(crate) fn end_app(&mut self) {
        if self.send_state == SendState::Open {
            self.send_state = SendState::Ended;
        }
    }

    /// The application is done and our Fin is queued.
    pub(crate) fn finish_send(&mut self) {
        self.send_state = SendState::Finished;
    }

    /// Where the peer's direction ends, once known.
    pub(crate) fn peer_fin(&self) -> Option<u64> {
        match self.recv_state {
            RecvState::Open => None,
            RecvState::FinAt(f) | RecvState::Shut(f) => Some(f),
        }
    }

    /// The peer's direction ends at `offset` (the caller checked it).
    pub(crate) fn set_peer_fin(&mut self, offset: u64) {
        if !matches!(self.recv_state, RecvState::Shut(_)) {
            self.recv_state = RecvState::FinAt(offset);
        }
    }

    /// The socket's write half was shut down after the last byte.
    pub(crate) fn shutdown_sent(&self) -> bool {
        matches!(self.recv_state, RecvState::Shut(_))
    }

    pub(crate) fn mark_shut(&mut self) {
        if let RecvState::FinAt(f) = self.recv_state {
            self.recv_state = RecvState::Shut(f);
        }
    }

    /// Whether the local socket can take bytes (a dialed socket only once connected).
    pub(crate) fn socket_ready(&self) -> bool {
        self.conn.is_some() && (self.confirmed || matches!(self.origin, Origin::Listen(_)))
    }

    /// Bytes the application may still hand us.
    pub(crate) fn send_capacity(&self, window: u32) -> usize {
        if self.app_eof() || self.conn.is_none() {
            return 0;
        }
        (window as usize).saturating_sub(self.send.len())
    }

    /// Bytes we may transmit now: taken, unsent, and within the peer's credit.
    pub(crate) fn sendable(&self, peer_window: u32) -> u64 {
        let credit_end = self.send.acked() + u64::from(peer_window);
        self.send
            .unsent()
            .min(credit_end.saturating_sub(self.send.sent()))
    }

    /// The peer's direction is complete and fully handed to the application.
    pub(crate) fn recv_finished(&self) -> bool {
        self.peer_fin() == Some(self.recv.consumed())
    }

    /// Our direction is complete and the peer has all of it.
    pub(crate) fn send_finished(&self) -> bool {
        self.fin_queued() && self.send.len() == 0
    }

    /// Nothing left to do: the stream can be forgotten.
    pub(crate) fn is_done(&self) -> bool {
        self.conn.is_none() && self.send_finished() && self.recv_finished()
    }

    /// Whether the peer should hear about consumed bytes now: a quarter of
    /// the window, or the end of the stream.
    pub(crate) fn ack_worth_sending(&self, window: u32) -> bool {
        let unacked = self.recv.consumed() - self.ack_sent;
        unacked > 0 && (unacked >= u64::from(window / 4) || self.recv_finished())
    }
}
