//! The tunnel under test: a server and client 1, each a `tcpws run HOME`
//! process, with configs written into a scratch directory that is removed
//! at the end.
//!
//! Tunnels, by the side that listens (the connect side dials a backend):
//! * `up-sink`, `up-echo`, `up-once`, `up-hold` (server listens, client 1
//!   connects);
//! * `down-sink`, `down-echo`, `down-once` (client 1 listens, the server
//!   connects).
//!
//! The processes are killed on every way out: [`Proc`]'s `Drop` (which
//! also runs while a panic unwinds), and the parent-death signal of
//! [`launch::tied`] for a bench that is itself killed.

use std::fs::File;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::backends::Kind;
use crate::certs::CertFiles;
use crate::error::BenchError;
use crate::launch;
use crate::options::Transport;

/// How long the tunnel gets to come up.
const START_LIMIT: Duration = Duration::from_secs(20);
/// How long a process gets to stop after SIGTERM before it is killed.
const STOP_LIMIT: Duration = Duration::from_secs(5);

/// Which side of the tunnel the bench connects to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Direction {
    /// The app connects to the server; client 1 dials the backend.
    ServerListen,
    /// The app connects to client 1; the server dials the backend.
    ClientListen,
}

impl Direction {
    pub const BOTH: [Direction; 2] = [Direction::ServerListen, Direction::ClientListen];

    /// The name in row ids.
    pub fn id(self) -> &'static str {
        match self {
            Direction::ServerListen => "server_listen",
            Direction::ClientListen => "client_listen",
        }
    }

    /// The name in the table.
    pub fn label(self) -> &'static str {
        match self {
            Direction::ServerListen => "srv-listen",
            Direction::ClientListen => "cli-listen",
        }
    }
}

/// A directory under the system temp dir, removed when dropped.
pub struct Scratch {
    pub path: PathBuf,
}

