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
    /// The application finished writing (its FIN was read).
    pub(crate) app_eof: bool,
    /// Our Fin is on the control channel.
    pub(crate) fin_queued: bool,
    pub(crate) recv: Reassembler,
    /// The peer's direction ends at this offset.
    pub(crate) peer_fin: Option<u64>,
    /// The last `consumed` we told the peer.
    pub(crate) ack_sent: u64,
    pub(crate) shutdown_sent: bool,
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
            app_eof: false,
            fin_queued: false,
            recv: Reassembler::new(window),
            peer_fin: None,
            ack_sent: 0,
            shutdown_sent: false,
            deliver_signaled: false,
            read_paused: false,
            saw_app_data: false,
            tx_queued: false,
            ack_queued: false,
            held: false,
        }
    }

    /// Whether the local socket can take bytes (a dialed socket only once connected).
    pub(crate) fn socket_ready(&self) -> bool {
        self.conn.is_some() && (self.confirmed || matches!(self.origin, Origin::Listen(_)))
    }

    /// Bytes the application may still hand us.
    pub(crate) fn send_capacity(&self, window: u32) -> usize {
        if self.app_eof || self.conn.is_none() {
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
        self.peer_fin == Some(self.recv.consumed())
    }

    /// Our direction is complete and the peer has all of it.
    pub(crate) fn send_finished(&self) -> bool {
        self.fin_queued && self.send.len() == 0
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
