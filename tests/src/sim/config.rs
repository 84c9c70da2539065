//! The knobs of one simulated world: protocol timings, tunnels, network and
//! socket sizes, and how backends answer dials.

use std::time::Duration;

use tcpws_protocol::{ClientId, Config, Role, SharedSecret};

use super::Node;

/// How a backend behind a connect tunnel answers a dial.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dial {
    /// The TCP connect succeeds after the dial latency.
    Accept,
    /// The TCP connect is refused (ECONNREFUSED) after the dial latency.
    Refuse,
    /// The TCP connect hangs this long, then times out.
    Hang(Duration),
}

/// Latency and bandwidth of one client's WebSocket path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PathConfig {
    /// One-way latency of each message, drawn uniformly in this range.
    pub latency: (Duration, Duration),
    /// Bytes per second each way; `None` is unlimited.
    pub bandwidth: Option<u64>,
}

/// Everything a [`World`](super::World) is built from.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// `standbySocketCloseDurationSecs`.
    pub standby_close: Duration,
    pub resume_grace: Duration,
    /// `failoverAfterSecs`.
    pub failover_after: Duration,
    pub keepalive_interval: Duration,
    pub keepalive_timeout: Duration,
    pub reconnect_min: Duration,
    pub reconnect_max: Duration,
    pub stream_window: u32,
    pub max_message: usize,
    pub server_listens: Vec<String>,
    pub server_connects: Vec<String>,
    pub client_listens: Vec<String>,
    pub client_connects: Vec<String>,
    /// Per client (index 0 = client 1).
    pub paths: [PathConfig; 2],
    /// Bytes a WebSocket may have in flight each way before the sender stops
    /// calling `poll_transmit` (its socket buffer).
    pub link_buffer: usize,
    /// Bytes of socket buffer per direction of every app TCP connection.
    pub tcp_buffer: usize,
    /// Most bytes the fake runtime reads from a socket at once.
    pub read_chunk: usize,
    /// Time a TCP dial to a backend takes.
    pub dial_latency: (Duration, Duration),
    /// How long a WebSocket dial into a partition hangs before it fails.
    pub connect_timeout: Duration,
    /// Dial behaviour per (node, connect tunnel name); anything not listed accepts.
    pub backends: Vec<(Node, String, Dial)>,
    /// Nodes that are not started by [`World::new`](super::World::new).
    pub initially_down: Vec<Node>,
    /// Print every trace line to stderr as it happens.
    pub echo_trace: bool,
    /// Every node has the same shared secret (`sharedSecretFilePath`), so
    /// each handshake proves it both ways.
    pub shared_secret: bool,
    /// Client ids are bound to TLS certificates (`mutualTLSClientCertificates`):
    /// each client's links present its own.
    pub certificate_ids: bool,
}

fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

impl Default for SimConfig {
    /// The scenario defaults: short timers so failovers take seconds, a 64
    /// KiB stream window so flow control is exercised, a LAN-like network.
    fn default() -> SimConfig {
        let path = PathConfig {
            latency: (Duration::from_millis(1), Duration::from_millis(10)),
            bandwidth: None,
        };
        SimConfig {
            standby_close: Duration::from_secs(3),
            resume_grace: Duration::from_secs(5),
            failover_after: Duration::from_secs(2),
            keepalive_interval: Duration::from_secs(1),
            keepalive_timeout: Duration::from_secs(4),
            reconnect_min: Duration::from_millis(100),
            reconnect_max: Duration::from_secs(1),
            stream_window: 64 * 1024,
            max_message: 32 * 1024,
            server_listens: names(&["s1", "s2"]),
            server_connects: names(&["c1", "c2"]),
            client_listens: names(&["c1", "c2"]),
            client_connects: names(&["s1", "s2"]),
            paths: [path, path],
            link_buffer: 128 * 1024,
            tcp_buffer: 128 * 1024,
            read_chunk: 16 * 1024,
            dial_latency: (Duration::from_micros(100), Duration::from_millis(3)),
            connect_timeout: Duration::from_secs(2),
            backends: Vec::new(),
            initially_down: Vec::new(),
            echo_trace: false,
            shared_secret: false,
            certificate_ids: false,
        }
    }
}

impl SimConfig {
    /// The protocol config of `node`; `rng_seed` seeds its reconnect jitter.
    pub fn endpoint_config(&self, node: Node, rng_seed: u64) -> Config {
        let role = match node {
            Node::Server => Role::Server,
            Node::C1 => Role::Client(ClientId::One),
            Node::C2 => Role::Client(ClientId::Two),
        };
        let mut c = Config::new(role);
        let (listens, connects) = match node {
            Node::Server => (&self.server_listens, &self.server_connects),
            _ => (&self.client_listens, &self.client_connects),
        };
        c.listens = listens.clone();
        c.connects = connects.clone();
        c.standby_close = self.standby_close;
        c.stream_window = self.stream_window;
        c.resume_grace = self.resume_grace;
        c.failover_after = self.failover_after;
        c.connect_timeout = self.connect_timeout;
        c.keepalive_interval = self.keepalive_interval;
        c.keepalive_timeout = self.keepalive_timeout;
        c.reconnect_min = self.reconnect_min;
        c.reconnect_max = self.reconnect_max;
        c.max_message = self.max_message;
        c.rng_seed = rng_seed;
        if self.shared_secret {
            c.shared_secret = SharedSecret::new(b"the simulated nodes' shared secret");
        }
        c
    }

    /// The listen tunnel names of `node`.
    pub fn listens(&self, node: Node) -> &[String] {
        match node {
            Node::Server => &self.server_listens,
            _ => &self.client_listens,
        }
    }

    /// How the backend of `tunnel` behind `node` answers dials.
    pub fn dial(&self, node: Node, tunnel: &str) -> Dial {
        self.backends
            .iter()
            .rev()
            .find(|(n, t, _)| *n == node && t == tunnel)
            .map_or(Dial::Accept, |(_, _, d)| *d)
    }
}
