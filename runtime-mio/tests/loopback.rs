//! A server node and a client-1 node on loopback, in threads, with a
//! std-thread echo backend: tunnels both ways, bulk transfers compared byte
//! for byte, the HTTP endpoints, and garbage on the WebSocket port.
//!
//! No sleeps stand in for conditions: every wait polls a status handle or a
//! socket with a bounded deadline.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

mod support;

use support::*;
use tcpws_protocol::{ClientId, Config, Role};
use tcpws_runtime_mio::{ConnectSpec, ListenSpec, Node, NodeSettings, ServerAddr};

struct Ports {
    ws: u16,
    server_listen: u16,
    client_listen: u16,
}

fn protocol(role: Role, listens: &[&str], connects: &[&str]) -> Config {
    let mut config = Config::new(role);
    config.listens = listens.iter().map(|s| s.to_string()).collect();
    config.connects = connects.iter().map(|s| s.to_string()).collect();
    config
}

fn server_addr(port: u16) -> ServerAddr {
    ServerAddr {
        host: "127.0.0.1".into(),
        port,
        path: "/tunnel".into(),
        tls: false,
    }
}

fn fresh_ports() -> Ports {
    Ports {
        ws: free_port(),
        server_listen: free_port(),
        client_listen: free_port(),
    }
}

/// The server listens for "to-client" and connects "to-server" to
/// `target_port`.
fn server_settings(ports: &Ports, target_port: u16) -> NodeSettings {
    NodeSettings {
        protocol: protocol(Role::Server, &["to-client"], &["to-server"]),
        server: server_addr(ports.ws),
        listens: vec![ListenSpec {
            name: "to-client".into(),
            bind_address: "127.0.0.1".into(),
            port: ports.server_listen,
        }],
        connects: vec![ConnectSpec {
            name: "to-server".into(),
            host: "127.0.0.1".into(),
            port: target_port,
        }],
        tls: None,
        connect_timeout: Duration::from_secs(5),
        tcp_keepalive: Some(Duration::from_secs(60)),
        http_proxy: None,
    }
}

/// Client 1 listens for "to-server" and connects "to-client" to `target_port`.
fn client_settings(ports: &Ports, target_port: u16) -> NodeSettings {
    NodeSettings {
        protocol: protocol(Role::Client(ClientId::One), &["to-server"], &["to-client"]),
        server: server_addr(ports.ws),
        listens: vec![ListenSpec {
            name: "to-server".into(),
            bind_address: "127.0.0.1".into(),
            port: ports.client_listen,
        }],
        connects: vec![ConnectSpec {
            name: "to-client".into(),
            host: "127.0.0.1".into(),
            port: target_port,
        }],
        tls: None,
        connect_timeout: Duration::from_secs(5),
        tcp_keepalive: Some(Duration::from_secs(60)),
        http_proxy: None,
    }
}

fn wait_connected(server: &Running, client: &Running) {
    wait_for(
        &server.handle,
        "the server to see client 1 and listen",
        |s| s.links_up == 1 && s.listening == [true],
    );
    wait_for(&client.handle, "client 1 to connect and listen", |s| {
        s.links_up == 1 && s.listening == [true]
    });
}

/// Both nodes with every tunnel target at the echo backend, connected.
fn start_pair(echo: &Echo) -> (Running, Running, Ports) {
    let ports = fresh_ports();
    let server = Running::start(server_settings(&ports, echo.port));
    let client = Running::start(client_settings(&ports, echo.port));
    wait_connected(&server, &client);
    (server, client, ports)
}

fn connect(port: u16) -> TcpStream {
    let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream.set_read_timeout(Some(WAIT)).unwrap();
    stream.set_nodelay(true).unwrap();
    stream
}

fn echo_line(port: u16, line: &str) {
    let mut stream = connect(port);
    stream.write_all(line.as_bytes()).unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut got = String::new();
    reader.read_line(&mut got).unwrap();
    assert_eq!(got, line);
    stream.shutdown(Shutdown::Write).unwrap();
    let mut rest = Vec::new();
    reader.read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty(), "nothing after the echo, then EOF");
}

