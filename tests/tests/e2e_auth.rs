//! End to end with the real binary: authentication of clients
//! (`dataExchange.sharedSecretFilePath`, `mutualTLSClientCertificates`).
//!
//! * A client with the wrong shared secret is refused again and again, both
//!   sides log it and the server counts it, while client 1 stays active and
//!   a connection through it echoes every byte, never reset.
//! * A stranger who sniffed client 1's session token (and even its recorded
//!   handshake) off a plain ws:// link gets AuthRefused and a close, never a
//!   Welcome, and changes nothing on the server.
//! * Under mutual TLS with ids bound to certificates, client 2's
//!   certificate cannot claim client 1's id; client 1's own can.
//! * `tcpws check` warns of mutual TLS without that binding, and of a server
//!   open beyond loopback without any authentication.
//!
//! Ports are picked by the test on 127.0.0.1; every wait is on a condition.

mod support;

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use support::tls::{peers_pem, probe_config, write, ClusterTls, Issued, NodeTls, Pki};
use support::*;
use tcpws_protocol::frame::{frames, Frame, Hello};
use tcpws_protocol::{ClientId, PROTOCOL_VERSION};

const SECRET_KEY: &str = "dataExchange.sharedSecretFilePath";
const CERTIFICATES_KEY: &str = "dataExchange.mutualTLSClientCertificates";
const LIMIT: Duration = Duration::from_secs(20);

/// A directory of a test's own files (secrets, certificates), apart from
/// the cluster's, which the cluster recreates.
fn side_dir(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tcpws-e2e-{}-{test}-files", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create the test's file directory");
    dir
}

/// Writes a secret file readable by its owner only.
fn secret_file(dir: &Path, name: &str, secret: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join(name);
    std::fs::write(&path, format!("{secret}\n")).expect("write a secret file");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod 600");
    path
}

/// Sets `dataExchange.sharedSecretFilePath` in a node's config.
fn set_secret(config: &mut serde_json::Value, path: &Path) {
    config["dataExchange"]["sharedSecretFilePath"] = path.display().to_string().into();
}

/// Reads one of the server's counters or gauges, which must be there.
fn metric(c: &Cluster, name: &str) -> u64 {
    c.metric(name)
        .unwrap_or_else(|| panic!("the server's /metrics has no {name}")) as u64
}

/// How many times `needle` occurs in `haystack`.
fn count(haystack: &str, needle: &str) -> usize {
    haystack.matches(needle).count()
}

/// How many lines of `log` say `needle` at level WARN.
fn warned(log: &str, needle: &str) -> usize {
    log.lines()
        .filter(|l| l.contains(" WARN ") && l.contains(needle))
        .count()
}

/// A long-lived connection through the tunnel to an echo backend that
/// checks every byte it gets back.
struct Pinger {
    stream: TcpStream,
    sent: usize,
    pings: u64,
}

impl Pinger {
    fn new(port: u16) -> Pinger {
        let mut p = Pinger {
            stream: connect(port),
            sent: 0,
            pings: 0,
        };
        p.ping();
        p
    }

    /// One round trip of a fresh message; panics on a reset or a wrong byte.
    fn ping(&mut self) {
        let mut msg = format!("ping {} ", self.pings).into_bytes();
        msg.extend_from_slice(&pattern(self.pings, 200));
        echo_once(&mut self.stream, &msg);
        self.pings += 1;
        self.sent += msg.len();
    }

    /// Pings until `cond` holds (at most [`LIMIT`]): the connection carries
    /// data all the while.
    fn ping_until(&mut self, what: &str, mut cond: impl FnMut() -> bool) {
        wait_until(what, LIMIT, || {
            self.ping();
            cond()
        });
    }

    /// Half-closes and expects the echo backend's clean end in return.
    fn finish(mut self) {
        self.ping();
        self.stream.shutdown(Shutdown::Write).unwrap();
        let mut rest = Vec::new();
        self.stream
            .read_to_end(&mut rest)
            .expect("a clean end of the long-lived connection, not a reset");
        assert!(rest.is_empty(), "bytes after the last echo: {rest:?}");
    }
}

