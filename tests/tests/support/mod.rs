//! End-to-end support: starts the real `tcpws` binary as a server and two
//! clients on free 127.0.0.1 ports, with echo backends, and waits on
//! conditions (never on fixed sleeps) with bounded deadlines.
#![allow(dead_code)]

pub mod nginx;
pub mod tinyproxy;
pub mod tls;
pub mod tools;

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Once};
use std::thread;
use std::time::{Duration, Instant};

/// The standby close window used by the tests, in seconds.
pub const STANDBY_CLOSE_SECS: u64 = 3;
/// The resume grace used by the tests, in seconds.
pub const GRACE_SECS: u64 = 2;

/// Path of the `tcpws` binary of this build profile, built on first use.
pub fn tcpws_bin() -> PathBuf {
    static BUILD: Once = Once::new();
    let exe = std::env::current_exe().expect("test executable path");
    // target/<profile>/deps/<test> -> target/<profile>/tcpws
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target profile directory")
        .to_path_buf();
    let release = profile_dir.file_name().is_some_and(|n| n == "release");
    BUILD.call_once(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.args(["build", "-q", "-p", "tcpws"]);
        // cargo gives this test the package's own CARGO_PKG_*, CARGO_MANIFEST_*
        // etc. Build scripts (ring's) rerun when those change, so passing them
        // on would rebuild ring here and again in the next `cargo test`.
        for (key, _) in std::env::vars_os() {
            let key = key.to_string_lossy();
            let per_package = [
                "CARGO_PKG_",
                "CARGO_MANIFEST_",
                "CARGO_CFG_",
                "CARGO_BIN_EXE_",
            ]
            .iter()
            .any(|p| key.starts_with(p))
                || [
                    "CARGO_CRATE_NAME",
                    "CARGO_PRIMARY_PACKAGE",
                    "CARGO_TARGET_TMPDIR",
                    "OUT_DIR",
                ]
                .contains(&key.as_ref());
            if per_package {
                cmd.env_remove(key.as_ref());
            }
        }
        if release {
            cmd.arg("--release");
        }
        let status = cmd.status().expect("run cargo build -p tcpws");
        assert!(status.success(), "cargo build -p tcpws failed");
    });
    let bin = profile_dir.join("tcpws");
    assert!(bin.exists(), "{} missing", bin.display());
    bin
}

/// A TCP port on 127.0.0.1 that is free now and that nothing else in
/// this test run will take before a node binds it.
///
/// A port from `bind(0)` is in the kernel's ephemeral range, so once it is
/// released an echo backend's `bind(0)` or any outgoing connection may get
/// it before the node under test binds it (seen: the server failed with
/// "address in use" while a backend answered on its port). These ports come
/// from below the ephemeral range instead, from a process-wide counter that
/// starts at an offset derived from the process id, each checked by binding
/// it. Falls back to `bind(0)` if the ephemeral range starts too low.
pub fn free_port() -> u16 {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    const LOW: usize = 10_000;
    let high = ephemeral_range_start().min(32_768);
    if high <= LOW + 1000 {
        return TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("bind an ephemeral port")
            .port();
    }
    let span = high - LOW;
    let offset = std::process::id() as usize * 7919 % span;
    for _ in 0..span {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let port = (LOW + (offset + n) % span) as u16;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port in {LOW}..{high}");
}

/// The first port of the kernel's ephemeral range (32768 if unknown).
fn ephemeral_range_start() -> usize {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(32_768)
}

/// Polls `cond` every 10 ms until it holds; panics naming `what` after `limit`.
pub fn wait_until(what: &str, limit: Duration, mut cond: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    loop {
        if cond() {
            return start.elapsed();
        }
        if start.elapsed() > limit {
            panic!("timed out after {limit:?} waiting for {what}");
        }
        thread::sleep(Duration::from_millis(10));
    }
}

/// Whether something accepts TCP connections on 127.0.0.1:port.
pub fn port_open(port: u16) -> bool {
    match TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_millis(500)) {
        Ok(s) => {
            let _ = s.shutdown(Shutdown::Both);
            true
        }
        Err(_) => false,
    }
}

/// A thread-per-connection echo server that counts its connections and
/// how they ended.
pub struct EchoBackend {
    pub port: u16,
    accepted: Arc<AtomicUsize>,
    /// Connections that ended with a clean EOF (the tunnel sent FIN).
    clean: Arc<AtomicUsize>,
    /// Connections that ended with a read error (a reset).
    reset: Arc<AtomicUsize>,
}

