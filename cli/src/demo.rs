//! `tcpws demo`: a whole deployment in one process on free loopback ports
//! (server, client 1, client 2, echo backends), driven through both tunnel
//! directions, a switch and a planned stop's handover, narrated in a few
//! lines.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use tcpws_protocol::{ClientId, Config, Role};
use tcpws_runtime_mio::{ConnectSpec, ListenSpec, Node, NodeHandle, NodeSettings, ServerAddr};

/// How long listen sockets stay closed after the demo's switch.
const STANDBY_CLOSE: Duration = Duration::from_secs(2);
/// Bytes pushed through each tunnel direction.
const PAYLOAD: usize = 4 << 20;

/// A counting echo server on a free loopback port.
struct Echo {
    port: u16,
    accepted: Arc<AtomicUsize>,
}

impl Echo {
    fn start() -> io::Result<Echo> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let port = listener.local_addr()?.port();
        let accepted = Arc::new(AtomicUsize::new(0));
        let count = accepted.clone();
        thread::spawn(move || {
            for mut stream in listener.incoming().flatten() {
                count.fetch_add(1, Ordering::SeqCst);
                thread::spawn(move || {
                    let _ = stream.set_nodelay(true);
                    let mut buf = vec![0u8; 64 * 1024];
                    while let Ok(n) = stream.read(&mut buf) {
                        if n == 0 || stream.write_all(&buf[..n]).is_err() {
                            break;
                        }
                    }
                    let _ = stream.shutdown(Shutdown::Write);
                });
            }
        });
        Ok(Echo { port, accepted })
    }

    fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

fn free_port() -> io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn protocol_config(role: Role, listens: &[&str], connects: &[&str]) -> Config {
    let mut c = Config::new(role);
    c.listens = listens.iter().map(|s| s.to_string()).collect();
    c.connects = connects.iter().map(|s| s.to_string()).collect();
    c.standby_close = STANDBY_CLOSE;
    c.resume_grace = Duration::from_secs(2);
    c.keepalive_interval = Duration::from_secs(1);
    c.keepalive_timeout = Duration::from_secs(4);
    c.rng_seed = u64::from(std::process::id());
    c
}

fn listen(name: &str, port: u16) -> ListenSpec {
    ListenSpec {
        name: name.into(),
        bind_address: "127.0.0.1".into(),
        port,
    }
}

fn connect(name: &str, port: u16) -> ConnectSpec {
    ConnectSpec {
        name: name.into(),
        host: "127.0.0.1".into(),
        port,
    }
}

fn spawn(settings: NodeSettings) -> Result<(NodeHandle, JoinHandle<()>), String> {
    let node = Node::new(settings).map_err(|e| e.to_string())?;
    let handle = node.handle();
    let join = thread::spawn(move || {
        if let Err(e) = node.run() {
            eprintln!("node stopped with an error: {e}");
        }
    });
    Ok((handle, join))
}

fn wait_for(what: &str, limit: Duration, mut cond: impl FnMut() -> bool) -> Result<(), String> {
    let start = Instant::now();
    while !cond() {
        if start.elapsed() > limit {
            return Err(format!("timed out after {limit:?} waiting for {what}"));
        }
        thread::sleep(Duration::from_millis(5));
    }
    Ok(())
}

/// Sends `len` bytes through `port` while reading the echo; returns the time taken.
fn echo_bulk(port: u16, len: usize) -> Result<Duration, String> {
    let start = Instant::now();
    let stream =
        TcpStream::connect(("127.0.0.1", port)).map_err(|e| format!("connect {port}: {e}"))?;
    stream.set_nodelay(true).ok();
    let mut reader = stream.try_clone().map_err(|e| e.to_string())?;
    let data: Vec<u8> = (0..len).map(|i| (i * 31 % 251) as u8).collect();
    let expected = data.clone();
    let writer = thread::spawn(move || -> io::Result<()> {
        let mut s = stream;
        s.write_all(&data)?;
        s.shutdown(Shutdown::Write)
    });
    let mut back = Vec::with_capacity(len);
    reader
        .read_to_end(&mut back)
        .map_err(|e| format!("read echo: {e}"))?;
    writer
        .join()
        .map_err(|_| "writer panicked".to_string())?
        .map_err(|e| format!("write: {e}"))?;
    if back != expected {
        return Err(format!(
            "echo differs: {} of {len} bytes came back",
            back.len()
        ));
    }
    Ok(start.elapsed())
}

fn mib_per_s(len: usize, d: Duration) -> f64 {
    len as f64 / (1 << 20) as f64 / d.as_secs_f64().max(1e-9)
}

