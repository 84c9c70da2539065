//! Writes the checked-in seed corpora under fuzz/seeds/<target>/.
//!
//! ```text
//! cd fuzz && cargo run --example seeds
//! ```
//!
//! Frames are encoded by the protocol crate itself, so every `frame_decode`
//! seed is a valid message (plus a few deliberately broken ones). Configs
//! are literal JSON texts, the seed README's examples among them. The
//! `protocol_endpoint` seeds are scenarios written in the byte format that
//! `arbitrary` 1.5 reads the target's `Input` from: integers little-endian,
//! a bool is a byte's low bit, an enum variant is a u32 `v` with
//! `(v * variant_count) >> 32 == index`, and every `Vec` element is preceded
//! by a continue byte (1) and the list ends with a 0 byte or the input. The
//! variant indexes below must follow the order of the enums in
//! fuzz_targets/protocol_endpoint.rs; check a seed with
//! `cargo +nightly fuzz fmt protocol_endpoint seeds/protocol_endpoint/FILE`.
//! A stale seed is not harmful (it decodes to some other scenario), just
//! less useful. The `http_head` seeds are requests in that target's own
//! layout (a flags byte, the WebSocket path, chunk sizes, then the bytes;
//! see fuzz_targets/http_head.rs). The `ws_frames` seeds are frames a peer
//! sends, after a flags byte (bit 0: we are the server) and chunk sizes.

use std::fs;
use std::path::{Path, PathBuf};

use tcpws_protocol::frame::{ActiveWhy, Control, Frame, Hello, ResetCode, Welcome};
use tcpws_protocol::{ClientId, StreamId, PROTOCOL_VERSION};

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("seeds");
    let mut written = 0;
    written += frame_seeds(&root.join("frame_decode"));
    written += config_seeds(&root.join("config"));
    written += endpoint_seeds(&root.join("protocol_endpoint"));
    written += http_seeds(&root.join("http_head"));
    written += ws_frame_seeds(&root.join("ws_frames"));
    println!("wrote {written} seeds under {}", root.display());
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> usize {
    fs::create_dir_all(dir).expect("create the seed directory");
    let path: PathBuf = dir.join(name);
    fs::write(&path, bytes).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    1
}

// ---- frame_decode: one message each ----

