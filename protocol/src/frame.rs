//! The tcpws wire format, version 1: pure functions over byte slices.
//!
//! A WebSocket **binary message** carries one or more whole frames, back to
//! back; a frame never spans two messages. Every integer is big-endian.
//!
//! ```text
//! frame   = kind:u8  len:u32  body[len]
//! ```
//!
//! | kind | name        | body                                                                  |
//! |------|-------------|-----------------------------------------------------------------------|
//! | 0x01 | Hello       | version:u16 role:u8(=1 client) client:u8 token:u64 epoch:u64 ctl_rx:u64 window:u32 |
//! | 0x02 | Welcome     | version:u16 token:u64 resumed:u8(0,1) ctl_rx:u64 window:u32 grace_ms:u32 active:u8 epoch:u64 |
//! | 0x03 | Open        | seq:u64 stream:u64 name_len:u8 name[name_len] (UTF-8)                 |
//! | 0x04 | OpenResult  | seq:u64 stream:u64 accepted:u8(0,1) reason_len:u16 reason (UTF-8)     |
//! | 0x05 | Data        | stream:u64 offset:u64 payload[len-16]                                 |
//! | 0x06 | Ack         | stream:u64 consumed:u64                                               |
//! | 0x07 | Fin         | seq:u64 stream:u64 final_offset:u64                                   |
//! | 0x08 | Reset       | seq:u64 stream:u64 code:u8 reason_len:u16 reason (UTF-8)              |
//! | 0x09 | Claim       | seq:u64 epoch:u64                                                     |
//! | 0x0A | Active      | seq:u64 client:u8(0 none,1,2) epoch:u64 why:u8                        |
//! | 0x0B | ControlAck  | seq:u64                                                               |
//! | 0x0C | Keepalive   | (empty)                                                               |
//! | 0x0D | Goodbye     | reason_len:u16 reason (UTF-8)                                         |
//!
//! * **Hello / Welcome** open a link. The client sends Hello first with the
//!   resume `token` of its session (0 for none), the highest election `epoch`
//!   it has seen, the highest control `seq` it received (`ctl_rx`) and its
//!   receive `window` per stream. The server answers Welcome: the session's
//!   token, whether it was `resumed`, its own `ctl_rx` and window, the resume
//!   grace period, and who is active at which epoch.
//! * **Control frames** (Open, OpenResult, Fin, Reset, Claim, Active) carry a
//!   per-session sequence number starting at 1. They are delivered exactly
//!   once, in order: the receiver acknowledges the highest seq it has with
//!   ControlAck, the sender keeps unacknowledged ones and sends them again
//!   after a resume, and the receiver drops any seq it has already seen.
//! * **Data** places `payload` at byte `offset` of the stream; bytes already
//!   received are dropped. **Ack** says the receiver has delivered `consumed`
//!   bytes to its application: the sender may free them and may send up to
//!   `consumed + window` (the window from the peer's Hello or Welcome).
//! * **Fin** says the sender's direction ends at `final_offset` (half-close).
//!   **Reset** aborts both directions of the stream.
//! * **Claim** (client → server): first data arrived on a standby client's
//!   listen socket. **Active** (server → client): who is active now.
//! * **Goodbye** (either way, after the sender's last data): the sender ends
//!   the session on purpose (a planned stop) and closes the link. The
//!   receiver does not wait for a resume: the server hands over to the other
//!   client at once, a client starts a new session when it reconnects.
//! * Stream ids: odd when the server opened the stream, even for a client.
//!
//! Lengths are bounded before anything is allocated ([`MAX_FRAME_BODY`],
//! [`MAX_TUNNEL_NAME`], [`MAX_REASON`]); an unknown kind, a bad length, bad
//! UTF-8 or a value out of its range (a flag other than 0 or 1, say) is
//! [`DecodeError::Invalid`] and closes the link. Every frame has exactly one
//! encoding.

use std::fmt;

use crate::ids::{ClientId, StreamId};

/// Largest frame body accepted (a Data frame's payload plus its 16-byte header).
pub const MAX_FRAME_BODY: usize = 1024 * 1024 + 16;
/// Largest WebSocket message either side sends or accepts.
pub const MAX_MESSAGE: usize = 16 * 1024 * 1024;
/// Longest tunnel name, in bytes.
pub const MAX_TUNNEL_NAME: usize = 255;
/// Longest refusal or reset reason, in bytes; longer ones are cut when encoding.
pub const MAX_REASON: usize = 1024;
/// Bytes in front of every frame body: kind and length.
pub const FRAME_HEADER: usize = 5;
/// Bytes a Data frame adds in front of its payload.
pub const DATA_OVERHEAD: usize = FRAME_HEADER + 16;

