//! The two-node harness the endpoint tests share: a server and client 1
//! wired back to back, message by message, on virtual time.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tcpws_protocol::{
    Certified, ClientId, Config, ConnId, Endpoint, LinkId, LinkUp, Output, Role, TunnelId,
};

/// What the runtime would report for a new link: a fresh nonce and token
/// on every call (from a counter; tests need only that they differ).
pub fn up() -> LinkUp {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let mut nonce = [0u8; 32];
    nonce[..8].copy_from_slice(&n.to_be_bytes());
    LinkUp {
        peer: SocketAddr::from((Ipv4Addr::LOCALHOST, 40_000 + (n % 20_000) as u16)),
        certified: Certified::Unbound,
        nonce,
        token: u128::from(n) << 64 | 0x5eed,
    }
}

#[allow(clippy::disallowed_methods)]
pub fn origin() -> Instant {
    // Only differences between instants matter.
    Instant::now()
}

/// A fake TCP socket: what the app wrote to us, what we delivered to it.
#[derive(Default, Debug)]
pub struct Sock {
    pub delivered: Vec<u8>,
    pub shut_write: bool,
    pub closed: Option<bool>,
}

pub struct Node {
    pub ep: Endpoint,
    pub socks: BTreeMap<ConnId, Sock>,
    pub dials: Vec<(ConnId, TunnelId)>,
    pub listening: bool,
    pub connects: usize,
}

impl Node {
    pub fn drain(&mut self, now: Instant) {
        while let Some(o) = self.ep.poll_output() {
            match o {
                Output::Dial { conn, tunnel } => {
                    self.socks.insert(conn, Sock::default());
                    self.dials.push((conn, tunnel));
                }
                Output::Deliver { conn } => loop {
                    let chunk = self.ep.recv_chunk(conn).to_vec();
                    if chunk.is_empty() {
                        break;
                    }
                    self.socks.entry(conn).or_default().delivered.extend(&chunk);
                    self.ep.handle_app_written(conn, chunk.len(), now);
                },
                Output::ShutdownWrite { conn } => {
                    self.socks.entry(conn).or_default().shut_write = true
                }
                Output::Close { conn, reset } => {
                    self.socks.entry(conn).or_default().closed = Some(reset)
                }
                Output::StartListening { .. } => self.listening = true,
                Output::StopListening { .. } => self.listening = false,
                Output::ConnectServer => self.connects += 1,
                _ => {}
            }
        }
    }
}

pub struct Pair {
    pub now: Instant,
    pub server: Node,
    pub client: Node,
    pub link: LinkId,
}

pub fn config(role: Role) -> Config {
    let mut c = Config::new(role);
    c.stream_window = 64 * 1024;
    c.max_message = 32 * 1024;
    c
}

impl Pair {
    pub fn new() -> Pair {
        Pair::with(|_| {})
    }

    /// A pair whose configs `tune` adjusts first.
    pub fn with(tune: impl Fn(&mut Config)) -> Pair {
        let now = origin();
        let mut sc = config(Role::Server);
        sc.listens = vec!["web".into()];
        sc.connects = vec!["ssh".into()];
        tune(&mut sc);
        let mut cc = config(Role::Client(ClientId::One));
        cc.listens = vec!["ssh".into()];
        cc.connects = vec!["web".into()];
        tune(&mut cc);
        let server = Endpoint::new(sc, now).unwrap();
        let client = Endpoint::new(cc, now).unwrap();
        let mut p = Pair::from_endpoints(server, client, now);
        p.server.ep.handle_link_up(p.link, up(), now);
        p.client.ep.handle_link_up(p.link, up(), now);
        p.pump();
        p
    }

    /// A pair of fresh endpoints with no link yet (the client has asked
    /// for one).
    pub fn from_endpoints(server: Endpoint, client: Endpoint, now: Instant) -> Pair {
        let node = |ep| Node {
            ep,
            socks: BTreeMap::new(),
            dials: Vec::new(),
            listening: false,
            connects: 0,
        };
        let mut p = Pair {
            now,
            server: node(server),
            client: node(client),
            link: LinkId(1),
        };
        assert_eq!(p.client.ep.poll_output(), Some(Output::ConnectServer));
        p
    }

    /// Moves messages both ways until both are quiet.
    pub fn pump(&mut self) {
        let now = self.now;
        for _ in 0..10_000 {
            self.server.drain(now);
            self.client.drain(now);
            let mut moved = false;
            let mut buf = Vec::new();
            while self.client.ep.poll_transmit(self.link, now, &mut buf) {
                self.server.ep.handle_message(self.link, &buf, now);
                buf.clear();
                moved = true;
            }
            while self.server.ep.poll_transmit(self.link, now, &mut buf) {
                self.client.ep.handle_message(self.link, &buf, now);
                buf.clear();
                moved = true;
            }
            for n in [&self.server, &self.client] {
                n.ep.check_invariants().expect("invariants");
            }
            if !moved {
                self.server.drain(now);
                self.client.drain(now);
                return;
            }
        }
        panic!("pump did not settle");
    }

    pub fn advance(&mut self, d: Duration) {
        self.now += d;
        self.server.ep.handle_timeout(self.now);
        self.client.ep.handle_timeout(self.now);
        self.pump();
    }
}