fn frame_seeds(dir: &Path) -> usize {
    let hello = Frame::Hello(Hello {
        version: PROTOCOL_VERSION,
        client: ClientId::One,
        token: 0,
        epoch: 0,
        ctl_rx: 0,
        window: 4 * 1024 * 1024,
        nonce: None,
    });
    let auth_hello = Frame::Hello(Hello {
        version: PROTOCOL_VERSION,
        client: ClientId::One,
        token: 0,
        epoch: 0,
        ctl_rx: 0,
        window: 4 * 1024 * 1024,
        nonce: Some([0x5a; 32]),
    });
    let resume_hello = Frame::Hello(Hello {
        version: PROTOCOL_VERSION,
        client: ClientId::Two,
        token: 0x1234_5678_9abc_def0,
        epoch: 3,
        ctl_rx: 17,
        window: 65_536,
        nonce: None,
    });
    let welcome = Frame::Welcome(Welcome {
        version: PROTOCOL_VERSION,
        token: 0x1234_5678_9abc_def0,
        resumed: true,
        ctl_rx: 5,
        window: 4 * 1024 * 1024,
        grace_ms: 30_000,
        active: Some(ClientId::One),
        epoch: 2,
    });
    let new_welcome = Frame::Welcome(Welcome {
        version: PROTOCOL_VERSION,
        token: 99,
        resumed: false,
        ctl_rx: 0,
        window: 1024,
        grace_ms: 0,
        active: None,
        epoch: 0,
    });
    let control = |seq: u64, body: Control<&'static str>| Frame::Control { seq, body };
    let open = control(
        1,
        Control::Open {
            stream: StreamId(1),
            tunnel: "duckduckgo",
        },
    );
    let accepted = control(
        1,
        Control::OpenResult {
            stream: StreamId(1),
            accepted: true,
            reason: "",
        },
    );
    let refused = control(
        2,
        Control::OpenResult {
            stream: StreamId(3),
            accepted: false,
            reason: "no tunnel named \"x\" connects from the client",
        },
    );
    let fin = control(
        3,
        Control::Fin {
            stream: StreamId(2),
            final_offset: 4096,
        },
    );
    let reset = control(
        4,
        Control::Reset {
            stream: StreamId(5),
            code: ResetCode::Switched,
            reason: "the active client switched",
        },
    );
    let claim = control(5, Control::Claim { epoch: 7 });
    let active = control(
        6,
        Control::Active {
            client: Some(ClientId::Two),
            epoch: 8,
            why: ActiveWhy::Claim,
        },
    );
    let payload: Vec<u8> = (0..64u8).collect();
    let data = Frame::Data {
        stream: StreamId(1),
        offset: 0,
        payload: &payload,
    };
    let late_data = Frame::Data {
        stream: StreamId(2),
        offset: 1 << 40,
        payload: b"late",
    };
    let ack = Frame::Ack {
        stream: StreamId(1),
        consumed: 64,
    };
    let control_ack = Frame::ControlAck { seq: 6 };

    let empty_data = Frame::Data {
        stream: StreamId(4),
        offset: 10,
        payload: &[],
    };
    let goodbye = Frame::Goodbye {
        reason: "client 1 is shutting down",
    };
    let challenge = Frame::AuthChallenge { nonce: [0xc3; 32] };
    let proof = Frame::AuthProof { proof: [0x9f; 32] };
    let auth_refused = Frame::AuthRefused {
        reason: "client 1's proof is wrong",
    };
    let singles: [(&str, &Frame<'_>); 22] = [
        ("hello", &hello),
        ("hello-auth", &auth_hello),
        ("auth-challenge", &challenge),
        ("auth-proof", &proof),
        ("auth-refused", &auth_refused),
        ("hello-resume", &resume_hello),
        ("welcome-resumed", &welcome),
        ("welcome-new", &new_welcome),
        ("open", &open),
        ("open-result-accepted", &accepted),
        ("open-result-refused", &refused),
        ("fin", &fin),
        ("reset", &reset),
        ("claim", &claim),
        ("active", &active),
        ("data", &data),
        ("data-far-offset", &late_data),
        ("ack", &ack),
        ("control-ack", &control_ack),
        ("keepalive", &Frame::Keepalive),
        ("data-empty", &empty_data),
        ("goodbye", &goodbye),
    ];
    let mut n = 0;
    for (name, frame) in singles {
        let mut out = Vec::new();
        frame.encode(&mut out);
        n += write(dir, name, &out);
    }

    // Whole messages as endpoints send them.
    let mut msg = Vec::new();
    for f in [&new_welcome, &active, &open, &data, &ack, &control_ack] {
        f.encode(&mut msg);
    }
    n += write(dir, "message-welcome-open-data", &msg);
    let mut msg = Vec::new();
    for f in [
        &accepted,
        &fin,
        &reset,
        &claim,
        &data,
        &ack,
        &Frame::Keepalive,
    ] {
        f.encode(&mut msg);
    }
    n += write(dir, "message-controls", &msg);

    // Every reset code and every reason for a change of active client.
    let mut msg = Vec::new();
    for (i, code) in [
        ResetCode::Application,
        ResetCode::Switched,
        ResetCode::SessionEnded,
        ResetCode::Protocol,
    ]
    .into_iter()
    .enumerate()
    {
        let seq = 10 + i as u64;
        control(
            seq,
            Control::Reset {
                stream: StreamId(seq),
                code,
                reason: "",
            },
        )
        .encode(&mut msg);
    }
    for (i, why) in [
        ActiveWhy::Default,
        ActiveWhy::Claim,
        ActiveWhy::Failover,
        ActiveWhy::Handover,
    ]
    .into_iter()
    .enumerate()
    {
        let client = [None, Some(ClientId::One), Some(ClientId::Two), None][i];
        control(
            20 + i as u64,
            Control::Active {
                client,
                epoch: i as u64,
                why,
            },
        )
        .encode(&mut msg);
    }
    n += write(dir, "message-every-code", &msg);

    // Broken ones: a truncated frame, a length over the limit, an unknown kind.
    let mut cut = Vec::new();
    welcome.encode(&mut cut);
    cut.truncate(cut.len() - 3);
    n += write(dir, "invalid-truncated-welcome", &cut);
    n += write(dir, "invalid-huge-length", &[0x05, 0xff, 0xff, 0xff, 0xff]);
    n += write(dir, "invalid-unknown-kind", &[0x7f, 0, 0, 0, 0]);
    n
}

// ---- config: config.json texts ----

/// The seed README's "Example Client Configuration", verbatim.
const README_CLIENT_1: &str = r#"{
    "dataExchange": {
        "enableMutualTLS": false,
        "mutualTLSTrustedCACertificateBundleFilePath": "/Users/jchesney/Downloads/tcp_svr/trusted-ca.pem",
        "mutualTLSTrustedPeerCertificateBundleFilePath": "/Users/jchesney/Downloads/tcp_svr/certs-of-peers.pem",
        "serverUrl": "http://localhost:8080",
        "tlsBundleFilePath": "/Users/jchesney/Downloads/tcp_svr/key-cert-ca-root-chain.pem"
    },
    "logging": {
        "daysToKeep": 14,
        "level": "DEBUG",
        "logToStdout": true,
        "syslog": {
            "logToSysloyHost": null
        }
    },
    "tcpTunnelConnects": [
        {
            "connectToHost": "search.brave.com",
            "connectToPort": 80,
            "tunnelName": "brave"
        },
        {
            "connectToHost": "127.0.0.1",
            "connectToPort": 22,
            "tunnelName": "test_ssh"
        }
    ],
    "tcpTunnelListens": [
        {
            "listenBindAddress": "127.0.0.1",
            "listenPort": 8091,
            "tunnelName": "duckduckgo"
        }],
    "weAreServer": false,
    "clientId": 1
}
"#;