/// Sends `len` patterned bytes through `port` and checks the echo byte for
/// byte, writing and reading concurrently.
fn bulk_echo(port: u16, len: usize) {
    let pattern = |i: usize| (i.wrapping_mul(31) ^ (i >> 11)) as u8;
    let stream = connect(port);
    let mut writer = stream.try_clone().unwrap();
    let sender = thread::spawn(move || {
        let mut chunk = vec![0u8; 64 * 1024];
        let mut sent = 0;
        while sent < len {
            let n = chunk.len().min(len - sent);
            for (j, b) in chunk[..n].iter_mut().enumerate() {
                *b = pattern(sent + j);
            }
            writer.write_all(&chunk[..n]).unwrap();
            sent += n;
        }
        writer.shutdown(Shutdown::Write).unwrap();
    });
    let mut reader = stream;
    let mut buf = vec![0u8; 64 * 1024];
    let mut received = 0;
    loop {
        let n = reader.read(&mut buf).expect("echo keeps flowing");
        if n == 0 {
            break;
        }
        for (j, &b) in buf[..n].iter().enumerate() {
            assert_eq!(b, pattern(received + j), "byte {} differs", received + j);
        }
        received += n;
    }
    sender.join().unwrap();
    assert_eq!(received, len, "every byte came back before EOF");
}

fn http_get(port: u16, path: &str) -> (String, String) {
    let mut stream = connect(port);
    write!(stream, "GET {path} HTTP/1.1\r\nHost: test\r\n\r\n").unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").expect("a complete response");
    (
        head.lines().next().unwrap_or("").to_string(),
        body.to_string(),
    )
}

#[test]
fn tunnels_bulk_http_and_garbage() {
    let _ = env_logger::builder().is_test(true).try_init();
    let echo = Echo::start();
    let (server, client, ports) = start_pair(&echo);

    // Server-listen tunnel: app -> server -> client 1 -> echo.
    echo_line(ports.server_listen, "hello through the server\n");
    // Client-listen tunnel: app -> client 1 -> server -> echo.
    echo_line(ports.client_listen, "hello through the client\n");

    // Health and metrics on the WebSocket port.
    let (status, body) = http_get(ports.ws, "/healthz");
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert!(body.starts_with("ok\nrole server\nactive "), "{body:?}");
    let (status, body) = http_get(ports.ws, "/metrics");
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert!(body.contains("tcpws_links_up 1\n"), "{body}");
    assert!(
        body.contains("tcpws_listening{tunnel=\"to-client\"} 1\n"),
        "{body}"
    );
    let (status, _) = http_get(ports.ws, "/nowhere");
    assert_eq!(status, "HTTP/1.1 404 Not Found");

    // Garbage on the WebSocket port is answered and closed while a tunnel
    // stream stays open and keeps working.
    let mut open = connect(ports.server_listen);
    open.write_all(b"before\n").unwrap();
    let mut open_reader = BufReader::new(open.try_clone().unwrap());
    let mut line = String::new();
    open_reader.read_line(&mut line).unwrap();
    assert_eq!(line, "before\n");
    for garbage in [
        &b"\x16\x03\x01\x00\xff garbage"[..],
        b"\x00\x01\x02\x03\r\n\r\n",
        b"NOT HTTP AT ALL\r\n",
    ] {
        let mut bad = connect(ports.ws);
        bad.write_all(garbage).unwrap();
        let mut answer = Vec::new();
        match bad.read_to_end(&mut answer) {
            Ok(_) => assert!(
                answer.is_empty() || answer.starts_with(b"HTTP/1.1 400"),
                "unexpected answer {:?}",
                String::from_utf8_lossy(&answer)
            ),
            Err(e) => assert_eq!(e.kind(), io::ErrorKind::ConnectionReset),
        }
    }
    // A WebSocket peer that sends text is closed with a reason; the real
    // client's link is not disturbed.
    let url = format!("ws://127.0.0.1:{}/tunnel", ports.ws);
    let (mut rogue, _) = tungstenite::connect(url.as_str()).expect("upgrade accepted");
    rogue.send(tungstenite::Message::text("hello?")).unwrap();
    let reason = loop {
        match rogue.read() {
            Ok(tungstenite::Message::Close(frame)) => break frame.map(|f| f.reason.to_string()),
            Ok(_) => continue,
            Err(e) => panic!("expected a close frame, got {e}"),
        }
    };
    assert!(
        reason.as_deref().unwrap_or("").contains("text message"),
        "{reason:?}"
    );
    drop(rogue);
    open.write_all(b"after\n").unwrap();
    line.clear();
    open_reader.read_line(&mut line).unwrap();
    assert_eq!(line, "after\n");
    drop(open_reader);
    drop(open);
    assert_eq!(
        server.handle.status().links_up,
        1,
        "the link survived the garbage"
    );

    // 10 MB each way, byte for byte.
    const TEN_MB: usize = 10 * 1000 * 1000;
    bulk_echo(ports.server_listen, TEN_MB);
    bulk_echo(ports.client_listen, TEN_MB);

    let stats = server.handle.status().stats;
    assert!(stats.bytes_from_apps >= TEN_MB as u64, "{stats:?}");
    assert!(stats.bytes_to_apps >= TEN_MB as u64, "{stats:?}");

    client.stop();
    server.stop();
}

