//! What a compared case runs over: a route from the app to the backends
//! (raw loopback, the floor, tcpws or a peer over one transport), the
//! ports it enters by and the processes it passes through.

use crate::backends::Kind;
use crate::compare::table;
use crate::error::BenchError;
use crate::options::Transport;
use crate::processes::{self, Proc, Targets};

/// The loopback ports an app connects to, one leading to each backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    /// The counted sink's (see [`crate::backends`]).
    pub sink: u16,
    pub echo: u16,
    pub once: u16,
}

impl Entry {
    /// The backends a route leads to.
    pub const KINDS: [Kind; 3] = [Kind::Counted, Kind::Echo, Kind::Once];

    pub const fn new(sink: u16, echo: u16, once: u16) -> Entry {
        Entry { sink, echo, once }
    }

    /// Three free loopback ports, for a route to listen on.
    pub fn free() -> Result<Entry, BenchError> {
        let port = processes::free_port;
        Ok(Entry::new(port()?, port()?, port()?))
    }

    /// The backends themselves: raw loopback's entry.
    pub fn of(backends: Targets) -> Entry {
        Entry::new(backends.sink, backends.echo, backends.once)
    }

    /// Its ports, in the order of [`Entry::KINDS`].
    pub fn ports(&self) -> [u16; 3] {
        Entry::KINDS.map(|k| self.to(k))
    }

    /// The port leading to the backend of `kind` (the hold backend has none).
    pub fn to(&self, kind: Kind) -> u16 {
        match kind {
            Kind::Sink | Kind::Counted => self.sink,
            Kind::Echo | Kind::Hold => self.echo,
            Kind::Once => self.once,
        }
    }
}

/// Who carries a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Via {
    /// No one: the app talks to the backend.
    Raw,
    /// The two bare relays.
    Floor,
    Tcpws,
    /// One of the peers (its name is the route's).
    Peer,
}

/// One route, up and running.
pub struct Route {
    pub via: Via,
    /// The tunnel's transport; `Raw` for raw loopback and the floor.
    pub transport: Transport,
    /// Its name in ids and column heads: `raw`, `floor`, `tcpws`, `wstunnel`.
    pub name: String,
    pub entry: Entry,
    /// The app's side first (client 1, wstunnel client, relay A), then the
    /// backends' side; none for raw loopback.
    pub procs: Vec<Proc>,
}

impl Route {
    /// What the table and ids call each process, in the order of `procs`.
    pub const SIDES: [&'static str; 2] = ["client", "server"];

    /// `tcpws ws`, `floor`, `raw loopback`.
    pub fn label(&self) -> String {
        match self.via {
            Via::Raw => "raw loopback".into(),
            Via::Floor => "floor".into(),
            Via::Tcpws | Via::Peer => format!("{} {}", self.name, self.transport),
        }
    }

    /// Whether the route carries the cases run over `transport` (raw
    /// loopback and the floor carry every transport's).
    pub fn carries(&self, transport: Transport) -> bool {
        matches!(self.via, Via::Raw | Via::Floor) || self.transport == transport
    }

    /// The sample id of `figure` over this route (see [`table::key`]).
    pub fn key(&self, figure: &str) -> String {
        table::key(figure, &self.name, self.transport)
    }

    pub fn pids(&self) -> Vec<u32> {
        self.procs.iter().map(Proc::pid).collect()
    }

    /// An error if any of its processes has exited.
    pub fn check_running(&mut self) -> Result<(), BenchError> {
        processes::check_all(&mut self.procs.iter_mut().collect::<Vec<_>>())
    }

    /// `e` with what its processes say.
    pub fn explain(&mut self, e: BenchError) -> BenchError {
        processes::explain_all(&mut self.procs.iter_mut().collect::<Vec<_>>(), e)
    }

    /// Stops its processes, the app's side first; returns their notes.
    pub fn stop(mut self) -> Vec<String> {
        processes::stop_all(&mut self.procs.iter_mut().collect::<Vec<_>>())
    }
}