impl EchoBackend {
    pub fn start() -> EchoBackend {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind echo backend");
        let port = listener.local_addr().unwrap().port();
        let accepted = Arc::new(AtomicUsize::new(0));
        let clean = Arc::new(AtomicUsize::new(0));
        let reset = Arc::new(AtomicUsize::new(0));
        let (count, clean2, reset2) = (accepted.clone(), clean.clone(), reset.clone());
        thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                count.fetch_add(1, Ordering::SeqCst);
                let (clean, reset) = (clean2.clone(), reset2.clone());
                thread::spawn(move || {
                    let _ = stream.set_nodelay(true);
                    let mut buf = vec![0u8; 256 * 1024];
                    loop {
                        match stream.read(&mut buf) {
                            Ok(0) => {
                                clean.fetch_add(1, Ordering::SeqCst);
                                break;
                            }
                            Err(_) => {
                                reset.fetch_add(1, Ordering::SeqCst);
                                break;
                            }
                            Ok(n) => {
                                if stream.write_all(&buf[..n]).is_err() {
                                    reset.fetch_add(1, Ordering::SeqCst);
                                    return;
                                }
                            }
                        }
                    }
                    let _ = stream.shutdown(Shutdown::Write);
                });
            }
        });
        EchoBackend {
            port,
            accepted,
            clean,
            reset,
        }
    }

    /// Connections that ended with a clean EOF so far.
    pub fn clean_ends(&self) -> usize {
        self.clean.load(Ordering::SeqCst)
    }

    /// Connections that ended with a reset so far.
    pub fn reset_ends(&self) -> usize {
        self.reset.load(Ordering::SeqCst)
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

/// One running `tcpws` process and its directory.
pub struct Node {
    pub name: &'static str,
    pub dir: PathBuf,
    child: Option<Child>,
}

impl Node {
    /// Starts `tcpws run DIR`, its output going to `DIR/output.log`.
    pub fn start(name: &'static str, dir: PathBuf) -> Node {
        Node::start_with_env(name, dir, &[])
    }

    /// [`Node::start`] with extra environment variables (say, NOTIFY_SOCKET;
    /// an empty RUST_LOG leaves the config's level in force).
    pub fn start_with_env(name: &'static str, dir: PathBuf, env: &[(&str, &Path)]) -> Node {
        let log = std::fs::File::create(dir.join("output.log")).expect("create log");
        let child = Command::new(tcpws_bin())
            .arg("run")
            .arg(&dir)
            .env("RUST_LOG", "debug")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start tcpws");
        Node {
            name,
            dir,
            child: Some(child),
        }
    }

    /// Kills the process at once (SIGKILL), as a crash would.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Sends SIGTERM and returns at once; [`Node::terminate`] waits too.
    pub fn sigterm(&self) {
        if let Some(c) = &self.child {
            let _ = Command::new("kill").arg(c.id().to_string()).status();
        }
    }

    /// Sends SIGHUP (reload) and returns at once.
    pub fn sighup(&self) {
        if let Some(c) = &self.child {
            let _ = Command::new("kill")
                .args(["-HUP", &c.id().to_string()])
                .status();
        }
    }

    /// Asks the process to stop (SIGTERM) and returns its exit status.
    pub fn terminate(&mut self) -> Option<std::process::ExitStatus> {
        let mut c = self.child.take()?;
        let _ = Command::new("kill").arg(c.id().to_string()).status();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(Some(status)) = c.try_wait() {
                return Some(status);
            }
            if Instant::now() > deadline {
                let _ = c.kill();
                return c.wait().ok();
            }
            thread::sleep(Duration::from_millis(10));
        }
    }

    pub fn restart(&mut self) {
        self.kill();
        *self = Node::start(self.name, self.dir.clone());
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("output.log")).unwrap_or_default()
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Ports of one tunnel end per node.
#[derive(Debug, Clone, Copy)]
pub struct Ports {
    pub ws: u16,
    /// Server listen ports of tunnels "s1" and "s2".
    pub server: [u16; 2],
    /// Client listen ports of tunnels "c1" and "c2", per client.
    pub client1: [u16; 2],
    pub client2: [u16; 2],
}

/// Options for a cluster.
#[derive(Debug, Clone)]
pub struct Options {
    pub buffer_bytes: Option<u64>,
    /// Tunnel names the server connects (default: c1, c2).
    pub server_connects: Vec<&'static str>,
    /// Port client connects of "s1" go to instead of the echo backend.
    pub s1_target_override: Option<u16>,
    /// TLS per node, and how the harness reaches the server (None: plain
    /// ws:// everywhere).
    pub tls: Option<tls::ClusterTls>,
    /// Client links to wait for at start (2; 1 when client 2 is meant to be
    /// refused).
    pub expect_links: u64,
    /// `resumeGraceSecs` (default [`GRACE_SECS`]).
    pub grace_secs: u64,
    /// `standbySocketCloseDurationSecs` (default [`STANDBY_CLOSE_SECS`]).
    pub standby_close_secs: u64,
    /// Client 1 reaches the server through a [`CutProxy`], so a test can
    /// cut its WebSocket.
    pub proxy_client1: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            buffer_bytes: None,
            server_connects: vec!["c1", "c2"],
            s1_target_override: None,
            tls: None,
            expect_links: 2,
            grace_secs: GRACE_SECS,
            standby_close_secs: STANDBY_CLOSE_SECS,
            proxy_client1: false,
        }
    }
}