#[test]
fn server_port_in_use_is_an_error_that_names_it() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let err = Node::new(NodeSettings {
        protocol: protocol(Role::Server, &[], &[]),
        server: server_addr(port),
        listens: vec![],
        connects: vec![],
        tls: None,
        connect_timeout: Duration::from_secs(5),
        tcp_keepalive: Some(Duration::from_secs(60)),
        http_proxy: None,
    })
    .err()
    .expect("binding a taken port fails");
    assert_eq!(
        err.to_string(),
        format!("cannot listen on 127.0.0.1:{port} for the WebSocket: address in use")
    );
}

#[test]
fn shutdown_before_run_returns_promptly() {
    let node = Node::new(NodeSettings {
        protocol: protocol(Role::Server, &[], &[]),
        server: server_addr(free_port()),
        listens: vec![],
        connects: vec![],
        tls: None,
        connect_timeout: Duration::from_secs(5),
        tcp_keepalive: Some(Duration::from_secs(60)),
        http_proxy: None,
    })
    .unwrap();
    node.handle().shutdown();
    let started = Instant::now();
    node.run().unwrap();
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn client_reconnects_after_the_server_restarts() {
    let _ = env_logger::builder().is_test(true).try_init();
    let echo = Echo::start();
    let (server, client, ports) = start_pair(&echo);
    echo_line(ports.client_listen, "before the restart\n");
    server.stop();
    wait_for(&client.handle, "client 1 to lose the server", |s| {
        s.links_up == 0
    });
    let server = Running::start(server_settings(&ports, echo.port));
    wait_connected(&server, &client);
    echo_line(ports.server_listen, "after the restart, via the server\n");
    echo_line(ports.client_listen, "after the restart, via the client\n");
    client.stop();
    server.stop();
}

/// Connects through `port` to a target the far end cannot reach: the app
/// sees its connection end (clean or reset) with no data.
fn expect_closed_without_data(port: u16) {
    let mut app = connect(port);
    // The write may race the refusal; either way the app sees the end.
    let _ = app.write_all(b"is anybody there?\n");
    let mut rest = Vec::new();
    match app.read_to_end(&mut rest) {
        Ok(_) => assert!(rest.is_empty(), "no data from an unreachable target"),
        Err(e) => assert_eq!(e.kind(), io::ErrorKind::ConnectionReset, "{e}"),
    }
}

#[test]
fn unreachable_target_closes_the_app_connection() {
    let _ = env_logger::builder().is_test(true).try_init();
    let echo = Echo::start();
    let ports = fresh_ports();
    let dead = free_port();
    let server = Running::start(server_settings(&ports, dead));
    let client = Running::start(client_settings(&ports, echo.port));
    wait_connected(&server, &client);
    expect_closed_without_data(ports.client_listen);
    // The other tunnel is unaffected.
    echo_line(ports.server_listen, "still fine\n");
    client.stop();
    server.stop();
}

#[test]
fn named_targets_resolve_off_the_loop() {
    let _ = env_logger::builder().is_test(true).try_init();
    let echo = Echo::start();
    let ports = fresh_ports();
    let mut settings = server_settings(&ports, echo.port);
    settings.connects[0].host = "localhost".into();
    let server = Running::start(settings);
    let client = Running::start(client_settings(&ports, echo.port));
    wait_connected(&server, &client);
    echo_line(ports.client_listen, "to a named target\n");
    bulk_echo(ports.client_listen, 256 * 1024);
    client.stop();
    server.stop();
}

#[test]
fn an_unresolvable_target_closes_only_that_connection() {
    let _ = env_logger::builder().is_test(true).try_init();
    let echo = Echo::start();
    let ports = fresh_ports();
    let mut settings = server_settings(&ports, echo.port);
    settings.connects[0].host = "no-such-host.invalid".into();
    let server = Running::start(settings);
    let client = Running::start(client_settings(&ports, echo.port));
    wait_connected(&server, &client);
    expect_closed_without_data(ports.client_listen);
    echo_line(ports.server_listen, "the other direction is fine\n");
    client.stop();
    server.stop();
}

#[test]
fn many_concurrent_streams_share_one_link() {
    let _ = env_logger::builder().is_test(true).try_init();
    let echo = Echo::start();
    let (server, client, ports) = start_pair(&echo);
    let workers: Vec<_> = (0..16)
        .map(|i| {
            let port = if i % 2 == 0 {
                ports.server_listen
            } else {
                ports.client_listen
            };
            thread::spawn(move || bulk_echo(port, 512 * 1024 + i * 1000))
        })
        .collect();
    for w in workers {
        w.join().expect("every stream echoes intact");
    }
    assert_eq!(server.handle.status().links_up, 1);
    client.stop();
    server.stop();
}

#[test]
fn a_tls_server_without_its_bundle_is_an_error_naming_the_key() {
    let mut server = server_addr(free_port());
    server.tls = true;
    let err = Node::new(NodeSettings {
        protocol: protocol(Role::Server, &[], &[]),
        server,
        listens: vec![],
        connects: vec![],
        tls: Some(tcpws_runtime_mio::TlsSettings {
            bundle: None,
            mutual: false,
            trusted_ca: None,
            trusted_peers: None,
            client_certificates: None,
        }),
        connect_timeout: Duration::from_secs(5),
        tcp_keepalive: Some(Duration::from_secs(60)),
        http_proxy: None,
    })
    .err()
    .expect("a TLS server needs its key and certificate");
    assert!(
        err.to_string().contains("dataExchange.tlsBundleFilePath"),
        "{err}"
    );
}

/// A tunnel port taken by someone else when the protocol wants it: the
/// failure goes to the protocol, which asks again until the port is free.
#[test]
fn a_taken_tunnel_port_is_bound_once_it_is_free() {
    let echo = Echo::start();
    let ports = fresh_ports();
    let taken = TcpListener::bind(("127.0.0.1", ports.client_listen)).unwrap();
    let server = Running::start(server_settings(&ports, echo.port));
    let client = Running::start(client_settings(&ports, echo.port));
    // The welcome (which tells who is active) and the bind it asks for are
    // one turn of the loop: once the client knows, the bind has failed.
    wait_for(&client.handle, "client 1's session", |s| {
        s.links_up == 1 && s.active.is_some()
    });
    assert_eq!(client.handle.status().listening, [false]);
    drop(taken);
    wait_for(&client.handle, "the freed port to be bound", |s| {
        s.listening == [true]
    });
    echo_line(ports.client_listen, "after the port was freed\n");
    drop(server);
}

/// A WebSocket to the server's port that has done only the HTTP upgrade
/// (no tcpws handshake), and its plain socket for raw frames.
fn rogue_websocket(
    ws_port: u16,
) -> (
    tungstenite::WebSocket<tungstenite::stream::MaybeTlsStream<TcpStream>>,
    TcpStream,
) {
    let url = format!("ws://127.0.0.1:{ws_port}/tunnel");
    let (rogue, _) = tungstenite::connect(url.as_str()).expect("upgrade accepted");
    let raw = match rogue.get_ref() {
        tungstenite::stream::MaybeTlsStream::Plain(s) => s.try_clone().unwrap(),
        _ => unreachable!("ws:// is plain"),
    };
    raw.set_read_timeout(Some(WAIT)).unwrap();
    (rogue, raw)
}

/// A peer announcing a WebSocket message longer than the protocol's limit
/// is closed with a reason as soon as the frame header arrives (nothing of
/// it is buffered), and the real client's link carries on.
#[test]
fn an_oversized_message_closes_only_its_link() {
    use tcpws_protocol::frame::MAX_MESSAGE;
    let _ = env_logger::builder().is_test(true).try_init();
    let echo = Echo::start();
    let (server, client, ports) = start_pair(&echo);
    let (mut rogue, mut raw) = rogue_websocket(ports.ws);
    // A masked binary frame header with a 64-bit length, then a few bytes
    // of it: the server must not wait for the rest.
    let mut header = vec![0x82, 0x80 | 127];
    header.extend_from_slice(&(MAX_MESSAGE as u64 + 1).to_be_bytes());
    header.extend_from_slice(&[1, 2, 3, 4]);
    header.extend_from_slice(&[0; 100]);
    raw.write_all(&header).unwrap();
    let reason = loop {
        match rogue.read() {
            Ok(tungstenite::Message::Close(frame)) => break frame.map(|f| f.reason.to_string()),
            Ok(_) => continue,
            Err(e) => panic!("expected a close frame, got {e}"),
        }
    };
    let reason = reason.unwrap_or_default();
    assert!(
        reason.contains(&format!("over the limit of {MAX_MESSAGE}")),
        "{reason:?}"
    );
    drop(rogue);
    echo_line(ports.server_listen, "the real link is fine\n");
    echo_line(ports.client_listen, "both ways\n");
    let status = server.handle.status();
    assert_eq!(status.links_up, 1, "the real client's link survived");
    assert!(status.stats.protocol_errors >= 1, "{:?}", status.stats);
    client.stop();
    server.stop();
}

/// A peer that floods pings as fast as it can write them (and reads no
/// pong) does not starve the real client's link: streams through the tunnel
/// keep flowing while the flood goes on, and the flood keeps being read.
#[test]
fn a_ping_flood_does_not_starve_other_links() {
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    use std::sync::Arc;
    let _ = env_logger::builder().is_test(true).try_init();
    let echo = Echo::start();
    let ports = fresh_ports();
    let mut settings = server_settings(&ports, echo.port);
    // The flood outlasts the test instead of ending at the handshake deadline.
    settings.protocol.handshake_timeout = Duration::from_secs(120);
    let server = Running::start(settings);
    let client = Running::start(client_settings(&ports, echo.port));
    wait_connected(&server, &client);

    let (rogue, mut raw) = rogue_websocket(ports.ws);
    // Masked empty pings, 64 KiB of them per write.
    let pings: Vec<u8> = [0x89, 0x80, 9, 8, 7, 6].repeat(64 * 1024 / 6);
    let stop = Arc::new(AtomicBool::new(false));
    /// Ends the flood when the test does, even when it fails, so a starved
    /// loop comes back and the nodes can stop.
    struct EndFlood(Arc<AtomicBool>);
    impl Drop for EndFlood {
        fn drop(&mut self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }
    let _end_flood = EndFlood(stop.clone());
    let written = Arc::new(AtomicU64::new(0));
    let flood = {
        let (stop, written) = (stop.clone(), written.clone());
        thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                raw.write_all(&pings)
                    .expect("the flood is read, not cut off");
                written.fetch_add(pings.len() as u64, Ordering::SeqCst);
            }
        })
    };
    let before = written.load(Ordering::SeqCst);
    for i in 0..5 {
        echo_line(ports.server_listen, &format!("during the flood {i}\n"));
        echo_line(ports.client_listen, &format!("the other way {i}\n"));
    }
    bulk_echo(ports.client_listen, 256 * 1024);
    assert!(
        written.load(Ordering::SeqCst) > before,
        "the server stopped reading the flood"
    );
    stop.store(true, Ordering::SeqCst);
    flood.join().unwrap();
    drop(rogue);
    wait_for(&server.handle, "the flooding link to be gone", |s| {
        s.links_up == 1
    });
    client.stop();
    server.stop();
}

