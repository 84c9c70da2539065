//! One simulated process: an [`Endpoint`] and the state of its fake runtime
//! (listen sockets, TCP connections, WebSocket links), kept exactly as the
//! Outputs said. A restart drops all of it.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use tcpws_protocol::{ClientId, ConnId, Endpoint, LinkId, TunnelId};

use super::net::WireId;
use super::tcp::TcpId;
use super::Node;

/// A TCP connection the runtime holds for the endpoint.
#[derive(Debug, Clone)]
pub struct HostConn {
    /// The socket; `None` while a dial is in progress.
    pub tcp: Option<TcpId>,
    /// The endpoint asked to dial it (as opposed to an accepted connection).
    pub dialed: bool,
    /// Index into the node's listens (accepted) or connects (dialed).
    pub tunnel: usize,
    /// Read returned 0: the runtime never reads it again.
    pub eof: bool,
    /// ShutdownWrite was done.
    pub write_shut: bool,
    /// The client whose session carries it: the server's active client when
    /// the server accepted it, the client whose Open made the server dial
    /// it, or the node itself on a client.
    pub via: Option<ClientId>,
    /// The runtime has read data from it (so later reads are not "first data").
    pub saw_data: bool,
    /// Server: accepted while the server held no session link of its
    /// client (`via`): a failover to the other client may carry it there.
    pub held: bool,
}

/// A running process of the simulation.
pub struct Host {
    pub node: Node,
    /// Which start of this node this is (restarts count up).
    pub inc: u32,
    pub endpoint: Endpoint,
    /// Listen sockets open now, by listen tunnel index.
    pub listening: BTreeSet<usize>,
    /// TCP connections the runtime holds.
    pub conns: BTreeMap<ConnId, HostConn>,
    /// WebSocket links the runtime holds, and their wires.
    pub links: BTreeMap<LinkId, WireId>,
    /// WebSocket dials in progress (client only).
    pub dialing_server: u32,
    /// The next LinkId to hand out; ids never repeat within a process.
    pub next_link: u64,
    /// Who this process last said is active (its `ActiveChanged` outputs).
    pub believes_active: Option<ClientId>,
    /// The end of the switch blackout the HA rules require of this process
    /// (virtual time), derived by the harness from the `ActiveChanged`
    /// outputs, independently of the endpoint's own timer.
    pub blackout_until: Option<Duration>,
    /// Client: the incarnation of the server process it last heard from,
    /// the one its session is with.
    pub server_inc: Option<u32>,
    /// A planned stop is under way: the process exits when it is done.
    pub stopping: bool,
}

impl Host {
    /// A fresh process around `endpoint`.
    pub fn new(node: Node, inc: u32, endpoint: Endpoint) -> Host {
        Host {
            node,
            inc,
            endpoint,
            listening: BTreeSet::new(),
            conns: BTreeMap::new(),
            links: BTreeMap::new(),
            dialing_server: 0,
            next_link: 1,
            believes_active: None,
            blackout_until: None,
            server_inc: None,
            stopping: false,
        }
    }

    /// A new link id for this process.
    pub fn alloc_link(&mut self) -> LinkId {
        let id = LinkId(self.next_link);
        self.next_link += 1;
        id
    }

    /// Whether the runtime has `tunnel`'s listen socket open.
    pub fn is_listening(&self, tunnel: TunnelId) -> bool {
        self.listening.contains(&tunnel.0)
    }
}
