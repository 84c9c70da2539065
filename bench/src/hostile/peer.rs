//! A hostile client with a session: a raw WebSocket link that says Hello
//! as client 2 (the standby; the healthy stream goes through client 1)
//! without a secret, gets its Welcome, and then sends whatever frames the
//! attack builds, batched into messages. A reader thread takes in all the
//! server says and keeps what the attacks judge by: the answers to Opens,
//! the acknowledgements of control frames, and how and when the link was
//! closed. The bench never acknowledges the server's control frames.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use tcpws_protocol::frame::{self, encode_control, encode_data_header, Control, Frame, Hello};
use tcpws_protocol::{ClientId, StreamId, PROTOCOL_VERSION};

use crate::websocket::{self, ParseError, OP_BINARY, OP_CLOSE};

/// Limit of every read and write of the handshake, and of every write.
const IO_LIMIT: Duration = Duration::from_secs(10);
/// The receive window the hostile client grants (it reads nothing).
const WINDOW: u32 = 256 * 1024;

/// What the server has said on the link so far.
#[derive(Debug, Default, Clone)]
pub struct Heard {
    pub welcomed: bool,
    /// The server asked for a shared secret (AuthChallenge) or refused us.
    pub refused: Option<String>,
    /// OpenResults received, and how many of them accepted.
    pub open_results: u64,
    pub accepted: u64,
    /// The highest stream of an OpenResult (refusals come at once, in the
    /// Opens' order; an acceptance when the dial is done).
    pub max_result: Option<u64>,
    /// Highest ControlAck: our control frames the server has taken in.
    pub control_ack: u64,
    /// Highest control seq the server sent (none acknowledged by us).
    pub server_controls: u64,
    /// When and how the link ended (a close frame, a reset, an end).
    pub closed: Option<(Instant, String)>,
    /// A frame of the server's that did not decode.
    pub bad_frame: Option<String>,
}

struct Shared {
    heard: Mutex<Heard>,
    changed: Condvar,
    /// The bench itself is closing the link.
    closing: AtomicBool,
}

/// One hostile link with its session.
pub struct Peer {
    stream: TcpStream,
    shared: Arc<Shared>,
    reader: Option<JoinHandle<()>>,
    next_seq: u64,
    next_stream: u64,
    out: Vec<u8>,
}

impl Peer {
    /// Upgrades a link to `port`, says Hello as client 2 with a new session
    /// and no secret, and waits for the Welcome.
    pub fn connect(port: u16) -> Result<Peer, String> {
        let (stream, leftover) =
            websocket::connect_upgraded(port, IO_LIMIT).map_err(|e| format!("upgrade: {e}"))?;
        let reading = stream.try_clone().map_err(|e| e.to_string())?;
        reading.set_read_timeout(None).map_err(|e| e.to_string())?;
        let shared = Arc::new(Shared {
            heard: Mutex::new(Heard::default()),
            changed: Condvar::new(),
            closing: AtomicBool::new(false),
        });
        let s = shared.clone();
        let reader = thread::Builder::new()
            .name("bench-hostile-reader".into())
            .spawn(move || read_all(reading, leftover, &s))
            .map_err(|e| e.to_string())?;
        let mut peer = Peer {
            stream,
            shared,
            reader: Some(reader),
            next_seq: 1,
            next_stream: 2,
            out: Vec::new(),
        };
        let mut hello = Vec::new();
        Frame::Hello(Hello {
            version: PROTOCOL_VERSION,
            client: ClientId::Two,
            token: 0,
            epoch: 0,
            ctl_rx: 0,
            window: WINDOW,
            nonce: None,
        })
        .encode(&mut hello);
        peer.send(&hello)
            .map_err(|e| format!("send the Hello: {e}"))?;
        let heard = peer.wait(IO_LIMIT, |h| {
            h.welcomed || h.refused.is_some() || h.closed.is_some()
        });
        match heard {
            h if h.welcomed => Ok(peer),
            Heard {
                refused: Some(why), ..
            } => Err(format!("the server refused the Hello: {why}")),
            Heard {
                closed: Some((_, how)),
                ..
            } => Err(format!("closed before the Welcome: {how}")),
            _ => Err(format!("no Welcome within {IO_LIMIT:?}")),
        }
    }

    /// Sends `frames` (encoded tcpws frames) as one binary message, masked
    /// with a zero key (see [`websocket::put_binary`]).
    pub fn send(&mut self, frames: &[u8]) -> io::Result<()> {
        self.out.clear();
        websocket::put_binary(&mut self.out, frames, [0; 4]);
        self.stream.write_all(&self.out)
    }