// ---------------------------------------------------------------------------
// WebSocket bytes, by hand (RFC 6455), for the sniffer and the stranger.

/// One WebSocket frame: opcode and (unmasked) payload.
struct WsFrame {
    fin: bool,
    opcode: u8,
    payload: Vec<u8>,
}

/// The WebSocket frame at the start of `buf` and its length in bytes, or
/// `None` when `buf` does not yet hold all of it. Unmasks a masked payload.
fn parse_ws_frame(buf: &[u8]) -> Option<(WsFrame, usize)> {
    if buf.len() < 2 {
        return None;
    }
    let fin = buf[0] & 0x80 != 0;
    let opcode = buf[0] & 0x0f;
    let masked = buf[1] & 0x80 != 0;
    let (len, mut at) = match buf[1] & 0x7f {
        126 => (
            u16::from_be_bytes(buf.get(2..4)?.try_into().ok()?) as usize,
            4,
        ),
        127 => (
            u64::from_be_bytes(buf.get(2..10)?.try_into().ok()?) as usize,
            10,
        ),
        n => (n as usize, 2),
    };
    let key = if masked {
        let k: [u8; 4] = buf.get(at..at + 4)?.try_into().ok()?;
        at += 4;
        Some(k)
    } else {
        None
    };
    let mut payload = buf.get(at..at + len)?.to_vec();
    if let Some(k) = key {
        for (i, b) in payload.iter_mut().enumerate() {
            *b ^= k[i % 4];
        }
    }
    Some((
        WsFrame {
            fin,
            opcode,
            payload,
        },
        at + len,
    ))
}

/// The binary messages in a recorded direction of a WebSocket connection
/// (the HTTP head skipped), as far as they are complete.
fn binary_messages(recorded: &[u8]) -> Vec<Vec<u8>> {
    let Some(head_end) = recorded.windows(4).position(|w| w == b"\r\n\r\n") else {
        return Vec::new();
    };
    let mut rest = &recorded[head_end + 4..];
    let mut out = Vec::new();
    let mut partial: Option<Vec<u8>> = None;
    while let Some((f, used)) = parse_ws_frame(rest) {
        rest = &rest[used..];
        match f.opcode {
            0x2 => partial = Some(f.payload),
            0x0 => match partial.as_mut() {
                Some(p) => p.extend_from_slice(&f.payload),
                None => continue,
            },
            // Control frames may come between fragments.
            _ => continue,
        }
        if f.fin {
            out.extend(partial.take());
        }
    }
    out
}

/// The tcpws frames (kind, body) in a message, walked by their 5-byte
/// headers (`kind:u8 len:u32`) as the wire page documents them.
fn raw_frames(message: &[u8]) -> Vec<(u8, &[u8])> {
    let mut out = Vec::new();
    let mut rest = message;
    while rest.len() >= 5 {
        let len = u32::from_be_bytes(rest[1..5].try_into().unwrap()) as usize;
        let Some(body) = rest.get(5..5 + len) else {
            break;
        };
        out.push((rest[0], body));
        rest = &rest[5 + len..];
    }
    out
}

/// What a sniffer saw of one of client 1's links.
#[derive(Debug, Clone)]
struct Sniffed {
    /// The Welcome's token (u128 BE after the version).
    token: u128,
    /// The client's Hello, as sent (kind and length included).
    hello: Vec<u8>,
    /// The client's AuthProof body.
    proof: [u8; 32],
    /// The server's AuthChallenge nonce.
    challenge: [u8; 32],
}

/// A TCP relay between client 1 and the server that records both
/// directions of every connection (up to 1 MiB each).
struct Sniffer {
    port: u16,
    /// (client -> server, server -> client) per connection.
    conns: Arc<Mutex<Vec<[Vec<u8>; 2]>>>,
}