const KIND_HELLO: u8 = 0x01;
const KIND_WELCOME: u8 = 0x02;
const KIND_OPEN: u8 = 0x03;
const KIND_OPEN_RESULT: u8 = 0x04;
const KIND_DATA: u8 = 0x05;
const KIND_ACK: u8 = 0x06;
const KIND_FIN: u8 = 0x07;
const KIND_RESET: u8 = 0x08;
const KIND_CLAIM: u8 = 0x09;
const KIND_ACTIVE: u8 = 0x0A;
const KIND_CONTROL_ACK: u8 = 0x0B;
const KIND_KEEPALIVE: u8 = 0x0C;
const KIND_GOODBYE: u8 = 0x0D;

/// The client's greeting; the first frame on every link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hello {
    pub version: u16,
    pub client: ClientId,
    /// Resume token of the session to continue, 0 for a new one.
    pub token: u64,
    /// Highest election epoch the client has seen.
    pub epoch: u64,
    /// Highest control sequence number the client has received in that session.
    pub ctl_rx: u64,
    /// The client's receive window per stream.
    pub window: u32,
}

/// The server's answer to [`Hello`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Welcome {
    pub version: u16,
    pub token: u64,
    /// Whether the session named by the Hello's token continues.
    pub resumed: bool,
    /// Highest control sequence number the server has received in the session.
    pub ctl_rx: u64,
    /// The server's receive window per stream.
    pub window: u32,
    /// How long the server keeps the session after its link drops.
    pub grace_ms: u32,
    pub active: Option<ClientId>,
    pub epoch: u64,
}

/// Why a stream was reset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResetCode {
    /// The application's TCP connection failed or was reset.
    Application = 0,
    /// The switch to another active client closed it.
    Switched = 1,
    /// The session ended (grace period over, peer restarted, shutdown).
    SessionEnded = 2,
    /// The peer broke the protocol for this stream.
    Protocol = 3,
}

impl ResetCode {
    fn from_byte(b: u8) -> Option<ResetCode> {
        Some(match b {
            0 => ResetCode::Application,
            1 => ResetCode::Switched,
            2 => ResetCode::SessionEnded,
            3 => ResetCode::Protocol,
            _ => return None,
        })
    }
}

/// Why the active client is who it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActiveWhy {
    /// The first client online was picked (client 1 preferred); no election yet.
    Default = 0,
    /// First data on the standby's listen socket.
    Claim = 1,
    /// The active client's link was down past the failover delay with the
    /// other client online, or past the resume grace.
    Failover = 2,
    /// The active client stopped on purpose (it said Goodbye).
    Handover = 3,
}

impl ActiveWhy {
    fn from_byte(b: u8) -> Option<ActiveWhy> {
        Some(match b {
            0 => ActiveWhy::Default,
            1 => ActiveWhy::Claim,
            2 => ActiveWhy::Failover,
            3 => ActiveWhy::Handover,
            _ => return None,
        })
    }

    /// A word for logs.
    pub fn as_str(self) -> &'static str {
        match self {
            ActiveWhy::Default => "default choice",
            ActiveWhy::Claim => "first data on the standby's listen socket",
            ActiveWhy::Failover => "failover: the active client's link was down too long",
            ActiveWhy::Handover => "handover: the active client stopped on purpose",
        }
    }
}

/// A control frame's body: delivered once, in order, across resumes. `S` is
/// `&str` when decoded and `String` when queued for sending.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Control<S> {
    Open {
        stream: StreamId,
        tunnel: S,
    },
    OpenResult {
        stream: StreamId,
        accepted: bool,
        reason: S,
    },
    Fin {
        stream: StreamId,
        final_offset: u64,
    },
    Reset {
        stream: StreamId,
        code: ResetCode,
        reason: S,
    },
    Claim {
        epoch: u64,
    },
    Active {
        client: Option<ClientId>,
        epoch: u64,
        why: ActiveWhy,
    },
}

impl<S: AsRef<str>> Control<S> {
    /// The stream this frame is about, if any.
    pub fn stream(&self) -> Option<StreamId> {
        match self {
            Control::Open { stream, .. }
            | Control::OpenResult { stream, .. }
            | Control::Fin { stream, .. }
            | Control::Reset { stream, .. } => Some(*stream),
            Control::Claim { .. } | Control::Active { .. } => None,
        }
    }

