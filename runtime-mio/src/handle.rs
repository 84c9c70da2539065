//! The thread-safe side of a node: a handle to stop it and read its status.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use tcpws_protocol::{ClientId, Health, Role, Stats, TunnelStats};

/// A snapshot of a running node, refreshed by the loop after every wakeup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    /// Server, client 1 or client 2.
    pub role: Role,
    /// Who this node believes is the active client.
    pub active: Option<ClientId>,
    /// The election epoch of that belief.
    pub epoch: u64,
    /// WebSocket links open now (a client has at most one).
    pub links_up: usize,
    /// Per listen tunnel (index = `TunnelId`): whether its socket is bound now.
    pub listening: Vec<bool>,
    /// The protocol's counters.
    pub stats: Stats,
    /// Whether the node can carry traffic, as `/healthz` answers.
    pub health: Health,
    /// Per listen tunnel (index = `TunnelId`): its counters.
    pub listen_tunnels: Vec<TunnelStats>,
    /// Per connect tunnel (index = `TunnelId`): its counters.
    pub connect_tunnels: Vec<TunnelStats>,
    /// Server: connections closed as soon as accepted because
    /// [`MAX_UNAUTHENTICATED`](crate::MAX_UNAUTHENTICATED) others had not
    /// completed their handshake yet.
    pub connections_shed: u64,
}

/// State shared between the loop and its handles.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) waker: Arc<mio::Waker>,
    pub(crate) shutdown: AtomicBool,
    pub(crate) reload: AtomicBool,
    pub(crate) status: Mutex<Status>,
}

/// Controls a [`Node`](crate::Node) from any thread: cheap to clone, `Send`
/// and `Sync`.
#[derive(Debug, Clone)]
pub struct NodeHandle {
    pub(crate) shared: Arc<Shared>,
}

impl NodeHandle {
    /// Asks the node to stop: it closes its links with a reason, flushes
    /// briefly and `run` returns `Ok`. Safe to call more than once, from any
    /// thread (including a signal-handling thread), before or during `run`.
    pub fn shutdown(&self) {
        self.shared.shutdown.store(true, Ordering::SeqCst);
        if let Err(e) = self.shared.waker.wake() {
            log::error!("cannot wake the event loop for shutdown: {e}");
        }
    }

    /// Asks the node to read its TLS files again (certificate rotation)
    /// without dropping links or streams; a file that fails to load keeps
    /// the one loaded before, and the log says why. Safe from any thread.
    pub fn reload(&self) {
        self.shared.reload.store(true, Ordering::SeqCst);
        if let Err(e) = self.shared.waker.wake() {
            log::error!("cannot wake the event loop for a reload: {e}");
        }
    }

    /// Whether [`NodeHandle::reload`] was called since the last time this
    /// said so.
    pub(crate) fn take_reload(&self) -> bool {
        self.shared.reload.swap(false, Ordering::SeqCst)
    }

    /// The node's status as of its last wakeup.
    pub fn status(&self) -> Status {
        self.shared
            .status
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Whether [`NodeHandle::shutdown`] was called.
    pub(crate) fn shutdown_requested(&self) -> bool {
        self.shared.shutdown.load(Ordering::SeqCst)
    }

    /// Replaces the status that [`NodeHandle::status`] returns.
    pub(crate) fn publish(&self, status: Status) {
        *self
            .shared
            .status
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = status;
    }
}