    /// Appends an Open of a fresh stream of ours for `tunnel` to `buf`;
    /// returns the stream's id.
    pub fn put_open(&mut self, buf: &mut Vec<u8>, tunnel: &str) -> u64 {
        let stream = self.next_stream;
        self.next_stream += 2;
        let seq = self.next_seq;
        self.next_seq += 1;
        encode_control(
            buf,
            seq,
            &Control::Open {
                stream: StreamId(stream),
                tunnel,
            },
        );
        stream
    }

    /// Waits until `done` holds for what the server said, or `limit`;
    /// returns what it said.
    pub fn wait(&self, limit: Duration, done: impl Fn(&Heard) -> bool) -> Heard {
        let deadline = Instant::now() + limit;
        let mut heard = self
            .shared
            .heard
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        while !done(&heard) {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            heard = self
                .shared
                .changed
                .wait_timeout(heard, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        heard.clone()
    }

    /// What the server has said so far.
    pub fn heard(&self) -> Heard {
        self.wait(Duration::ZERO, |_| true)
    }
}

/// Appends a Data frame of `payload` at `offset` of `stream`.
pub fn put_data(buf: &mut Vec<u8>, stream: u64, offset: u64, payload: &[u8]) {
    encode_data_header(buf, StreamId(stream), offset, payload.len());
    buf.extend_from_slice(payload);
}

impl Drop for Peer {
    fn drop(&mut self) {
        self.shared.closing.store(true, Ordering::SeqCst);
        let _ = self.stream.shutdown(Shutdown::Both);
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
    }
}

/// The reader thread: every WebSocket frame the server sends, until the
/// link ends.
fn read_all(mut stream: TcpStream, mut buf: Vec<u8>, shared: &Shared) {
    let mut at = 0;
    let mut chunk = vec![0u8; 64 * 1024];
    let end = loop {
        loop {
            match websocket::parse_frame(&buf[at..]) {
                Ok((f, used)) => {
                    at += used;
                    if f.opcode == OP_CLOSE {
                        let how =
                            format!("WebSocket close {}", websocket::describe_close(&f.payload));
                        note(shared, |h| {
                            h.closed.get_or_insert((Instant::now(), how));
                        });
                    } else if f.opcode == OP_BINARY {
                        take_message(&f.payload, shared);
                    }
                }
                Err(ParseError::Incomplete) => break,
                Err(ParseError::TooLarge(n)) => {
                    note(shared, |h| {
                        h.bad_frame
                            .get_or_insert(format!("a WebSocket frame of {n} bytes"));
                    });
                    return finish(shared, "the bench gave up on a huge frame".into());
                }
            }
        }
        buf.drain(..at);
        at = 0;
        match stream.read(&mut chunk) {
            Ok(0) if buf.is_empty() => break "the server ended the connection".to_string(),
            Ok(0) => {
                break format!(
                    "the server ended the connection within a WebSocket frame \
                     ({} bytes of it received, starting {:02x?})",
                    buf.len(),
                    &buf[..buf.len().min(14)]
                )
            }
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => break format!("read failed: {e}"),
        }
    };
    finish(shared, end);
}

fn finish(shared: &Shared, how: String) {
    let how = if shared.closing.load(Ordering::SeqCst) {
        "closed by the bench".to_string()
    } else {
        how
    };
    note(shared, |h| {
        h.closed.get_or_insert((Instant::now(), how));
    });
}

/// Takes in one binary message of the server's.
fn take_message(message: &[u8], shared: &Shared) {
    note(shared, |h| {
        for f in frame::frames(message) {
            match f {
                Ok(Frame::Welcome(_)) => h.welcomed = true,
                Ok(Frame::AuthChallenge { .. }) => {
                    h.refused
                        .get_or_insert("it asked for a shared secret (AuthChallenge)".into());
                }
                Ok(Frame::AuthRefused { reason }) => {
                    h.refused
                        .get_or_insert(frame::printable(reason).to_string());
                }
                Ok(Frame::ControlAck { seq }) => h.control_ack = h.control_ack.max(seq),
                Ok(Frame::Control { seq, body }) => {
                    h.server_controls = h.server_controls.max(seq);
                    if let Control::OpenResult {
                        stream, accepted, ..
                    } = body
                    {
                        h.open_results += 1;
                        h.accepted += u64::from(accepted);
                        h.max_result = Some(h.max_result.map_or(stream.0, |m| m.max(stream.0)));
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    h.bad_frame.get_or_insert(e.to_string());
                    break;
                }
            }
        }
    });
}

fn note(shared: &Shared, f: impl FnOnce(&mut Heard)) {
    f(&mut shared.heard.lock().unwrap_or_else(PoisonError::into_inner));
    shared.changed.notify_all();
}