    /// An owned copy, for queueing.
    pub fn to_owned_control(&self) -> Control<String> {
        match self {
            Control::Open { stream, tunnel } => Control::Open {
                stream: *stream,
                tunnel: tunnel.as_ref().to_owned(),
            },
            Control::OpenResult {
                stream,
                accepted,
                reason,
            } => Control::OpenResult {
                stream: *stream,
                accepted: *accepted,
                reason: reason.as_ref().to_owned(),
            },
            Control::Fin {
                stream,
                final_offset,
            } => Control::Fin {
                stream: *stream,
                final_offset: *final_offset,
            },
            Control::Reset {
                stream,
                code,
                reason,
            } => Control::Reset {
                stream: *stream,
                code: *code,
                reason: reason.as_ref().to_owned(),
            },
            Control::Claim { epoch } => Control::Claim { epoch: *epoch },
            Control::Active { client, epoch, why } => Control::Active {
                client: *client,
                epoch: *epoch,
                why: *why,
            },
        }
    }
}

/// One decoded frame, borrowing its payload from the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame<'a> {
    Hello(Hello),
    Welcome(Welcome),
    Control {
        seq: u64,
        body: Control<&'a str>,
    },
    Data {
        stream: StreamId,
        offset: u64,
        payload: &'a [u8],
    },
    Ack {
        stream: StreamId,
        consumed: u64,
    },
    ControlAck {
        seq: u64,
    },
    Keepalive,
    /// The sender ends the session on purpose, for `reason`.
    Goodbye {
        reason: &'a str,
    },
}

/// Why bytes did not decode to a frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// More bytes are needed: at least this many in all. Nothing was consumed.
    Incomplete { needed: usize },
    /// The bytes can never be a valid frame; the reason names the problem.
    Invalid(String),
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::Incomplete { needed } => {
                write!(f, "truncated frame: {needed} bytes needed")
            }
            DecodeError::Invalid(why) => write!(f, "invalid frame: {why}"),
        }
    }
}

impl std::error::Error for DecodeError {}

/// A bounds-checked reader over one frame body. Every getter fails instead
/// of reading past the end.
struct Reader<'a> {
    buf: &'a [u8],
    what: &'static str,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if self.buf.len() < n {
            return Err(DecodeError::Invalid(format!(
                "{} body too short",
                self.what
            )));
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Ok(head)
    }

    fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?[0])
    }

    /// A flag: 0 or 1. Anything else is invalid, so every frame has exactly
    /// one encoding and re-encodes to the bytes it was read from.
    fn bool(&mut self, field: &str) -> Result<bool, DecodeError> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            b => Err(DecodeError::Invalid(format!(
                "{} {field} is {b}, not 0 or 1",
                self.what
            ))),
        }
    }

    fn u16(&mut self) -> Result<u16, DecodeError> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    fn u32(&mut self) -> Result<u32, DecodeError> {
        let mut a = [0u8; 4];
        a.copy_from_slice(self.take(4)?);
        Ok(u32::from_be_bytes(a))
    }

    fn u64(&mut self) -> Result<u64, DecodeError> {
        let mut a = [0u8; 8];
        a.copy_from_slice(self.take(8)?);
        Ok(u64::from_be_bytes(a))
    }

    fn str(&mut self, len: usize, max: usize, field: &str) -> Result<&'a str, DecodeError> {
        if len > max {
            return Err(DecodeError::Invalid(format!(
                "{} {field} is {len} bytes, more than {max}",
                self.what
            )));
        }
        let bytes = self.take(len)?;
        std::str::from_utf8(bytes)
            .map_err(|_| DecodeError::Invalid(format!("{} {field} is not UTF-8", self.what)))
    }

    fn finish(self) -> Result<(), DecodeError> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(DecodeError::Invalid(format!(
                "{} body has {} trailing bytes",
                self.what,
                self.buf.len()
            )))
        }
    }
}

fn client_from_byte(b: u8, what: &str) -> Result<ClientId, DecodeError> {
    ClientId::from_number(u64::from(b))
        .ok_or_else(|| DecodeError::Invalid(format!("{what}: client id {b} is not 1 or 2")))
}

fn optional_client(b: u8, what: &str) -> Result<Option<ClientId>, DecodeError> {
    if b == 0 {
        Ok(None)
    } else {
        client_from_byte(b, what).map(Some)
    }
}