impl Scratch {
    /// `tcpws-bench-PID` in the temp dir. The directories of benches
    /// that were killed (their process is gone) are removed first.
    pub fn new() -> Result<Scratch, BenchError> {
        let temp = std::env::temp_dir();
        if let Ok(entries) = std::fs::read_dir(&temp) {
            for entry in entries.filter_map(Result::ok) {
                let name = entry.file_name();
                let pid = name
                    .to_str()
                    .and_then(|n| n.strip_prefix("tcpws-bench-"))
                    .and_then(|p| p.parse::<u32>().ok());
                if pid.is_some_and(|pid| !Path::new(&format!("/proc/{pid}")).exists()) {
                    let _ = std::fs::remove_dir_all(entry.path());
                }
            }
        }
        let path = temp.join(format!("tcpws-bench-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path)
            .map_err(BenchError::io(format!("create {}", path.display())))?;
        Ok(Scratch { path })
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// The backend ports the connect entries dial.
#[derive(Debug, Clone, Copy)]
pub struct Targets {
    /// A sink or a counted sink.
    pub sink: u16,
    pub echo: u16,
    pub once: u16,
    /// The hold backend, for a memory deployment.
    pub hold: Option<u16>,
}

/// The ports the bench connects to.
#[derive(Debug, Clone, Copy)]
pub struct Ports {
    /// The server's WebSocket (and HTTP) port.
    pub ws: u16,
    pub up_sink: u16,
    pub up_echo: u16,
    pub up_once: u16,
    pub up_hold: u16,
    pub down_sink: u16,
    pub down_echo: u16,
    pub down_once: u16,
}

impl Ports {
    /// The listen port of the tunnel going `direction` to the backend of
    /// `kind` (either sink: the one [`Targets::sink`] names).
    pub fn to(&self, kind: Kind, direction: Direction) -> u16 {
        match (kind, direction) {
            (Kind::Sink | Kind::Counted, Direction::ServerListen) => self.up_sink,
            (Kind::Sink | Kind::Counted, Direction::ClientListen) => self.down_sink,
            (Kind::Echo, Direction::ServerListen) => self.up_echo,
            (Kind::Echo, Direction::ClientListen) => self.down_echo,
            (Kind::Once, Direction::ServerListen) => self.up_once,
            (Kind::Once, Direction::ClientListen) => self.down_once,
            (Kind::Hold, _) => self.up_hold,
        }
    }
}

/// One running process of the bench: `tcpws run HOME`, or a peer's.
pub struct Proc {
    pub name: String,
    pub home: PathBuf,
    child: Option<Child>,
    /// Whether death by SIGTERM is a clean stop (see [`Proc::dies_on_sigterm`]).
    dies_on_sigterm: bool,
}

impl Proc {
    /// `tcpws run HOME` of the binary at `tcpws`.
    fn start(tcpws: &Path, name: String, home: PathBuf) -> Result<Proc, BenchError> {
        let mut command = launch::tied(tcpws);
        command.arg("run").arg(&home).env_remove("RUST_LOG");
        Proc::spawn(command, name, home)
    }

    /// Starts `command` (made with [`launch::tied`]) with no input and its
    /// output in `HOME/output.log`; `home` must exist.
    pub fn spawn(mut command: Command, name: String, home: PathBuf) -> Result<Proc, BenchError> {
        let output = File::create(home.join("output.log")).map_err(BenchError::io(format!(
            "create {}/output.log",
            home.display()
        )))?;
        let errors = output
            .try_clone()
            .map_err(BenchError::io("duplicate a log file"))?;
        command.stdin(Stdio::null()).stdout(output).stderr(errors);
        let child = command
            .spawn()
            .map_err(BenchError::io(format!("start the {name}")))?;
        Ok(Proc {
            name,
            home,
            child: Some(child),
            dies_on_sigterm: false,
        })
    }

    /// The same process, for a program with no SIGTERM handler of its own:
    /// being ended by that signal is how it stops cleanly, not a note.
    pub fn dies_on_sigterm(mut self) -> Proc {
        self.dies_on_sigterm = true;
        self
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// An error with the end of the logs if the process has exited.
    pub fn check_running(&mut self) -> Result<(), BenchError> {
        let Some(child) = self.child.as_mut() else {
            return Err(BenchError::Tunnel(format!("the {} was stopped", self.name)));
        };
        match child.try_wait() {
            Ok(None) => Ok(()),
            Ok(Some(status)) => Err(BenchError::Tunnel(format!(
                "the {} exited ({status}); its log ends:\n{}",
                self.name,
                self.log_tail(30)
            ))),
            Err(e) => Err(BenchError::Tunnel(format!(
                "cannot check the {}: {e}",
                self.name
            ))),
        }
    }

    /// Waits until the process listens on every one of `ports` of
    /// 127.0.0.1; an error with the end of its log if it exits first or
    /// takes longer than [`START_LIMIT`].
    pub fn wait_listening(&mut self, ports: &[u16]) -> Result<(), BenchError> {
        let start = Instant::now();
        while !ports.iter().all(|&port| listening(port)) {
            self.check_running()?;
            if start.elapsed() > START_LIMIT {
                let list: Vec<String> = ports.iter().map(u16::to_string).collect();
                let s = if ports.len() == 1 { "" } else { "s" };
                return Err(BenchError::Tunnel(format!(
                    "the {} did not listen on port{s} {} within {START_LIMIT:?}; \
                     its log ends:\n{}",
                    self.name,
                    list.join(", "),
                    self.log_tail(20)
                )));
            }
            thread::sleep(Duration::from_millis(5));
        }
        Ok(())
    }

    /// SIGTERM, then SIGKILL after [`STOP_LIMIT`]. Returns how it ended
    /// unless it stopped cleanly.
    pub fn stop(&mut self) -> Option<String> {
        let mut child = self.child.take()?;
        let pid = libc::pid_t::try_from(child.id()).unwrap_or(0);
        if pid > 0 {
            // SAFETY: kill sends a signal to our own child, which we have
            // not reaped yet, so the pid is still its.
            unsafe { libc::kill(pid, libc::SIGTERM) };
        }
        let deadline = Instant::now() + STOP_LIMIT;
        loop {
            match child.try_wait() {
                Ok(Some(status)) if status.success() => return None,
                Ok(Some(status))
                    if self.dies_on_sigterm && status.signal() == Some(libc::SIGTERM) =>
                {
                    return None
                }
                Ok(Some(status)) => return Some(format!("ended with {status} after SIGTERM")),
                Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(10)),
                _ => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Some(format!(
                        "did not stop within {STOP_LIMIT:?} of SIGTERM: killed"
                    ));
                }
            }
        }
    }

    /// Every line of the process's logs (stdout/stderr and its daily log
    /// files), which at level WARNING are the warnings and errors.
    pub fn log_lines(&self) -> Vec<String> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(&self.home)
            .map(|dir| {
                dir.filter_map(Result::ok)
                    .map(|e| e.path())
                    .filter(|p| p.extension().is_some_and(|x| x == "log"))
                    .collect()
            })
            .unwrap_or_default();
        files.sort();
        let mut lines = Vec::new();
        for f in files {
            if let Ok(text) = std::fs::read_to_string(&f) {
                lines.extend(text.lines().map(str::to_string));
            }
        }
        lines.dedup();
        lines
    }

    pub fn log_tail(&self, n: usize) -> String {
        let lines = self.log_lines();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A server and client 1 joined over one transport.
pub struct Deployment {
    pub transport: Transport,
    pub ports: Ports,
    pub server: Proc,
    pub client: Proc,
}

impl Deployment {
    /// Writes the configs under `dir`, starts both processes of the
    /// `tcpws` binary and waits until an echo goes through a tunnel of
    /// each direction. `certs` are needed for [`Transport::Wss`].
    pub fn start(
        tcpws: &Path,
        dir: &Path,
        transport: Transport,
        targets: Targets,
        certs: Option<&CertFiles>,
    ) -> Result<Deployment, BenchError> {
        let ports = Ports {
            ws: free_port()?,
            up_sink: free_port()?,
            up_echo: free_port()?,
            up_once: free_port()?,
            up_hold: free_port()?,
            down_sink: free_port()?,
            down_echo: free_port()?,
            down_once: free_port()?,
        };
        let (server_json, client_json) = configs(transport, &ports, targets, certs)?;
        let mut homes = Vec::new();
        for (name, config) in [("server", server_json), ("client1", client_json)] {
            let home = dir.join(name);
            std::fs::create_dir_all(&home)
                .map_err(BenchError::io(format!("create {}", home.display())))?;
            let path = home.join("config.json");
            let text = serde_json::to_string_pretty(&config).unwrap_or_default();
            std::fs::write(&path, text)
                .map_err(BenchError::io(format!("write {}", path.display())))?;
            homes.push(home);
        }
        let mut server = Proc::start(tcpws, format!("{transport} server"), homes[0].clone())?;
        // Client 1 starts once the server listens, so that it connects at
        // its first try instead of logging a refusal and backing off.
        server.wait_listening(&[ports.ws])?;
        let client = Proc::start(tcpws, format!("{transport} client 1"), homes[1].clone())?;
        let mut d = Deployment {
            transport,
            ports,
            server,
            client,
        };
        d.wait_ready()?;
        Ok(d)
    }

    fn wait_ready(&mut self) -> Result<(), BenchError> {
        let start = Instant::now();
        for direction in Direction::BOTH {
            let port = self.ports.to(Kind::Echo, direction);
            loop {
                self.check_running()?;
                if echo_probe(port) {
                    break;
                }
                if start.elapsed() > START_LIMIT {
                    return Err(BenchError::Tunnel(format!(
                        "the {} tunnel did not carry an echo ({}, port {port}) within {START_LIMIT:?}; \
                         server log:\n{}\nclient 1 log:\n{}",
                        self.transport,
                        direction.label(),
                        self.server.log_tail(20),
                        self.client.log_tail(20)
                    )));
                }
                thread::sleep(Duration::from_millis(20));
            }
        }
        Ok(())
    }

    /// An error if either process has exited.
    pub fn check_running(&mut self) -> Result<(), BenchError> {
        check_all(&mut [&mut self.server, &mut self.client])
    }

    /// `e`, a failed case, with what the processes say: an exit if one has
    /// gone, else the end of both logs.
    pub fn explain(&mut self, e: BenchError) -> BenchError {
        explain_all(&mut [&mut self.server, &mut self.client], e)
    }

    /// Stops both processes; returns what they logged (warnings and
    /// errors), each line prefixed with the process name, and how any
    /// process that did not stop cleanly ended.
    pub fn stop(mut self) -> Vec<String> {
        // Client 1 first: a client whose server has gone logs its
        // reconnect attempts as warnings.
        stop_all(&mut [&mut self.client, &mut self.server])
    }
}

/// An error, with what `procs` (the processes that carry it) say, unless
/// one byte sent to `port` comes back; `what` names the route.
pub fn expect_echo(procs: &mut [Proc], port: u16, what: &str) -> Result<(), BenchError> {
    if echo_probe(port) {
        return Ok(());
    }
    let mut all: Vec<&mut Proc> = procs.iter_mut().collect();
    Err(explain_all(
        &mut all,
        BenchError::Tunnel(format!("{what} did not carry an echo (port {port})")),
    ))
}

/// An error if any of `procs` has exited.
pub fn check_all(procs: &mut [&mut Proc]) -> Result<(), BenchError> {
    procs.iter_mut().try_for_each(|p| p.check_running())
}

/// `e`, a failed case, with what `procs` (the processes that carried it)
/// say: an exit if one has gone, else the end of every log.
pub fn explain_all(procs: &mut [&mut Proc], e: BenchError) -> BenchError {
    if let Err(gone) = check_all(procs) {
        return BenchError::Tunnel(format!("{e}\n{gone}"));
    }
    let mut text = e.to_string();
    for p in procs.iter() {
        text.push_str(&format!("\n{} log ends:\n{}", p.name, p.log_tail(20)));
    }
    BenchError::Tunnel(text)
}

/// Stops `procs` in order; returns what they logged, each line prefixed
/// with the process name, and how any that did not stop cleanly ended.
pub fn stop_all(procs: &mut [&mut Proc]) -> Vec<String> {
    let mut notes = Vec::new();
    for p in procs.iter_mut() {
        if let Some(ended) = p.stop() {
            notes.push(format!("{}: {ended}", p.name));
        }
        notes.extend(
            p.log_lines()
                .into_iter()
                .map(|l| format!("{}: {l}", p.name)),
        );
    }
    notes
}

/// The server's and client 1's config.json.
fn configs(
    transport: Transport,
    ports: &Ports,
    targets: Targets,
    certs: Option<&CertFiles>,
) -> Result<(serde_json::Value, serde_json::Value), BenchError> {
    let logging = json!({"level": "WARNING", "logToStdout": false, "daysToKeep": 1});
    let (scheme, tls) = match transport {
        Transport::Ws => ("http", None),
        Transport::Wss => match certs {
            Some(c) => ("https", Some(c)),
            None => {
                return Err(BenchError::Tunnel(
                    "wss needs certificates (a bench bug)".into(),
                ))
            }
        },
        Transport::Raw => {
            return Err(BenchError::Tunnel(
                "raw loopback has no tunnel to start (a bench bug)".into(),
            ))
        }
    };
    let url = format!("{scheme}://127.0.0.1:{}", ports.ws);
    let mut server_dx = json!({"serverUrl": url, "serverBindAddress": "127.0.0.1"});
    let mut client_dx = json!({"serverUrl": url});
    if let Some(c) = tls {
        server_dx["tlsBundleFilePath"] = c.bundle.display().to_string().into();
        client_dx["mutualTLSTrustedCACertificateBundleFilePath"] =
            c.ca.display().to_string().into();
    }
    // (name, listen port, backend port) of the tunnels of each direction.
    let mut up = vec![
        ("up-sink", ports.up_sink, targets.sink),
        ("up-echo", ports.up_echo, targets.echo),
        ("up-once", ports.up_once, targets.once),
    ];
    if let Some(hold) = targets.hold {
        up.push(("up-hold", ports.up_hold, hold));
    }
    let down = [
        ("down-sink", ports.down_sink, targets.sink),
        ("down-echo", ports.down_echo, targets.echo),
        ("down-once", ports.down_once, targets.once),
    ];
    let listens = |tunnels: &[(&str, u16, u16)]| -> Vec<serde_json::Value> {
        tunnels
            .iter()
            .map(|&(name, port, _)| {
                json!({"tunnelName": name, "listenBindAddress": "127.0.0.1", "listenPort": port})
            })
            .collect()
    };
    let connects = |tunnels: &[(&str, u16, u16)]| -> Vec<serde_json::Value> {
        tunnels
            .iter()
            .map(|&(name, _, port)| {
                json!({"tunnelName": name, "connectToHost": "127.0.0.1", "connectToPort": port})
            })
            .collect()
    };
    let server = json!({
        "weAreServer": true,
        "dataExchange": server_dx,
        "logging": logging,
        "tcpTunnelListens": listens(&up),
        "tcpTunnelConnects": connects(&down),
    });
    let client = json!({
        "weAreServer": false,
        "clientId": 1,
        "dataExchange": client_dx,
        "logging": logging,
        "tcpTunnelListens": listens(&down),
        "tcpTunnelConnects": connects(&up),
    });
    Ok((server, client))
}

/// A free TCP port on 127.0.0.1 (bound and released at once).
pub fn free_port() -> Result<u16, BenchError> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(BenchError::io("find a free loopback port"))
}

/// Whether a socket listens on 127.0.0.1:port, from `/proc/net/tcp`
/// (connecting to find out would make the server log a failed handshake).
pub fn listening(port: u16) -> bool {
    std::fs::read_to_string("/proc/net/tcp").is_ok_and(|table| listening_in(&table, port))
}

/// Whether `/proc/net/tcp` text has a LISTEN (state 0A) socket bound to
/// 127.0.0.1 or 0.0.0.0 at `port`.
fn listening_in(table: &str, port: u16) -> bool {
    let wanted = [
        format!("0100007F:{port:04X}"),
        format!("00000000:{port:04X}"),
    ];
    table.lines().skip(1).any(|line| {
        let mut fields = line.split_whitespace().skip(1);
        let (Some(local), Some(_remote), Some(state)) =
            (fields.next(), fields.next(), fields.next())
        else {
            return false;
        };
        state == "0A" && wanted.iter().any(|w| w == local)
    })
}

/// Whether one byte sent to 127.0.0.1:port comes back.
pub fn echo_probe(port: u16) -> bool {
    let probe = || -> std::io::Result<bool> {
        let mut s =
            TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_secs(1))?;
        s.set_read_timeout(Some(Duration::from_secs(2)))?;
        s.write_all(b"?")?;
        let mut b = [0u8; 1];
        s.read_exact(&mut b)?;
        Ok(&b == b"?")
    };
    probe().unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_sockets_from_proc_net_tcp() {
        let table = "  sl  local_address rem_address   st tx_queue rx_queue\n\
            0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000\n\
            1: 0100007F:1F91 0100007F:9C40 01 00000000:00000000 00:00000000\n\
            2: 00000000:0050 00000000:0000 0A 00000000:00000000 00:00000000\n";
        assert!(listening_in(table, 8080));
        assert!(!listening_in(table, 8081), "established, not listening");
        assert!(listening_in(table, 80));
        assert!(!listening_in(table, 443));
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        assert!(listening(l.local_addr().unwrap().port()));
    }

    #[test]
    fn configs_pair_every_listen_with_a_connect() {
        let ports = Ports {
            ws: 1,
            up_sink: 2,
            up_echo: 3,
            up_once: 7,
            up_hold: 4,
            down_sink: 5,
            down_echo: 6,
            down_once: 8,
        };
        let targets = Targets {
            sink: 10,
            echo: 11,
            once: 13,
            hold: Some(12),
        };
        let certs = CertFiles {
            bundle: "/b.pem".into(),
            ca: "/ca.pem".into(),
            chain: "/c.pem".into(),
            key: "/k.pem".into(),
        };
        let (s, c) = configs(Transport::Wss, &ports, targets, Some(&certs)).unwrap();
        let names = |v: &serde_json::Value, key: &str| -> Vec<String> {
            v[key]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t["tunnelName"].as_str().unwrap().to_string())
                .collect()
        };
        assert_eq!(
            names(&s, "tcpTunnelListens"),
            names(&c, "tcpTunnelConnects")
        );
        assert_eq!(
            names(&c, "tcpTunnelListens"),
            names(&s, "tcpTunnelConnects")
        );
        assert_eq!(s["dataExchange"]["serverUrl"], "https://127.0.0.1:1");
        assert_eq!(s["dataExchange"]["tlsBundleFilePath"], "/b.pem");
        assert_eq!(
            c["dataExchange"]["mutualTLSTrustedCACertificateBundleFilePath"],
            "/ca.pem"
        );
        assert_eq!(s["logging"]["level"], "WARNING");
        // The configs are valid for tcpws itself.
        for v in [&s, &c] {
            let (_, warnings) = tcpws::config::parse(&v.to_string()).unwrap();
            assert!(warnings.is_empty(), "{warnings:?}");
        }
        let (s, _) = configs(
            Transport::Ws,
            &ports,
            Targets {
                hold: None,
                ..targets
            },
            None,
        )
        .unwrap();
        assert_eq!(s["dataExchange"]["serverUrl"], "http://127.0.0.1:1");
        assert_eq!(
            names(&s, "tcpTunnelListens"),
            ["up-sink", "up-echo", "up-once"]
        );
        assert!(configs(Transport::Raw, &ports, targets, None).is_err());
    }
}
