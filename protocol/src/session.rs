//! A session between the server and one client: its streams, its control
//! channel and what it transmits. It outlives any one WebSocket link.

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::time::Instant;

use crate::control::ControlChannel;
use crate::frame::{self, Frame, DATA_OVERHEAD};
use crate::ids::{ClientId, LinkId, StreamId};
use crate::rate::Rate;
use crate::stream::Stream;

/// Largest Data payload per frame, so one bulk stream cannot hog a message.
const MAX_CHUNK: usize = 64 * 1024;
/// Bytes of an Ack frame.
const ACK_LEN: usize = frame::FRAME_HEADER + 16;
/// Acks owed for streams we already forgot, kept at most this many.
const MAX_STALE_ACKS: usize = 4096;

/// One client's session. Ids of streams we open have our parity and only grow.
#[derive(Debug)]
pub(crate) struct Session {
    /// The client this session is with (our own id on a client).
    pub(crate) client: ClientId,
    pub(crate) token: u128,
    /// Where its peer was last seen (the address of its newest link).
    pub(crate) peer: Option<SocketAddr>,
    /// The link carrying it, once its hello exchange is done.
    pub(crate) link: Option<LinkId>,
    /// When the last link went away.
    pub(crate) down_since: Option<Instant>,
    /// The session ended on purpose (a Goodbye either way): no link comes
    /// back; its streams deliver what they hold, close with FIN and go.
    pub(crate) leaving: bool,
    /// The peer's receive window per stream.
    pub(crate) peer_window: u32,
    pub(crate) streams: BTreeMap<StreamId, Stream>,
    /// Next id we allocate.
    next_local: u64,
    /// Lowest id of the peer's we have not seen yet.
    next_peer: u64,
    pub(crate) control: ControlChannel,
    tx_ready: VecDeque<StreamId>,
    ack_ready: VecDeque<StreamId>,
    /// (stream, offset) acks for data that arrived for forgotten streams.
    stale_acks: VecDeque<(StreamId, u64)>,
    /// The peer's Opens we refused, this second.
    pub(crate) refused_opens: Rate,
}

impl Session {
    /// A new session; `server_side` decides which stream-id parity is ours.
    pub(crate) fn new(
        client: ClientId,
        token: u128,
        peer_window: u32,
        server_side: bool,
    ) -> Session {
        let (local, peer) = if server_side { (1, 2) } else { (2, 1) };
        Session {
            client,
            token,
            peer: None,
            link: None,
            down_since: None,
            leaving: false,
            peer_window,
            streams: BTreeMap::new(),
            next_local: local,
            next_peer: peer,
            control: ControlChannel::default(),
            tx_ready: VecDeque::new(),
            ack_ready: VecDeque::new(),
            stale_acks: VecDeque::new(),
            refused_opens: Rate::default(),
        }
    }

    /// Allocates the id of a stream we open.
    pub(crate) fn allocate_stream(&mut self) -> StreamId {
        let id = StreamId(self.next_local);
        self.next_local += 2;
        id
    }

    fn is_ours(&self, id: StreamId) -> bool {
        id.0 % 2 == self.next_local % 2
    }

    /// Whether `id` names a stream that existed and is gone (so late frames
    /// for it are ignored) rather than one never opened.
    pub(crate) fn is_forgotten(&self, id: StreamId) -> bool {
        if self.is_ours(id) {
            id.0 < self.next_local
        } else {
            id.0 < self.next_peer
        }
    }

    /// Records an Open from the peer. False if the id is not a fresh peer id.
    pub(crate) fn accept_peer_id(&mut self, id: StreamId) -> bool {
        if self.is_ours(id) || id.0 < self.next_peer {
            return false;
        }
        // The last ids of the space cannot be followed: refuse them rather
        // than wrap around to ids already used.
        let Some(next) = id.0.checked_add(2) else {
            return false;
        };
        self.next_peer = next;
        true
    }