/// The seed README's "Example Second Client Configuration", verbatim.
const README_CLIENT_2: &str = r#"{
    "dataExchange": {
        "serverUrl": "http://localhost:8080"
    },
    "tcpTunnelListens": [
        {
            "listenBindAddress": "127.0.0.1",
            "listenPort": 8094,
            "tunnelName": "duckduckgo"
        }],
    "weAreServer": false,
    "clientId": 2
}
"#;

/// The seed README's "Example Server Configuration", verbatim.
const README_SERVER: &str = r#"{
    "dataExchange": {
        "enableMutualTLS": false,
        "mutualTLSTrustedCACertificateBundleFilePath": "/Users/jchesney/Downloads/tcp_svr/trusted-ca.pem",
        "mutualTLSTrustedPeerCertificateBundleFilePath": "/Users/jchesney/Downloads/tcp_svr/certs-of-peers.pem",
        "serverUrl": "http://localhost:8080",
        "tlsBundleFilePath": "/Users/jchesney/Downloads/tcp_svr/key-cert-ca-root-chain.pem"
    },
    "logging": {
        "daysToKeep": 14,
        "level": "DEBUG",
        "logToStdout": true,
        "syslog": {
            "logToSysloyHost": null
        }
    },
    "tcpTunnelConnects": [
        {
            "connectToHost": "duckduckgo.com",
            "connectToPort": 80,
            "tunnelName": "duckduckgo"
        }
    ],
    "tcpTunnelListens": [
        {
            "listenBindAddress": "127.0.0.1",
            "listenPort": 8092,
            "tunnelName": "brave"
        },
        {
            "listenBindAddress": "127.0.0.1",
            "listenPort": 8022,
            "tunnelName": "test_ssh"
        }
    ],
    "weAreServer": true
}
"#;

/// Every key the parser knows, with non-default values.
const EVERY_KEY: &str = r#"{
    "weAreServer": true,
    "clientId": 2,
    "standbySocketCloseDurationSecs": 2.5,
    "dataExchange": {
        "serverUrl": "wss://tunnel.example.com:8443/ws",
        "enableMutualTLS": true,
        "tlsBundleFilePath": "/etc/tcpws/key-cert-chain.pem",
        "mutualTLSTrustedCACertificateBundleFilePath": "/etc/tcpws/ca.pem",
        "mutualTLSTrustedPeerCertificateBundleFilePath": "/etc/tcpws/peers.pem",
        "perConnectionBufferBytes": 65536,
        "resumeGraceSecs": 0,
        "keepaliveIntervalSecs": 0.5,
        "keepaliveTimeoutSecs": 1.5,
        "connectTimeoutSecs": 3,
        "serverBindAddress": "::1"
    },
    "logging": {
        "level": "warning",
        "logToStdout": false,
        "daysToKeep": 0,
        "syslog": {
            "logToSysloyHost": "[::1]:5514",
            "logToSysloyPort": 514,
            "logToSysloyProtocol": "local3"
        }
    },
    "tcpTunnelListens": [
        {"tunnelName": "a", "listenBindAddress": "0.0.0.0", "listenPort": 1},
        {"tunnelName": "b", "listenPort": 65535}
    ],
    "tcpTunnelConnects": [
        {"tunnelName": "c", "connectToHost": "db.internal", "connectToPort": 5432}
    ]
}
"#;

