//! The world's own account of why the server's active client may change
//! (README, "High availability"), kept from what the world
//! drives and sees (the apps' data, the wires, the restarts), never from the
//! endpoints' state: the "no preemption" check.
//!
//! Until an election the server picks client 1 if it is online, else
//! client 2. Once a claim or a failover happened, the active client changes
//! only because of a *claim* (first data on a connection accepted by the
//! standby's listen socket), because it was *gone* (the server held no
//! session link of it for the failover delay while the other client had
//! one, or for the resume grace period), or because it *stopped on purpose*;
//! a client coming back never takes over by itself.
//!
//! The other way round ([`ElectionWatch::check`]): with the standby online,
//! the server never keeps as active a client whose link has been down for
//! longer than the failover delay and a round trip.

use std::time::Duration;

use tcpws_protocol::frame::ActiveWhy;
use tcpws_protocol::{ActiveReason, ClientId};

use super::net::End;
use super::{Node, World};

/// Why the server's active client changed, as the world explains it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    /// There was no active client: one is chosen.
    Choice,
    /// Client 1 came online while client 2 held the default role (only
    /// before an election).
    Default,
    /// The new active client had first data on its listen socket as standby.
    Claim,
    /// The old active client had no session link at the server for the
    /// failover delay while the new one had, or for the resume grace.
    Failover,
    /// The server received the old active client's Goodbye (a planned stop).
    Handover,
}

/// First data on a connection accepted by a client's listen socket while
/// the client believed it was standby: a claim on its way to the server.
#[derive(Debug, Clone, Copy)]
struct Claim {
    at: Duration,
    /// The incarnation of the client process that made it.
    inc: u32,
    /// The incarnation of the server its session was with.
    server_inc: Option<u32>,
}

/// What the world knows about elections in the running server process.
#[derive(Debug, Default)]
pub struct ElectionWatch {
    /// A claim or a failover changed the active client since the server
    /// started: the default rule no longer applies.
    elected: bool,
    /// Per client, its latest claim the server may still receive.
    claims: [Option<Claim>; 2],
    /// Per end (server, client) and per client: since when that end has
    /// held no link on which it heard from the other side, i.e. no session
    /// link; `None` while it holds one.
    unlinked_since: [[Option<Duration>; 2]; 2],
    /// Per client: since when the server has held a session link of it.
    linked_since: [Option<Duration>; 2],
    /// Per client: its process was stopped on purpose and not started since.
    stopping: [bool; 2],
    /// Per client: the server received its Goodbye and has not yet handed
    /// over from it.
    goodbyes: [bool; 2],
}

impl ElectionWatch {
    /// The server process (re)started: no election yet.
    pub fn server_started(&mut self) {
        self.elected = false;
        self.goodbyes = [false; 2];
    }

    /// `node`'s process (re)started.
    pub fn started(&mut self, node: Node) {
        match node.client_id() {
            Some(c) => self.stopping[slot(c)] = false,
            None => self.server_started(),
        }
    }

    /// `node` was asked to stop on purpose.
    pub fn stopping(&mut self, node: Node) {
        if let Some(c) = node.client_id() {
            self.stopping[slot(c)] = true;
        }
    }

    /// `client` (process `inc`, in a session with server process
    /// `server_inc`) read first data from a connection its listen socket
    /// accepted while it believed it was standby.
    pub fn standby_data(
        &mut self,
        client: ClientId,
        inc: u32,
        server_inc: Option<u32>,
        now: Duration,
    ) {
        self.claims[slot(client)] = Some(Claim {
            at: now,
            inc,
            server_inc,
        });
    }

    /// Follows the session links after a step; a claim is dropped once the
    /// session that carries it is known to have ended.
    pub fn observe(&mut self, w: &World) {
        for c in [ClientId::One, ClientId::Two] {
            for (e, node) in [(End::Server, Node::Server), (End::Client, Node::client(c))] {
                let linked = heard_link(w, node, c);
                let since = &mut self.unlinked_since[e.index()][slot(c)];
                if linked {
                    *since = None;
                } else if since.is_none() {
                    *since = Some(w.now());
                }
                if e == End::Server {
                    let since = &mut self.linked_since[slot(c)];
                    if !linked {
                        *since = None;
                    } else if since.is_none() {
                        *since = Some(w.now());
                    }
                }
            }
            if !self.claim_pending(w, c) {
                self.claims[slot(c)] = None;
            }
        }
    }

    /// Whether a claim of `c` may still reach the server: it was made in a
    /// session with the running server process, which neither end has been
    /// without a link for the grace period since (either end then ends it,
    /// and the claim with it), and when its client process is gone, the
    /// server still holds a wire of that process.
    fn claim_pending(&self, w: &World, c: ClientId) -> bool {
        let Some(claim) = self.claims[slot(c)] else {
            return false;
        };
        if w.host(Node::Server).map(|h| h.inc) != claim.server_inc {
            return false;
        }
        let grace = w.config().resume_grace;
        let since = |e: End| self.unlinked_since[e.index()][slot(c)];
        let expired = [End::Server, End::Client]
            .into_iter()
            .filter_map(since)
            .any(|s| w.now() >= s + grace);
        if expired {
            return false;
        }
        let node = Node::client(c);
        let alive = w.host(node).is_some_and(|h| h.inc == claim.inc);
        alive
            || w.host(Node::Server).is_some_and(|h| {
                h.links.values().any(|&id| {
                    let wire = w.net().wire(id);
                    wire.client == c && wire.incs[End::Client.index()] == claim.inc
                })
            })
    }

