//! The invariants of ARCHITECTURE.md ("Invariants") that are checked on the whole
//! world: after every step ([`check_step`]) and after the liveness phase
//! ([`convergence_problems`]). Byte-stream and routing checks happen as
//! bytes arrive, in the world itself.

use tcpws_protocol::{ClientId, TunnelId};

use super::app::Status;
use super::net::End;
use super::tcp::Side;
use super::{Node, World};

/// Per-step checks: every endpoint's own `check_invariants` (buffers within
/// the window, server routing to the active client only), the runtime's
/// listen sockets matching `is_listening`, no listen socket open inside a
/// switch blackout, every fake buffer bounded, and no connection of an old
/// active client open past its bound ([`super::switch`]).
/// Returns the invariant's name and the details of the first violation.
pub fn check_step(w: &World) -> Result<(), (String, String)> {
    let cfg = w.config();
    for node in Node::ALL {
        let Some(h) = w.host(node) else {
            continue;
        };
        if let Err(e) = h.endpoint.check_invariants() {
            let which = if node == Node::Server {
                "endpoint invariants (2, 3)"
            } else {
                "endpoint invariants (3)"
            };
            return Err((which.into(), format!("{node}: {e}")));
        }
        for t in 0..cfg.listens(node).len() {
            let said = h.endpoint.is_listening(TunnelId(t));
            let has = h.listening.contains(&t);
            if said != has {
                return Err((
                    "listen sockets".into(),
                    format!(
                        "{node}: is_listening({}) is {said} but the outputs left the socket {}",
                        cfg.listens(node)[t],
                        if has { "open" } else { "closed" }
                    ),
                ));
            }
        }
        if let Some(until) = h.blackout_until.filter(|&t| w.now() < t) {
            if let Some(&t) = h.listening.iter().next() {
                return Err((
                    "switch blackout (README, high availability)".into(),
                    format!(
                        "{node}: listen socket {} is open at {:?}, inside the blackout that a switch started until {until:?}",
                        cfg.listens(node)[t],
                        w.now()
                    ),
                ));
            }
        }
        for (conn, hc) in &h.conns {
            let pending = h.endpoint.recv_chunk(*conn).len();
            if pending > cfg.stream_window as usize {
                return Err((
                    "bounded buffers (invariant 3)".into(),
                    format!(
                        "{node}: {conn} has a {pending}-byte chunk to deliver, window {}",
                        cfg.stream_window
                    ),
                ));
            }
            if let Some(t) = hc.tcp {
                let tcp = w.tcp().get(t);
                for side in [Side::App, Side::Node] {
                    if tcp.unread(side) > tcp.cap() {
                        return Err((
                            "bounded buffers (invariant 3)".into(),
                            format!(
                                "{node}: TCP socket of {conn} holds {} bytes, cap {}",
                                tcp.unread(side),
                                tcp.cap()
                            ),
                        ));
                    }
                }
            }
        }
    }
    if let Err(e) = w.election_watch().check(w) {
        return Err(("failover in time (README, high availability)".into(), e));
    }
    if let Err(e) = w.switch_watch().check(w) {
        return Err((
            "old active client's connections closed (README, high availability)".into(),
            e,
        ));
    }
    let limit = cfg.link_buffer + cfg.max_message;
    for (id, wire) in w.net().wires() {
        for to in [End::Server, End::Client] {
            if wire.queued_bytes(to) > limit {
                return Err((
                    "bounded buffers (invariant 3)".into(),
                    format!(
                        "wire {id}: {} bytes queued, more than {limit}",
                        wire.queued_bytes(to)
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// What keeps the world from having converged (invariant 4): empty when
/// every node runs, both clients agree with the server on who is active and
/// at which epoch, every session is up, every listen socket is open, and no
/// app connection or runtime socket is left open.
pub fn convergence_problems(w: &World) -> Vec<String> {
    let mut problems = Vec::new();
    for node in Node::ALL {
        if !w.is_up(node) {
            problems.push(format!("{node} is down"));
        }
    }
    if !problems.is_empty() {
        return problems;
    }
    let active = w.active_of(Node::Server);
    let epoch = w.epoch_of(Node::Server);
    if active.is_none() {
        problems.push("the server has no active client".into());
    }
    for c in [ClientId::One, ClientId::Two] {
        let node = Node::client(c);
        if w.active_of(node) != active || w.epoch_of(node) != epoch {
            problems.push(format!(
                "{node} believes {:?} is active at epoch {}, the server {active:?} at epoch {epoch}",
                w.active_of(node),
                w.epoch_of(node)
            ));
        }
        if !w.link_up(c) {
            problems.push(format!("{node} has no WebSocket up"));
        }
    }
    for node in Node::ALL {
        for t in w.config().listens(node) {
            if !w.is_listening(node, t) {
                problems.push(format!("{node} does not listen on {t}"));
            }
        }
        if let Some(h) = w.host(node) {
            let stats = h.endpoint.stats();
            if stats.streams != 0 || stats.conns != 0 {
                problems.push(format!(
                    "{node}'s endpoint still has {} streams and {} connections",
                    stats.streams, stats.conns
                ));
            }
            if !h.conns.is_empty() {
                let list: Vec<String> = h.conns.keys().take(8).map(|c| c.to_string()).collect();
                problems.push(format!(
                    "{node}'s runtime still holds {} TCP connections ({})",
                    h.conns.len(),
                    list.join(", ")
                ));
            }
        }
    }
    // A message in flight may still change things (a claim on its way to
    // the server switches the active client): converged means quiet wires,
    // but for keepalives, which four timers send every interval.
    let busy = w
        .net()
        .wires()
        .filter(|(_, wire)| {
            !wire.cut && (wire.carries_news(End::Server) || wire.carries_news(End::Client))
        })
        .count();
    if busy > 0 {
        problems.push(format!("{busy} WebSocket(s) still carry messages"));
    }
    let open: Vec<String> = w
        .apps()
        .iter()
        .filter(|a| a.status == Status::Open)
        .take(8)
        .map(|a| {
            format!(
                "{} ({:?}, since {:?}: sent {}{}, received {}{})",
                a.id,
                a.role,
                a.connected_at,
                a.sent,
                if a.shut { " + FIN" } else { "" },
                a.received,
                if a.eof { " + EOF" } else { "" }
            )
        })
        .collect();
    if !open.is_empty() {
        problems.push(format!("app connections still open: {}", open.join("; ")));
    }
    problems
}

/// Whether the world has converged (see [`convergence_problems`]).
pub fn converged(w: &World) -> bool {
    convergence_problems(w).is_empty()
}
