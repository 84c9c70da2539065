//! The thread-safe side of a node: a handle to stop it and read its status.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use tcpws_protocol::{ClientId, Role, Stats};

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