fn config_seeds(dir: &Path) -> usize {
    let files: [(&str, &str); 12] = [
        ("readme-client-1.json", README_CLIENT_1),
        ("readme-client-2.json", README_CLIENT_2),
        ("readme-server.json", README_SERVER),
        ("every-key.json", EVERY_KEY),
        ("empty-object.json", "{}\n"),
        (
            "bom-and-nulls.json",
            "\u{feff}{\"clientId\": null, \"logging\": null, \"dataExchange\": {\"serverUrl\": null}}",
        ),
        (
            "unknown-keys.json",
            r#"{"weAreServr": true, "logging": {"syslg": {}}, "dataExchange": {"extra": [1, {"a": null}]}}"#,
        ),
        (
            "wrong-types.json",
            r#"{"clientId": "1", "weAreServer": "yes", "tcpTunnelListens": {"tunnelName": "x"}}"#,
        ),
        (
            "bad-values.json",
            r#"{"clientId": 3, "standbySocketCloseDurationSecs": -1, "dataExchange": {"serverUrl": "ftp://x", "perConnectionBufferBytes": 1e300, "keepaliveIntervalSecs": 20, "keepaliveTimeoutSecs": 5}}"#,
        ),
        (
            "duplicate-tunnel.json",
            r#"{"tcpTunnelConnects": [{"tunnelName": "t", "connectToHost": "h", "connectToPort": 1}, {"tunnelName": "t", "connectToHost": "h", "connectToPort": 2}]}"#,
        ),
        ("syntax-error.json", "{\"clientId\": 1,, }"),
        ("not-an-object.json", "[1, 2.5e-3, \"\\ud83d\\ude00\", true, null]"),
    ];
    let mut n = 0;
    for (name, text) in files {
        n += write(dir, name, text.as_bytes());
    }
    n
}

// ---- http_head: what a peer sends to the server port ----

/// After the bytes the peer closes, stays silent, or sends them again forever.
const EOF: u8 = 0;
const SILENT: u8 = 1;
const ENDLESS: u8 = 2;
/// Chunks arrive back to back, not one per readable event.
const BACK_TO_BACK: u8 = 4;

/// An http_head input: the peer's `bytes` for a server whose serverUrl is
/// `ws://h:1{path}`, delivered in `chunks` (0: an interrupted read).
fn http_input(flags: u8, path: &str, chunks: &[u16], bytes: &[u8]) -> Vec<u8> {
    let mut out = vec![flags, u8::try_from(path.len()).expect("a short path")];
    out.extend_from_slice(path.as_bytes());
    out.push(u8::try_from(chunks.len()).expect("few chunks"));
    for c in chunks {
        out.extend_from_slice(&c.to_le_bytes());
    }
    out.extend_from_slice(bytes);
    out
}

/// A WebSocket upgrade for `target` as a browser-like client sends it.
fn upgrade_request(target: &str) -> Vec<u8> {
    format!(
        "GET {target} HTTP/1.1\r\nHost: h:1\r\nUpgrade: websocket\r\n\
         Connection: keep-alive, Upgrade\r\nSec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
    )
    .into_bytes()
}