/// Runs the demo; returns a message on the first failure.
pub fn run() -> Result<(), String> {
    let io = |e: io::Error| e.to_string();
    let ws = free_port().map_err(io)?;
    let server_port = free_port().map_err(io)?;
    let client_ports = [free_port().map_err(io)?, free_port().map_err(io)?];
    let behind_client = [Echo::start().map_err(io)?, Echo::start().map_err(io)?];
    let behind_server = Echo::start().map_err(io)?;
    let server_addr = ServerAddr {
        host: "127.0.0.1".into(),
        port: ws,
        path: "/".into(),
        tls: false,
    };

    let server = NodeSettings {
        protocol: protocol_config(Role::Server, &["app"], &["office"]),
        server: server_addr.clone(),
        listens: vec![listen("app", server_port)],
        connects: vec![connect("office", behind_server.port)],
        tls: None,
        connect_timeout: Duration::from_secs(5),
        tcp_keepalive: Some(Duration::from_secs(60)),
        http_proxy: None,
    };
    let (server, server_join) = spawn(server)?;
    let mut clients = Vec::new();
    for (i, id) in [ClientId::One, ClientId::Two].into_iter().enumerate() {
        let settings = NodeSettings {
            protocol: protocol_config(Role::Client(id), &["office"], &["app"]),
            server: server_addr.clone(),
            listens: vec![listen("office", client_ports[i])],
            connects: vec![connect("app", behind_client[i].port)],
            tls: None,
            connect_timeout: Duration::from_secs(5),
            tcp_keepalive: Some(Duration::from_secs(60)),
            http_proxy: None,
        };
        clients.push(spawn(settings)?);
    }

    wait_for("both clients to connect", Duration::from_secs(10), || {
        let s = server.status();
        s.links_up == 2 && s.active == Some(ClientId::One) && s.listening.iter().all(|l| *l)
    })?;
    println!("1. server on ws://127.0.0.1:{ws}; client 1 and client 2 connected; client 1 is active (the default)");

    let d = echo_bulk(server_port, PAYLOAD)?;
    println!(
        "2. server-listen tunnel :{server_port} -> client 1 -> echo: {} MiB echoed intact in {:.0} ms ({:.0} MiB/s)",
        PAYLOAD >> 20,
        d.as_secs_f64() * 1e3,
        mib_per_s(PAYLOAD, d)
    );
    let d = echo_bulk(client_ports[0], PAYLOAD)?;
    println!(
        "3. client-listen tunnel :{} on client 1 -> server -> echo: {} MiB echoed intact in {:.0} ms",
        client_ports[0],
        PAYLOAD >> 20,
        d.as_secs_f64() * 1e3
    );

    // First data on the standby's listen socket makes it active.
    let mut trigger = TcpStream::connect(("127.0.0.1", client_ports[1])).map_err(io)?;
    trigger.set_nodelay(true).ok();
    let switch_started = Instant::now();
    trigger.write_all(b"first data on client 2").map_err(io)?;
    let mut back = [0u8; 22];
    trigger.read_exact(&mut back).map_err(io)?;
    wait_for("client 2 to become active", Duration::from_secs(5), || {
        server.status().active == Some(ClientId::Two)
    })?;
    let epoch = server.status().epoch;
    println!(
        "4. first data on client 2's listen socket :{}: client 2 is active (epoch {epoch}) after {:.0} ms; \
         the triggering connection echoed its bytes through the switch",
        client_ports[1],
        switch_started.elapsed().as_secs_f64() * 1e3
    );
    wait_for(
        "the server's listen socket to close",
        Duration::from_secs(1),
        || !server.status().listening[0],
    )?;
    wait_for(
        "the server's listen socket to reopen",
        STANDBY_CLOSE * 3,
        || server.status().listening[0],
    )?;
    println!(
        "5. the server closed its listen socket and reopened it {:.1} s later (standbySocketCloseDurationSecs = {})",
        switch_started.elapsed().as_secs_f64(),
        STANDBY_CLOSE.as_secs()
    );
    trigger.write_all(b"still here").map_err(io)?;
    let mut back = [0u8; 10];
    trigger.read_exact(&mut back).map_err(io)?;
    let before = behind_client[1].accepted();
    let d = echo_bulk(server_port, PAYLOAD)?;
    if behind_client[1].accepted() <= before {
        return Err("the server tunnel did not reach client 2 after the switch".into());
    }
    println!(
        "6. server-listen tunnel now reaches client 2: {} MiB echoed intact in {:.0} ms; the trigger connection still works",
        PAYLOAD >> 20,
        d.as_secs_f64() * 1e3
    );

    // A planned stop of the active client: it says Goodbye and the server
    // hands over at once, with no failover delay.
    drop(trigger);
    let stop_started = Instant::now();
    let (client2, client2_join) = clients.pop().ok_or("no client 2")?;
    client2.shutdown();
    wait_for("the handover to client 1", Duration::from_secs(2), || {
        server.status().active == Some(ClientId::One)
    })?;
    let handover = stop_started.elapsed();
    let _ = client2_join.join();
    wait_for("the server's listen socket", Duration::from_secs(1), || {
        server.status().listening[0]
    })?;
    let before = behind_client[0].accepted();
    let d = echo_bulk(server_port, PAYLOAD)?;
    if behind_client[0].accepted() <= before {
        return Err("the server tunnel did not reach client 1 after the handover".into());
    }
    println!(
        "7. client 2 stopped on purpose (as on SIGTERM): the server handed over to client 1 after {:.0} ms; \
         {} MiB echoed intact through client 1 in {:.0} ms",
        handover.as_secs_f64() * 1e3,
        PAYLOAD >> 20,
        d.as_secs_f64() * 1e3
    );

    server.shutdown();
    for (handle, _) in &clients {
        handle.shutdown();
    }
    let _ = server_join.join();
    for (_, join) in clients {
        let _ = join.join();
    }
    println!("8. the server and client 1 shut down cleanly; every byte arrived intact");
    Ok(())
}
