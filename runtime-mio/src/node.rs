//! The public node: checks its settings, builds the event loop and runs it.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use mio::{Poll, Waker};
use ring::rand::SystemRandom;
use tcpws_protocol::{Endpoint, Role};

use crate::error::RuntimeError;
use crate::event_loop::ready::ReadyQueue;
use crate::event_loop::timers::Timers;
use crate::event_loop::{EventLoop, SCRATCH, WAKER};
use crate::handle::{NodeHandle, Shared};
use crate::link::connect::ServerLookup;
use crate::settings::NodeSettings;
use crate::tcp::fd_reserve::FdReserve;
use crate::tls;
use crate::tls::client_ids::ClientIds;
use crate::tunnel::listener::TunnelListener;
use crate::tunnel::resolver::{self, Resolver};

/// A tcpws node (server, client 1 or client 2) with its sockets bound and
/// its event loop ready to [`run`](Node::run).
pub struct Node {
    inner: EventLoop,
    handle: NodeHandle,
}

impl Node {
    /// Checks the settings, loads the TLS files (for an https/wss server
    /// URL), creates the protocol endpoint and binds what must be bound up
    /// front (the server's WebSocket/HTTP port), so those errors surface
    /// before `run`.
    pub fn new(settings: NodeSettings) -> Result<Node, RuntimeError> {
        Node::with_lookup(settings, resolver::system_lookup)
    }

    /// [`Node::new`] with `lookup` in place of the system resolver for the
    /// names the loop dials (tests stand in a slow DNS server with it).
    pub(crate) fn with_lookup(
        settings: NodeSettings,
        lookup: resolver::Lookup,
    ) -> Result<Node, RuntimeError> {
        check_tunnels(&settings)?;
        let tls = tls::load(&settings)?;
        let client_ids = match settings.protocol.role {
            Role::Server => ClientIds::load(&settings)?,
            Role::Client(_) => None,
        };
        let poll = Poll::new().map_err(|source| RuntimeError::Poll {
            what: "creating the poller",
            source,
        })?;
        let waker = Waker::new(poll.registry(), WAKER).map_err(|source| RuntimeError::Poll {
            what: "creating the waker",
            source,
        })?;
        let waker = Arc::new(waker);
        let resolver = Resolver::new(Arc::clone(&waker), lookup);
        let endpoint = Endpoint::new(settings.protocol.clone(), Instant::now())
            .map_err(|e| RuntimeError::Protocol(e.to_string()))?;
        let listeners = settings
            .listens
            .iter()
            .cloned()
            .map(TunnelListener::new)
            .collect();
        let mut inner = EventLoop {
            endpoint,
            poll,
            owners: HashMap::new(),
            last_token: WAKER.0,
            last_link: 0,
            server_listener: None,
            http_listener: None,
            incoming: HashMap::new(),
            server_dial: None,
            server_lookup: ServerLookup::default(),
            links: BTreeMap::new(),
            closing: HashMap::new(),
            conns: HashMap::new(),
            listeners,
            ready: ReadyQueue::default(),
            timers: Timers::default(),
            scratch: vec![0; SCRATCH],
            tx_buf: Vec::new(),
            resolver,
            resolving: HashMap::new(),
            fd_reserve: FdReserve::new(),
            link_ids: Vec::new(),
            tls,
            client_ids,
            random: SystemRandom::new(),
            connections_shed: 0,
            port_refusals: Default::default(),
            listener_queued: false,
            http_listener_queued: false,
            settings,
        };
        if inner.endpoint.role() == Role::Server {
            inner.bind_server()?;
        }
        let status = inner.status();
        let handle = NodeHandle {
            shared: Arc::new(Shared {
                waker,
                shutdown: AtomicBool::new(false),
                reload: AtomicBool::new(false),
                status: Mutex::new(status),
            }),
        };
        Ok(Node { inner, handle })
    }

    /// Serves `/healthz` and `/metrics` on `host:port`
    /// (`dataExchange.metricsBindAddress`) instead of the server's
    /// WebSocket port; works on a client too. Binds now, so a busy port
    /// fails here, before `run`.
    pub fn serve_http_on(&mut self, host: &str, port: u16) -> Result<(), RuntimeError> {
        self.inner.bind_http(host, port)
    }

    /// A handle to stop the node and read its status from other threads.
    pub fn handle(&self) -> NodeHandle {
        self.handle.clone()
    }

    /// Runs the loop until [`NodeHandle::shutdown`] is called; then closes
    /// every link with a reason, flushes for at most a couple of seconds and
    /// returns `Ok`. Errors only if the OS poller itself fails.
    pub fn run(self) -> Result<(), RuntimeError> {
        self.inner.run(&self.handle)
    }
}

/// The tunnel lists must match the protocol's, index for index.
fn check_tunnels(settings: &NodeSettings) -> Result<(), RuntimeError> {
    let listens = settings.listens.iter().map(|l| l.name.as_str()).collect();
    check_names("listen", listens, &settings.protocol.listens)?;
    let connects = settings.connects.iter().map(|c| c.name.as_str()).collect();
    check_names("connect", connects, &settings.protocol.connects)
}

/// Our `kind` tunnel names against the protocol config's.
fn check_names(kind: &str, ours: Vec<&str>, protocol: &[String]) -> Result<(), RuntimeError> {
    if ours.len() != protocol.len() {
        return Err(RuntimeError::Settings(format!(
            "{} {kind} tunnels given but the protocol config has {}",
            ours.len(),
            protocol.len()
        )));
    }
    for (i, (a, b)) in ours.iter().zip(protocol).enumerate() {
        if a != b {
            return Err(RuntimeError::Settings(format!(
                "{kind} tunnel {i} is named {a:?} but the protocol config calls it {b:?}"
            )));
        }
    }
    Ok(())
}
