//! External TCP apps: client apps that connect to a node's listen tunnel,
//! and backends that accept a node's dials. Every direction carries the
//! verifiable stream of [`pattern`](super::pattern); every byte received is
//! checked at its offset as it arrives.

use std::time::Duration;

use tcpws_protocol::ClientId;

use super::pattern::{self, TAG_LEN};
use super::tcp::TcpId;
use super::Node;

/// An app, numbered by the world in creation order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AppId(pub u32);

impl std::fmt::Display for AppId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "app#{}", self.0)
    }
}

/// What a backend sends back once it learned the app's tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendMode {
    /// As many bytes as it received (its own stream), then FIN after the app's FIN.
    Echo,
    /// This many payload bytes regardless of the app, then FIN.
    Stream(u64),
    /// Nothing; FIN after the app's FIN.
    Sink,
}

/// How a client app behaves (and, through its tag, its backend).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppPlan {
    /// Payload bytes written automatically after the tag (0: the scenario
    /// writes with [`World::app_write`](super::World::app_write)).
    pub bytes: u64,
    /// Size of each automatic write, drawn in this range.
    pub chunk: (u64, u64),
    /// Pause between automatic writes.
    pub interval: (Duration, Duration),
    /// Shut down the write half once the automatic bytes are written.
    pub finish: bool,
    /// Reset the connection this long after connecting.
    pub reset_after: Option<Duration>,
    /// Read at most this many bytes every 10 ms (a slow reader); `None` reads at once.
    pub read_rate: Option<usize>,
    /// What the backend does.
    pub backend: BackendMode,
    /// The backend's read rate, like `read_rate`.
    pub backend_read_rate: Option<usize>,
}

impl AppPlan {
    /// Nothing automatic: the scenario writes, finishes and resets by hand.
    pub fn manual() -> AppPlan {
        AppPlan {
            bytes: 0,
            chunk: (1, 16 * 1024),
            interval: (Duration::ZERO, Duration::from_millis(5)),
            finish: false,
            reset_after: None,
            read_rate: None,
            backend: BackendMode::Echo,
            backend_read_rate: None,
        }
    }

    /// Writes `bytes` quickly, then FIN; the backend echoes.
    pub fn bulk(bytes: u64) -> AppPlan {
        AppPlan {
            bytes,
            finish: true,
            ..AppPlan::manual()
        }
    }

    /// The same plan with another backend mode.
    pub fn with_backend(mut self, mode: BackendMode) -> AppPlan {
        self.backend = mode;
        self
    }
}

/// Which side of a tunnel an app is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AppRole {
    /// Connected to `tunnel` on `node`'s listen socket.
    Client { node: Node, tunnel: String },
    /// Accepted a dial from `node` for its connect tunnel `tunnel`.
    Backend { node: Node, tunnel: String },
}

/// Where an app's connection stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Connected, not finished.
    Open,
    /// Read EOF, wrote FIN, closed: a clean end.
    Done,
    /// The connection was reset under it.
    Reset,
    /// The app reset the connection itself.
    Aborted,
    /// The connect was refused (the listen socket was closed).
    Refused,
}

impl Status {
    /// Whether nothing more will happen to the app.
    pub fn is_final(self) -> bool {
        self != Status::Open
    }
}

