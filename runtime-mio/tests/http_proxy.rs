//! A client dialling through an HTTP CONNECT proxy, against a stand-in
//! proxy on a thread (the real tinyproxy runs in tests/tests/e2e_proxy.rs):
//! the request it sends, with Basic credentials; a proxy that never answers
//! is covered by the connect timeout; garbled and oversized answers are
//! refused, and every failure is retried.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

mod support;

use support::*;
use tcpws_protocol::{ClientId, Config, Role};
use tcpws_runtime_mio::{HttpProxy, NodeSettings, ProxyCredentials, ServerAddr};

/// What the stand-in proxy does with each CONNECT.
#[derive(Clone)]
enum Behaviour {
    /// Answers 200 and relays to the target named in the request.
    Relay,
    /// Reads the request and never answers.
    Silent,
    /// Writes these bytes and closes.
    Answer(Vec<u8>),
}

struct FakeProxy {
    port: u16,
    accepted: Arc<AtomicUsize>,
    requests: Arc<Mutex<Vec<String>>>,
}

impl FakeProxy {
    fn start(behaviour: Behaviour) -> FakeProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let accepted = Arc::new(AtomicUsize::new(0));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let (count, seen) = (accepted.clone(), requests.clone());
        thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                count.fetch_add(1, Ordering::SeqCst);
                let (seen, behaviour) = (seen.clone(), behaviour.clone());
                thread::spawn(move || serve(stream, &behaviour, &seen));
            }
        });
        FakeProxy {
            port,
            accepted,
            requests,
        }
    }

    fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

fn serve(mut client: TcpStream, behaviour: &Behaviour, seen: &Mutex<Vec<String>>) {
    // Byte by byte, so nothing past the head is taken from the tunnel.
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && head.len() < 16 * 1024 {
        match client.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return,
        }
    }
    let head = String::from_utf8_lossy(&head).to_string();
    seen.lock().unwrap().push(head.clone());
    match behaviour {
        Behaviour::Silent => {
            // Hold the connection until the client gives up on it.
            let _ = client.read(&mut byte);
        }
        Behaviour::Answer(bytes) => {
            let _ = client.write_all(bytes);
            let _ = client.shutdown(Shutdown::Both);
        }
        Behaviour::Relay => {
            let target = head
                .split_whitespace()
                .nth(1)
                .unwrap_or_default()
                .to_string();
            let Ok(server) = TcpStream::connect(target.as_str()) else {
                let _ = client.write_all(b"HTTP/1.1 502 Bad Gateway\r\n\r\n");
                return;
            };
            let _ = client.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n");
            let (mut c2, mut s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
            thread::spawn(move || {
                let _ = io::copy(&mut c2, &mut s2);
                let _ = s2.shutdown(Shutdown::Write);
            });
            let (mut server, mut client) = (server, client);
            let _ = io::copy(&mut server, &mut client);
            let _ = client.shutdown(Shutdown::Write);
        }
    }
}

fn settings(role: Role, ws: u16, proxy: Option<HttpProxy>) -> NodeSettings {
    let mut protocol = Config::new(role);
    protocol.connect_timeout = Duration::from_millis(300);
    protocol.reconnect_min = Duration::from_millis(20);
    protocol.reconnect_max = Duration::from_millis(100);
    NodeSettings {
        protocol,
        server: ServerAddr {
            host: "127.0.0.1".into(),
            port: ws,
            path: "/via-proxy".into(),
            tls: false,
        },
        listens: vec![],
        connects: vec![],
        tls: None,
        connect_timeout: Duration::from_millis(300),
        tcp_keepalive: None,
        http_proxy: proxy,
    }
}

fn proxy_at(port: u16, credentials: Option<ProxyCredentials>) -> Option<HttpProxy> {
    Some(HttpProxy {
        host: "127.0.0.1".into(),
        port,
        credentials,
    })
}

fn client(proxy: &FakeProxy, ws: u16) -> Running {
    Running::start(settings(
        Role::Client(ClientId::One),
        ws,
        proxy_at(proxy.port, None),
    ))
}

fn wait_until(what: &str, cond: impl Fn() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn a_client_links_up_through_a_connect_proxy_with_basic_credentials() {
    let proxy = FakeProxy::start(Behaviour::Relay);
    let ws = free_port();
    let server = Running::start(settings(Role::Server, ws, None));
    let credentials = ProxyCredentials {
        user: "alice".into(),
        password: "s3cret".into(),
    };
    let client = Running::start(settings(
        Role::Client(ClientId::One),
        ws,
        proxy_at(proxy.port, Some(credentials)),
    ));
    wait_for(&client.handle, "the client's link", |s| s.links_up == 1);
    wait_for(&server.handle, "the server's link", |s| s.links_up == 1);
    let requests = proxy.requests.lock().unwrap().clone();
    let request = requests.first().expect("a CONNECT");
    assert!(
        request.starts_with(&format!(
            "CONNECT 127.0.0.1:{ws} HTTP/1.1\r\nHost: 127.0.0.1:{ws}\r\n"
        )),
        "{request}"
    );
    assert!(
        request.contains("\r\nProxy-Authorization: Basic YWxpY2U6czNjcmV0\r\n"),
        "{request}"
    );
    client.stop();
    server.stop();
}

#[test]
fn a_silent_proxy_is_covered_by_the_connect_timeout() {
    let proxy = FakeProxy::start(Behaviour::Silent);
    let client = client(&proxy, free_port());
    // Each attempt times out after 300 ms and the next one dials again.
    wait_until("three attempts", || proxy.accepted() >= 3);
    assert_eq!(client.handle.status().links_up, 0);
    client.stop();
}

#[test]
fn refused_garbled_and_oversized_answers_are_retried() {
    let mut oversized = b"HTTP/1.1 200 OK\r\n".to_vec();
    while oversized.len() < 20 * 1024 {
        oversized.extend_from_slice(format!("X-Padding: {}\r\n", "a".repeat(500)).as_bytes());
    }
    for answer in [
        b"HTTP/1.1 403 Forbidden\r\n\r\n".to_vec(),
        b"SSH-2.0-OpenSSH_9.2\r\n".to_vec(),
        oversized,
        b"HTTP/1.1 200 OK\r\n\r\nearly bytes".to_vec(),
    ] {
        let proxy = FakeProxy::start(Behaviour::Answer(answer));
        let client = client(&proxy, free_port());
        wait_until("a retry", || proxy.accepted() >= 2);
        assert_eq!(client.handle.status().links_up, 0);
        client.stop();
    }
}