impl<'a> Frame<'a> {
    /// Decodes the frame at the start of `buf`, returning it and the bytes it
    /// used. On error nothing is consumed.
    pub fn decode(buf: &'a [u8]) -> Result<(Frame<'a>, usize), DecodeError> {
        if buf.len() < FRAME_HEADER {
            return Err(DecodeError::Incomplete {
                needed: FRAME_HEADER,
            });
        }
        let kind = buf[0];
        let len = u32::from_be_bytes([buf[1], buf[2], buf[3], buf[4]]) as usize;
        if len > MAX_FRAME_BODY {
            return Err(DecodeError::Invalid(format!(
                "frame body of {len} bytes exceeds the limit of {MAX_FRAME_BODY}"
            )));
        }
        let total = FRAME_HEADER + len;
        if buf.len() < total {
            return Err(DecodeError::Incomplete { needed: total });
        }
        let body = &buf[FRAME_HEADER..total];
        let frame = Self::decode_body(kind, body)?;
        Ok((frame, total))
    }

    fn decode_body(kind: u8, body: &'a [u8]) -> Result<Frame<'a>, DecodeError> {
        let what = match kind {
            KIND_HELLO => "hello",
            KIND_WELCOME => "welcome",
            KIND_OPEN => "open",
            KIND_OPEN_RESULT => "open-result",
            KIND_DATA => "data",
            KIND_ACK => "ack",
            KIND_FIN => "fin",
            KIND_RESET => "reset",
            KIND_CLAIM => "claim",
            KIND_ACTIVE => "active",
            KIND_CONTROL_ACK => "control-ack",
            KIND_KEEPALIVE => "keepalive",
            KIND_GOODBYE => "goodbye",
            other => {
                return Err(DecodeError::Invalid(format!(
                    "unknown frame kind 0x{other:02x}"
                )))
            }
        };
        let mut r = Reader { buf: body, what };
        let frame = match kind {
            KIND_HELLO => {
                let version = r.u16()?;
                let role = r.u8()?;
                if role != 1 {
                    return Err(DecodeError::Invalid(format!(
                        "hello: role {role} is not a client (1)"
                    )));
                }
                let client = client_from_byte(r.u8()?, "hello")?;
                Frame::Hello(Hello {
                    version,
                    client,
                    token: r.u64()?,
                    epoch: r.u64()?,
                    ctl_rx: r.u64()?,
                    window: r.u32()?,
                })
            }
            KIND_WELCOME => {
                let version = r.u16()?;
                let token = r.u64()?;
                let resumed = r.bool("resumed")?;
                let ctl_rx = r.u64()?;
                let window = r.u32()?;
                let grace_ms = r.u32()?;
                let active = optional_client(r.u8()?, "welcome")?;
                let epoch = r.u64()?;
                Frame::Welcome(Welcome {
                    version,
                    token,
                    resumed,
                    ctl_rx,
                    window,
                    grace_ms,
                    active,
                    epoch,
                })
            }
            KIND_DATA => {
                let stream = StreamId(r.u64()?);
                let offset = r.u64()?;
                let payload = r.buf;
                r.buf = &[];
                if offset.checked_add(payload.len() as u64).is_none() {
                    return Err(DecodeError::Invalid("data: offset overflows".into()));
                }
                Frame::Data {
                    stream,
                    offset,
                    payload,
                }
            }
            KIND_ACK => Frame::Ack {
                stream: StreamId(r.u64()?),
                consumed: r.u64()?,
            },
            KIND_CONTROL_ACK => Frame::ControlAck { seq: r.u64()? },
            KIND_KEEPALIVE => Frame::Keepalive,
            KIND_GOODBYE => {
                let len = usize::from(r.u16()?);
                Frame::Goodbye {
                    reason: r.str(len, MAX_REASON, "reason")?,
                }
            }
            _ => {
                let seq = r.u64()?;
                if seq == 0 {
                    return Err(DecodeError::Invalid(format!("{what}: sequence number 0")));
                }
                let body = match kind {
                    KIND_OPEN => {
                        let stream = StreamId(r.u64()?);
                        let len = usize::from(r.u8()?);
                        let tunnel = r.str(len, MAX_TUNNEL_NAME, "tunnel name")?;
                        if tunnel.is_empty() {
                            return Err(DecodeError::Invalid("open: empty tunnel name".into()));
                        }
                        Control::Open { stream, tunnel }
                    }
                    KIND_OPEN_RESULT => {
                        let stream = StreamId(r.u64()?);
                        let accepted = r.bool("accepted")?;
                        let len = usize::from(r.u16()?);
                        let reason = r.str(len, MAX_REASON, "reason")?;
                        Control::OpenResult {
                            stream,
                            accepted,
                            reason,
                        }
                    }
                    KIND_FIN => Control::Fin {
                        stream: StreamId(r.u64()?),
                        final_offset: r.u64()?,
                    },
                    KIND_RESET => {
                        let stream = StreamId(r.u64()?);
                        let code_byte = r.u8()?;
                        let code = ResetCode::from_byte(code_byte).ok_or_else(|| {
                            DecodeError::Invalid(format!("reset: unknown code {code_byte}"))
                        })?;
                        let len = usize::from(r.u16()?);
                        let reason = r.str(len, MAX_REASON, "reason")?;
                        Control::Reset {
                            stream,
                            code,
                            reason,
                        }
                    }
                    KIND_CLAIM => Control::Claim { epoch: r.u64()? },
                    _ => {
                        let client = optional_client(r.u8()?, "active")?;
                        let epoch = r.u64()?;
                        let why_byte = r.u8()?;
                        let why = ActiveWhy::from_byte(why_byte).ok_or_else(|| {
                            DecodeError::Invalid(format!("active: unknown reason {why_byte}"))
                        })?;
                        Control::Active { client, epoch, why }
                    }
                };
                Frame::Control { seq, body }
            }
        };
        r.finish()?;
        Ok(frame)
    }
}

/// Iterates the frames of one WebSocket message; a truncated last frame is
/// an error, since frames never span messages.
pub struct Frames<'a> {
    rest: &'a [u8],
}