fn http_seeds(dir: &Path) -> usize {
    let upgrade = upgrade_request("/ws");
    // An early binary WebSocket frame right behind the head.
    let mut upgrade_and_frame = upgrade.clone();
    upgrade_and_frame.extend_from_slice(b"\x82\x03abc");
    // More header lines than the first parse's 32 slots.
    let mut many_headers = b"GET /ws HTTP/1.1\r\n".to_vec();
    for i in 0..40 {
        many_headers.extend_from_slice(format!("X-Filler-{i}: {i}\r\n").as_bytes());
    }
    many_headers.extend_from_slice(&upgrade[b"GET /ws HTTP/1.1\r\n".len()..]);
    // A head with no end within MAX_HEAD (8 KiB).
    let mut over_limit = b"GET /ws HTTP/1.1\r\n".to_vec();
    while over_limit.len() < 9000 {
        over_limit.extend_from_slice(b"X-Filler: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n");
    }
    let upgrade_no_key = b"GET /ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
        Sec-WebSocket-Version: 13\r\n\r\n";
    let seeds: [(&str, Vec<u8>); 16] = [
        ("upgrade-ws", http_input(EOF, "/ws", &[], &upgrade)),
        (
            "upgrade-ws-chunked-with-frame",
            http_input(EOF, "/ws", &[5, 1, 20, 0, 3, 100], &upgrade_and_frame),
        ),
        (
            "upgrade-root",
            http_input(SILENT, "", &[], &upgrade_request("/")),
        ),
        (
            "healthz",
            http_input(
                EOF,
                "/ws",
                &[],
                b"GET /healthz HTTP/1.1\r\nHost: h:1\r\n\r\n",
            ),
        ),
        (
            "metrics-bare-lf",
            http_input(
                EOF,
                "/ws",
                &[3],
                b"GET /metrics?x=1 HTTP/1.0\nHost: h:1\n\n",
            ),
        ),
        (
            "wrong-path",
            http_input(EOF, "/ws", &[], &upgrade_request("/nope")),
        ),
        (
            "post-healthz",
            http_input(
                EOF,
                "/",
                &[],
                b"POST /healthz HTTP/1.1\r\nContent-Length: 0\r\n\r\n",
            ),
        ),
        (
            "upgrade-without-key",
            http_input(EOF, "/ws", &[], upgrade_no_key),
        ),
        (
            "many-headers",
            http_input(EOF, "/ws", &[100, 100], &many_headers),
        ),
        (
            "over-limit",
            http_input(BACK_TO_BACK, "/ws", &[4096, 4096, 4096], &over_limit),
        ),
        (
            "endless-headers",
            http_input(ENDLESS, "/ws", &[], b"GET /ws HTTP/1.1\r\nX: "),
        ),
        (
            "nul-in-header",
            http_input(EOF, "/ws", &[], b"GET /ws HTTP/1.1\r\nX: a\x00b\r\n\r\n"),
        ),
        (
            "header-without-colon",
            http_input(
                EOF,
                "/ws",
                &[],
                b"GET /ws HTTP/1.1\r\nno colon here\r\n\r\n",
            ),
        ),
        (
            "tls-on-plain",
            http_input(
                EOF,
                "/ws",
                &[],
                b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
            ),
        ),
        (
            "pipelined",
            http_input(
                EOF,
                "/ws",
                &[10, 30],
                b"GET /healthz HTTP/1.1\r\n\r\nGET /metrics HTTP/1.1\r\n\r\n",
            ),
        ),
        (
            "partial-then-silent",
            http_input(SILENT, "/ws", &[7], b"GET /ws HTTP/1.1\r\nHost: h"),
        ),
    ];
    let mut n = 0;
    for (name, bytes) in seeds {
        n += write(dir, name, &bytes);
    }
    n
}

// ---- protocol_endpoint: scenarios in arbitrary's byte format ----

/// The variant counts and indexes of the target's enums.
mod op {
    pub const COUNT: u64 = 19;
    pub const CONNECT: u64 = 0;
    pub const BREAK: u64 = 1;
    pub const DELIVER: u64 = 2;
    pub const SETTLE: u64 = 3;
    pub const ACCEPT: u64 = 4;
    pub const DIAL_RESULT: u64 = 5;
    pub const APP_DATA: u64 = 6;
    pub const APP_WRITTEN: u64 = 7;
    pub const APP_EOF: u64 = 8;
    pub const APP_RESET: u64 = 9;
    pub const ADVANCE: u64 = 10;
    pub const NEXT_DEADLINE: u64 = 11;
    pub const SHUTDOWN: u64 = 13;
    pub const HOSTILE_LINK_UP: u64 = 15;
    pub const HOSTILE: u64 = 17;
    pub const TAMPER: u64 = 18;
}

/// `NodeSel`: Server, One, Two.
const SERVER: u64 = 0;
const ONE: u64 = 1;
const TWO: u64 = 2;
/// `ConnectOutcome`: Ok, Fail, Hostile.
const CONNECT_OK: u64 = 0;
const CONNECT_FAIL: u64 = 1;
/// `Tamper` variants.
const TAMPER_COUNT: u64 = 8;
const TAMPER_SCATTER: u64 = 7;
const TAMPER_DROP: u64 = 0;
const TAMPER_DUPLICATE: u64 = 1;
const TAMPER_REORDER: u64 = 2;
const TAMPER_SPLIT: u64 = 3;
const TAMPER_MERGE: u64 = 4;
/// `HostileTarget::ServerHostileLink`, of 4.
const HOSTILE_TARGET_COUNT: u64 = 4;
/// `FuzzFrame` variants used here, of 16.
const FUZZ_FRAME_COUNT: u64 = 16;
const FF_HELLO: u64 = 1;
const FF_OPEN: u64 = 3;
const FF_DATA: u64 = 5;

#[derive(Default)]
struct Enc(Vec<u8>);

