//! A server and one or two clients, driven by an arbitrary sequence of
//! operations through a virtual network, virtual sockets and a virtual clock.
//!
//! The harness plays the runtime exactly as the drain contract asks:
//! after every input it drains `poll_output` and acts on each output, then
//! calls `poll_transmit` on every live link until it says `false`, and time
//! only moves by jumping from one `poll_timeout` deadline to the next. The
//! operations are what the world can do: links connecting, failing and
//! breaking; messages delivered late and in any interleaving, or lost,
//! duplicated, reordered, re-chunked, scattered into overlapping
//! out-of-order pieces or corrupted by the transport; sockets
//! accepted, dialled, read, written, half-closed and reset; time passing;
//! shutdowns; and a hostile peer sending arbitrary or crafted messages on
//! its own link or injected into an honest one.
//!
//! Checked after every input (each delivered message, fired timeout, socket
//! event...), on every node:
//! * no panic, and `check_invariants()` is Ok;
//! * every message sent decodes cleanly, fits `max_message` and opens its
//!   link with Hello (client) or Welcome (server);
//! * outputs respect the contract: one ConnectServer at a time, fresh conn
//!   ids, no Deliver or data for a dialled conn before its dial succeeded,
//!   ShutdownWrite only once the receive side is drained, nothing started
//!   after a shutdown, `is_listening` agrees with Start/StopListening;
//! * no data is delivered after a reset or close: a closed conn has no
//!   `recv_chunk` and no `send_capacity`;
//! * while no hostile byte was sent in the run: every byte delivered to a
//!   socket is the next byte its peer socket wrote (no loss, duplication or
//!   cross-talk), even when the transport lost, duplicated, reordered or
//!   re-chunked whole messages;
//! * while no hostile byte was sent, on the wire: no Data for a stream after
//!   its sender reset it or processed the peer's Reset, none past the
//!   sender's Fin or beyond the credit the receiver ever granted (its
//!   highest Ack plus the window), and no Fin below data already sent;
//! * while in addition the transport delivered every message once and in
//!   order (re-chunking allowed): no link was closed for a protocol
//!   violation;
//! * with a shared secret on the server: no hostile link ever gets a
//!   Welcome (whatever it replays or makes up), and with the secret on the
//!   server only, no link at all does.

#![no_main]

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::{Duration, Instant};

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use tcpws_protocol::frame::{self, ActiveWhy, Control, Frame, Hello, ResetCode, Welcome};
use tcpws_protocol::{
    Certified, ClientId, Config, ConnId, Endpoint, LinkId, LinkUp, Output, Role, SharedSecret,
    StreamId, TunnelId, PROTOCOL_VERSION,
};

/// Most operations per run, so one input cannot run for seconds.
const MAX_OPS: usize = 256;
/// Most app bytes read or written per operation.
const MAX_IO: usize = 4096;
/// Bytes at the start of every app stream naming its sender (node, conn).
const HEADER: usize = 9;
/// Largest message the transport still scatters (see `Tamper::Scatter`).
const MAX_SCATTERED: usize = 64 * 1024;

const SERVER_LISTENS: [&str; 3] = ["a", "b", "x"];
const SERVER_CONNECTS: [&str; 1] = ["c"];
const CLIENT_LISTENS: [&str; 2] = ["c", "y"];
const CLIENT_CONNECTS: [&str; 2] = ["a", "b"];
const NAMES: [&str; 6] = ["a", "b", "c", "x", "y", "zz"];

#[derive(Arbitrary, Debug)]
struct Input {
    params: Params,
    ops: Vec<Op>,
}