/// The frames of `message`, in order.
pub fn frames(message: &[u8]) -> Frames<'_> {
    Frames { rest: message }
}

impl<'a> Iterator for Frames<'a> {
    type Item = Result<Frame<'a>, DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        match Frame::decode(self.rest) {
            Ok((frame, used)) => {
                self.rest = &self.rest[used..];
                Some(Ok(frame))
            }
            Err(e) => {
                self.rest = &[];
                Some(Err(match e {
                    DecodeError::Incomplete { needed } => DecodeError::Invalid(format!(
                        "frame truncated at the end of the message ({needed} bytes needed)"
                    )),
                    invalid => invalid,
                }))
            }
        }
    }
}

fn put_header(out: &mut Vec<u8>, kind: u8, body_len: usize) {
    out.push(kind);
    // Bodies are bounded by MAX_FRAME_BODY, far below u32::MAX.
    out.extend_from_slice(&(body_len as u32).to_be_bytes());
}

fn cut(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Appends the header of a Data frame whose `payload_len` bytes the caller
/// appends next. Lets the sender copy payload straight from its buffer.
pub fn encode_data_header(out: &mut Vec<u8>, stream: StreamId, offset: u64, payload_len: usize) {
    put_header(out, KIND_DATA, 16 + payload_len);
    out.extend_from_slice(&stream.0.to_be_bytes());
    out.extend_from_slice(&offset.to_be_bytes());
}

impl Frame<'_> {
    /// Appends the encoded frame to `out`. Reasons longer than [`MAX_REASON`]
    /// are cut; a Data payload must not exceed `MAX_FRAME_BODY - 16`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Frame::Hello(h) => {
                put_header(out, KIND_HELLO, 32);
                out.extend_from_slice(&h.version.to_be_bytes());
                out.push(1);
                out.push(h.client.number());
                out.extend_from_slice(&h.token.to_be_bytes());
                out.extend_from_slice(&h.epoch.to_be_bytes());
                out.extend_from_slice(&h.ctl_rx.to_be_bytes());
                out.extend_from_slice(&h.window.to_be_bytes());
            }
            Frame::Welcome(w) => {
                put_header(out, KIND_WELCOME, 36);
                out.extend_from_slice(&w.version.to_be_bytes());
                out.extend_from_slice(&w.token.to_be_bytes());
                out.push(u8::from(w.resumed));
                out.extend_from_slice(&w.ctl_rx.to_be_bytes());
                out.extend_from_slice(&w.window.to_be_bytes());
                out.extend_from_slice(&w.grace_ms.to_be_bytes());
                out.push(w.active.map_or(0, ClientId::number));
                out.extend_from_slice(&w.epoch.to_be_bytes());
            }
            Frame::Control { seq, body } => encode_control(out, *seq, body),
            Frame::Data {
                stream,
                offset,
                payload,
            } => {
                encode_data_header(out, *stream, *offset, payload.len());
                out.extend_from_slice(payload);
            }
            Frame::Ack { stream, consumed } => {
                put_header(out, KIND_ACK, 16);
                out.extend_from_slice(&stream.0.to_be_bytes());
                out.extend_from_slice(&consumed.to_be_bytes());
            }
            Frame::ControlAck { seq } => {
                put_header(out, KIND_CONTROL_ACK, 8);
                out.extend_from_slice(&seq.to_be_bytes());
            }
            Frame::Keepalive => put_header(out, KIND_KEEPALIVE, 0),
            Frame::Goodbye { reason } => {
                let reason = cut(reason, MAX_REASON);
                put_header(out, KIND_GOODBYE, 2 + reason.len());
                out.extend_from_slice(&(reason.len() as u16).to_be_bytes());
                out.extend_from_slice(reason.as_bytes());
            }
        }
    }
}