/// A server, client 1, client 2 and their echo backends.
pub struct Cluster {
    pub root: PathBuf,
    pub ports: Ports,
    pub server: Node,
    pub client1: Node,
    pub client2: Node,
    /// Backends behind client 1 and client 2 (tunnels s1, s2 share one per client).
    pub backend1: EchoBackend,
    pub backend2: EchoBackend,
    /// Backend behind the server (tunnels c1, c2).
    pub server_backend: EchoBackend,
    /// The harness's TLS client for the server's HTTP endpoints, if TLS.
    pub probe: Option<Arc<rustls::ClientConfig>>,
    /// Between client 1 and the server, with [`Options::proxy_client1`].
    pub proxy: Option<CutProxy>,
}

/// A fresh directory beside a cluster's (`<scratch>-<what>`), for a
/// component a test starts before the cluster (a proxy, nginx).
pub fn side_dir(test: &str, what: &str) -> PathBuf {
    scratch_dir(&format!("{test}-{what}"))
}

/// A fresh directory for `test`'s nodes under the system's temp directory.
pub fn scratch_dir(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tcpws-e2e-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create scratch dir");
    dir
}

/// Writes `json` as `dir/config.json`, creating `dir`.
pub fn write_config(dir: &Path, json: &serde_json::Value) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(
        dir.join("config.json"),
        serde_json::to_string_pretty(json).unwrap(),
    )
    .unwrap();
}

/// `node`: 0 for the server, 1 or 2 for a client; `ws` the port it dials
/// (or, on the server, listens on).
fn data_exchange(ws: u16, opts: &Options, node: usize) -> serde_json::Value {
    let mut dx = serde_json::json!({
        "serverUrl": format!("http://127.0.0.1:{ws}"),
        "resumeGraceSecs": opts.grace_secs,
        "keepaliveIntervalSecs": 1,
        "keepaliveTimeoutSecs": 4,
    });
    if let Some(b) = opts.buffer_bytes {
        dx["perConnectionBufferBytes"] = b.into();
    }
    if let Some(t) = &opts.tls {
        let node_tls = if node == 0 {
            &t.server
        } else {
            &t.clients[node - 1]
        };
        node_tls.apply(&mut dx, ws);
    }
    dx
}

fn logging() -> serde_json::Value {
    serde_json::json!({ "level": "DEBUG", "logToStdout": true, "daysToKeep": 1 })
}

impl Cluster {
    /// Starts the three nodes and waits until both clients are connected
    /// and client 1 is active.
    pub fn start(test: &str) -> Cluster {
        Cluster::start_with(test, Options::default())
    }

    pub fn start_with(test: &str, opts: Options) -> Cluster {
        Cluster::start_custom(test, opts, Ports::pick(), |_, _| {})
    }