/// One external TCP app and everything the checks need about it.
#[derive(Debug, Clone)]
pub struct App {
    pub id: AppId,
    pub role: AppRole,
    pub plan: AppPlan,
    pub tcp: Option<TcpId>,
    /// The tag of the stream this app sends (a backend's is its app's tag ^ ANSWER).
    pub tx_tag: Option<u64>,
    /// The tag of the stream this app receives, once known.
    pub rx_tag: Option<u64>,
    /// Bytes written so far (tag included).
    pub sent: u64,
    /// Bytes the app wants written so far (tag included).
    pub allowed: u64,
    /// Automatic payload bytes not yet scheduled.
    pub pending_auto: u64,
    /// Shut down the write half once `sent == allowed`.
    pub finish: bool,
    /// The write half is shut down (FIN sent).
    pub shut: bool,
    /// Bytes received and verified (tag included).
    pub received: u64,
    /// First bytes of a stream whose tag is not known yet.
    header: Vec<u8>,
    /// EOF was read.
    pub eof: bool,
    pub status: Status,
    /// The app at the other end of the tunnel, once the tag told.
    pub peer: Option<AppId>,
    /// The server's `active()` when this (server) app connected.
    pub active_at_connect: Option<ClientId>,
    /// Virtual time of the connect.
    pub connected_at: Duration,
    /// Server app: held for a client whose link was down, then carried by
    /// this one after a failover.
    pub moved_to: Option<ClientId>,
    /// A planned stop of a node on its way may have ended it with FIN
    /// before its peer finished.
    pub stop_cut: bool,
    /// Virtual time the app reached a final status.
    pub ended_at: Option<Duration>,
}

impl App {
    /// A new app in `Open` state (or `Refused` when `tcp` is `None`).
    pub fn new(id: AppId, role: AppRole, plan: AppPlan, tcp: Option<TcpId>, now: Duration) -> App {
        let status = if tcp.is_some() {
            Status::Open
        } else {
            Status::Refused
        };
        App {
            id,
            role,
            pending_auto: plan.bytes,
            finish: false,
            plan,
            tcp,
            tx_tag: None,
            rx_tag: None,
            sent: 0,
            allowed: 0,
            shut: false,
            received: 0,
            header: Vec::new(),
            eof: false,
            status,
            peer: None,
            active_at_connect: None,
            connected_at: now,
            moved_to: None,
            stop_cut: false,
            ended_at: if tcp.is_some() { None } else { Some(now) },
        }
    }

    /// Whether this is a backend.
    pub fn is_backend(&self) -> bool {
        matches!(self.role, AppRole::Backend { .. })
    }

    /// The node this app talks to over TCP.
    pub fn node(&self) -> Node {
        match &self.role {
            AppRole::Client { node, .. } | AppRole::Backend { node, .. } => *node,
        }
    }

    /// Payload bytes received (after the tag).
    pub fn payload_received(&self) -> u64 {
        self.received.saturating_sub(TAG_LEN)
    }

    /// Payload bytes sent (after the tag).
    pub fn payload_sent(&self) -> u64 {
        self.sent.saturating_sub(TAG_LEN)
    }

    /// Asks for `n` more payload bytes to be written (the tag goes first).
    pub fn want(&mut self, n: u64) {
        if n == 0 {
            return;
        }
        if self.allowed == 0 {
            self.allowed = TAG_LEN;
        }
        self.allowed += n;
    }

    /// Checks received bytes against the expected stream. Returns the tag
    /// learned when these bytes completed a backend's header.
    pub fn on_receive(&mut self, data: &[u8]) -> Result<Option<u64>, String> {
        let mut learned = None;
        let mut rest = data;
        if self.rx_tag.is_none() {
            let need = (TAG_LEN as usize).saturating_sub(self.header.len());
            let take = need.min(rest.len());
            self.header.extend_from_slice(&rest[..take]);
            self.received += take as u64;
            rest = &rest[take..];
            if self.header.len() == TAG_LEN as usize {
                let mut b = [0u8; 8];
                b.copy_from_slice(&self.header);
                let tag = u64::from_be_bytes(b);
                self.rx_tag = Some(tag);
                learned = Some(tag);
            }
        }
        if rest.is_empty() {
            return Ok(learned);
        }
        let tag = self.rx_tag.unwrap_or_default();
        if let Err((at, want, got)) = pattern::verify(tag, self.received, rest) {
            return Err(format!(
                "{} received a wrong byte at offset {at}: expected {want:#04x}, got {got:#04x} \
                 ({} bytes verified before this read of {})",
                self.id,
                self.received,
                rest.len()
            ));
        }
        self.received += rest.len() as u64;
        Ok(learned)
    }

    /// Bytes of the stream still wanted but not written.
    pub fn unsent(&self) -> u64 {
        self.allowed.saturating_sub(self.sent)
    }
}
