//! The simulated network between the clients and the server. Each WebSocket
//! is a [`Wire`]: two in-order queues of messages with per-message latency
//! (messages on one wire never reorder, as over TCP). A partition holds
//! every message of a client's wires (TCP would retransmit them after it
//! heals); closing an end queues a close behind the messages already sent;
//! a cut loses everything in flight.

use std::collections::VecDeque;
use std::time::Duration;

use tcpws_protocol::{ClientId, LinkId};

use super::config::PathConfig;
use super::rng::Rng;

/// Index of a wire in [`Net`]; never reused.
pub type WireId = usize;

/// The two ends of a wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum End {
    Server = 0,
    Client = 1,
}

impl End {
    /// Index into per-end arrays.
    pub fn index(self) -> usize {
        self as usize
    }

    /// The other end.
    pub fn peer(self) -> End {
        match self {
            End::Server => End::Client,
            End::Client => End::Server,
        }
    }
}

/// What travels on a wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    /// One binary WebSocket message.
    Message(Vec<u8>),
    /// The sender closed the WebSocket (close frame or TCP FIN/RST).
    Close(String),
}

#[derive(Debug, Default)]
struct Queue {
    items: VecDeque<(Duration, Item)>,
    bytes: usize,
    last_ready: Duration,
    wire_free: Duration,
    /// The sender stopped transmitting because `bytes` reached the buffer.
    blocked: bool,
}

/// One WebSocket connection between a client and the server.
#[derive(Debug)]
pub struct Wire {
    /// The client this wire belongs to.
    pub client: ClientId,
    /// The link id each end's endpoint knows it by, while that end has it open.
    pub links: [Option<LinkId>; 2],
    /// The incarnation of the process at each end.
    pub incs: [u32; 2],
    /// `queues[e]`: messages travelling toward end `e`.
    queues: [Queue; 2],
    /// A cut dropped everything; nothing more is carried.
    pub cut: bool,
    /// Whether each end has received a message on this wire: its first one
    /// carries the hello (or welcome) that binds the wire to a session.
    pub heard: [bool; 2],
}

impl Wire {
    /// Whether neither end has the wire open nor anything is queued.
    pub fn is_dead(&self) -> bool {
        self.links.iter().all(Option::is_none) && self.queues.iter().all(|q| q.items.is_empty())
    }

    /// Bytes queued toward `to`.
    pub fn queued_bytes(&self, to: End) -> usize {
        self.queues[to.index()].bytes
    }

    /// Whether something other than a lone keepalive is on its way to `to`
    /// (a keepalive changes nothing but the idle timer).
    pub fn carries_news(&self, to: End) -> bool {
        let keepalive = [0x0C, 0, 0, 0, 0];
        self.queues[to.index()]
            .items
            .iter()
            .any(|(_, item)| !matches!(item, Item::Message(m) if m[..] == keepalive))
    }
}

/// All wires and the per-client path conditions.
#[derive(Debug)]
pub struct Net {
    wires: Vec<Wire>,
    /// Per client: while true, nothing on its wires is delivered and new
    /// WebSocket dials hang.
    pub partitioned: [bool; 2],
    /// Per client: latency and bandwidth.
    pub paths: [PathConfig; 2],
    /// Socket buffer of each direction of a wire.
    pub buffer: usize,
    /// Wires with anything queued, checked by `next_ready` and `pop_ready`.
    live: Vec<WireId>,
}

impl Net {
    /// A network with no wires.
    pub fn new(paths: [PathConfig; 2], buffer: usize) -> Net {
        Net {
            wires: Vec::new(),
            partitioned: [false; 2],
            paths,
            buffer,
            live: Vec::new(),
        }
    }

    /// A new wire whose server end is up now and whose client end will be
    /// up at `client_up_at` (nothing reaches the client before that).
    pub fn open(
        &mut self,
        client: ClientId,
        incs: [u32; 2],
        server_link: LinkId,
        client_up_at: Duration,
    ) -> WireId {
        let mut queues: [Queue; 2] = Default::default();
        queues[End::Client.index()].last_ready = client_up_at;
        self.wires.push(Wire {
            client,
            links: [Some(server_link), None],
            incs,
            queues,
            cut: false,
            heard: [false; 2],
        });
        self.wires.len() - 1
    }

    /// The wire `id`.
    pub fn wire(&self, id: WireId) -> &Wire {
        &self.wires[id]
    }

    /// The wire `id`, to change.
    pub fn wire_mut(&mut self, id: WireId) -> &mut Wire {
        &mut self.wires[id]
    }

    /// Every wire with its id.
    pub fn wires(&self) -> impl Iterator<Item = (WireId, &Wire)> {
        self.wires.iter().enumerate()
    }

    /// A one-way latency sample for `client`'s path.
    pub fn latency(&self, client: ClientId, rng: &mut Rng) -> Duration {
        let p = &self.paths[usize::from(client.number() - 1)];
        rng.duration(p.latency.0, p.latency.1)
    }

    /// Whether `from` may hand the wire another message now.
    pub fn can_send(&self, id: WireId, from: End) -> bool {
        let w = &self.wires[id];
        w.cut || w.queues[from.peer().index()].bytes < self.buffer
    }

    /// Notes that `from` stopped sending because the wire was full.
    pub fn set_blocked(&mut self, id: WireId, from: End) {
        self.wires[id].queues[from.peer().index()].blocked = true;
    }