    /// The streams the peer has never heard of (see `Stream::held`).
    pub(crate) fn held_streams(&self) -> Vec<StreamId> {
        self.streams
            .iter()
            .filter(|(_, s)| s.held)
            .map(|(id, _)| *id)
            .collect()
    }

    pub(crate) fn queue_tx(&mut self, id: StreamId) {
        if let Some(s) = self.streams.get_mut(&id) {
            if !s.tx_queued && s.sendable(self.peer_window) > 0 {
                s.tx_queued = true;
                self.tx_ready.push_back(id);
            }
        }
    }

    pub(crate) fn queue_ack(&mut self, id: StreamId) {
        if let Some(s) = self.streams.get_mut(&id) {
            if !s.ack_queued {
                s.ack_queued = true;
                self.ack_ready.push_back(id);
            }
        }
    }

    pub(crate) fn queue_stale_ack(&mut self, id: StreamId, offset: u64) {
        if self.stale_acks.len() < MAX_STALE_ACKS {
            self.stale_acks.push_back((id, offset));
        }
    }

    /// Forgets a finished stream, keeping the final acknowledgement owed to
    /// the peer so it can forget the stream too.
    pub(crate) fn forget_finished(&mut self, id: StreamId) {
        if let Some(s) = self.streams.remove(&id) {
            if s.ack_queued || s.ack_sent < s.recv.consumed() {
                self.queue_stale_ack(id, s.recv.consumed());
            }
        }
    }

    /// A new link continues this session: resend everything unacknowledged.
    pub(crate) fn resume(&mut self, link: LinkId, peer_control_received: u64) {
        self.link = Some(link);
        self.down_since = None;
        self.refused_opens = Rate::default();
        self.control.resume(peer_control_received);
        let ids: Vec<StreamId> = self.streams.keys().copied().collect();
        for id in ids {
            if let Some(s) = self.streams.get_mut(&id) {
                s.send.rewind();
                s.ack_sent = 0;
                s.held = false;
            }
            self.queue_tx(id);
            self.queue_ack(id);
        }
    }

    /// Appends frames to `out` up to `limit` bytes: control first, then
    /// acks, then data round-robin over the streams. Data waits while any
    /// control frame is unsent, so an Open always precedes its data.
    pub(crate) fn transmit(&mut self, out: &mut Vec<u8>, limit: usize) -> bool {
        let start = out.len();
        self.control.transmit(out, limit);
        if self.control.has_unsent() {
            return out.len() > start;
        }
        while out.len() + ACK_LEN <= limit {
            let Some(id) = self.ack_ready.pop_front() else {
                break;
            };
            if let Some(s) = self.streams.get_mut(&id) {
                s.ack_queued = false;
                let consumed = s.recv.consumed();
                s.ack_sent = consumed;
                Frame::Ack {
                    stream: id,
                    consumed,
                }
                .encode(out);
            }
        }
        while out.len() + ACK_LEN <= limit {
            let Some((stream, consumed)) = self.stale_acks.pop_front() else {
                break;
            };
            Frame::Ack { stream, consumed }.encode(out);
        }
        while out.len() + DATA_OVERHEAD < limit {
            let Some(id) = self.tx_ready.pop_front() else {
                break;
            };
            let Some(s) = self.streams.get_mut(&id) else {
                continue;
            };
            let room = limit - out.len() - DATA_OVERHEAD;
            let n = (s.sendable(self.peer_window) as usize)
                .min(room)
                .min(MAX_CHUNK);
            if n == 0 {
                s.tx_queued = false;
                continue;
            }
            let offset = s.send.sent();
            frame::encode_data_header(out, id, offset, n);
            s.send.transmit(n, out);
            if s.sendable(self.peer_window) > 0 {
                self.tx_ready.push_back(id);
            } else {
                s.tx_queued = false;
            }
        }
        out.len() > start
    }

    /// Bytes held by all streams of this session.
    pub(crate) fn buffered(&self) -> u64 {
        self.streams
            .values()
            .map(|s| (s.send.len() + s.recv.buffered()) as u64)
            .sum()
    }
}
