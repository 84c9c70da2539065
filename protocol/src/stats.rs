//! Counters the runtime exports as metrics.

use crate::stream::Origin;

/// A snapshot of an endpoint's counters and gauges.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// WebSocket links that completed their hello.
    pub links_up: u64,
    /// Sessions alive (connected or within their resume grace).
    pub sessions: u64,
    /// Streams alive in all sessions.
    pub streams: u64,
    /// Local TCP connections the protocol tracks.
    pub conns: u64,
    /// Bytes taken from local TCP connections.
    pub bytes_from_apps: u64,
    /// Bytes handed to local TCP connections.
    pub bytes_to_apps: u64,
    /// Bytes held in send and receive buffers.
    pub bytes_buffered: u64,
    /// Streams opened in total.
    pub streams_opened: u64,
    /// Opens refused (unknown tunnel, unreachable target, limit).
    pub opens_refused: u64,
    /// Streams reset (by either side, for any reason).
    pub streams_reset: u64,
    /// Sessions that continued on a new link.
    pub resumes: u64,
    /// Sessions ended (grace expired, replaced, refused).
    pub sessions_ended: u64,
    /// Active-client changes caused by first data on a standby.
    pub switches: u64,
    /// Active-client changes caused by the active client's loss.
    pub failovers: u64,
    /// Active-client changes caused by the active client's planned stop.
    pub handovers: u64,
    /// Links closed for a protocol violation.
    pub protocol_errors: u64,
    /// Handshakes refused or abandoned for authentication: no proof, a
    /// wrong proof, a secret on one side only, or an id the link's
    /// certificate may not claim.
    pub auth_failures: u64,
    /// Links closed because their handshake did not complete in time.
    pub handshake_timeouts: u64,
}

/// One tunnel's counters on this node, for the `tunnel` label of the
/// metrics: [`Endpoint::listen_tunnel_stats`](crate::Endpoint::listen_tunnel_stats)
/// and [`Endpoint::connect_tunnel_stats`](crate::Endpoint::connect_tunnel_stats)
/// give one per tunnel, by `TunnelId`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TunnelStats {
    /// Connections the tunnel carried (accepted on a listen socket, or
    /// dialled for a connect target).
    pub streams_opened: u64,
    /// Bytes taken from its local TCP connections.
    pub bytes_from_apps: u64,
    /// Bytes handed to its local TCP connections.
    pub bytes_to_apps: u64,
}

/// An endpoint's [`TunnelStats`]: one per listen tunnel, one per connect
/// tunnel, by `TunnelId`.
#[derive(Debug, Clone, Default)]
pub(crate) struct TunnelCounters {
    pub(crate) listens: Vec<TunnelStats>,
    pub(crate) connects: Vec<TunnelStats>,
}

impl TunnelCounters {
    pub(crate) fn new(listens: usize, connects: usize) -> TunnelCounters {
        TunnelCounters {
            listens: vec![TunnelStats::default(); listens],
            connects: vec![TunnelStats::default(); connects],
        }
    }

    /// The counters of the tunnel a stream of `origin` belongs to.
    pub(crate) fn of(&mut self, origin: Origin) -> Option<&mut TunnelStats> {
        match origin {
            Origin::Listen(t) => self.listens.get_mut(t.0),
            Origin::Connect(t) => self.connects.get_mut(t.0),
        }
    }
}