impl Enc {
    fn u8(&mut self, v: u8) -> &mut Self {
        self.0.push(v);
        self
    }
    fn u16(&mut self, v: u16) -> &mut Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    fn u64(&mut self, v: u64) -> &mut Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    fn bool(&mut self, v: bool) -> &mut Self {
        self.u8(u8::from(v))
    }
    /// Variant `index` of an enum of `count` variants.
    fn variant(&mut self, index: u64, count: u64) -> &mut Self {
        let v = (index << 32).div_ceil(count);
        self.0.extend_from_slice(&(v as u32).to_le_bytes());
        self
    }
    fn node(&mut self, n: u64) -> &mut Self {
        self.variant(n, 3)
    }
    /// The start of the next element of `ops`.
    fn op(&mut self, index: u64) -> &mut Self {
        self.bool(true).variant(index, op::COUNT)
    }
    fn params(&mut self, two_clients: bool, eager_write: bool) -> &mut Self {
        self.params_window(3, two_clients, eager_write) // window 4 KiB
            .u8(0) // no shared secret
    }
    /// As `params`, with the same shared secret on every node.
    fn params_secret(&mut self, two_clients: bool, eager_write: bool) -> &mut Self {
        self.params_window(3, two_clients, eager_write).u8(2)
    }
    /// `window_kib`: the target's window byte (0xF0 and up: 80 KiB).
    fn params_window(&mut self, window_kib: u8, two_clients: bool, eager_write: bool) -> &mut Self {
        self.u8(window_kib)
            .u8(1) // max_message 2 KiB
            .u8(3) // 4 streams
            .u16(5_000) // grace
            .u16(900) // keepalive every 1 s
            .u16(2_000) // timeout 3 s
            .u16(1_000) // standby close
            .u8(50) // reconnect_min 51 ms
            .u8(3) // reconnect_max 204 ms
            .u64(0x5eed)
            .bool(two_clients)
            .bool(eager_write)
    }
    fn connect(&mut self, first_client: bool, outcome: u64) -> &mut Self {
        self.op(op::CONNECT).bool(first_client).variant(outcome, 3)
    }
    fn settle(&mut self, write_apps: bool) -> &mut Self {
        self.op(op::SETTLE).bool(write_apps)
    }
    fn accept(&mut self, node: u64, tunnel: u8) -> &mut Self {
        self.op(op::ACCEPT).node(node).u8(tunnel)
    }
    fn dial(&mut self, node: u64, ok: bool) -> &mut Self {
        self.op(op::DIAL_RESULT).node(node).u8(0).bool(ok)
    }
    fn app_data(&mut self, node: u64, pick: u8, len: u16) -> &mut Self {
        self.op(op::APP_DATA)
            .node(node)
            .u8(pick)
            .u16(len)
            .bool(false)
    }
    fn app_written(&mut self, node: u64, pick: u8, max: u16) -> &mut Self {
        self.op(op::APP_WRITTEN).node(node).u8(pick).u16(max)
    }
    fn app_eof(&mut self, node: u64, pick: u8) -> &mut Self {
        self.op(op::APP_EOF).node(node).u8(pick)
    }
    /// Delivers one queued message of wire 0.
    fn deliver(&mut self, to_server: bool, count: u8) -> &mut Self {
        self.op(op::DELIVER).u8(0).bool(to_server).u8(count)
    }
    /// Tampers with the next message to client 1 on wire 0; the variant's
    /// fields follow.
    fn tamper(&mut self, how: u64) -> &mut Self {
        self.op(op::TAMPER)
            .u8(0)
            .bool(false)
            .variant(how, TAMPER_COUNT)
    }
    fn advance(&mut self, ms: u16, network: bool) -> &mut Self {
        self.op(op::ADVANCE).u16(ms).bool(network)
    }
    /// Client 1 (and 2) connected, handshakes done, the server listening.
    fn online(&mut self, two: bool) -> &mut Self {
        self.connect(true, CONNECT_OK);
        if two {
            self.connect(false, CONNECT_OK);
        }
        self.settle(true)
    }
    /// A stream from the server's listen socket "a" to the active client,
    /// dialled, with data both ways.
    fn server_stream(&mut self, active: u64) -> &mut Self {
        self.accept(SERVER, 0)
            .settle(true)
            .dial(active, true)
            .app_data(SERVER, 0, 3_000)
            .app_data(active, 0, 500)
            .settle(true)
    }
    /// The end of the input (not strictly needed: running out ends it too).
    fn done(&mut self) -> Vec<u8> {
        self.bool(false);
        std::mem::take(&mut self.0)
    }
}