/// Appends a control frame with sequence number `seq` to `out`.
pub fn encode_control<S: AsRef<str>>(out: &mut Vec<u8>, seq: u64, body: &Control<S>) {
    match body {
        Control::Open { stream, tunnel } => {
            let name = cut(tunnel.as_ref(), MAX_TUNNEL_NAME);
            put_header(out, KIND_OPEN, 17 + name.len());
            out.extend_from_slice(&seq.to_be_bytes());
            out.extend_from_slice(&stream.0.to_be_bytes());
            out.push(name.len() as u8);
            out.extend_from_slice(name.as_bytes());
        }
        Control::OpenResult {
            stream,
            accepted,
            reason,
        } => {
            let reason = cut(reason.as_ref(), MAX_REASON);
            put_header(out, KIND_OPEN_RESULT, 19 + reason.len());
            out.extend_from_slice(&seq.to_be_bytes());
            out.extend_from_slice(&stream.0.to_be_bytes());
            out.push(u8::from(*accepted));
            out.extend_from_slice(&(reason.len() as u16).to_be_bytes());
            out.extend_from_slice(reason.as_bytes());
        }
        Control::Fin {
            stream,
            final_offset,
        } => {
            put_header(out, KIND_FIN, 24);
            out.extend_from_slice(&seq.to_be_bytes());
            out.extend_from_slice(&stream.0.to_be_bytes());
            out.extend_from_slice(&final_offset.to_be_bytes());
        }
        Control::Reset {
            stream,
            code,
            reason,
        } => {
            let reason = cut(reason.as_ref(), MAX_REASON);
            put_header(out, KIND_RESET, 19 + reason.len());
            out.extend_from_slice(&seq.to_be_bytes());
            out.extend_from_slice(&stream.0.to_be_bytes());
            out.push(*code as u8);
            out.extend_from_slice(&(reason.len() as u16).to_be_bytes());
            out.extend_from_slice(reason.as_bytes());
        }
        Control::Claim { epoch } => {
            put_header(out, KIND_CLAIM, 16);
            out.extend_from_slice(&seq.to_be_bytes());
            out.extend_from_slice(&epoch.to_be_bytes());
        }
        Control::Active { client, epoch, why } => {
            put_header(out, KIND_ACTIVE, 18);
            out.extend_from_slice(&seq.to_be_bytes());
            out.push(client.map_or(0, ClientId::number));
            out.extend_from_slice(&epoch.to_be_bytes());
            out.push(*why as u8);
        }
    }
}