    /// Queues `item` from `from` toward the other end. Returns false when the
    /// wire was cut (the item vanishes).
    pub fn send(
        &mut self,
        id: WireId,
        from: End,
        item: Item,
        now: Duration,
        rng: &mut Rng,
    ) -> bool {
        if self.wires[id].cut {
            return false;
        }
        let client = self.wires[id].client;
        let path = self.paths[usize::from(client.number() - 1)];
        let latency = rng.duration(path.latency.0, path.latency.1);
        let size = match &item {
            Item::Message(m) => m.len(),
            Item::Close(_) => 0,
        };
        let q = &mut self.wires[id].queues[from.peer().index()];
        let start = now.max(q.wire_free);
        let serialize = match path.bandwidth {
            Some(bw) if bw > 0 => {
                Duration::from_nanos((size as u64).saturating_mul(1_000_000_000) / bw)
            }
            _ => Duration::ZERO,
        };
        q.wire_free = start + serialize;
        let ready = (start + serialize + latency).max(q.last_ready);
        q.last_ready = ready;
        q.bytes += size;
        q.items.push_back((ready, item));
        if !self.live.contains(&id) {
            self.live.push(id);
        }
        true
    }

    /// Cuts the wire: everything in flight is lost. Returns the ends that
    /// still had it open (they must be told the link went down).
    pub fn cut(&mut self, id: WireId) -> Vec<End> {
        let w = &mut self.wires[id];
        w.cut = true;
        for q in &mut w.queues {
            q.items.clear();
            q.bytes = 0;
        }
        [End::Server, End::Client]
            .into_iter()
            .filter(|e| w.links[e.index()].is_some())
            .collect()
    }

    /// When the next item can be delivered, if any.
    pub fn next_ready(&self) -> Option<Duration> {
        let mut best: Option<Duration> = None;
        for &id in &self.live {
            let w = &self.wires[id];
            if self.partitioned[usize::from(w.client.number() - 1)] {
                continue;
            }
            for q in &w.queues {
                if let Some((t, _)) = q.items.front() {
                    best = Some(best.map_or(*t, |b| b.min(*t)));
                }
            }
        }
        best
    }

    /// Takes the earliest item due at `now` (ties: lower wire, then server
    /// end first). Returns the wire, the end it reaches, the item, and
    /// whether the sender was blocked and may send again.
    pub fn pop_ready(&mut self, now: Duration) -> Option<(WireId, End, Item, bool)> {
        let mut best: Option<(Duration, WireId, End)> = None;
        for &id in &self.live {
            let w = &self.wires[id];
            if self.partitioned[usize::from(w.client.number() - 1)] {
                continue;
            }
            for to in [End::Server, End::Client] {
                if let Some((t, _)) = w.queues[to.index()].items.front() {
                    let better = match best {
                        None => true,
                        Some(b) => (*t, id, to) < b,
                    };
                    if *t <= now && better {
                        best = Some((*t, id, to));
                    }
                }
            }
        }
        let (_, id, to) = best?;
        let buffer = self.buffer;
        let q = &mut self.wires[id].queues[to.index()];
        let (_, item) = q.items.pop_front()?;
        if let Item::Message(m) = &item {
            q.bytes -= m.len();
        }
        let unblocked = q.blocked && q.bytes < buffer;
        if unblocked {
            q.blocked = false;
        }
        let w = &self.wires[id];
        if w.queues.iter().all(|q| q.items.is_empty()) {
            self.live.retain(|&x| x != id);
        }
        Some((id, to, item, unblocked))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net() -> Net {
        let path = PathConfig {
            latency: (Duration::from_millis(1), Duration::from_millis(50)),
            bandwidth: None,
        };
        Net::new([path, path], 1000)
    }

    #[test]
    fn messages_on_a_wire_never_reorder() {
        let mut n = net();
        let mut rng = Rng::new(3);
        let w = n.open(ClientId::One, [0, 0], LinkId(1), Duration::ZERO);
        for i in 0..50u8 {
            assert!(n.send(
                w,
                End::Server,
                Item::Message(vec![i]),
                Duration::from_millis(u64::from(i)),
                &mut rng
            ));
        }
        let mut got = Vec::new();
        let mut now = Duration::ZERO;
        while let Some(t) = n.next_ready() {
            now = now.max(t);
            while let Some((_, to, item, _)) = n.pop_ready(now) {
                assert_eq!(to, End::Client);
                if let Item::Message(m) = item {
                    got.push(m[0]);
                }
            }
        }
        assert_eq!(got, (0..50).collect::<Vec<u8>>());
    }

    #[test]
    fn partition_holds_and_cut_drops() {
        let mut n = net();
        let mut rng = Rng::new(4);
        let w = n.open(ClientId::Two, [0, 0], LinkId(1), Duration::ZERO);
        n.send(
            w,
            End::Client,
            Item::Message(vec![1; 10]),
            Duration::ZERO,
            &mut rng,
        );
        n.partitioned[1] = true;
        assert_eq!(n.next_ready(), None);
        n.partitioned[1] = false;
        assert!(n.next_ready().is_some());
        n.wire_mut(w).links[1] = Some(LinkId(9));
        assert_eq!(n.cut(w), vec![End::Server, End::Client]);
        assert_eq!(n.next_ready(), None);
        assert!(!n.send(
            w,
            End::Client,
            Item::Message(vec![2]),
            Duration::ZERO,
            &mut rng
        ));
    }

    #[test]
    fn full_buffer_blocks_the_sender() {
        let mut n = net();
        let mut rng = Rng::new(5);
        let w = n.open(ClientId::One, [0, 0], LinkId(1), Duration::ZERO);
        n.send(
            w,
            End::Server,
            Item::Message(vec![0; 1200]),
            Duration::ZERO,
            &mut rng,
        );
        assert!(!n.can_send(w, End::Server));
        assert!(n.can_send(w, End::Client));
        n.set_blocked(w, End::Server);
        let (_, _, _, unblocked) = n.pop_ready(Duration::from_secs(1)).unwrap();
        assert!(unblocked);
    }
}