fn endpoint_seeds(dir: &Path) -> usize {
    let mut n = 0;

    // Both directions of one stream, then a clean half-close each way.
    let mut e = Enc::default();
    e.params(false, false)
        .online(false)
        .server_stream(ONE)
        .app_data(SERVER, 0, 4_000)
        .app_written(ONE, 0, 700)
        .settle(true)
        .app_eof(SERVER, 0)
        .app_eof(ONE, 0)
        .settle(true);
    n += write(dir, "stream-both-ways-and-close", &e.done());

    // A bulk stream with an 80 KiB window: its send ring passes 64 KiB
    // unacknowledged and the rest is read straight into it.
    let mut e = Enc::default();
    e.params_window(0xFF, false, false)
        .u8(0) // no shared secret
        .online(false)
        .server_stream(ONE);
    for _ in 0..20 {
        e.app_data(SERVER, 0, 4_096);
    }
    e.settle(true).app_written(ONE, 0, 60_000).settle(true);
    n += write(dir, "bulk-stream-direct-reads", &e.done());

    // A stream the client opens (its listen socket "c" -> the server dials).
    let mut e = Enc::default();
    e.params(false, true)
        .online(false)
        .accept(ONE, 0)
        .settle(true)
        .dial(SERVER, true)
        .app_data(ONE, 0, 2_000)
        .settle(true)
        .op(op::APP_RESET)
        .node(SERVER)
        .u8(0)
        .settle(true);
    n += write(dir, "client-opens-server-resets", &e.done());

    // Two clients: first data on the standby's listen socket claims activity.
    let mut e = Enc::default();
    e.params(true, false)
        .online(true)
        .server_stream(ONE)
        .accept(TWO, 0)
        .app_data(TWO, 0, 100)
        .settle(true)
        .dial(SERVER, true)
        .settle(true)
        .accept(SERVER, 1)
        .settle(true)
        .dial(TWO, true)
        .settle(true);
    n += write(dir, "two-clients-claim", &e.done());

    // The link breaks mid-stream and the client resumes within the grace.
    let mut e = Enc::default();
    e.params(false, false)
        .online(false)
        .server_stream(ONE)
        .app_data(SERVER, 0, 3_000)
        .op(op::BREAK)
        .u8(0)
        .u8(3)
        .advance(300, false)
        .connect(true, CONNECT_OK)
        .settle(true)
        .app_written(ONE, 0, 4_000)
        .settle(true);
    n += write(dir, "break-and-resume", &e.done());

    // The link breaks, reconnecting fails, the grace period runs out;
    // client 2 takes over by failover.
    let mut e = Enc::default();
    e.params(true, false)
        .online(true)
        .server_stream(ONE)
        .op(op::BREAK)
        .u8(0)
        .u8(3)
        .connect(true, CONNECT_FAIL)
        .advance(6_000, true)
        .op(op::NEXT_DEADLINE)
        .settle(true)
        .server_stream(TWO);
    n += write(dir, "grace-expires-failover", &e.done());

    // Nothing is delivered: keepalives and the idle timeout close the link.
    let mut e = Enc::default();
    e.params(false, false)
        .online(false)
        .advance(10_000, false)
        .settle(false)
        .advance(1_000, true);
    n += write(dir, "idle-timeout", &e.done());

    // The transport re-chunks and scatters the server's messages (the
    // receiver must not notice), then duplicates one.
    let mut e = Enc::default();
    e.params(false, false)
        .connect(true, CONNECT_OK)
        .deliver(true, 1)
        .deliver(false, 1)
        .accept(SERVER, 0)
        .app_data(SERVER, 0, 1_000)
        .tamper(TAMPER_MERGE)
        .tamper(TAMPER_SCATTER)
        .u16(300)
        .u16(100)
        .tamper(TAMPER_SPLIT)
        .u8(1)
        .tamper(TAMPER_DUPLICATE)
        .settle(true)
        .dial(ONE, true)
        .settle(true);
    n += write(dir, "transport-merge-scatter-split-dup", &e.done());

    // The transport reorders two messages and drops one.
    let mut e = Enc::default();
    e.params(false, true)
        .online(false)
        .server_stream(ONE)
        .app_data(SERVER, 0, 2_000)
        .app_data(SERVER, 0, 2_000)
        .tamper(TAMPER_REORDER)
        .tamper(TAMPER_DROP)
        .settle(true);
    n += write(dir, "transport-reorder-drop", &e.done());

    // A hostile client says hello and opens a stream with data.
    let mut e = Enc::default();
    e.params(false, false)
        .online(false)
        .op(op::HOSTILE_LINK_UP)
        .u8(0) // its certificate may claim either id
        .op(op::HOSTILE)
        .variant(0, HOSTILE_TARGET_COUNT)
        .u8(0);
    // frames: Hello { bad_version, client, token, epoch, ctl_rx, window }
    e.bool(true)
        .variant(FF_HELLO, FUZZ_FRAME_COUNT)
        .bool(false)
        .bool(false)
        .u8(0)
        .u8(0)
        .u8(0)
        .u16(1_000)
        .bool(false); // no nonce: no shared secret offered
                      // Open { seq, stream, name }
    e.bool(true)
        .variant(FF_OPEN, FUZZ_FRAME_COUNT)
        .u8(1)
        .u8(2)
        .u8(2);
    // Data { stream, offset, len }
    e.bool(true)
        .variant(FF_DATA, FUZZ_FRAME_COUNT)
        .u8(2)
        .u16(0)
        .u16(100)
        .bool(false);
    e.settle(true).dial(SERVER, true).settle(true);
    n += write(dir, "hostile-client-opens", &e.done());

    // A shutdown in the middle of a stream.
    let mut e = Enc::default();
    e.params(false, false)
        .online(false)
        .server_stream(ONE)
        .op(op::SHUTDOWN)
        .node(SERVER)
        .settle(true)
        .advance(2_000, true);
    n += write(dir, "shutdown-mid-stream", &e.done());

    // The same stream with a shared secret on every node: the handshake
    // proves it both ways before the session carries anything.
    let mut e = Enc::default();
    e.params_secret(true, false)
        .online(true)
        .server_stream(ONE)
        .settle(true)
        .advance(2_000, true);
    n += write(dir, "shared-secret-stream", &e.done());
    n
}