/// The encoded size of a control frame, for fitting it into a message.
pub fn control_len<S: AsRef<str>>(body: &Control<S>) -> usize {
    FRAME_HEADER
        + match body {
            Control::Open { tunnel, .. } => 17 + cut(tunnel.as_ref(), MAX_TUNNEL_NAME).len(),
            Control::OpenResult { reason, .. } | Control::Reset { reason, .. } => {
                19 + cut(reason.as_ref(), MAX_REASON).len()
            }
            Control::Fin { .. } => 24,
            Control::Claim { .. } => 16,
            Control::Active { .. } => 18,
        }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quickcheck::{quickcheck, Arbitrary, Gen};

    fn client(g: &mut Gen) -> ClientId {
        if bool::arbitrary(g) {
            ClientId::One
        } else {
            ClientId::Two
        }
    }

    fn text(g: &mut Gen, max: usize) -> String {
        let s = String::arbitrary(g);
        cut(&s, max).to_owned()
    }

    /// An owned frame, so quickcheck can generate and shrink it.
    #[derive(Debug, Clone)]
    enum OwnedFrame {
        Hello(Hello),
        Welcome(Welcome),
        Control(u64, Control<String>),
        Data(StreamId, u64, Vec<u8>),
        Ack(StreamId, u64),
        ControlAck(u64),
        Keepalive,
        Goodbye(String),
    }

    impl OwnedFrame {
        fn as_frame(&self) -> Frame<'_> {
            match self {
                OwnedFrame::Hello(h) => Frame::Hello(*h),
                OwnedFrame::Welcome(w) => Frame::Welcome(*w),
                OwnedFrame::Control(seq, c) => Frame::Control {
                    seq: *seq,
                    body: match c {
                        Control::Open { stream, tunnel } => Control::Open {
                            stream: *stream,
                            tunnel: tunnel.as_str(),
                        },
                        Control::OpenResult {
                            stream,
                            accepted,
                            reason,
                        } => Control::OpenResult {
                            stream: *stream,
                            accepted: *accepted,
                            reason: reason.as_str(),
                        },
                        Control::Fin {
                            stream,
                            final_offset,
                        } => Control::Fin {
                            stream: *stream,
                            final_offset: *final_offset,
                        },
                        Control::Reset {
                            stream,
                            code,
                            reason,
                        } => Control::Reset {
                            stream: *stream,
                            code: *code,
                            reason: reason.as_str(),
                        },
                        Control::Claim { epoch } => Control::Claim { epoch: *epoch },
                        Control::Active { client, epoch, why } => Control::Active {
                            client: *client,
                            epoch: *epoch,
                            why: *why,
                        },
                    },
                },
                OwnedFrame::Data(s, o, p) => Frame::Data {
                    stream: *s,
                    offset: *o,
                    payload: p,
                },
                OwnedFrame::Ack(s, c) => Frame::Ack {
                    stream: *s,
                    consumed: *c,
                },
                OwnedFrame::ControlAck(seq) => Frame::ControlAck { seq: *seq },
                OwnedFrame::Keepalive => Frame::Keepalive,
                OwnedFrame::Goodbye(reason) => Frame::Goodbye { reason },
            }
        }
    }

    impl Arbitrary for OwnedFrame {
        fn arbitrary(g: &mut Gen) -> Self {
            let stream = StreamId(u64::arbitrary(g));
            let seq = u64::arbitrary(g).max(1);
            match u8::arbitrary(g) % 13 {
                0 => OwnedFrame::Hello(Hello {
                    version: u16::arbitrary(g),
                    client: client(g),
                    token: u64::arbitrary(g),
                    epoch: u64::arbitrary(g),
                    ctl_rx: u64::arbitrary(g),
                    window: u32::arbitrary(g),
                }),
                1 => OwnedFrame::Welcome(Welcome {
                    version: u16::arbitrary(g),
                    token: u64::arbitrary(g),
                    resumed: bool::arbitrary(g),
                    ctl_rx: u64::arbitrary(g),
                    window: u32::arbitrary(g),
                    grace_ms: u32::arbitrary(g),
                    active: Option::<bool>::arbitrary(g).map(|b| {
                        if b {
                            ClientId::One
                        } else {
                            ClientId::Two
                        }
                    }),
                    epoch: u64::arbitrary(g),
                }),
                2 => {
                    let mut name = text(g, MAX_TUNNEL_NAME);
                    if name.is_empty() {
                        name.push('t');
                    }
                    OwnedFrame::Control(
                        seq,
                        Control::Open {
                            stream,
                            tunnel: name,
                        },
                    )
                }
                3 => OwnedFrame::Control(
                    seq,
                    Control::OpenResult {
                        stream,
                        accepted: bool::arbitrary(g),
                        reason: text(g, MAX_REASON),
                    },
                ),
                4 => OwnedFrame::Control(
                    seq,
                    Control::Fin {
                        stream,
                        final_offset: u64::arbitrary(g),
                    },
                ),
                5 => OwnedFrame::Control(
                    seq,
                    Control::Reset {
                        stream,
                        code: ResetCode::from_byte(u8::arbitrary(g) % 4).unwrap(),
                        reason: text(g, MAX_REASON),
                    },
                ),
                6 => OwnedFrame::Control(
                    seq,
                    Control::Claim {
                        epoch: u64::arbitrary(g),
                    },
                ),
                7 => OwnedFrame::Control(
                    seq,
                    Control::Active {
                        client: if bool::arbitrary(g) {
                            Some(client(g))
                        } else {
                            None
                        },
                        epoch: u64::arbitrary(g),
                        why: ActiveWhy::from_byte(u8::arbitrary(g) % 4).unwrap(),
                    },
                ),
                8 => {
                    let payload = Vec::<u8>::arbitrary(g);
                    let offset = u64::arbitrary(g) / 2;
                    OwnedFrame::Data(stream, offset, payload)
                }
                9 => OwnedFrame::Ack(stream, u64::arbitrary(g)),
                10 => OwnedFrame::ControlAck(u64::arbitrary(g)),
                11 => OwnedFrame::Goodbye(text(g, MAX_REASON)),
                _ => OwnedFrame::Keepalive,
            }
        }
    }

    quickcheck! {
        fn round_trip_of_a_message(frames_in: Vec<OwnedFrame>) -> bool {
            let mut msg = Vec::new();
            for f in &frames_in {
                f.as_frame().encode(&mut msg);
            }
            let decoded: Vec<Frame<'_>> = match frames(&msg).collect::<Result<_, _>>() {
                Ok(v) => v,
                Err(_) => return false,
            };
            decoded.len() == frames_in.len()
                && decoded.iter().zip(&frames_in).all(|(d, f)| *d == f.as_frame())
        }

        fn control_len_matches_encoding(frame: OwnedFrame) -> bool {
            match &frame {
                OwnedFrame::Control(seq, c) => {
                    let mut out = Vec::new();
                    encode_control(&mut out, *seq, c);
                    out.len() == control_len(c)
                }
                _ => true,
            }
        }

        fn arbitrary_bytes_never_panic(bytes: Vec<u8>) -> bool {
            for f in frames(&bytes) {
                if f.is_err() {
                    break;
                }
            }
            true
        }

        fn every_strict_prefix_is_incomplete(frame: OwnedFrame) -> bool {
            let mut out = Vec::new();
            frame.as_frame().encode(&mut out);
            (0..out.len()).all(|n| matches!(Frame::decode(&out[..n]), Err(DecodeError::Incomplete { .. })))
        }
    }

    #[test]
    fn oversized_length_is_invalid_before_allocation() {
        let mut msg = vec![KIND_DATA];
        msg.extend_from_slice(&u32::MAX.to_be_bytes());
        assert!(matches!(Frame::decode(&msg), Err(DecodeError::Invalid(_))));
    }

    #[test]
    fn unknown_kind_is_named() {
        let msg = [0x7f, 0, 0, 0, 0];
        match Frame::decode(&msg) {
            Err(DecodeError::Invalid(why)) => assert!(why.contains("0x7f"), "{why}"),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn truncated_message_is_invalid() {
        let mut msg = Vec::new();
        Frame::Ack {
            stream: StreamId(1),
            consumed: 5,
        }
        .encode(&mut msg);
        msg.pop();
        let r: Vec<_> = frames(&msg).collect();
        assert!(matches!(r.as_slice(), [Err(DecodeError::Invalid(_))]));
    }

    #[test]
    fn trailing_bytes_in_body_are_invalid() {
        let mut msg = Vec::new();
        put_header(&mut msg, KIND_CONTROL_ACK, 9);
        msg.extend_from_slice(&[0; 9]);
        assert!(matches!(Frame::decode(&msg), Err(DecodeError::Invalid(_))));
    }

    /// fuzz/regressions/frame_decode/open-result-accepted-0x48: a flag byte
    /// other than 0 or 1 decoded as `true` and re-encoded as 1, so the frame
    /// had many encodings. Flags are now 0 or 1 or the frame is invalid.
    #[test]
    fn flag_bytes_other_than_0_or_1_are_invalid() {
        let found = [
            0x04, 0x00, 0x00, 0x00, 0x14, 0x00, 0x80, 0x01, 0x00, 0x00, 0x00, 0x0a, 0x05, 0x05,
            0x05, 0x05, 0x05, 0x05, 0x05, 0x05, 0x00, 0x48, 0x00, 0x01, 0x10,
        ];
        match Frame::decode(&found) {
            Err(DecodeError::Invalid(why)) => assert!(why.contains("accepted"), "{why}"),
            other => panic!("unexpected {other:?}"),
        }
        let mut welcome = Vec::new();
        Frame::Welcome(Welcome {
            version: 1,
            token: 7,
            resumed: true,
            ctl_rx: 0,
            window: 1024,
            grace_ms: 0,
            active: None,
            epoch: 0,
        })
        .encode(&mut welcome);
        assert_eq!(welcome[FRAME_HEADER + 10], 1, "the resumed flag");
        welcome[FRAME_HEADER + 10] = 2;
        match Frame::decode(&welcome) {
            Err(DecodeError::Invalid(why)) => assert!(why.contains("resumed"), "{why}"),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn zero_sequence_number_is_invalid() {
        let mut msg = Vec::new();
        encode_control(&mut msg, 0, &Control::<&str>::Claim { epoch: 1 });
        assert!(matches!(Frame::decode(&msg), Err(DecodeError::Invalid(_))));
    }
}
