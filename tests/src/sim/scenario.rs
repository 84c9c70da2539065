//! Helpers for the scripted scenarios in `tests/`: a world named after its
//! test, waiting for the system to come up or settle, and checks that fail
//! with the seed and the trace.

use std::time::Duration;

use tcpws_protocol::ClientId;

use super::app::{AppId, Status};
use super::invariants;
use super::{Node, SimConfig, World};

/// Seconds, for readable scenarios.
pub fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// Milliseconds, for readable scenarios.
pub fn millis(ms: u64) -> Duration {
    Duration::from_millis(ms)
}

/// A world for the scripted test `name` (its failure report says how to
/// rerun that test).
pub fn world(name: &str, cfg: SimConfig) -> World {
    let mut w = World::new(1, cfg);
    w.set_replay(format!("cargo test -p tcpws-tests --release --test {name}"));
    w
}

/// Fails the run with `what` unless `ok`.
pub fn expect(w: &World, ok: bool, what: impl std::fmt::Display) {
    if !ok {
        w.fail("scenario", what);
    }
}

/// Waits until the server has an active client and every running client
/// has its session up and agrees with it.
pub fn wait_up(w: &mut World) {
    w.wait_for("the sessions to come up", secs(10), |w| {
        let active = w.active_of(Node::Server);
        active.is_some()
            && [ClientId::One, ClientId::Two].into_iter().all(|c| {
                let n = Node::client(c);
                !w.is_up(n)
                    || (w.link_up(c)
                        && w.active_of(n) == active
                        && w.epoch_of(n) == w.epoch_of(Node::Server))
            })
    });
}

/// Runs until the world converged (invariant 4), failing with what is left
/// after `limit`.
pub fn settle(w: &mut World, limit: Duration) {
    if !w.run_until(limit, invariants::converged) {
        let problems = invariants::convergence_problems(w);
        w.fail("convergence (invariant 4)", problems.join("\n  "));
    }
}

/// Waits until `app` reached a final status.
pub fn wait_final(w: &mut World, app: AppId, limit: Duration) {
    w.wait_for(&format!("{app} to finish"), limit, |w| {
        w.app(app).status.is_final()
    });
}

/// Checks that `app` ended cleanly with every byte both ways: it read all
/// its peer wrote, and its peer read all it wrote.
pub fn expect_complete(w: &World, app: AppId) {
    let a = w.app(app);
    expect(
        w,
        a.status == Status::Done,
        format_args!("{app} ended {:?}, expected Done", a.status),
    );
    let Some(p) = w.peer(app) else {
        w.fail("scenario", format_args!("{app} never reached a backend"));
    };
    expect(
        w,
        a.received == p.sent && p.received == a.sent,
        format_args!(
            "{app} sent {} and received {}; its peer {} sent {} and received {}",
            a.sent, a.received, p.id, p.sent, p.received
        ),
    );
}

/// The client that is not `c`.
pub fn other(c: ClientId) -> ClientId {
    c.other()
}

/// Records, at every step, when listen sockets open and close and when the
/// server's active client changes, for timing assertions.
#[derive(Debug, Default, Clone)]
pub struct Watch {
    /// (time, node, listening on all its tunnels now).
    pub listen: Vec<(Duration, Node, bool)>,
    /// (time, server's active client, epoch).
    pub active: Vec<(Duration, Option<ClientId>, u64)>,
    last_listen: [Option<bool>; 3],
    last_active: Option<(Option<ClientId>, u64)>,
}

impl Watch {
    /// Starts watching from the world's current state.
    pub fn new(w: &World) -> Watch {
        let mut watch = Watch::default();
        watch.observe(w);
        watch
    }

    /// Notes any change since the last call.
    pub fn observe(&mut self, w: &World) {
        for node in Node::ALL {
            let now = w.listens_all(node);
            if self.last_listen[node.index()] != Some(now) {
                self.last_listen[node.index()] = Some(now);
                self.listen.push((w.now(), node, now));
            }
        }
        let active = (w.active_of(Node::Server), w.epoch_of(Node::Server));
        if self.last_active != Some(active) {
            self.last_active = Some(active);
            self.active.push((w.now(), active.0, active.1));
        }
    }

    /// Runs like [`World::run_until`], observing before every step.
    pub fn run_until(
        &mut self,
        w: &mut World,
        limit: Duration,
        mut cond: impl FnMut(&World) -> bool,
    ) -> bool {
        w.run_until(limit, |w| {
            self.observe(w);
            cond(w)
        })
    }

    /// Runs for `d`, observing before every step.
    pub fn run_for(&mut self, w: &mut World, d: Duration) {
        self.run_until(w, d, |_| false);
    }

    /// The times `node`'s listen sockets closed and next reopened after `since`.
    pub fn close_and_reopen(
        &self,
        node: Node,
        since: Duration,
    ) -> (Option<Duration>, Option<Duration>) {
        let mut closed = None;
        let mut reopened = None;
        for &(t, n, open) in &self.listen {
            if n != node || t < since {
                continue;
            }
            if !open && closed.is_none() {
                closed = Some(t);
            } else if open && closed.is_some() && reopened.is_none() {
                reopened = Some(t);
            }
        }
        (closed, reopened)
    }

    /// Whether `node`'s listen sockets were ever closed at or after `since`.
    pub fn ever_closed(&self, node: Node, since: Duration) -> bool {
        self.listen
            .iter()
            .any(|&(t, n, open)| n == node && t >= since && !open)
    }
}

/// Starts a transfer that switches the active client: an app connects to
/// `standby`'s listen tunnel and writes. Returns the app.
pub fn trigger_switch(w: &mut World, standby: ClientId, plan: super::AppPlan) -> AppId {
    let node = Node::client(standby);
    let tunnel = w.config().listens(node)[0].clone();
    let app = w.app_connect(node, &tunnel, plan);
    expect(
        w,
        w.app(app).status == Status::Open,
        format_args!("{node}/{tunnel} refused the trigger connection"),
    );
    app
}

/// Waits until the server and both running clients agree that `c` is active.
pub fn wait_active(w: &mut World, c: ClientId, limit: Duration) {
    w.wait_for(&format!("{c} to be active everywhere"), limit, |w| {
        let epoch = w.epoch_of(Node::Server);
        w.active_of(Node::Server) == Some(c)
            && Node::ALL[1..]
                .iter()
                .all(|&n| !w.is_up(n) || (w.active_of(n) == Some(c) && w.epoch_of(n) == epoch))
    });
}