// ---- ws_frames: WebSocket frames as a peer sends them ----

/// One frame: `first` is FIN and opcode, masked with `key` when given.
fn ws_frame(first: u8, payload: &[u8], key: Option<[u8; 4]>) -> Vec<u8> {
    let mut f = vec![first];
    let mask_bit = if key.is_some() { 0x80 } else { 0 };
    match payload.len() {
        n if n < 126 => f.push(mask_bit | n as u8),
        n if n <= 0xFFFF => {
            f.push(mask_bit | 126);
            f.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            f.push(mask_bit | 127);
            f.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    match key {
        Some(k) => {
            f.extend_from_slice(&k);
            f.extend(payload.iter().enumerate().map(|(i, b)| b ^ k[i % 4]));
        }
        None => f.extend_from_slice(payload),
    }
    f
}

/// A ws_frames input: role, chunk sizes, then the bytes.
fn ws_input(server: bool, chunks: &[u16], wire: &[u8]) -> Vec<u8> {
    let mut input = vec![u8::from(server), chunks.len() as u8];
    for c in chunks {
        input.extend_from_slice(&c.to_le_bytes());
    }
    input.extend_from_slice(wire);
    input
}

fn ws_frame_seeds(dir: &Path) -> usize {
    let key = Some([0x11, 0x22, 0x33, 0x44]);
    let mut client_mix = ws_frame(0x82, b"hello", key);
    client_mix.extend(ws_frame(0x89, b"ping", key));
    client_mix.extend(ws_frame(0x02, b"frag", key));
    client_mix.extend(ws_frame(0x8A, b"", key));
    client_mix.extend(ws_frame(0x80, b"ment", key));
    client_mix.extend(ws_frame(0x82, &[7u8; 70_000], key));
    client_mix.extend(ws_frame(0x88, b"\x03\xe8bye", key));
    let mut server_mix = ws_frame(0x82, &[1u8; 300], None);
    server_mix.extend(ws_frame(0x89, b"", None));
    server_mix.extend(ws_frame(0x88, b"", None));
    let seeds: [(&str, Vec<u8>); 4] = [
        ("client-frames", ws_input(true, &[], &client_mix)),
        (
            "client-frames-chunked",
            ws_input(true, &[1, 2, 3, 500, 7, 0, 9000], &client_mix),
        ),
        ("server-frames", ws_input(false, &[13], &server_mix)),
        (
            "unmasked-from-client",
            ws_input(true, &[], &ws_frame(0x82, b"x", None)),
        ),
    ];
    seeds
        .iter()
        .map(|(name, bytes)| write(dir, name, bytes))
        .sum()
}