impl Sniffer {
    fn start(target: u16) -> Sniffer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the sniffer");
        let port = listener.local_addr().unwrap().port();
        let conns: Arc<Mutex<Vec<[Vec<u8>; 2]>>> = Arc::default();
        let registry = conns.clone();
        thread::spawn(move || {
            for inbound in listener.incoming() {
                let Ok(inbound) = inbound else { continue };
                let Ok(outbound) = TcpStream::connect(("127.0.0.1", target)) else {
                    continue;
                };
                let _ = inbound.set_nodelay(true);
                let _ = outbound.set_nodelay(true);
                let index = {
                    let mut c = registry.lock().unwrap();
                    c.push([Vec::new(), Vec::new()]);
                    c.len() - 1
                };
                for (dir, mut from, mut to) in [
                    (
                        0,
                        inbound.try_clone().unwrap(),
                        outbound.try_clone().unwrap(),
                    ),
                    (1, outbound, inbound),
                ] {
                    let registry = registry.clone();
                    thread::spawn(move || {
                        let mut buf = vec![0u8; 64 * 1024];
                        loop {
                            match from.read(&mut buf) {
                                Ok(0) | Err(_) => break,
                                Ok(n) => {
                                    {
                                        let mut c = registry.lock().unwrap();
                                        let rec = &mut c[index][dir];
                                        if rec.len() < 1 << 20 {
                                            rec.extend_from_slice(&buf[..n]);
                                        }
                                    }
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
        Sniffer { port, conns }
    }

    /// Connections relayed so far.
    fn connections(&self) -> usize {
        self.conns.lock().unwrap().len()
    }

    /// What the latest connection that got a Welcome gave away.
    fn sniffed(&self) -> Option<Sniffed> {
        let conns = self.conns.lock().unwrap();
        conns.iter().rev().find_map(|[up, down]| {
            let mut token = None;
            let mut challenge = None;
            let mut server_proved = false;
            for m in binary_messages(down) {
                for (kind, body) in raw_frames(&m) {
                    if kind == 0x0E && challenge.is_none() {
                        challenge = body.try_into().ok();
                    }
                    server_proved |= kind == 0x0F;
                    if kind == 0x02 && token.is_none() {
                        assert!(server_proved, "a Welcome before the server's AuthProof");
                        assert_eq!(body.len(), 44, "a Welcome body is 44 bytes");
                        assert_eq!(&body[..2], &PROTOCOL_VERSION.to_be_bytes(), "version");
                        token = Some(u128::from_be_bytes(body[2..18].try_into().unwrap()));
                    }
                }
            }
            let mut hello = None;
            let mut proof = None;
            for m in binary_messages(up) {
                for (kind, body) in raw_frames(&m) {
                    match kind {
                        0x01 if hello.is_none() => {
                            let mut h = vec![kind];
                            h.extend_from_slice(&(body.len() as u32).to_be_bytes());
                            h.extend_from_slice(body);
                            hello = Some(h);
                        }
                        0x0F if proof.is_none() => proof = body.try_into().ok(),
                        _ => {}
                    }
                }
            }
            Some(Sniffed {
                token: token?,
                hello: hello?,
                proof: proof?,
                challenge: challenge?,
            })
        })
    }
}

/// What a stranger got back from the server, decoded.
#[derive(Debug, PartialEq, Eq)]
enum Got {
    Welcome,
    Challenge([u8; 32]),
    Refused(String),
    /// Any other tcpws frame (its debug form).
    Other(String),
    /// A WebSocket close frame, or the end of the TCP stream.
    Closed,
}

/// A raw WebSocket client speaking tcpws frames by hand.
struct Stranger {
    stream: TcpStream,
    buf: Vec<u8>,
    pending: Vec<Got>,
}

impl Stranger {
    fn connect(port: u16) -> Stranger {
        let mut stream = connect(port);
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        write!(
            stream,
            "GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n\
             Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
        )
        .unwrap();
        let mut buf = Vec::new();
        let head_end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            let mut chunk = [0u8; 4096];
            let n = stream.read(&mut chunk).expect("read the upgrade answer");
            assert!(n > 0, "the server closed before answering the upgrade");
            buf.extend_from_slice(&chunk[..n]);
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
        assert!(head.starts_with("HTTP/1.1 101"), "upgrade refused: {head}");
        buf.drain(..head_end);
        Stranger {
            stream,
            buf,
            pending: Vec::new(),
        }
    }

    /// Sends raw tcpws bytes as one masked binary message.
    fn send_raw(&mut self, payload: &[u8]) {
        let key = [0x37, 0xfa, 0x21, 0x3d];
        let mut out = vec![0x82];
        if payload.len() < 126 {
            out.push(0x80 | payload.len() as u8);
        } else {
            out.push(0x80 | 126);
            out.extend_from_slice(&(payload.len() as u16).to_be_bytes());
        }
        out.extend_from_slice(&key);
        out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
        self.stream.write_all(&out).expect("send to the server");
    }

    fn send(&mut self, frame: Frame<'_>) {
        let mut payload = Vec::new();
        frame.encode(&mut payload);
        self.send_raw(&payload);
    }

    /// The next thing the server says (read timeout 10 s).
    fn next(&mut self) -> Got {
        loop {
            if !self.pending.is_empty() {
                return self.pending.remove(0);
            }
            if let Some((f, used)) = parse_ws_frame(&self.buf) {
                self.buf.drain(..used);
                match f.opcode {
                    0x8 => return Got::Closed,
                    0x2 => {
                        for frame in frames(&f.payload) {
                            let frame = frame.expect("a valid tcpws frame");
                            if frame == Frame::Keepalive {
                                continue;
                            }
                            self.pending.push(match frame {
                                Frame::Welcome(_) => Got::Welcome,
                                Frame::AuthChallenge { nonce } => Got::Challenge(nonce),
                                Frame::AuthRefused { reason } => Got::Refused(reason.to_string()),
                                other => Got::Other(format!("{other:?}")),
                            });
                        }
                    }
                    _ => {}
                }
                continue;
            }
            let mut chunk = [0u8; 4096];
            match self.stream.read(&mut chunk) {
                Ok(0) => return Got::Closed,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e)
                    if e.kind() == io::ErrorKind::WouldBlock
                        || e.kind() == io::ErrorKind::TimedOut =>
                {
                    panic!("the server said nothing for 10 s")
                }
                Err(_) => return Got::Closed,
            }
        }
    }

    /// Expects the server's AuthChallenge and returns its nonce.
    fn expect_challenge(&mut self) -> [u8; 32] {
        match self.next() {
            Got::Challenge(nonce) => nonce,
            other => panic!("expected AuthChallenge first, got {other:?}"),
        }
    }

    /// Expects AuthRefused (returning its reason) and then the close, with
    /// nothing else in between: above all no Welcome.
    fn expect_refused_then_closed(&mut self) -> String {
        let reason = match self.next() {
            Got::Refused(reason) => reason,
            other => panic!("expected AuthRefused, got {other:?}"),
        };
        let after = self.next();
        assert_eq!(after, Got::Closed, "after AuthRefused (reason {reason:?})");
        reason
    }
}

/// A Hello from a stranger claiming client 1.
fn hello(token: u128, nonce: Option<[u8; 32]>) -> Hello {
    Hello {
        version: PROTOCOL_VERSION,
        client: ClientId::One,
        token,
        epoch: 1,
        ctl_rx: 0,
        window: 256 * 1024,
        nonce,
    }
}

// ---------------------------------------------------------------------------

#[test]
fn a_wrong_secret_client_is_refused_while_client_one_echoes() {
    let files = side_dir("wrongsecret");
    let (right_text, wrong_text) = (
        "0123456789abcdef0123456789abcdef-right",
        "0123456789abcdef0123456789abcdef-wrong",
    );
    let right = secret_file(&files, "right", right_text);
    let wrong = secret_file(&files, "wrong", wrong_text);
    let c = Cluster::start_custom(
        "wrongsecret",
        Options {
            expect_links: 1,
            ..Options::default()
        },
        Ports::pick(),
        |node, config| set_secret(config, if node == "client2" { &wrong } else { &right }),
    );
    // Server listen port -> client 1 -> its echo backend.
    let mut p = Pinger::new(c.ports.server[0]);
    let resumes = metric(&c, "tcpws_resumes_total");
    let resets = metric(&c, "tcpws_streams_reset_total");
    let failures = metric(&c, "tcpws_auth_failures_total");
    assert_eq!(metric(&c, "tcpws_sessions"), 1, "only client 1's session");

    // Client 2 keeps trying and is refused each time, while the connection
    // through client 1 keeps echoing.
    p.ping_until("three more refusals of client 2", || {
        metric(&c, "tcpws_auth_failures_total") >= failures + 3
    });
    let server_log = c.server.log();
    let client2_log = c.client2.log();
    let refusal = format!(
        "client 2's proof is wrong: it does not know this server's shared secret ({SECRET_KEY})"
    );
    assert!(
        warned(&server_log, "authentication failed: link") >= 3
            && warned(&server_log, &refusal) >= 3,
        "the server did not warn of client 2's refusals"
    );
    let refused_us = format!("authentication failed: the server refused us: {refusal}");
    assert!(
        warned(&client2_log, &refused_us) >= 2,
        "client 2 did not warn of its refusals"
    );
    for node in [&c.server, &c.client1, &c.client2] {
        let log = node.log();
        assert!(
            !log.contains(right_text) && !log.contains(wrong_text),
            "{} logged a secret",
            node.name
        );
    }
    for port in c.ports.client2 {
        assert!(
            !port_open(port),
            "refused client 2 opened its listen port {port}"
        );
    }
    assert!(
        !client2_log.contains("connected to the server on link"),
        "client 2 was welcomed"
    );
    assert!(!client1_log_has_trouble(&c), "client 1 was disturbed");

    p.ping();
    assert_eq!(c.active(), Some(1), "the active client changed");
    assert_eq!(metric(&c, "tcpws_sessions"), 1, "sessions");
    assert_eq!(metric(&c, "tcpws_links_established"), 1, "links past hello");
    assert_eq!(metric(&c, "tcpws_resumes_total"), resumes, "resumes");
    assert_eq!(metric(&c, "tcpws_streams_reset_total"), resets, "resets");
    assert_eq!(count(&server_log, "client 2 connected"), 0);
    assert_eq!(count(&server_log, "client 1 connected"), 1);
    // A new stream through client 1 works too.
    let mut fresh = connect(c.client_port(1, 0));
    echo_once(&mut fresh, b"a new stream through client 1");
    let sent = p.sent;
    p.finish();
    assert!(sent > 0);
    wait_until("the long-lived connection's clean end", LIMIT, || {
        c.backend1.clean_ends() >= 1
    });
    assert_eq!(c.backend1.reset_ends(), 0, "a connection was reset");
    drop(c);
    let _ = std::fs::remove_dir_all(&files);
}

/// Whether client 1 logged a failed authentication or a lost link.
fn client1_log_has_trouble(c: &Cluster) -> bool {
    let log = c.client1.log();
    log.contains("authentication failed") || log.contains(" down: ")
}

#[test]
fn a_stranger_with_a_stolen_token_gets_no_welcome() {
    let files = side_dir("stolentoken");
    let secret = secret_file(
        &files,
        "secret",
        "a shared secret of well over sixteen bytes",
    );
    let ports = Ports::pick();
    let sniffer = Sniffer::start(ports.ws);
    let sniffer_port = sniffer.port;
    let c = Cluster::start_custom("stolentoken", Options::default(), ports, |node, config| {
        set_secret(config, &secret);
        if node == "client1" {
            config["dataExchange"]["serverUrl"] = format!("http://127.0.0.1:{sniffer_port}").into();
        }
    });
    let mut p = Pinger::new(c.ports.server[0]);
    let stolen = sniffer
        .sniffed()
        .expect("the sniffer saw client 1's Hello, proof and Welcome");
    assert_ne!(stolen.token, 0, "the stolen token");
    assert_eq!(sniffer.connections(), 1, "client 1 linked once");
    let resumes = metric(&c, "tcpws_resumes_total");
    let resets = metric(&c, "tcpws_streams_reset_total");
    assert_eq!(metric(&c, "tcpws_auth_failures_total"), 0, "before");
    assert_eq!(metric(&c, "tcpws_sessions"), 2);

    // The server speaks first on every link: its challenge, a fresh nonce.
    let mut challenges = Vec::new();

    // (a) The stolen token, no proof.
    let mut a = Stranger::connect(c.ports.ws);
    challenges.push(a.expect_challenge());
    a.send(Frame::Hello(hello(stolen.token, None)));
    let reason = a.expect_refused_then_closed();
    assert!(
        reason.contains("client 1 has no shared secret and this server requires one")
            && reason.contains(SECRET_KEY),
        "{reason}"
    );
    p.ping();

    // (b) The stolen token with a nonce, then a made-up proof.
    let mut b = Stranger::connect(c.ports.ws);
    challenges.push(b.expect_challenge());
    b.send(Frame::Hello(hello(stolen.token, Some([0x42; 32]))));
    b.send(Frame::AuthProof { proof: [0x55; 32] });
    let reason = b.expect_refused_then_closed();
    assert!(
        reason.contains("client 1's proof is wrong") && reason.contains(SECRET_KEY),
        "{reason}"
    );
    p.ping();

    // (c) Client 1's own recorded Hello and proof, replayed: the server's
    // nonce is fresh, so the recorded proof is worthless.
    let mut r = Stranger::connect(c.ports.ws);
    challenges.push(r.expect_challenge());
    r.send_raw(&stolen.hello);
    r.send(Frame::AuthProof {
        proof: stolen.proof,
    });
    let reason = r.expect_refused_then_closed();
    assert!(reason.contains("client 1's proof is wrong"), "{reason}");
    challenges.push(stolen.challenge);
    for (i, x) in challenges.iter().enumerate() {
        assert!(
            challenges[i + 1..].iter().all(|y| y != x),
            "the server reused a nonce: {challenges:?}"
        );
    }

    p.ping_until("the strangers' links gone", || {
        metric(&c, "tcpws_links_up") == 2
    });
    assert_eq!(
        metric(&c, "tcpws_auth_failures_total"),
        3,
        "every refusal counted"
    );
    assert_eq!(
        metric(&c, "tcpws_resumes_total"),
        resumes,
        "a stranger resumed"
    );
    assert_eq!(metric(&c, "tcpws_streams_reset_total"), resets, "resets");
    assert_eq!(metric(&c, "tcpws_sessions"), 2, "sessions");
    assert_eq!(metric(&c, "tcpws_links_established"), 2, "links past hello");
    assert_eq!(c.active(), Some(1), "the active client changed");
    let server_log = c.server.log();
    assert_eq!(
        warned(&server_log, "authentication failed: link"),
        3,
        "the server warns of each refusal"
    );
    assert_eq!(count(&server_log, "client 1 connected"), 1);
    assert!(
        !server_log.contains("starts a new session"),
        "a stranger replaced a session"
    );
    assert!(!client1_log_has_trouble(&c), "client 1 was disturbed");
    assert_eq!(sniffer.connections(), 1, "client 1 had to reconnect");
    let mut fresh = connect(c.client_port(1, 0));
    echo_once(&mut fresh, b"a new stream through client 1");
    p.finish();
    wait_until("the long-lived connection's clean end", LIMIT, || {
        c.backend1.clean_ends() >= 1
    });
    assert_eq!(c.backend1.reset_ends(), 0, "a connection was reset");
    drop(c);
    let _ = std::fs::remove_dir_all(&files);
}

// ---------------------------------------------------------------------------
// Mutual TLS.

/// A server PKI and a client PKI, with a leaf per node (as e2e_tls.rs).
struct Certs {
    dir: PathBuf,
    server_pki: Pki,
    client_pki: Pki,
    server: Issued,
    clients: [Issued; 2],
}

impl Certs {
    fn new(dir: PathBuf) -> Certs {
        let server_pki = Pki::new("server");
        let client_pki = Pki::new("clients");
        let server = server_pki.leaf("tcpws server");
        let clients = [
            client_pki.leaf("tcpws client 1"),
            client_pki.leaf("tcpws client 2"),
        ];
        Certs {
            dir,
            server_pki,
            client_pki,
            server,
            clients,
        }
    }

    /// The server's files; clients from the client CA, both pinned.
    fn server(&self) -> NodeTls {
        let dir = self.dir.join("server");
        NodeTls {
            tls: true,
            mutual: true,
            bundle: Some(write(
                &dir,
                "key-cert-ca-root-chain.pem",
                &self.server_pki.bundle_pem(&self.server),
            )),
            trusted_ca: Some(write(
                &dir,
                "mtls/trusted-ca-chain.pem",
                &self.client_pki.trusted_ca_pem(),
            )),
            trusted_peers: Some(write(
                &dir,
                "certs-of-peers.pem",
                &peers_pem(&[&self.clients[0], &self.clients[1]]),
            )),
        }
    }

    /// Client `i`'s files (its own certificate), trusting the server.
    fn client(&self, i: usize) -> NodeTls {
        let dir = self.dir.join(format!("client{}", i + 1));
        NodeTls {
            tls: true,
            mutual: true,
            bundle: Some(write(
                &dir,
                "key-cert-ca-root-chain.pem",
                &self.client_pki.bundle_pem(&self.clients[i]),
            )),
            trusted_ca: Some(write(
                &dir,
                "mtls/trusted-ca-chain.pem",
                &self.server_pki.trusted_ca_pem(),
            )),
            trusted_peers: Some(write(
                &dir,
                "certs-of-peers.pem",
                &peers_pem(&[&self.server]),
            )),
        }
    }

    fn cluster(&self) -> ClusterTls {
        ClusterTls {
            server: self.server(),
            clients: [self.client(0), self.client(1)],
            probe: Some(probe_config(
                &self.server_pki,
                Some((&self.client_pki, &self.clients[0])),
            )),
        }
    }

    /// The `mutualTLSClientCertificates` value: each client's certificate
    /// alone in its own file.
    fn id_map(&self) -> serde_json::Value {
        let dir = self.dir.join("server");
        let file = |i: usize| {
            write(
                &dir,
                &format!("client{}.pem", i + 1),
                &self.clients[i].cert_pem(),
            )
            .display()
            .to_string()
        };
        serde_json::json!({ "1": file(0), "2": file(1) })
    }
}

#[test]
fn under_mutual_tls_a_certificate_claims_only_its_own_id() {
    let certs = Certs::new(side_dir("mtlsids"));
    let id_map = certs.id_map();
    let c = Cluster::start_custom(
        "mtlsids",
        Options {
            tls: Some(certs.cluster()),
            expect_links: 1,
            ..Options::default()
        },
        Ports::pick(),
        |node, config| match node {
            "server" => config["dataExchange"]["mutualTLSClientCertificates"] = id_map.clone(),
            // Client 2's node, with client 2's certificate, claims id 1.
            "client2" => config["clientId"] = 1.into(),
            _ => {}
        },
    );
    let mut p = Pinger::new(c.ports.server[0]);
    let resumes = metric(&c, "tcpws_resumes_total");
    p.ping_until("two refusals of the impostor", || {
        metric(&c, "tcpws_auth_failures_total") >= 2
    });
    let server_log = c.server.log();
    let impostor_log = c.client2.log();
    let reason = format!(
        "the TLS certificate of this connection is client 2's ({CERTIFICATES_KEY}); it may not claim client 1"
    );
    assert!(
        warned(&server_log, "authentication failed: link") >= 2
            && warned(&server_log, &reason) >= 2,
        "the server did not warn of the impostor's refusals"
    );
    assert!(
        warned(
            &impostor_log,
            &format!("authentication failed: the server refused us: {reason}")
        ) >= 1,
        "the impostor did not warn of its refusal"
    );
    assert!(
        !server_log.contains("under mutual TLS either accepted client certificate"),
        "the mapping is set: no warning"
    );
    assert!(!client1_log_has_trouble(&c), "client 1 was disturbed");
    assert_eq!(c.active(), Some(1));
    assert_eq!(metric(&c, "tcpws_sessions"), 1);
    assert_eq!(metric(&c, "tcpws_links_established"), 1);
    assert_eq!(metric(&c, "tcpws_resumes_total"), resumes);
    assert_eq!(count(&server_log, "client 1 connected"), 1);
    let mut fresh = connect(c.client_port(1, 1));
    echo_once(&mut fresh, b"client 1's own certificate works");
    p.ping();

    // The same node with its own id is welcome: the refusal was the id's.
    let dir = c.root.join("client2");
    let mut config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("config.json")).unwrap()).unwrap();
    config["clientId"] = 2.into();
    std::fs::write(dir.join("config.json"), config.to_string()).unwrap();
    let mut c = c;
    c.client2.restart();
    p.ping_until("client 2 established with its own id", || {
        c.metric("tcpws_links_established") == Some(2.0)
    });
    // Client 2 is the standby now (data on its listen sockets would make
    // it active, so none is sent there); client 1 stays active.
    c.wait_client_listening(2);
    assert_eq!(metric(&c, "tcpws_sessions"), 2);
    assert_eq!(c.active(), Some(1));
    assert_eq!(count(&c.server.log(), "client 2 connected"), 1);
    let mut fresh = connect(c.ports.server[1]);
    echo_once(&mut fresh, b"still routed to client 1");
    p.finish();
    assert_eq!(c.backend1.reset_ends(), 0, "a connection was reset");
    drop(c);
    let _ = std::fs::remove_dir_all(&certs.dir);
}

/// `tcpws check DIR` on `config`: (exit code, stdout, stderr).
fn check(dir: &Path, config: &serde_json::Value) -> (Option<i32>, String, String) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("config.json"), config.to_string()).unwrap();
    let out = Command::new(tcpws_bin())
        .arg("check")
        .arg(dir)
        .output()
        .expect("run tcpws check");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn mutual_tls_without_the_mapping_warns() {
    let files = side_dir("checkwarn");
    let certs = Certs::new(files.join("certs"));
    let port = free_port();
    let warning = "warning: under mutual TLS either accepted client certificate can claim \
                   either client id; set dataExchange.mutualTLSClientCertificates to bind \
                   each id to its certificate";

    // Mutual TLS, no mapping: the warning.
    let mut dx = serde_json::json!({ "serverBindAddress": "127.0.0.1" });
    certs.server().apply(&mut dx, port);
    let mut config = serde_json::json!({ "weAreServer": true, "dataExchange": dx });
    let (code, out, err) = check(&files.join("mtls"), &config);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains(warning), "no mapping warning in: {out}");
    assert!(!out.contains("without authentication"), "{out}");

    // With the mapping: none.
    config["dataExchange"]["mutualTLSClientCertificates"] = certs.id_map();
    let (code, out, err) = check(&files.join("mtls-mapped"), &config);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(
        !out.contains("warning:"),
        "a warning with the mapping: {out}"
    );

    // An open server: bound beyond loopback, no secret, no mutual TLS.
    let mut open = serde_json::json!({
        "weAreServer": true,
        "dataExchange": {
            "serverUrl": format!("http://127.0.0.1:{port}"),
            "serverBindAddress": "0.0.0.0",
        },
    });
    let (code, out, err) = check(&files.join("open"), &open);
    assert_eq!(code, Some(0), "{out}{err}");
    let line = out
        .lines()
        .find(|l| {
            l.starts_with(
                "warning: the server accepts clients on 0.0.0.0 (not a loopback address) \
                 without authentication: anyone who reaches it can take a client's role",
            )
        })
        .unwrap_or_else(|| panic!("no open-server warning in: {out}"));
    assert!(
        line.contains(SECRET_KEY) && line.contains("enableMutualTLS"),
        "the warning names neither remedy: {line}"
    );

    // The same server with a secret: no warning.
    let secret = secret_file(
        &files,
        "secret",
        "a shared secret of well over sixteen bytes",
    );
    open["dataExchange"]["sharedSecretFilePath"] = secret.display().to_string().into();
    let (code, out, err) = check(&files.join("closed"), &open);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(!out.contains("warning:"), "a warning with a secret: {out}");
    let _ = std::fs::remove_dir_all(&files);
}