/// Knobs of the run; each maps onto a valid `Config`.
#[derive(Arbitrary, Debug)]
struct Params {
    window_kib: u8,
    message_kib: u8,
    max_streams: u8,
    grace_ms: u16,
    keepalive_ms: u16,
    timeout_extra_ms: u16,
    standby_ms: u16,
    reconnect_ms: u8,
    reconnect_factor: u8,
    seed: u64,
    two_clients: bool,
    /// Sockets write everything as soon as the protocol says Deliver.
    eager_write: bool,
    /// Shared secrets: 0, 1 none; 2 the same on every node; 3 on the
    /// server only (every handshake is refused).
    secret: u8,
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum NodeSel {
    Server,
    One,
    Two,
}

#[derive(Arbitrary, Debug)]
enum ConnectOutcome {
    Ok,
    Fail,
    /// The client reaches a hostile "server" that only the fuzzer speaks for.
    Hostile,
}

#[derive(Arbitrary, Debug)]
enum Op {
    /// Resolves a client's outstanding ConnectServer.
    Connect {
        client: bool,
        outcome: ConnectOutcome,
    },
    /// Breaks a link: in-flight messages are lost; `tell` says which ends
    /// notice now (bit 0 client, bit 1 server); the others notice later.
    Break {
        wire: u8,
        tell: u8,
    },
    /// Delivers up to `count` queued messages in one direction of a link.
    Deliver {
        wire: u8,
        to_server: bool,
        count: u8,
    },
    /// Delivers everything, repeatedly, until the network is quiet.
    Settle {
        write_apps: bool,
    },
    Accept {
        node: NodeSel,
        tunnel: u8,
    },
    DialResult {
        node: NodeSel,
        pick: u8,
        ok: bool,
    },
    /// The app wrote `len` bytes into its socket and the runtime read them;
    /// `overread` reads past `send_capacity`, which the protocol must refuse.
    AppData {
        node: NodeSel,
        pick: u8,
        len: u16,
        overread: bool,
    },
    /// The socket took up to `max` bytes of `recv_chunk`.
    AppWritten {
        node: NodeSel,
        pick: u8,
        max: u16,
    },
    AppEof {
        node: NodeSel,
        pick: u8,
    },
    AppReset {
        node: NodeSel,
        pick: u8,
    },
    /// Time passes, firing each deadline on the way; with `network` the
    /// links deliver at every step.
    Advance {
        ms: u16,
        network: bool,
    },
    /// Time jumps to the earliest deadline.
    NextDeadline,
    /// `handle_timeout` at the current time (early or twice).
    TimeoutNow {
        node: NodeSel,
    },
    Shutdown {
        node: NodeSel,
    },
    /// Inputs naming conns and links that are gone or never were.
    Stale {
        node: NodeSel,
        pick: u8,
    },
    /// The server accepts a WebSocket from a hostile client.
    /// A hostile peer links to the server; `certified` picks what its TLS
    /// certificate may claim (0 either id, 1 client 1, 2 client 2, else none).
    HostileLinkUp {
        certified: u8,
    },
    HostileLinkDown {
        pick: u8,
    },
    /// A hostile message; `target` picks where it lands.
    Hostile {
        target: HostileTarget,
        pick: u8,
        frames: Vec<FuzzFrame>,
    },
    /// The transport misbehaves on the next queued message(s) of one
    /// direction of a link: they are dropped, duplicated, reordered,
    /// re-chunked or corrupted before delivery.
    Tamper {
        wire: u8,
        to_server: bool,
        how: Tamper,
    },
}

/// What happens to the message at the head of a link's queue.
#[derive(Arbitrary, Debug, Clone, Copy)]
enum Tamper {
    /// Lost. (Lossy: a protocol error may follow, wrong bytes may not.)
    Drop,
    /// Delivered twice. (Lossy.)
    Duplicate,
    /// Swapped with the message behind it. (Lossy.)
    Reorder,
    /// Cut into two messages at a frame boundary: the receiver must not
    /// notice. (Honest: every check stays on.)
    Split { frame: u8 },
    /// Joined with the message behind it: the receiver must not notice.
    /// (Honest.)
    Merge,
    /// One byte changed. (Hostile.)
    Flip { at: u16, xor: u8 },
    /// Cut short. (Hostile.)
    Truncate { at: u16 },
    /// Every Data frame of the message becomes two overlapping ones, the
    /// later bytes first, as a resend after a resume could: the receiver
    /// holds the second piece out of order, then fills the gap. Repeated,
    /// the held pieces overlap. (Honest.)
    Scatter { cut: u16, overlap: u16 },
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum HostileTarget {
    /// On one of the server's hostile links.
    ServerHostileLink,
    /// Into the server's end of an honest link, as if from the client.
    ServerWire,
    /// Into a client's end of a link, as if from the server.
    ClientWire,
    /// On a link id nobody knows.
    Unknown,
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Who {
    None,
    One,
    Two,
}

/// A frame a hostile peer sends, with small numbers so the fuzzer can hit
/// the values that matter; `Raw` covers everything else.
#[derive(Arbitrary, Debug)]
enum FuzzFrame {
    Raw(Vec<u8>),
    Hello {
        bad_version: bool,
        client: bool,
        /// 0: none; 1, 2: the real token of that client's session (snooped
        /// from the wire); else that number.
        token: u8,
        epoch: u8,
        ctl_rx: u8,
        window: u16,
        /// Offers a shared secret with this nonce byte; 0..=7 replay a
        /// nonce an honest end sent.
        nonce: Option<u8>,
    },
    Welcome {
        bad_version: bool,
        token: u8,
        resumed: bool,
        ctl_rx: u8,
        window: u16,
        grace_ms: u16,
        active: Who,
        epoch: u8,
    },
    Open {
        seq: u8,
        stream: u8,
        name: u8,
    },
    OpenResult {
        seq: u8,
        stream: u8,
        accepted: bool,
    },
    Data {
        stream: u8,
        offset: u16,
        len: u16,
    },
    Ack {
        stream: u8,
        consumed: u16,
    },
    Fin {
        seq: u8,
        stream: u8,
        final_offset: u16,
    },
    Reset {
        seq: u8,
        stream: u8,
        code: u8,
    },
    Claim {
        seq: u8,
        epoch: u8,
    },
    Active {
        seq: u8,
        client: Who,
        epoch: u8,
        why: u8,
    },
    ControlAck {
        seq: u8,
    },
    Keepalive,
    Goodbye {
        reason_len: u8,
    },
    AuthChallenge {
        nonce: u8,
    },
    /// 0..=7: a proof an honest end sent earlier (a replay); else that byte.
    AuthProof {
        proof: u8,
    },
    AuthRefused {
        reason_len: u8,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ConnState {
    Dialing,
    Open,
    Closed,
}

/// The runtime's view of one local TCP connection.
#[derive(Debug)]
struct Conn {
    state: ConnState,
    /// The runtime read EOF and told the protocol.
    eof_read: bool,
    /// ShutdownWrite was done.
    write_shut: bool,
    /// Bytes the protocol took from this socket.
    sent: Vec<u8>,
    /// Bytes written to this socket.
    received: Vec<u8>,
}

struct Node {
    ep: Endpoint,
    conns: BTreeMap<ConnId, Conn>,
    /// Listen sockets bound, per tunnel, as the outputs said.
    listening: Vec<bool>,
    /// A ConnectServer is being dialled.
    connecting: bool,
    shut_down: bool,
    max_message: usize,
}

/// A WebSocket between a client and the server (or a hostile server).
#[derive(Debug, Default)]
struct Wire {
    client: usize,
    /// The client's end, while the client has it.
    client_link: Option<LinkId>,
    /// The server's end, while the server has it; `None` from the start for
    /// a hostile server.
    server_link: Option<LinkId>,
    hostile_server: bool,
    /// The connection broke: nothing is delivered any more.
    broken: bool,
    to_server: VecDeque<Vec<u8>>,
    to_client: VecDeque<Vec<u8>>,
    /// Each end sent its Hello / Welcome.
    client_opened: bool,
    server_opened: bool,
    /// The session token of the server's Welcome on this wire: every later
    /// frame on it, either way, belongs to that session.
    token: Option<u128>,
}

/// What the honest ends of one session (client node, token) sent, per
/// direction: `dirs[0]` the client's, `dirs[1]` the server's.
#[derive(Debug, Default)]
struct SessionTrack {
    dirs: [DirTrack; 2],
}

#[derive(Debug, Default)]
struct DirTrack {
    /// Highest `consumed` this side acknowledged, per stream.
    acks: BTreeMap<StreamId, u64>,
    /// Streams this side reset.
    resets: BTreeSet<StreamId>,
    /// Streams the other side reset, once this side has processed the Reset.
    resets_received: BTreeSet<StreamId>,
    /// Final offsets of this side's Fins.
    fins: BTreeMap<StreamId, u64>,
    /// Highest end of the Data this side sent, per stream.
    data_end: BTreeMap<StreamId, u64>,
}

#[derive(Debug, Clone, Copy)]
enum Owner {
    /// The client end of wire `w`.
    Client(usize),
    /// The server end of wire `w`.
    Server(usize),
    /// A server link whose client is the fuzzer.
    Hostile,
}

struct World {
    origin: Instant,
    now: Instant,
    nodes: Vec<Node>,
    wires: Vec<Wire>,
    owners: BTreeMap<LinkId, Owner>,
    hostile_links: Vec<LinkId>,
    next_link: u64,
    /// Tokens seen in Welcomes, per client (index 1 and 2).
    tokens: [u128; 3],
    /// Proofs and nonces honest ends sent, for replays (at most 8 each).
    proofs: Vec<[u8; 32]>,
    nonces: Vec<[u8; 32]>,
    /// Fresh values for the next link's `LinkUp`.
    next_random: u64,
    /// A hostile byte was sent: honest-peer checks are off.
    hostile: bool,
    /// Honest messages were lost, duplicated or reordered: a link may be
    /// closed for a protocol violation, but the bytes each socket gets must
    /// still be exactly the bytes its peer sent, and the senders must still
    /// keep to the window and send nothing after a reset.
    lossy: bool,
    /// What each honest sender put on the wire, per session.
    sent: BTreeMap<(usize, u128), SessionTrack>,
    /// Every node's `stream_window` (they share one).
    window: u64,
    eager_write: bool,
    /// `Params::secret % 4`.
    secret_mode: u8,
}

fn config(role: Role, p: &Params) -> Config {
    let mut c = Config::new(role);
    let (listens, connects): (&[&str], &[&str]) = match role {
        Role::Server => (&SERVER_LISTENS, &SERVER_CONNECTS),
        Role::Client(_) => (&CLIENT_LISTENS, &CLIENT_CONNECTS),
    };
    c.listens = listens.iter().map(|s| s.to_string()).collect();
    c.connects = connects.iter().map(|s| s.to_string()).collect();
    // Small windows make flow control bite within a few ops; the largest
    // choice lets a send ring pass 64 KiB and take direct reads.
    c.stream_window = if p.window_kib >= 0xF0 {
        80 * 1024
    } else {
        1024 * (1 + u32::from(p.window_kib % 8))
    };
    c.max_message = 1024 * (1 + usize::from(p.message_kib % 4));
    c.max_streams = 1 + usize::from(p.max_streams % 4);
    c.resume_grace = Duration::from_millis(u64::from(p.grace_ms));
    // A quarter to all of the grace, from bits of the seed.
    c.failover_after = c.resume_grace * (1 + (p.seed >> 60) as u32 % 4) / 4;
    let interval = 100 + u64::from(p.keepalive_ms % 2000);
    c.keepalive_interval = Duration::from_millis(interval);
    c.keepalive_timeout =
        Duration::from_millis(interval + 1 + u64::from(p.timeout_extra_ms % 5000));
    c.standby_close = Duration::from_millis(u64::from(p.standby_ms));
    let min = 1 + u64::from(p.reconnect_ms);
    c.reconnect_min = Duration::from_millis(min);
    c.reconnect_max = Duration::from_millis(min * (1 + u64::from(p.reconnect_factor % 8)));
    c.rng_seed = p.seed ^ role_number(role);
    c.shared_secret = match (p.secret % 4, role) {
        (2, _) | (3, Role::Server) => SharedSecret::new(b"fuzz secret"),
        _ => None,
    };
    c
}

fn role_number(role: Role) -> u64 {
    match role {
        Role::Server => 0,
        Role::Client(c) => u64::from(c.number()),
    }
}

/// Byte `offset` of the stream written by `conn` of `node`: a header naming
/// the sender, then a pattern, so a receiver can check every byte.
fn app_byte(node: usize, conn: ConnId, offset: usize) -> u8 {
    if offset == 0 {
        node as u8
    } else if offset < HEADER {
        conn.0.to_be_bytes()[offset - 1]
    } else {
        (offset as u64)
            .wrapping_mul(0x9e37_79b9)
            .wrapping_add(conn.0 * 31 + node as u64 * 7)
            .to_le_bytes()[1]
    }
}

impl World {
    fn new(p: &Params) -> World {
        let origin = Instant::now();
        let mut roles = vec![Role::Server, Role::Client(ClientId::One)];
        if p.two_clients {
            roles.push(Role::Client(ClientId::Two));
        }
        let nodes = roles
            .into_iter()
            .map(|role| {
                let cfg = config(role, p);
                let max_message = cfg.max_message;
                let listens = cfg.listens.len();
                Node {
                    ep: Endpoint::new(cfg, origin).expect("the harness builds valid configs"),
                    conns: BTreeMap::new(),
                    listening: vec![false; listens],
                    connecting: false,
                    shut_down: false,
                    max_message,
                }
            })
            .collect();
        World {
            origin,
            now: origin,
            nodes,
            wires: Vec::new(),
            owners: BTreeMap::new(),
            hostile_links: Vec::new(),
            next_link: 1,
            tokens: [0; 3],
            proofs: Vec::new(),
            nonces: Vec::new(),
            next_random: p.seed,
            hostile: false,
            lossy: false,
            sent: BTreeMap::new(),
            window: u64::from(config(Role::Server, p).stream_window),
            eager_write: p.eager_write,
            secret_mode: p.secret % 4,
        }
    }

    fn node_index(&self, sel: NodeSel) -> usize {
        match sel {
            NodeSel::Server => 0,
            NodeSel::One => 1,
            NodeSel::Two => self.nodes.len() - 1,
        }
    }

    /// What the runtime reports for a new link: fresh nonce and token (a
    /// counter mixed by SplitMix64; they only need to differ).
    fn link_up(&mut self, certified: Certified) -> LinkUp {
        let mut draw = || {
            self.next_random = self.next_random.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.next_random;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        };
        let mut nonce = [0u8; 32];
        for chunk in nonce.chunks_mut(8) {
            chunk.copy_from_slice(&draw().to_be_bytes());
        }
        let token = u128::from(draw()) << 64 | u128::from(draw());
        LinkUp {
            peer: std::net::SocketAddr::from(([127, 0, 0, 1], 9)),
            certified,
            nonce,
            token,
        }
    }

    /// Records the proofs and nonces in an honest message, for replays.
    fn snoop(&mut self, msg: &[u8]) {
        for f in frame::frames(msg).flatten() {
            let (list, value) = match f {
                Frame::AuthProof { proof } => (&mut self.proofs, proof),
                Frame::AuthChallenge { nonce } => (&mut self.nonces, nonce),
                Frame::Hello(Hello {
                    nonce: Some(nonce), ..
                }) => (&mut self.nonces, nonce),
                _ => continue,
            };
            if list.len() < 8 {
                list.push(value);
            }
        }
    }

    fn new_link(&mut self) -> LinkId {
        let l = LinkId(self.next_link);
        self.next_link += 1;
        l
    }

    /// The `pick`-th conn of `node` (cyclically) among those `want` accepts.
    fn pick_conn(&self, node: usize, pick: u8, want: impl Fn(&Conn) -> bool) -> Option<ConnId> {
        let ids: Vec<ConnId> = self.nodes[node]
            .conns
            .iter()
            .filter(|(_, c)| want(c))
            .map(|(id, _)| *id)
            .collect();
        if ids.is_empty() {
            None
        } else {
            Some(ids[usize::from(pick) % ids.len()])
        }
    }

    fn pick_wire(&self, pick: u8) -> Option<usize> {
        if self.wires.is_empty() {
            None
        } else {
            Some(usize::from(pick) % self.wires.len())
        }
    }

    // ---- the runtime's side of the drain contract ----

    /// Drains every node's outputs and transmissions until nothing moves,
    /// then runs the checks.
    fn drain(&mut self) {
        for round in 0.. {
            assert!(round < 10_000, "outputs and transmissions never stop");
            let mut moved = false;
            for n in 0..self.nodes.len() {
                while let Some(out) = self.nodes[n].ep.poll_output() {
                    moved = true;
                    self.on_output(n, out);
                }
            }
            for w in 0..self.wires.len() {
                moved |= self.transmit(w);
            }
            for i in 0..self.hostile_links.len() {
                let link = self.hostile_links[i];
                moved |= self.transmit_discard(0, link);
            }
            moved |= self.propagate_closes();
            if !moved {
                // Every input is followed by a drain: check after each one,
                // not just after each operation.
                self.check();
                return;
            }
        }
    }

    fn on_output(&mut self, n: usize, out: Output) {
        let is_client = n != 0;
        match out {
            Output::ConnectServer => {
                let node = &mut self.nodes[n];
                assert!(is_client, "ConnectServer from the server");
                assert!(!node.shut_down, "ConnectServer after shutdown");
                assert!(
                    !node.connecting,
                    "a second ConnectServer while one is outstanding"
                );
                node.connecting = true;
            }
            Output::AbandonConnect => {
                let node = &mut self.nodes[n];
                assert!(is_client, "AbandonConnect from the server");
                assert!(
                    node.connecting,
                    "AbandonConnect with no ConnectServer outstanding"
                );
                node.connecting = false;
            }
            Output::CloseLink { link, reason } => {
                assert!(!reason.is_empty());
                self.on_close_link(n, link);
            }
            Output::Dial { conn, tunnel } => {
                let node = &mut self.nodes[n];
                assert!(!node.shut_down, "Dial after shutdown");
                assert!(
                    tunnel.0 < node.ep.config().connects.len(),
                    "Dial of {tunnel:?}"
                );
                assert!(!node.conns.contains_key(&conn), "Dial reuses {conn}");
                node.conns.insert(conn, Conn::new(ConnState::Dialing));
            }
            Output::StartListening { tunnel } => {
                let node = &mut self.nodes[n];
                assert!(!node.shut_down, "StartListening after shutdown");
                node.listening[tunnel.0] = true;
            }
            Output::StopListening { tunnel } => {
                self.nodes[n].listening[tunnel.0] = false;
            }
            Output::Deliver { conn } => {
                let state = self.nodes[n].conns.get(&conn).map(|c| c.state);
                assert_ne!(
                    state,
                    Some(ConnState::Dialing),
                    "Deliver for {conn} before its dial"
                );
                if state == Some(ConnState::Open) && self.eager_write {
                    self.write_app(n, conn, usize::MAX);
                }
            }
            Output::ShutdownWrite { conn } => {
                let node = &mut self.nodes[n];
                let chunk_empty = node.ep.recv_chunk(conn).is_empty();
                if let Some(c) = node.conns.get_mut(&conn) {
                    assert_ne!(
                        c.state,
                        ConnState::Dialing,
                        "ShutdownWrite for {conn} before its dial"
                    );
                    if c.state == ConnState::Open {
                        assert!(
                            chunk_empty,
                            "ShutdownWrite for {conn} with data left to write"
                        );
                        c.write_shut = true;
                    }
                }
            }
            Output::Close { conn, .. } => {
                let c = self.nodes[n]
                    .conns
                    .get_mut(&conn)
                    .unwrap_or_else(|| panic!("Close of {conn}, never handed out"));
                c.state = ConnState::Closed;
            }
            Output::ResumeReading { conn } => {
                assert!(
                    self.nodes[n].conns.contains_key(&conn),
                    "ResumeReading for unknown {conn}"
                );
            }
            Output::ActiveChanged { .. } => {}
        }
    }

    /// The protocol closed its own end of `link`.
    fn on_close_link(&mut self, n: usize, link: LinkId) {
        match self.owners.get(&link).copied() {
            Some(Owner::Client(w)) if n != 0 && self.wires[w].client_link == Some(link) => {
                self.wires[w].client_link = None;
                self.wires[w].to_client.clear();
            }
            Some(Owner::Server(w)) if n == 0 && self.wires[w].server_link == Some(link) => {
                self.wires[w].server_link = None;
                self.wires[w].to_server.clear();
            }
            Some(Owner::Hostile) if n == 0 => {
                self.hostile_links.retain(|l| *l != link);
            }
            // Links the runtime no longer knows are ignored.
            _ => {}
        }
    }

    /// A closed end's peer notices once the messages sent before the close
    /// frame are delivered; a broken wire's ends notice only when told.
    fn propagate_closes(&mut self) -> bool {
        let now = self.now;
        let mut moved = false;
        for w in 0..self.wires.len() {
            let wire = &mut self.wires[w];
            if wire.broken {
                continue;
            }
            if wire.client_link.is_none() && wire.to_server.is_empty() {
                if let Some(sl) = wire.server_link.take() {
                    wire.to_client.clear();
                    self.nodes[0]
                        .ep
                        .handle_link_down(sl, "closed by the client", now);
                    moved = true;
                }
            }
            let wire = &mut self.wires[w];
            if wire.server_link.is_none() && !wire.hostile_server && wire.to_client.is_empty() {
                if let Some(cl) = wire.client_link.take() {
                    wire.to_server.clear();
                    let c = wire.client;
                    self.nodes[c]
                        .ep
                        .handle_link_down(cl, "closed by the server", now);
                    moved = true;
                }
            }
        }
        moved
    }

    /// Both ends of wire `w` send what they have.
    fn transmit(&mut self, w: usize) -> bool {
        let now = self.now;
        let mut moved = false;
        let c = self.wires[w].client;
        if let Some(cl) = self.wires[w].client_link {
            let max = self.nodes[c].max_message;
            let mut buf = Vec::new();
            for i in 0.. {
                assert!(i < 100_000, "poll_transmit never returns false");
                buf.clear();
                if !self.nodes[c].ep.poll_transmit(cl, now, &mut buf) {
                    break;
                }
                moved = true;
                let mut opened = self.wires[w].client_opened;
                check_message(&buf, max, &mut opened, true, &mut [0; 3], c);
                self.wires[w].client_opened = opened;
                self.snoop(&buf);
                self.track_sent(w, true, &buf);
                // A hostile server, a broken wire or a closed server end
                // swallows the message.
                let wire = &mut self.wires[w];
                if !wire.broken && wire.server_link.is_some() {
                    wire.to_server.push_back(buf.clone());
                }
            }
        }
        if let Some(sl) = self.wires[w].server_link {
            let max = self.nodes[0].max_message;
            let mut buf = Vec::new();
            for i in 0.. {
                assert!(i < 100_000, "poll_transmit never returns false");
                buf.clear();
                if !self.nodes[0].ep.poll_transmit(sl, now, &mut buf) {
                    break;
                }
                moved = true;
                let mut opened = self.wires[w].server_opened;
                check_message(&buf, max, &mut opened, false, &mut self.tokens, c);
                self.wires[w].server_opened = opened;
                // A secret on the server only: no client (nor the fuzzer,
                // injecting on this wire) can ever prove it.
                if self.secret_mode == 3 {
                    assert!(
                        !frame::frames(&buf).any(|f| matches!(f, Ok(Frame::Welcome(_)))),
                        "a client without the secret got a Welcome"
                    );
                }
                self.snoop(&buf);
                self.track_sent(w, false, &buf);
                let wire = &mut self.wires[w];
                if !wire.broken && wire.client_link.is_some() {
                    wire.to_client.push_back(buf.clone());
                }
            }
        }
        moved
    }

    /// Sends from `link` of node `n` into the void (a hostile peer's link).
    fn transmit_discard(&mut self, n: usize, link: LinkId) -> bool {
        let now = self.now;
        let max = self.nodes[n].max_message;
        let mut buf = Vec::new();
        let mut moved = false;
        for i in 0.. {
            assert!(i < 100_000, "poll_transmit never returns false");
            buf.clear();
            if !self.nodes[n].ep.poll_transmit(link, now, &mut buf) {
                break;
            }
            moved = true;
            check_message(&buf, max, &mut true, n != 0, &mut [0; 3], 0);
            // The fuzzer has no secret: with one on the server, its links
            // never get a Welcome, whatever it replays or makes up.
            if n == 0 && self.secret_mode >= 2 {
                assert!(
                    !frame::frames(&buf).any(|f| matches!(f, Ok(Frame::Welcome(_)))),
                    "a hostile link got a Welcome from a server with a secret"
                );
            }
        }
        moved
    }

    /// Delivers one queued message of wire `w`; false if none.
    fn deliver_one(&mut self, w: usize, to_server: bool) -> bool {
        let now = self.now;
        let wire = &mut self.wires[w];
        if wire.broken {
            return false;
        }
        let (msg, node, link) = if to_server {
            match (wire.to_server.pop_front(), wire.server_link) {
                (Some(m), Some(l)) => (m, 0, l),
                _ => return false,
            }
        } else {
            match (wire.to_client.pop_front(), wire.client_link) {
                (Some(m), Some(l)) => (m, wire.client, l),
                _ => return false,
            }
        };
        self.track_delivered(w, to_server, &msg);
        self.nodes[node].ep.handle_message(link, &msg, now);
        true
    }

    /// Checks one message an honest end sent on wire `w` against what that
    /// end sent and heard before in the same session: no Data for a stream
    /// after it reset it or processed the peer's Reset, none past its Fin,
    /// none beyond the credit the peer ever granted (its highest Ack plus
    /// the window), and a Fin never below data already sent.
    fn track_sent(&mut self, w: usize, from_client: bool, msg: &[u8]) {
        if self.hostile {
            return;
        }
        let client = self.wires[w].client;
        let me = usize::from(!from_client);
        let window = self.window;
        for f in frame::frames(msg) {
            let f = f.expect("check_message decoded it");
            match f {
                Frame::Welcome(welcome) => {
                    self.wires[w].token = Some(welcome.token);
                    continue;
                }
                Frame::Hello(_)
                | Frame::Keepalive
                | Frame::ControlAck { .. }
                | Frame::AuthChallenge { .. }
                | Frame::AuthProof { .. }
                | Frame::AuthRefused { .. } => continue,
                _ => {}
            }
            let who = if from_client { "client" } else { "server" };
            let token = self.wires[w]
                .token
                .unwrap_or_else(|| panic!("{who} sent {f:?} on wire {w} before the Welcome"));
            let track = self.sent.entry((client, token)).or_default();
            let (ours, theirs) = if me == 0 {
                let (a, b) = track.dirs.split_at_mut(1);
                (&mut a[0], &b[0])
            } else {
                let (a, b) = track.dirs.split_at_mut(1);
                (&mut b[0], &a[0])
            };
            match f {
                Frame::Data {
                    stream,
                    offset,
                    payload,
                } => {
                    let end = offset + payload.len() as u64;
                    assert!(
                        !ours.resets.contains(&stream),
                        "{who} sent data for {stream} after resetting it"
                    );
                    assert!(
                        !ours.resets_received.contains(&stream),
                        "{who} sent data for {stream} after processing the peer's reset"
                    );
                    if let Some(fin) = ours.fins.get(&stream) {
                        assert!(
                            end <= *fin,
                            "{who} sent {stream} data to {end} past its fin at {fin}"
                        );
                    }
                    let acked = theirs.acks.get(&stream).copied().unwrap_or(0);
                    assert!(
                        end <= acked + window,
                        "{who} sent {stream} data to {end}: the peer acked {acked}, window {window}"
                    );
                    let e = ours.data_end.entry(stream).or_default();
                    *e = (*e).max(end);
                }
                Frame::Ack { stream, consumed } => {
                    let a = ours.acks.entry(stream).or_default();
                    *a = (*a).max(consumed);
                }
                Frame::Control {
                    body:
                        Control::Fin {
                            stream,
                            final_offset,
                        },
                    ..
                } => {
                    let sent = ours.data_end.get(&stream).copied().unwrap_or(0);
                    assert!(
                        final_offset >= sent,
                        "{who} sent a fin for {stream} at {final_offset} after data to {sent}"
                    );
                    let old = *ours.fins.entry(stream).or_insert(final_offset);
                    assert_eq!(old, final_offset, "{who} moved the fin of {stream}");
                }
                Frame::Control {
                    body: Control::Reset { stream, .. },
                    ..
                } => {
                    ours.resets.insert(stream);
                }
                _ => {}
            }
        }
    }

    /// Notes the Resets in a message about to be delivered on wire `w`.
    /// Only while transport and peers are honest: then every frame
    /// delivered is processed, in order.
    fn track_delivered(&mut self, w: usize, to_server: bool, msg: &[u8]) {
        if self.hostile || self.lossy {
            return;
        }
        let Some(token) = self.wires[w].token else {
            return;
        };
        let receiver = usize::from(to_server);
        let client = self.wires[w].client;
        for f in frame::frames(msg).flatten() {
            if let Frame::Control {
                body: Control::Reset { stream, .. },
                ..
            } = f
            {
                self.sent.entry((client, token)).or_default().dirs[receiver]
                    .resets_received
                    .insert(stream);
            }
        }
    }

    /// Delivers everything until the network is quiet (bounded).
    fn settle(&mut self, write_apps: bool) {
        for _ in 0..64 {
            let mut moved = false;
            for w in 0..self.wires.len() {
                while self.deliver_one(w, true) {
                    moved = true;
                    self.drain();
                }
                while self.deliver_one(w, false) {
                    moved = true;
                    self.drain();
                }
            }
            if write_apps {
                for n in 0..self.nodes.len() {
                    let ids: Vec<ConnId> = self.nodes[n]
                        .conns
                        .iter()
                        .filter(|(_, c)| c.state == ConnState::Open)
                        .map(|(id, _)| *id)
                        .collect();
                    for id in ids {
                        moved |= self.write_app(n, id, usize::MAX) > 0;
                        self.drain();
                    }
                }
            }
            if !moved {
                return;
            }
        }
    }

    /// The socket of `conn` takes up to `max` bytes of `recv_chunk`, as
    /// many times as it offers more. Returns the bytes written.
    fn write_app(&mut self, n: usize, conn: ConnId, mut max: usize) -> usize {
        let now = self.now;
        let mut total = 0;
        while max > 0 {
            let node = &mut self.nodes[n];
            let chunk = node.ep.recv_chunk(conn);
            if chunk.is_empty() {
                break;
            }
            let k = chunk.len().min(max).min(MAX_IO);
            let bytes = chunk[..k].to_vec();
            let c = node.conns.get_mut(&conn).expect("written conns are known");
            assert_eq!(
                c.state,
                ConnState::Open,
                "data for {conn} in state {:?}",
                c.state
            );
            assert!(!c.write_shut, "data for {conn} after ShutdownWrite");
            c.received.extend_from_slice(&bytes);
            node.ep.handle_app_written(conn, k, now);
            max -= k;
            total += k;
        }
        if total > 0 && !self.hostile {
            self.check_stream(n, conn);
        }
        total
    }

    /// Every byte `conn` of node `n` received is the next byte its peer sent.
    fn check_stream(&self, n: usize, conn: ConnId) {
        let received = &self.nodes[n].conns[&conn].received;
        if received.len() < HEADER {
            return;
        }
        let src = usize::from(received[0]);
        let mut id = [0u8; 8];
        id.copy_from_slice(&received[1..HEADER]);
        let src_conn = ConnId(u64::from_be_bytes(id));
        let sent = self
            .nodes
            .get(src)
            .and_then(|node| node.conns.get(&src_conn))
            .map(|c| c.sent.as_slice())
            .unwrap_or_else(|| {
                panic!("node {n} {conn} got bytes from unknown node {src} {src_conn}")
            });
        assert_ne!(src, n, "node {n} {conn} got its own node's bytes");
        assert!(
            received.len() <= sent.len() && received[..] == sent[..received.len()],
            "node {n} {conn}: {} bytes received are not a prefix of the {} bytes node {src} {src_conn} sent",
            received.len(),
            sent.len()
        );
    }

    // ---- operations ----

    fn apply(&mut self, op: Op) {
        let now = self.now;
        match op {
            Op::Connect { client, outcome } => {
                let c = if client { 1 } else { self.nodes.len() - 1 };
                if !self.nodes[c].connecting {
                    return;
                }
                self.nodes[c].connecting = false;
                match outcome {
                    ConnectOutcome::Fail => self.nodes[c].ep.handle_link_failed("refused", now),
                    ConnectOutcome::Ok | ConnectOutcome::Hostile => {
                        let hostile = matches!(outcome, ConnectOutcome::Hostile);
                        let cl = self.new_link();
                        let w = self.wires.len();
                        let mut wire = Wire {
                            client: c,
                            client_link: Some(cl),
                            hostile_server: hostile,
                            ..Wire::default()
                        };
                        self.owners.insert(cl, Owner::Client(w));
                        if hostile {
                            self.hostile = true;
                        } else {
                            let sl = self.new_link();
                            wire.server_link = Some(sl);
                            self.owners.insert(sl, Owner::Server(w));
                        }
                        let sl = wire.server_link;
                        self.wires.push(wire);
                        let up = self.link_up(Certified::Unbound);
                        self.nodes[c].ep.handle_link_up(cl, up, now);
                        if let Some(sl) = sl {
                            let up = self.link_up(Certified::Unbound);
                            self.nodes[0].ep.handle_link_up(sl, up, now);
                        }
                    }
                }
            }
            Op::Break { wire, tell } => {
                let Some(w) = self.pick_wire(wire) else {
                    return;
                };
                let wire = &mut self.wires[w];
                wire.broken = true;
                wire.to_server.clear();
                wire.to_client.clear();
                if tell & 1 != 0 {
                    if let Some(cl) = wire.client_link.take() {
                        let c = wire.client;
                        self.nodes[c]
                            .ep
                            .handle_link_down(cl, "connection reset", now);
                        self.drain();
                    }
                }
                let wire = &mut self.wires[w];
                if tell & 2 != 0 {
                    if let Some(sl) = wire.server_link.take() {
                        self.nodes[0]
                            .ep
                            .handle_link_down(sl, "connection reset", now);
                    }
                }
            }
            Op::Deliver {
                wire,
                to_server,
                count,
            } => {
                let Some(w) = self.pick_wire(wire) else {
                    return;
                };
                for _ in 0..count.max(1) {
                    if !self.deliver_one(w, to_server) {
                        break;
                    }
                    self.drain();
                }
            }
            Op::Settle { write_apps } => self.settle(write_apps),
            Op::Accept { node, tunnel } => {
                let n = self.node_index(node);
                let listens = self.nodes[n].listening.len();
                let t = usize::from(tunnel) % (listens + 1);
                if t < listens && !self.nodes[n].listening[t] {
                    return; // no listen socket to accept on
                }
                let got = self.nodes[n].ep.handle_accept(TunnelId(t), now);
                if t >= listens {
                    assert_eq!(got, None, "accept on a tunnel that does not exist");
                }
                if let Some(conn) = got {
                    assert!(!self.nodes[n].shut_down, "accept after shutdown");
                    let fresh = self.nodes[n].conns.insert(conn, Conn::new(ConnState::Open));
                    assert!(fresh.is_none(), "handle_accept reuses {conn}");
                }
            }
            Op::DialResult { node, pick, ok } => {
                let n = self.node_index(node);
                let Some(conn) = self.pick_conn(n, pick, |c| c.state == ConnState::Dialing) else {
                    return;
                };
                let result = if ok {
                    Ok(())
                } else {
                    Err("connection refused".to_string())
                };
                self.nodes[n].ep.handle_dial_result(conn, result, now);
                if let Some(c) = self.nodes[n].conns.get_mut(&conn) {
                    if c.state == ConnState::Dialing {
                        c.state = if ok {
                            ConnState::Open
                        } else {
                            ConnState::Closed
                        };
                    }
                }
            }
            Op::AppData {
                node,
                pick,
                len,
                overread,
            } => {
                let n = self.node_index(node);
                let Some(conn) =
                    self.pick_conn(n, pick, |c| c.state == ConnState::Open && !c.eof_read)
                else {
                    return;
                };
                let node = &mut self.nodes[n];
                let cap = node.ep.send_capacity(conn);
                let want = usize::from(len) % (MAX_IO + 1);
                let len = if overread { want } else { want.min(cap) };
                if len == 0 && !overread {
                    return; // the runtime stops reading at capacity 0
                }
                let c = node.conns.get_mut(&conn).expect("picked");
                let start = c.sent.len();
                let data: Vec<u8> = (start..start + len).map(|o| app_byte(n, conn, o)).collect();
                // As the runtime does: straight into the send ring when it
                // offers room (claiming `len` when overreading, which must be
                // cut to the room), the rest through handle_app_data.
                let taken = match node.ep.app_read_buf(conn) {
                    Some(room) => {
                        let k = room.len().min(len);
                        room[..k].copy_from_slice(&data[..k]);
                        let t = node
                            .ep
                            .handle_app_read(conn, if overread { len } else { k }, now);
                        assert!(t <= k, "took {t} bytes into a room of {k}");
                        if t == k && k < len {
                            t + node.ep.handle_app_data(conn, &data[k..], now)
                        } else {
                            t
                        }
                    }
                    None => node.ep.handle_app_data(conn, &data, now),
                };
                assert!(taken <= len, "took {taken} of {len}");
                if len <= cap {
                    assert_eq!(
                        taken, len,
                        "{conn} took {taken} of {len} with capacity {cap}"
                    );
                }
                c.sent.extend_from_slice(&data[..taken]);
            }
            Op::AppWritten { node, pick, max } => {
                let n = self.node_index(node);
                let Some(conn) = self.pick_conn(n, pick, |c| c.state == ConnState::Open) else {
                    return;
                };
                self.write_app(n, conn, usize::from(max).max(1));
            }
            Op::AppEof { node, pick } => {
                let n = self.node_index(node);
                let Some(conn) =
                    self.pick_conn(n, pick, |c| c.state == ConnState::Open && !c.eof_read)
                else {
                    return;
                };
                self.nodes[n].conns.get_mut(&conn).expect("picked").eof_read = true;
                self.nodes[n].ep.handle_app_eof(conn, now);
            }
            Op::AppReset { node, pick } => {
                let n = self.node_index(node);
                let Some(conn) = self.pick_conn(n, pick, |c| c.state == ConnState::Open) else {
                    return;
                };
                self.nodes[n].conns.get_mut(&conn).expect("picked").state = ConnState::Closed;
                self.nodes[n]
                    .ep
                    .handle_app_reset(conn, "connection reset by peer", now);
            }
            Op::Advance { ms, network } => {
                let target = self.now + Duration::from_millis(u64::from(ms));
                self.run_until(target, network);
            }
            Op::NextDeadline => {
                let next = self.nodes.iter().filter_map(|n| n.ep.poll_timeout()).min();
                if let Some(t) = next {
                    self.now = self.now.max(t);
                    self.fire_due();
                }
            }
            Op::TimeoutNow { node } => {
                let n = self.node_index(node);
                self.nodes[n].ep.handle_timeout(now);
            }
            Op::Shutdown { node } => {
                let n = self.node_index(node);
                self.nodes[n].ep.handle_shutdown(now);
                self.nodes[n].shut_down = true;
            }
            Op::Stale { node, pick } => {
                let n = self.node_index(node);
                let closed = self.pick_conn(n, pick, |c| c.state == ConnState::Closed);
                let never = ConnId(1_000_000 + u64::from(pick));
                let ep = &mut self.nodes[n].ep;
                for conn in closed.into_iter().chain([never]) {
                    assert_eq!(ep.send_capacity(conn), 0);
                    assert!(ep.recv_chunk(conn).is_empty());
                    assert_eq!(ep.handle_app_data(conn, b"late", now), 0);
                    ep.handle_app_written(conn, 4, now);
                    ep.handle_app_eof(conn, now);
                    ep.handle_dial_result(conn, Ok(()), now);
                    ep.handle_app_reset(conn, "late", now);
                }
                let link = LinkId(1_000_000 + u64::from(pick));
                ep.handle_message(link, b"\x0c\0\0\0\0", now);
                ep.handle_link_down(link, "never was", now);
                let mut buf = Vec::new();
                assert!(!ep.poll_transmit(link, now, &mut buf));
            }
            Op::HostileLinkUp { certified } => {
                self.hostile = true;
                let link = self.new_link();
                self.owners.insert(link, Owner::Hostile);
                self.hostile_links.push(link);
                let certified = match certified {
                    0 => Certified::Unbound,
                    1 => Certified::Client(ClientId::One),
                    2 => Certified::Client(ClientId::Two),
                    _ => Certified::Neither,
                };
                let up = self.link_up(certified);
                self.nodes[0].ep.handle_link_up(link, up, now);
            }
            Op::HostileLinkDown { pick } => {
                if self.hostile_links.is_empty() {
                    return;
                }
                let i = usize::from(pick) % self.hostile_links.len();
                let link = self.hostile_links.remove(i);
                self.nodes[0]
                    .ep
                    .handle_link_down(link, "hostile peer left", now);
            }
            Op::Hostile {
                target,
                pick,
                frames,
            } => {
                let (n, link) = match target {
                    HostileTarget::ServerHostileLink => {
                        if self.hostile_links.is_empty() {
                            return;
                        }
                        (
                            0,
                            self.hostile_links[usize::from(pick) % self.hostile_links.len()],
                        )
                    }
                    HostileTarget::ServerWire => {
                        let Some(w) = self.pick_wire(pick) else {
                            return;
                        };
                        let Some(l) = self.wires[w].server_link else {
                            return;
                        };
                        (0, l)
                    }
                    HostileTarget::ClientWire => {
                        let Some(w) = self.pick_wire(pick) else {
                            return;
                        };
                        let Some(l) = self.wires[w].client_link else {
                            return;
                        };
                        (self.wires[w].client, l)
                    }
                    HostileTarget::Unknown => (
                        usize::from(pick) % self.nodes.len(),
                        LinkId(2_000_000 + u64::from(pick)),
                    ),
                };
                self.hostile = true;
                let msg = self.hostile_message(&frames);
                self.nodes[n].ep.handle_message(link, &msg, now);
            }
            Op::Tamper {
                wire,
                to_server,
                how,
            } => {
                let Some(w) = self.pick_wire(wire) else {
                    return;
                };
                let wire = &mut self.wires[w];
                if wire.broken {
                    return;
                }
                let q = if to_server {
                    &mut wire.to_server
                } else {
                    &mut wire.to_client
                };
                let Some(head) = q.front_mut() else { return };
                match how {
                    Tamper::Drop => {
                        q.pop_front();
                        self.lossy = true;
                    }
                    Tamper::Duplicate => {
                        let copy = head.clone();
                        q.push_front(copy);
                        self.lossy = true;
                    }
                    Tamper::Reorder => {
                        if q.len() >= 2 {
                            q.swap(0, 1);
                            self.lossy = true;
                        }
                    }
                    Tamper::Split { frame: pick } => {
                        let mut bounds = Vec::new();
                        let mut at = 0;
                        while let Ok((_, used)) = Frame::decode(&head[at..]) {
                            at += used;
                            if at < head.len() {
                                bounds.push(at);
                            }
                        }
                        if bounds.is_empty() {
                            return;
                        }
                        let cut = bounds[usize::from(pick) % bounds.len()];
                        let tail = head.split_off(cut);
                        q.insert(1, tail);
                    }
                    Tamper::Merge => {
                        if q.len() >= 2 {
                            let second = q.remove(1).expect("two queued");
                            q[0].extend_from_slice(&second);
                        }
                    }
                    Tamper::Scatter { cut, overlap } => {
                        // Each scatter can double the bytes of a message:
                        // stop before repeated ones make it huge.
                        if head.len() > MAX_SCATTERED {
                            return;
                        }
                        let mut out = Vec::with_capacity(head.len() + 64);
                        let mut at = 0;
                        while at < head.len() {
                            let Ok((f, used)) = Frame::decode(&head[at..]) else {
                                out.extend_from_slice(&head[at..]);
                                break;
                            };
                            match f {
                                Frame::Data {
                                    stream,
                                    offset,
                                    payload,
                                } if payload.len() >= 2 => {
                                    let len = payload.len();
                                    // The first piece ends at `end` (1..len);
                                    // the second starts at or before it.
                                    let end = 1 + usize::from(cut) % (len - 1);
                                    let start = end - usize::from(overlap) % (end + 1);
                                    Frame::Data {
                                        stream,
                                        offset: offset + start as u64,
                                        payload: &payload[start..],
                                    }
                                    .encode(&mut out);
                                    Frame::Data {
                                        stream,
                                        offset,
                                        payload: &payload[..end],
                                    }
                                    .encode(&mut out);
                                }
                                _ => out.extend_from_slice(&head[at..at + used]),
                            }
                            at += used;
                        }
                        *head = out;
                    }
                    Tamper::Flip { at, xor } => {
                        if xor != 0 && !head.is_empty() {
                            let i = usize::from(at) % head.len();
                            head[i] ^= xor;
                            self.hostile = true;
                        }
                    }
                    Tamper::Truncate { at } => {
                        // Already cut to nothing.
                        if head.is_empty() {
                            return;
                        }
                        let i = usize::from(at) % head.len();
                        head.truncate(i);
                        self.hostile = true;
                    }
                }
            }
        }
    }

    /// Advances the clock to `target`, firing each deadline on the way.
    fn run_until(&mut self, target: Instant, network: bool) {
        for i in 0.. {
            assert!(
                i < 20_000,
                "deadlines keep coming due at {:?}",
                self.now - self.origin
            );
            let next = self.nodes.iter().filter_map(|n| n.ep.poll_timeout()).min();
            match next {
                Some(t) if t <= target => {
                    self.now = self.now.max(t);
                    self.fire_due();
                    if network {
                        self.settle(false);
                    }
                }
                _ => break,
            }
        }
        self.now = target;
    }

    /// `handle_timeout` on every node with a deadline due now.
    fn fire_due(&mut self) {
        let now = self.now;
        for n in 0..self.nodes.len() {
            if self.nodes[n].ep.poll_timeout().is_some_and(|t| t <= now) {
                self.nodes[n].ep.handle_timeout(now);
                self.drain();
            }
        }
    }

    fn hostile_message(&self, frames: &[FuzzFrame]) -> Vec<u8> {
        let mut out = Vec::new();
        for f in frames.iter().take(64) {
            let seq = |s: u8| u64::from(s);
            let stream = |s: u8| StreamId(u64::from(s));
            let who = |w: Who| match w {
                Who::None => None,
                Who::One => Some(ClientId::One),
                Who::Two => Some(ClientId::Two),
            };
            match f {
                FuzzFrame::Raw(bytes) => out.extend_from_slice(&bytes[..bytes.len().min(4096)]),
                FuzzFrame::Hello {
                    bad_version,
                    client,
                    token,
                    epoch,
                    ctl_rx,
                    window,
                    nonce,
                } => Frame::Hello(Hello {
                    version: if *bad_version { 7 } else { PROTOCOL_VERSION },
                    client: if *client {
                        ClientId::One
                    } else {
                        ClientId::Two
                    },
                    token: match token {
                        1 | 2 => self.tokens[usize::from(*token)],
                        t => u128::from(*t),
                    },
                    epoch: u64::from(*epoch),
                    ctl_rx: u64::from(*ctl_rx),
                    window: u32::from(*window) * 4,
                    nonce: nonce
                        .map(|n| self.nonces.get(usize::from(n)).copied().unwrap_or([n; 32])),
                })
                .encode(&mut out),
                FuzzFrame::Welcome {
                    bad_version,
                    token,
                    resumed,
                    ctl_rx,
                    window,
                    grace_ms,
                    active,
                    epoch,
                } => Frame::Welcome(Welcome {
                    version: if *bad_version { 7 } else { PROTOCOL_VERSION },
                    token: match token {
                        1 | 2 => self.tokens[usize::from(*token)],
                        t => u128::from(*t),
                    },
                    resumed: *resumed,
                    ctl_rx: u64::from(*ctl_rx),
                    window: u32::from(*window) * 4,
                    grace_ms: u32::from(*grace_ms),
                    active: who(*active),
                    epoch: u64::from(*epoch),
                })
                .encode(&mut out),
                FuzzFrame::Open {
                    seq: s,
                    stream: st,
                    name,
                } => frame::encode_control(
                    &mut out,
                    seq(*s).max(1),
                    &Control::Open {
                        stream: stream(*st),
                        tunnel: NAMES[usize::from(*name) % NAMES.len()],
                    },
                ),
                FuzzFrame::OpenResult {
                    seq: s,
                    stream: st,
                    accepted,
                } => frame::encode_control(
                    &mut out,
                    seq(*s).max(1),
                    &Control::OpenResult {
                        stream: stream(*st),
                        accepted: *accepted,
                        reason: "hostile",
                    },
                ),
                FuzzFrame::Data {
                    stream: st,
                    offset,
                    len,
                } => {
                    let len = usize::from(*len) % 9000;
                    let payload: Vec<u8> = (0..len).map(|i| i as u8).collect();
                    Frame::Data {
                        stream: stream(*st),
                        offset: u64::from(*offset),
                        payload: &payload,
                    }
                    .encode(&mut out);
                }
                FuzzFrame::Ack {
                    stream: st,
                    consumed,
                } => Frame::Ack {
                    stream: stream(*st),
                    consumed: u64::from(*consumed),
                }
                .encode(&mut out),
                FuzzFrame::Fin {
                    seq: s,
                    stream: st,
                    final_offset,
                } => frame::encode_control::<&str>(
                    &mut out,
                    seq(*s).max(1),
                    &Control::Fin {
                        stream: stream(*st),
                        final_offset: u64::from(*final_offset),
                    },
                ),
                FuzzFrame::Reset {
                    seq: s,
                    stream: st,
                    code,
                } => frame::encode_control(
                    &mut out,
                    seq(*s).max(1),
                    &Control::Reset {
                        stream: stream(*st),
                        code: match code % 4 {
                            0 => ResetCode::Application,
                            1 => ResetCode::Switched,
                            2 => ResetCode::SessionEnded,
                            _ => ResetCode::Protocol,
                        },
                        reason: "hostile",
                    },
                ),
                FuzzFrame::Claim { seq: s, epoch } => frame::encode_control::<&str>(
                    &mut out,
                    seq(*s).max(1),
                    &Control::Claim {
                        epoch: u64::from(*epoch),
                    },
                ),
                FuzzFrame::Active {
                    seq: s,
                    client,
                    epoch,
                    why,
                } => frame::encode_control::<&str>(
                    &mut out,
                    seq(*s).max(1),
                    &Control::Active {
                        client: who(*client),
                        epoch: u64::from(*epoch),
                        why: match why % 3 {
                            0 => ActiveWhy::Default,
                            1 => ActiveWhy::Claim,
                            _ => ActiveWhy::Failover,
                        },
                    },
                ),
                FuzzFrame::ControlAck { seq: s } => {
                    Frame::ControlAck { seq: seq(*s) }.encode(&mut out)
                }
                FuzzFrame::Keepalive => Frame::Keepalive.encode(&mut out),
                FuzzFrame::Goodbye { reason_len } => Frame::Goodbye {
                    reason: &"bye".repeat(usize::from(*reason_len)),
                }
                .encode(&mut out),
                FuzzFrame::AuthChallenge { nonce } => Frame::AuthChallenge {
                    nonce: self
                        .nonces
                        .get(usize::from(*nonce))
                        .copied()
                        .unwrap_or([*nonce; 32]),
                }
                .encode(&mut out),
                FuzzFrame::AuthProof { proof } => Frame::AuthProof {
                    proof: self
                        .proofs
                        .get(usize::from(*proof))
                        .copied()
                        .unwrap_or([*proof; 32]),
                }
                .encode(&mut out),
                FuzzFrame::AuthRefused { reason_len } => Frame::AuthRefused {
                    reason: &"no".repeat(usize::from(*reason_len)),
                }
                .encode(&mut out),
            }
        }
        out
    }

    // ---- checks after every operation ----

    fn check(&self) {
        for (n, node) in self.nodes.iter().enumerate() {
            let ep = &node.ep;
            if let Err(e) = ep.check_invariants() {
                panic!("node {n}: invariant broken: {e}");
            }
            let stats = ep.stats();
            if !self.hostile && !self.lossy {
                assert_eq!(
                    stats.protocol_errors, 0,
                    "node {n} closed a link for a protocol violation between honest peers"
                );
            }
            for (t, &bound) in node.listening.iter().enumerate() {
                assert_eq!(
                    ep.is_listening(TunnelId(t)),
                    bound,
                    "node {n}: is_listening({t}) disagrees with the outputs"
                );
            }
            if node.shut_down {
                assert!(
                    node.listening.iter().all(|l| !l),
                    "node {n} listens after shutdown"
                );
            }
            for (id, c) in &node.conns {
                let chunk = ep.recv_chunk(*id);
                match c.state {
                    ConnState::Closed => {
                        assert!(chunk.is_empty(), "node {n}: data for {id} after its close");
                        assert_eq!(
                            ep.send_capacity(*id),
                            0,
                            "node {n}: {id} readable after close"
                        );
                    }
                    ConnState::Dialing => {
                        assert!(chunk.is_empty(), "node {n}: data for {id} before its dial");
                    }
                    ConnState::Open => {}
                }
                if c.write_shut {
                    assert!(
                        chunk.is_empty(),
                        "node {n}: data for {id} after ShutdownWrite"
                    );
                }
                if c.eof_read {
                    assert_eq!(
                        ep.send_capacity(*id),
                        0,
                        "node {n}: {id} readable after EOF"
                    );
                }
            }
        }
    }
}

impl Conn {
    fn new(state: ConnState) -> Conn {
        Conn {
            state,
            eof_read: false,
            write_shut: false,
            sent: Vec::new(),
            received: Vec::new(),
        }
    }
}

/// One message from `poll_transmit`: non-empty, within the limit, all whole
/// frames. A client opens its link with Hello; the server sends nothing but
/// keepalives before its Welcome. `opened` tracks the handshake frame.
/// Records tokens from Welcomes.
fn check_message(
    msg: &[u8],
    max: usize,
    opened: &mut bool,
    from_client: bool,
    tokens: &mut [u128; 3],
    client: usize,
) {
    assert!(!msg.is_empty(), "poll_transmit returned true with nothing");
    assert!(
        msg.len() <= max,
        "a message of {} bytes, limit {max}",
        msg.len()
    );
    for f in frame::frames(msg) {
        let f = f.unwrap_or_else(|e| panic!("the endpoint sent an undecodable message: {e}"));
        if !*opened {
            match (&f, from_client) {
                (Frame::Hello(_), true)
                | (
                    Frame::Welcome(_) | Frame::AuthChallenge { .. } | Frame::AuthRefused { .. },
                    false,
                ) => *opened = true,
                (Frame::Keepalive, false) => {}
                _ => panic!("a link opened with {f:?}"),
            }
        }
        if let Frame::Welcome(w) = f {
            if !from_client && client < 3 {
                tokens[client] = w.token;
            }
        }
    }
}

fuzz_target!(|input: Input| {
    let mut world = World::new(&input.params);
    world.drain();
    for op in input.ops.into_iter().take(MAX_OPS) {
        world.apply(op);
        world.drain();
    }
});
