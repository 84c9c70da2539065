//! The connections of an old active client close (README, "High
//! availability"): when the server's active client changes, every
//! tunnel connection that went through the old one is closed on the server
//! and on that client, with nothing left open on either side, within
//! [`close_bound`] (on the client, of its path to the server being clear:
//! a cut, a partition or a restart holds the news back). After the default
//! rule's change only the server-listen connections routed to client 2 go;
//! its own listen connections stay.
//!
//! The world tracks this from its own records (which client carries each
//! runtime connection, see [`HostConn::via`]), not from the endpoints'
//! stream tables.

use std::time::Duration;

use tcpws_protocol::{ClientId, ConnId};

use super::election::{slot, Cause};
use super::node::HostConn;
use super::tcp::TcpId;
use super::{Node, SimConfig, World};

/// How long the old active client may take to close its side once its
/// path to the server is clear: a round trip on that path at its worst
/// (the server's resets, or a resume's hello and welcome before they are
/// replayed). One way at worst is the highest latency the path had in this
/// run plus draining a full wire (the link buffer and one message) at its
/// bandwidth; nothing else delays a control frame, which goes before data.
/// The server closes its side at once; it gets the same bound. With a
/// shared secret the client's proof waits for the server's challenge, sent
/// when the server's end came up: one more way at worst (on a real socket
/// the challenge follows the upgrade response; here each message has its
/// own latency).
pub fn close_bound(cfg: &SimConfig, worst_latency: Duration, client: ClientId) -> Duration {
    let drain = match cfg.paths[slot(client)].bandwidth {
        Some(bw) if bw > 0 => {
            let bytes = (cfg.link_buffer + cfg.max_message) as u64;
            Duration::from_nanos(bytes.saturating_mul(1_000_000_000) / bw)
        }
        _ => Duration::ZERO,
    };
    let ways = if cfg.shared_secret { 3 } else { 2 };
    ways * (worst_latency + drain)
}

/// How long a planned stop lets a connection write what it holds before
/// it is reset (the protocol's bound).
const LEAVE_DRAIN: Duration = Duration::from_secs(2);

/// A runtime connection that must be closed by a deadline.
#[derive(Debug, Clone)]
struct Pending {
    node: Node,
    inc: u32,
    conn: ConnId,
    /// Its socket, once it has one (for the report).
    tcp: Option<TcpId>,
    /// The client that lost activity, and why.
    old: ClientId,
    cause: Cause,
    /// When the server's active client changed.
    changed_at: Duration,
    /// `None` while the old client's path to the server is not clear.
    deadline: Option<Duration>,
}

/// Connections of old active clients that are not closed yet.
#[derive(Debug, Default)]
pub struct SwitchWatch {
    pending: Vec<Pending>,
}

impl SwitchWatch {
    /// The server's active client changed from `old` for `cause`: notes
    /// every connection through `old` that must now close.
    pub fn active_changed(&mut self, w: &World, old: ClientId, cause: Cause) {
        let now = w.now();
        // A planned stop lets the connections deliver what they hold first.
        let drain = if cause == Cause::Handover {
            LEAVE_DRAIN
        } else {
            Duration::ZERO
        };
        let deadline = now + w.close_bound(old) + drain;
        for node in [Node::Server, Node::client(old)] {
            let Some(h) = w.host(node) else {
                continue;
            };
            // Server-listen connections are accepted by the server and
            // dialed by the client; the rest came from the client's listen
            // sockets, which the default rule leaves alone.
            let server_listen = |hc: &HostConn| hc.dialed == (node != Node::Server);
            let clear = node == Node::Server || path_clear(w, old);
            for (conn, hc) in &h.conns {
                if hc.via == Some(old) && (cause != Cause::Default || server_listen(hc)) {
                    self.pending.push(Pending {
                        node,
                        inc: h.inc,
                        conn: *conn,
                        tcp: hc.tcp,
                        old,
                        cause,
                        changed_at: now,
                        deadline: clear.then_some(deadline),
                    });
                }
            }
        }
    }

    /// Forgets connections that closed; restarts the old client's clock
    /// when its path to the server becomes clear again.
    pub fn observe(&mut self, w: &World) {
        self.pending.retain_mut(|p| {
            let held = w
                .host(p.node)
                .filter(|h| h.inc == p.inc)
                .and_then(|h| h.conns.get(&p.conn));
            if let Some(hc) = held {
                p.tcp = p.tcp.or(hc.tcp);
            }
            held.is_some()
        });
        for p in &mut self.pending {
            if p.node == Node::Server {
                continue;
            }
            if !path_clear(w, p.old) {
                p.deadline = None;
            } else if p.deadline.is_none() {
                p.deadline = Some(w.now() + w.close_bound(p.old));
            }
        }
    }

    /// The first connection still open past its deadline.
    pub fn check(&self, w: &World) -> Result<(), String> {
        for p in &self.pending {
            if p.deadline.is_some_and(|d| w.now() > d) && !closed(w, p) {
                let app = p.tcp.map(|t| w.app_on(t));
                return Err(format!(
                    "{}: {} (carried by {}, {}) is still open {:?} after the server's active \
                     client changed from {} at {:?} ({:?}; bound {:?} once the path is clear)",
                    p.node,
                    p.conn,
                    p.old,
                    match app {
                        Some(a) => format!("{} {:?}, peer {:?}", a.id, a.status, a.peer),
                        None => "no socket yet".into(),
                    },
                    w.now() - p.changed_at,
                    p.old,
                    p.changed_at,
                    p.cause,
                    w.close_bound(p.old)
                ));
            }
        }
        Ok(())
    }
}

/// Whether the runtime let go of the connection: it closed or reset the
/// socket (or dropped the dial). The app may still read what reached its
/// socket before a clean close; that is its own pace, not the tunnel's.
fn closed(w: &World, p: &Pending) -> bool {
    !w.host(p.node)
        .is_some_and(|h| h.inc == p.inc && h.conns.contains_key(&p.conn))
}

/// Whether `client` and the server run and a WebSocket between them is up
/// at both ends and not held by a partition.
fn path_clear(w: &World, client: ClientId) -> bool {
    w.is_up(Node::Server)
        && w.is_up(Node::client(client))
        && !w.net().partitioned[slot(client)]
        && w.link_up(client)
}