    /// Explains the server's change of active client from `old` to `new`
    /// now, or says why it is a preemption.
    pub fn explain(
        &self,
        w: &World,
        old: Option<ClientId>,
        new: Option<ClientId>,
        why: ActiveReason,
    ) -> Result<Cause, String> {
        let Some(old) = old else {
            return Ok(Cause::Choice);
        };
        let default_rule = !self.elected && old == ClientId::Two && new == Some(ClientId::One);
        if default_rule && why == ActiveReason::Elected(ActiveWhy::Default) {
            // The default rule and a failover may both hold (client 2 down
            // past the delay as client 1 comes up): the server applied the
            // rule, whose consequences differ (client 2 keeps its own
            // listen connections).
            return Ok(Cause::Default);
        }
        if self.goodbyes[slot(old)] {
            return Ok(Cause::Handover);
        }
        if new.is_some_and(|n| self.claim_pending(w, n)) {
            return Ok(Cause::Claim);
        }
        let grace = w.config().resume_grace;
        let failover_after = w.config().failover_after;
        let unlinked = self.unlinked_since[End::Server.index()][slot(old)];
        if unlinked.is_some_and(|s| w.now() >= s + grace) {
            return Ok(Cause::Failover);
        }
        if unlinked.is_some_and(|s| w.now() >= s + failover_after)
            && new.is_some_and(|n| heard_link(w, Node::Server, n))
        {
            return Ok(Cause::Failover);
        }
        if default_rule {
            return Ok(Cause::Default);
        }
        let name = |c: Option<ClientId>| c.map_or("nobody".to_owned(), |c| c.to_string());
        let claim = match new.and_then(|n| self.claims[slot(n)]) {
            Some(c) => format!(
                "its last one (at {:?}) can no longer reach the server",
                c.at
            ),
            None => "none is on its way".into(),
        };
        let gone = match unlinked {
            Some(s) => format!("has been without a session link only since {s:?}"),
            None => "has a session link".into(),
        };
        Err(format!(
            "the server's active client changed from {old} to {} {}, without a claim \
             (first data on a listen socket of {} as standby: {claim}) and while {old} {gone} \
             (grace {grace:?})",
            name(new),
            if self.elected {
                "after an election"
            } else {
                "before any election, and not from client 2 to client 1"
            },
            name(new),
        ))
    }

    /// With the standby online (linked at the server, not stopping), the
    /// server's active client has not been without a link for longer than
    /// the failover delay (counted from when both held) and a round trip.
    pub fn check(&self, w: &World) -> Result<(), String> {
        let Some(active) = w.active_of(Node::Server) else {
            return Ok(());
        };
        let other = active.other();
        let (Some(down), Some(up)) = (
            self.unlinked_since[End::Server.index()][slot(active)],
            self.linked_since[slot(other)],
        ) else {
            return Ok(());
        };
        if self.stopping[slot(other)] {
            return Ok(());
        }
        let due = (down + w.config().failover_after).max(up);
        let bound = due + w.close_bound(other);
        if w.now() > bound {
            return Err(format!(
                "the server still has {active} active at {:?}: its link is down since {down:?}, \
                 {other} has been online since {up:?}, the failover delay is {:?} (bound {bound:?})",
                w.now(),
                w.config().failover_after
            ));
        }
        Ok(())
    }

    /// The server heard a message from `c`: it had a session link, however
    /// briefly; the next [`ElectionWatch::observe`] starts the clock again.
    pub fn server_heard(&mut self, c: ClientId) {
        self.unlinked_since[End::Server.index()][slot(c)] = None;
    }

    /// Whether the server holds no session link of `c` now.
    pub fn server_unlinked(&self, c: ClientId) -> bool {
        self.unlinked_since[End::Server.index()][slot(c)].is_some()
    }

    /// Notes a change the world explained.
    pub fn record(&mut self, cause: Cause) {
        if matches!(cause, Cause::Claim | Cause::Failover | Cause::Handover) {
            self.elected = true;
        }
    }

    /// The server received a Goodbye from `c` (whichever process of it
    /// sent it): a handover from `c` is explained until it happens.
    pub fn goodbye_heard(&mut self, c: ClientId) {
        self.goodbyes[slot(c)] = true;
    }

    /// A change away from `old` was explained: its Goodbye is used up.
    pub fn changed_from(&mut self, old: ClientId) {
        self.goodbyes[slot(old)] = false;
    }
}

/// Whether `node` holds a link of client `c` on which it heard a message.
fn heard_link(w: &World, node: Node, c: ClientId) -> bool {
    let end = if node == Node::Server {
        End::Server
    } else {
        End::Client
    };
    w.host(node).is_some_and(|h| {
        h.links.values().any(|&id| {
            let wire = w.net().wire(id);
            wire.client == c && wire.heard[end.index()]
        })
    })
}

/// 0 for client 1, 1 for client 2: an index into per-client arrays.
pub fn slot(c: ClientId) -> usize {
    usize::from(c.number() - 1)
}