    /// Waits until client `id` has logged that both its tunnel ports
    /// listen: the server counts a link before the client has read the
    /// welcome that opens them (seen: a connect refused right after start).
    pub fn wait_client_listening(&self, id: u8) {
        let node = if id == 1 {
            &self.client1
        } else {
            &self.client2
        };
        let lines = [0, 1].map(|i| {
            format!(
                "listening on 127.0.0.1:{} for tunnel",
                self.client_port(id, i)
            )
        });
        wait_until(
            &format!("client {id}'s listen sockets"),
            Duration::from_secs(20),
            || {
                let log = node.log();
                lines.iter().all(|l| log.contains(l.as_str()))
            },
        );
    }

    /// A GET on the server's HTTP port (over TLS when the server has it);
    /// the body of a 200 answer.
    pub fn http(&self, path: &str) -> io::Result<String> {
        match &self.probe {
            Some(config) => tls::https_get(config, self.ports.ws, path),
            None => http_get(self.ports.ws, path),
        }
    }

    /// Reads one of the server's Prometheus gauges (without labels).
    pub fn metric(&self, name: &str) -> Option<f64> {
        let body = self.http("/metrics").ok()?;
        body.lines().filter(|l| !l.starts_with('#')).find_map(|l| {
            let (k, v) = l.split_once(' ')?;
            (k == name).then(|| v.trim().parse().ok())?
        })
    }

    pub fn active(&self) -> Option<u8> {
        self.metric("tcpws_active_client").map(|v| v as u8)
    }

    pub fn wait_active(&self, client: u8) {
        wait_until(
            &format!("client {client} active"),
            Duration::from_secs(20),
            || self.active() == Some(client),
        );
    }

    pub fn wait_links(&self, n: u64) {
        wait_until(
            &format!("{n} client links up"),
            Duration::from_secs(20),
            || self.metric("tcpws_links_up") == Some(n as f64),
        );
    }

    /// The listen port of tunnel c1/c2 (`index` 0/1) on client `id`.
    pub fn client_port(&self, id: u8, index: usize) -> u16 {
        if id == 1 {
            self.ports.client1[index]
        } else {
            self.ports.client2[index]
        }
    }

    /// Prints every node's log; for failure diagnosis.
    pub fn dump_logs(&self) {
        for n in [&self.server, &self.client1, &self.client2] {
            eprintln!("===== {} =====\n{}", n.name, tail(&n.log(), 80));
        }
    }
}

impl Drop for Cluster {
    /// On failure, prints the logs and keeps the scratch directory for a
    /// closer look; on success, stops the nodes and removes it.
    fn drop(&mut self) {
        if thread::panicking() {
            self.dump_logs();
            eprintln!("logs and configs kept in {}", self.root.display());
            return;
        }
        for node in [&mut self.server, &mut self.client1, &mut self.client2] {
            node.kill();
        }
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

fn tail(s: &str, lines: usize) -> String {
    let all: Vec<&str> = s.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// A plain HTTP/1.0 GET against 127.0.0.1:port; returns the body.
pub fn http_get(port: u16, path: &str) -> io::Result<String> {
    match http_status(port, path)? {
        (200, body) => Ok(body),
        (status, _) => Err(io::Error::other(format!("HTTP status: {status}"))),
    }
}

/// A plain HTTP GET against 127.0.0.1:port; returns the status and body.
pub fn http_status(port: u16, path: &str) -> io::Result<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    let (head, body) = out
        .split_once("\r\n\r\n")
        .ok_or_else(|| io::Error::other("no HTTP head"))?;
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| io::Error::other(format!("no HTTP status in {head:?}")))?;
    Ok((status, body.to_string()))
}

/// The value of the Prometheus sample `sample` (name and labels, exactly
/// as written) in a `/metrics` body.
pub fn sample(body: &str, sample: &str) -> Option<f64> {
    body.lines().find_map(|l| {
        let (k, v) = l.rsplit_once(' ')?;
        (k == sample).then(|| v.trim().parse().ok())?
    })
}

/// Connects to 127.0.0.1:port with read/write timeouts and TCP_NODELAY.
pub fn connect(port: u16) -> TcpStream {
    let s =
        TcpStream::connect(("127.0.0.1", port)).unwrap_or_else(|e| panic!("connect {port}: {e}"));
    s.set_nodelay(true).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s.set_write_timeout(Some(Duration::from_secs(30))).unwrap();
    s
}

/// Connects, retrying while the port is closed (e.g. a listen socket
/// reopening), up to `limit`.
pub fn connect_when_open(port: u16, limit: Duration) -> TcpStream {
    let start = Instant::now();
    loop {
        if let Ok(s) = TcpStream::connect(("127.0.0.1", port)) {
            s.set_nodelay(true).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
            return s;
        }
        if start.elapsed() > limit {
            panic!("port {port} still closed after {limit:?}");
        }
        thread::sleep(Duration::from_millis(10));
    }
}

/// Writes `msg` and reads exactly as many bytes back, comparing them.
pub fn echo_once(s: &mut TcpStream, msg: &[u8]) {
    s.write_all(msg).expect("write to tunnel");
    let mut back = vec![0u8; msg.len()];
    s.read_exact(&mut back).expect("read echo from tunnel");
    assert_eq!(back, msg, "echo differs");
}

/// Whether the peer has closed the connection (EOF or reset) within `limit`.
pub fn closed_within(s: &mut TcpStream, limit: Duration) -> bool {
    s.set_read_timeout(Some(limit)).unwrap();
    let mut buf = [0u8; 1024];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e)
                if e.kind() == io::ErrorKind::WouldBlock || e.kind() == io::ErrorKind::TimedOut =>
            {
                return false
            }
            Err(_) => return true,
        }
    }
}