/// A target that writes "banner" and its FIN the moment it accepts; its
/// ends stay open (no reset). Stops when `stop` is set and it is woken.
fn banner_target(stop: std::sync::Arc<std::sync::atomic::AtomicBool>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    thread::spawn(move || {
        let mut held = Vec::new();
        for s in listener.incoming() {
            if stop.load(std::sync::atomic::Ordering::Relaxed) {
                return;
            }
            let Ok(mut s) = s else { continue };
            let _ = s.write_all(b"banner");
            let _ = s.shutdown(Shutdown::Write);
            held.push(s);
        }
    });
    port
}

/// Found in review: a target that answers and closes at once puts data and
/// its FIN behind the dial's first event; the FIN must still be read after
/// the (short) read of the data, or the app's connection hangs open. The
/// loop is kept busy with bulk the other way, so that event is seen late.
#[test]
fn a_target_that_answers_and_closes_at_once_is_seen_to_close() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    let stop = Arc::new(AtomicBool::new(false));
    let banner = banner_target(stop.clone());
    let echo = Echo::start();
    let ports = fresh_ports();
    let server = Running::start(server_settings(&ports, echo.port));
    let client = Running::start(client_settings(&ports, banner));
    wait_connected(&server, &client);
    let busy = Arc::new(AtomicBool::new(true));
    let bulk = {
        let (busy, port) = (busy.clone(), ports.client_listen);
        thread::spawn(move || {
            let mut w = connect(port);
            let mut r = w.try_clone().unwrap();
            let reader = thread::spawn(move || {
                let mut buf = vec![0u8; 1 << 20];
                while r.read(&mut buf).is_ok_and(|n| n > 0) {}
            });
            let chunk = vec![7u8; 1 << 20];
            while busy.load(Ordering::Relaxed) && w.write_all(&chunk).is_ok() {}
            let _ = w.shutdown(Shutdown::Write);
            let _ = reader.join();
        })
    };
    for attempt in 0..40 {
        let mut s = connect(ports.server_listen);
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut got = Vec::new();
        let read = s.read_to_end(&mut got);
        assert!(
            read.is_ok() && got == b"banner",
            "attempt {attempt}: {read:?} after {:?}: no end of stream after the target's FIN",
            String::from_utf8_lossy(&got)
        );
    }
    busy.store(false, Ordering::Relaxed);
    let _ = bulk.join();
    stop.store(true, Ordering::Relaxed);
    let _ = TcpStream::connect(("127.0.0.1", banner));
    client.stop();
    server.stop();
}