/// A TCP relay from a free port to `target` that can cut every connection
/// it carries at once, as a network blip would (both ends see a reset).
pub struct CutProxy {
    pub port: u16,
    live: Arc<std::sync::Mutex<Vec<TcpStream>>>,
    cuts: Arc<AtomicUsize>,
}

impl CutProxy {
    pub fn start(target: u16) -> CutProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        let port = listener.local_addr().unwrap().port();
        let live: Arc<std::sync::Mutex<Vec<TcpStream>>> = Arc::default();
        let cuts = Arc::new(AtomicUsize::new(0));
        let registry = live.clone();
        thread::spawn(move || {
            for inbound in listener.incoming() {
                let Ok(inbound) = inbound else { continue };
                let Ok(outbound) = TcpStream::connect(("127.0.0.1", target)) else {
                    continue;
                };
                let _ = inbound.set_nodelay(true);
                let _ = outbound.set_nodelay(true);
                {
                    let mut l = registry.lock().unwrap();
                    l.push(inbound.try_clone().unwrap());
                    l.push(outbound.try_clone().unwrap());
                }
                for (mut from, mut to) in [
                    (inbound.try_clone().unwrap(), outbound.try_clone().unwrap()),
                    (outbound, inbound),
                ] {
                    thread::spawn(move || {
                        let mut buf = vec![0u8; 256 * 1024];
                        loop {
                            match from.read(&mut buf) {
                                Ok(0) | Err(_) => break,
                                Ok(n) => {
                                    if to.write_all(&buf[..n]).is_err() {
                                        break;
                                    }
                                }
                            }
                        }
                        let _ = to.shutdown(Shutdown::Write);
                    });
                }
            }
        });
        CutProxy { port, live, cuts }
    }

    /// Cuts every connection through the proxy now; new ones still pass.
    pub fn cut(&self) {
        let mut l = self.live.lock().unwrap();
        for s in l.drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
        self.cuts.fetch_add(1, Ordering::SeqCst);
    }
}

/// Deterministic test data: a xorshift stream from `seed`.
pub fn pattern(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed | 1;
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// Sends `len` bytes of `pattern(seed)` through a tunnel to an echo backend
/// while reading the echo concurrently; returns (SHA-256 sent, SHA-256 received).
pub fn transfer_sha(port: u16, seed: u64, len: usize) -> ([u8; 32], [u8; 32]) {
    transfer_sha_with(port, seed, len, usize::MAX, || {})
}

/// [`transfer_sha`], calling `midway` once (on the reading side, while the
/// writer goes on) when `at` bytes of the echo have come back: a test
/// restarts a proxy there, mid-stream.
pub fn transfer_sha_with(
    port: u16,
    seed: u64,
    len: usize,
    at: usize,
    midway: impl FnOnce(),
) -> ([u8; 32], [u8; 32]) {
    use sha2::{Digest, Sha256};
    let mut midway = Some(midway);
    let stream = connect(port);
    let mut reader = stream.try_clone().unwrap();
    let writer = thread::spawn(move || {
        let mut stream = stream;
        let mut hash = Sha256::new();
        let mut left = len;
        let mut block_seed = seed;
        while left > 0 {
            let n = left.min(1 << 20);
            let chunk = pattern(block_seed, n);
            block_seed = block_seed.wrapping_add(1);
            hash.update(&chunk);
            stream.write_all(&chunk).expect("write bulk");
            left -= n;
        }
        stream.shutdown(Shutdown::Write).unwrap();
        let out: [u8; 32] = hash.finalize().into();
        out
    });
    let mut hash = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    let mut got = 0usize;
    loop {
        match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                hash.update(&buf[..n]);
                got += n;
                if got >= at {
                    if let Some(f) = midway.take() {
                        f();
                    }
                }
            }
            Err(e) => panic!("read bulk after {got} bytes: {e}"),
        }
    }
    let sent = writer.join().unwrap();
    assert_eq!(got, len, "received byte count");
    (sent, hash.finalize().into())
}