/// Found in review: Linux ends a read at the TCP urgent mark, so a short
/// read can leave bytes behind with no new event coming for them; they
/// must still be read ("X", sent urgent, leaves the stream as the socket
/// has no SO_OOBINLINE; "abcdef" is what was sent in band).
#[test]
fn bytes_after_the_urgent_mark_are_read() {
    use std::os::fd::AsRawFd;
    let echo = Echo::start();
    let ports = fresh_ports();
    let server = Running::start(server_settings(&ports, echo.port));
    let client = Running::start(client_settings(&ports, echo.port));
    wait_connected(&server, &client);
    for port in [ports.server_listen, ports.client_listen] {
        let mut s = connect(port);
        // A warm-up echo: the tunnel is open end to end.
        s.write_all(b"hi").unwrap();
        let mut two = [0u8; 2];
        s.read_exact(&mut two).unwrap();
        let send = |bytes: &[u8], flags: i32| {
            // SAFETY: a valid socket and a live slice for the whole call.
            let n = unsafe { libc::send(s.as_raw_fd(), bytes.as_ptr().cast(), bytes.len(), flags) };
            assert_eq!(n, bytes.len() as isize, "{}", io::Error::last_os_error());
        };
        // One segment: "abc", the urgent "X" (held back by MSG_MORE), "def".
        send(b"abcX", libc::MSG_OOB | libc::MSG_MORE);
        send(b"def", 0);
        let mut got = [0u8; 6];
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.read_exact(&mut got)
            .unwrap_or_else(|e| panic!("port {port}: {e}"));
        assert_eq!(&got, b"abcdef", "port {port}");
    }
    client.stop();
    server.stop();
}