impl Ports {
    /// Free ports for a whole cluster, for a test that must know them
    /// before the nodes start (say, to put a relay in front of the server).
    pub fn pick() -> Ports {
        Ports {
            ws: free_port(),
            server: [free_port(), free_port()],
            client1: [free_port(), free_port()],
            client2: [free_port(), free_port()],
        }
    }
}

impl Cluster {
    /// Starts the three nodes as `opts` say on the given `ports`, with
    /// `edit` called on each node's config ("server", "client1",
    /// "client2") before the nodes start (a test adds or changes keys
    /// Options has none for), and waits as [`Cluster::start`] does.
    pub fn start_custom(
        test: &str,
        opts: Options,
        ports: Ports,
        edit: impl Fn(&str, &mut serde_json::Value),
    ) -> Cluster {
        let root = scratch_dir(test);
        let backend1 = EchoBackend::start();
        let backend2 = EchoBackend::start();
        let server_backend = EchoBackend::start();
        let listen = |name: &str, port: u16| serde_json::json!({"tunnelName": name, "listenBindAddress": "127.0.0.1", "listenPort": port});
        let connect = |name: &str, port: u16| serde_json::json!({"tunnelName": name, "connectToHost": "127.0.0.1", "connectToPort": port});
        let mut server_config = serde_json::json!({
            "weAreServer": true,
            "standbySocketCloseDurationSecs": opts.standby_close_secs,
            "dataExchange": data_exchange(ports.ws, &opts, 0),
            "logging": logging(),
            "tcpTunnelListens": [listen("s1", ports.server[0]), listen("s2", ports.server[1])],
            "tcpTunnelConnects": opts.server_connects.iter()
                .map(|n| connect(n, server_backend.port)).collect::<Vec<_>>(),
        });
        edit("server", &mut server_config);
        write_config(&root.join("server"), &server_config);
        let proxy = opts.proxy_client1.then(|| CutProxy::start(ports.ws));
        for (id, dir, lp, backend) in [
            (1, "client1", ports.client1, &backend1),
            (2, "client2", ports.client2, &backend2),
        ] {
            let ws = match (&proxy, id) {
                (Some(p), 1) => p.port,
                _ => ports.ws,
            };
            let s1_port = opts.s1_target_override.unwrap_or(backend.port);
            let mut config = serde_json::json!({
                "weAreServer": false,
                "clientId": id,
                "standbySocketCloseDurationSecs": opts.standby_close_secs,
                "dataExchange": data_exchange(ws, &opts, id),
                "logging": logging(),
                "tcpTunnelListens": [listen("c1", lp[0]), listen("c2", lp[1])],
                "tcpTunnelConnects": [connect("s1", s1_port), connect("s2", backend.port)],
            });
            edit(dir, &mut config);
            write_config(&root.join(dir), &config);
        }
        let server = Node::start("server", root.join("server"));
        let client1 = Node::start("client1", root.join("client1"));
        let cluster = Cluster {
            root: root.clone(),
            ports,
            server,
            client1,
            client2: Node::start("client2", root.join("client2")),
            backend1,
            backend2,
            server_backend,
            probe: opts.tls.as_ref().and_then(|t| t.probe.clone()),
            proxy,
        };
        cluster.wait_links(opts.expect_links);
        cluster.wait_active(1);
        for id in 1..=opts.expect_links.min(2) as u8 {
            cluster.wait_client_listening(id);
        }
        cluster
    }
}
