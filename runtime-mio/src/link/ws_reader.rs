//! The WebSocket frames a peer sends, parsed in place in one buffer per
//! link (RFC 6455 section 5).
//!
//! A socket read goes straight into the buffer's free end, as large as the
//! free room (up to a whole largest message and more), and a complete
//! binary frame is unmasked in place and handed to the protocol as a slice
//! of that buffer: no per-read zeroing, no copy into a message, and one
//! system call per message or fewer for bulk traffic. The buffer starts
//! small and doubles only when the bytes that arrived fill it, so a link
//! holds at most about twice what its peer really sent, and never more
//! than [`MAX_BUFFER`].
//!
//! Everything is checked before it is trusted: reserved bits, opcodes,
//! control frame rules, the mask each role must (not) use, and message
//! lengths against the protocol's limit as soon as a header announces them.

use std::ops::Range;

use tcpws_protocol::frame::MAX_MESSAGE;

use crate::link::ws_frame::{apply_mask, MAX_HEADER};

/// The buffer of a new link: enough for the handshake frames.
pub const INITIAL_BUFFER: usize = 16 * 1024;
/// The most the buffer grows to: a largest message with its header.
pub const MAX_BUFFER: usize = MAX_MESSAGE + MAX_HEADER;
/// The longest payload of a control frame (RFC 6455 section 5.5).
pub const MAX_CONTROL_PAYLOAD: usize = 125;

const OP_CONTINUATION: u8 = 0x0;
const OP_TEXT: u8 = 0x1;
const OP_BINARY: u8 = 0x2;
pub(crate) const OP_CLOSE: u8 = 0x8;
pub(crate) const OP_PING: u8 = 0x9;
pub(crate) const OP_PONG: u8 = 0xA;

/// What the buffered bytes hold next.
#[derive(Debug, PartialEq, Eq)]
pub enum Frame {
    /// A whole binary message: [`FrameReader::message`] gives its bytes.
    Message(Message),
    /// A ping; its payload is to be echoed in a pong.
    Ping(Range<usize>),
    /// A pong (nothing to do).
    Pong,
    /// The peer's close frame: its status code and reason, if it gave one.
    Close(Option<(u16, String)>),
    /// No complete frame is buffered: read more.
    Incomplete,
}

/// Where a message's bytes are: in the read buffer, or gathered from
/// fragments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    InBuffer(Range<usize>),
    Gathered,
}

/// A parsed frame header.
#[derive(Debug, Clone, Copy)]
struct Header {
    fin: bool,
    opcode: u8,
    mask: Option<[u8; 4]>,
    /// Header bytes, payload length.
    header_len: usize,
    payload_len: usize,
}

/// Reads one peer's frames. `server` links require masked frames (clients
/// must mask), client links refuse them (servers must not mask).
#[derive(Debug)]
pub struct FrameReader {
    /// Initialized storage; `buf[start..end]` is unread.
    buf: Vec<u8>,
    start: usize,
    end: usize,
    server: bool,
    /// A fragmented binary message being gathered (our peers never
    /// fragment; other WebSocket stacks may).
    gathering: Option<Vec<u8>>,
    /// The last message returned was gathered: its buffer is freed on the
    /// next call.
    gathered: Option<Vec<u8>>,
}

impl FrameReader {
    /// A reader whose first bytes are `leftover` (what arrived after the
    /// HTTP head).
    pub fn new(server: bool, leftover: &[u8]) -> FrameReader {
        let mut buf = vec![0; INITIAL_BUFFER.max(leftover.len())];
        buf[..leftover.len()].copy_from_slice(leftover);
        FrameReader {
            buf,
            start: 0,
            end: leftover.len(),
            server,
            gathering: None,
            gathered: None,
        }
    }

    /// The bytes of a message [`FrameReader::next_frame`] returned; valid until
    /// the next call of any other method.
    pub fn message(&self, message: &Message) -> &[u8] {
        match message {
            Message::InBuffer(range) => &self.buf[range.clone()],
            Message::Gathered => self.gathered.as_deref().unwrap_or_default(),
        }
    }

    /// The payload bytes of a ping [`FrameReader::next_frame`] returned.
    pub fn bytes(&self, range: Range<usize>) -> &[u8] {
        &self.buf[range]
    }

    /// The buffer's current size (what the link holds for reading).
    pub fn capacity(&self) -> usize {
        self.buf.len()
    }

    /// The next frame among the buffered bytes, or a violation that names
    /// the problem (the link must close).
    pub fn next_frame(&mut self) -> Result<Frame, String> {
        self.gathered = None;
        loop {
            let Some(h) = parse_header(&self.buf[self.start..self.end])? else {
                return Ok(Frame::Incomplete);
            };
            self.check(&h)?;
            let total = h.header_len + h.payload_len;
            if self.end - self.start < total {
                return Ok(Frame::Incomplete);
            }
            let payload = self.start + h.header_len..self.start + total;
            // The payload stays where it is until the next read_room.
            self.start += total;
            if let Some(key) = h.mask {
                apply_mask(&mut self.buf[payload.clone()], key);
            }
            match h.opcode {
                OP_BINARY if h.fin => return Ok(Frame::Message(Message::InBuffer(payload))),
                OP_BINARY => {
                    self.gathering = Some(self.buf[payload].to_vec());
                }
                OP_CONTINUATION => {
                    let mut gathering = self.gathering.take().unwrap_or_default();
                    // Exactly what arrived: no doubling past the limit.
                    gathering.reserve_exact(payload.len());
                    gathering.extend_from_slice(&self.buf[payload]);
                    if h.fin {
                        self.gathered = Some(gathering);
                        return Ok(Frame::Message(Message::Gathered));
                    }
                    self.gathering = Some(gathering);
                }
                OP_PING => return Ok(Frame::Ping(payload)),
                OP_PONG => return Ok(Frame::Pong),
                OP_CLOSE => return close_of(&self.buf[payload]).map(Frame::Close),
                // `check` let no other opcode through.
                _ => return Err(format!("WebSocket protocol error: opcode {}", h.opcode)),
            }
        }
    }

    /// Where the next socket read goes: all the free room at the buffer's
    /// end, after moving a partial frame to the front when it would not
    /// fit, and doubling the buffer (up to [`MAX_BUFFER`]) when the bytes
    /// that arrived fill it. Never empty. Call [`FrameReader::filled`] with
    /// what the read put there.
    pub fn read_room(&mut self) -> &mut [u8] {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
        let unread = self.end - self.start;
        // Bytes the frame at `start` needs in all, as far as is known.
        let needed = match parse_header(&self.buf[self.start..self.end]) {
            Ok(Some(h)) => (h.header_len + h.payload_len).min(MAX_BUFFER),
            _ => unread + 1,
        };
        if self.start + needed > self.buf.len() || self.end == self.buf.len() {
            if self.start > 0 {
                self.buf.copy_within(self.start..self.end, 0);
                self.start = 0;
                self.end = unread;
            }
            if self.end == self.buf.len() {
                let size = (self.buf.len() * 2).min(MAX_BUFFER);
                // A full buffer of a frame under the limit is never at the
                // limit; past it, `check` has refused the frame already.
                self.buf.resize(size.max(self.end + 1), 0);
            }
        }
        &mut self.buf[self.end..]
    }

    /// `n` bytes were read into the start of [`FrameReader::read_room`].
    pub fn filled(&mut self, n: usize) {
        self.end = (self.end + n).min(self.buf.len());
    }

    /// The rules a header must follow before its payload is waited for.
    fn check(&self, h: &Header) -> Result<(), String> {
        match h.opcode {
            OP_CONTINUATION | OP_BINARY | OP_CLOSE | OP_PING | OP_PONG => {}
            OP_TEXT => return Err("protocol violation: text message on a binary-only link".into()),
            op => return Err(format!("WebSocket protocol error: unknown opcode {op}")),
        }
        if h.opcode >= OP_CLOSE {
            if !h.fin {
                return Err("WebSocket protocol error: a fragmented control frame".into());
            }
            if h.payload_len > MAX_CONTROL_PAYLOAD {
                return Err(format!(
                    "WebSocket protocol error: a control frame of {} bytes (at most {MAX_CONTROL_PAYLOAD})",
                    h.payload_len
                ));
            }
        }
        match (self.server, h.mask.is_some()) {
            (true, false) => {
                return Err("WebSocket protocol error: an unmasked frame from a client".into())
            }
            (false, true) => {
                return Err("WebSocket protocol error: a masked frame from the server".into())
            }
            _ => {}
        }
        let gathered = self.gathering.as_ref().map_or(0, Vec::len);
        match (h.opcode, self.gathering.is_some()) {
            (OP_CONTINUATION, false) => {
                return Err(
                    "WebSocket protocol error: a continuation frame with no message to continue"
                        .into(),
                )
            }
            (OP_BINARY, true) => {
                return Err(
                    "WebSocket protocol error: a new message before the fragmented one ended"
                        .into(),
                )
            }
            _ => {}
        }
        if h.opcode < OP_CLOSE {
            let size = gathered.saturating_add(h.payload_len);
            if size > MAX_MESSAGE {
                return Err(format!(
                    "protocol violation: a WebSocket message of {size} bytes or more, \
                     over the limit of {MAX_MESSAGE}"
                ));
            }
        }
        Ok(())
    }
}

/// The header at the front of `bytes`, `None` while incomplete; an error
/// for reserved bits or a length no frame may have.
fn parse_header(bytes: &[u8]) -> Result<Option<Header>, String> {
    let [b0, b1, ..] = *bytes else {
        return Ok(None);
    };
    if b0 & 0x70 != 0 {
        return Err("WebSocket protocol error: reserved bits set (no extension was agreed)".into());
    }
    let masked = b1 & 0x80 != 0;
    let (len_bytes, short) = match b1 & 0x7F {
        126 => (2, None),
        127 => (8, None),
        n => (0, Some(usize::from(n))),
    };
    let header_len = 2 + len_bytes + if masked { 4 } else { 0 };
    if bytes.len() < header_len {
        return Ok(None);
    }
    let payload_len = match short {
        Some(n) => n,
        None => {
            let mut be = [0u8; 8];
            be[8 - len_bytes..].copy_from_slice(&bytes[2..2 + len_bytes]);
            let len = u64::from_be_bytes(be);
            if len >> 63 != 0 {
                return Err("WebSocket protocol error: a frame length with its top bit set".into());
            }
            // Beyond any limit on 32-bit targets: refused by `check`.
            usize::try_from(len).unwrap_or(usize::MAX)
        }
    };
    let mask = masked.then(|| {
        let at = 2 + len_bytes;
        [bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]
    });
    Ok(Some(Header {
        fin: b0 & 0x80 != 0,
        opcode: b0 & 0x0F,
        mask,
        header_len,
        payload_len: payload_len.min(usize::MAX - header_len),
    }))
}

/// A close frame's status code and reason (RFC 6455 section 5.5.1).
fn close_of(payload: &[u8]) -> Result<Option<(u16, String)>, String> {
    match payload {
        [] => Ok(None),
        [_] => Err("WebSocket protocol error: a close frame of one byte".into()),
        [hi, lo, reason @ ..] => {
            let reason = std::str::from_utf8(reason).map_err(|_| {
                "WebSocket protocol error: a close reason that is not UTF-8".to_string()
            })?;
            Ok(Some((u16::from_be_bytes([*hi, *lo]), reason.to_string())))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::link::ws_frame::frame_in_place;
    use quickcheck::{quickcheck, TestResult};

    /// `payload` as one frame with `opcode` and `fin`, masked with `mask`.
    fn frame(opcode: u8, fin: bool, payload: &[u8], mask: Option<[u8; 4]>) -> Vec<u8> {
        let mut buf = vec![0; MAX_HEADER];
        buf.extend_from_slice(payload);
        let start = frame_in_place(&mut buf, mask);
        let mut f = buf[start..].to_vec();
        f[0] = (if fin { 0x80 } else { 0 }) | opcode;
        f
    }

    /// Feeds `wire` to a reader in reads of `step` bytes and returns the
    /// messages, pings and closes it saw, or its first error.
    fn read_all(server: bool, wire: &[u8], step: usize) -> Result<Vec<String>, String> {
        let mut r = FrameReader::new(server, &[]);
        let mut seen = Vec::new();
        let mut at = 0;
        loop {
            match r.next_frame()? {
                Frame::Message(m) => seen.push(format!("msg {:?}", r.message(&m))),
                Frame::Ping(p) => seen.push(format!("ping {:?}", r.bytes(p))),
                Frame::Pong => seen.push("pong".into()),
                Frame::Close(c) => seen.push(format!("close {c:?}")),
                Frame::Incomplete => {
                    if at == wire.len() {
                        return Ok(seen);
                    }
                    let room = r.read_room();
                    assert!(!room.is_empty());
                    let n = room.len().min(step).min(wire.len() - at);
                    room[..n].copy_from_slice(&wire[at..at + n]);
                    r.filled(n);
                    at += n;
                }
            }
        }
    }

    const KEY: Option<[u8; 4]> = Some([1, 2, 3, 4]);

    #[test]
    fn messages_of_every_length_class_in_reads_of_any_size() {
        let mut wire = Vec::new();
        let mut expect = Vec::new();
        for len in [
            0usize,
            1,
            125,
            126,
            127,
            65_535,
            65_536,
            300_000,
            MAX_MESSAGE,
        ] {
            let payload: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
            wire.extend(frame(OP_BINARY, true, &payload, KEY));
            expect.push(format!("msg {payload:?}"));
        }
        for step in [1, 7, 4096, 1 << 20, usize::MAX] {
            if step == 1 {
                // Byte by byte over 2.5 MB takes too long in debug builds:
                // the small frames alone.
                let small: usize = [0usize, 1, 125, 126, 127]
                    .iter()
                    .map(|&l| l + if l < 126 { 6 } else { 8 })
                    .sum();
                assert_eq!(read_all(true, &wire[..small], step).unwrap(), expect[..5]);
                continue;
            }
            assert_eq!(read_all(true, &wire, step).unwrap(), expect, "step {step}");
        }
    }

    #[test]
    fn the_buffer_grows_with_what_arrived_and_no_further() {
        let payload = vec![9u8; MAX_MESSAGE];
        let wire = frame(OP_BINARY, true, &payload, KEY);
        let mut r = FrameReader::new(true, &[]);
        let mut at = 0;
        while r.next_frame().unwrap() == Frame::Incomplete {
            let room = r.read_room();
            let n = room.len().min(wire.len() - at);
            room[..n].copy_from_slice(&wire[at..at + n]);
            r.filled(n);
            at += n;
            assert!(
                r.capacity() <= (2 * at).max(INITIAL_BUFFER),
                "{} for {at}",
                r.capacity()
            );
        }
        assert!(r.capacity() <= MAX_BUFFER);
    }

    #[test]
    fn fragments_are_gathered_and_control_frames_may_come_between() {
        let mut wire = frame(OP_BINARY, false, b"ab", KEY);
        wire.extend(frame(OP_PING, true, b"p", KEY));
        wire.extend(frame(OP_CONTINUATION, false, b"", KEY));
        wire.extend(frame(OP_CONTINUATION, true, b"cd", KEY));
        wire.extend(frame(OP_PONG, true, b"", KEY));
        wire.extend(frame(OP_CLOSE, true, &[0x03, 0xE8, b'b', b'y', b'e'], KEY));
        assert_eq!(
            read_all(true, &wire, 3).unwrap(),
            [
                "ping [112]",
                "msg [97, 98, 99, 100]",
                "pong",
                "close Some((1000, \"bye\"))"
            ]
        );
    }

    #[test]
    fn what_each_role_refuses_is_named() {
        let cases: &[(bool, Vec<u8>, &str)] = &[
            (
                true,
                frame(OP_BINARY, true, b"x", None),
                "unmasked frame from a client",
            ),
            (
                false,
                frame(OP_BINARY, true, b"x", KEY),
                "masked frame from the server",
            ),
            (true, frame(OP_TEXT, true, b"x", KEY), "text message"),
            (true, frame(0x3, true, b"x", KEY), "unknown opcode 3"),
            (
                true,
                frame(OP_PING, false, b"x", KEY),
                "fragmented control frame",
            ),
            (
                true,
                frame(OP_PING, true, &[0; 126], KEY),
                "control frame of 126 bytes",
            ),
            (
                true,
                frame(OP_CONTINUATION, true, b"x", KEY),
                "no message to continue",
            ),
            (
                true,
                frame(OP_CLOSE, true, &[3], KEY),
                "close frame of one byte",
            ),
            (
                true,
                frame(OP_CLOSE, true, &[3, 232, 0xFF], KEY),
                "not UTF-8",
            ),
        ];
        for (server, wire, why) in cases {
            let err = read_all(*server, wire, usize::MAX).unwrap_err();
            assert!(err.contains(why), "{err} lacks {why}");
        }
        let mut rsv = frame(OP_BINARY, true, b"x", KEY);
        rsv[0] |= 0x40;
        assert!(read_all(true, &rsv, 9)
            .unwrap_err()
            .contains("reserved bits"));
        let mut twice = frame(OP_BINARY, false, b"x", KEY);
        twice.extend(frame(OP_BINARY, true, b"y", KEY));
        assert!(read_all(true, &twice, 9)
            .unwrap_err()
            .contains("before the fragmented"));
    }

    #[test]
    fn a_length_over_the_limit_is_refused_at_its_header() {
        // The header alone announces it: nothing of the payload is needed.
        let mut header = vec![0x82, 0x80 | 127];
        header.extend(((MAX_MESSAGE + 1) as u64).to_be_bytes());
        header.extend([1, 2, 3, 4]);
        let err = read_all(true, &header, usize::MAX).unwrap_err();
        assert_eq!(
            err,
            format!(
                "protocol violation: a WebSocket message of {} bytes or more, over the limit of {MAX_MESSAGE}",
                MAX_MESSAGE + 1
            )
        );
        let mut huge = vec![0x82, 0x80 | 127];
        huge.extend(u64::MAX.to_be_bytes());
        huge.extend([1, 2, 3, 4]);
        assert!(read_all(true, &huge, 5).unwrap_err().contains("top bit"));
        // Fragments count together.
        let half = MAX_MESSAGE / 2 + 1;
        let mut wire = frame(OP_BINARY, false, &vec![1; half], KEY);
        wire.extend(frame(OP_CONTINUATION, true, &vec![2; half], KEY));
        assert!(read_all(true, &wire, usize::MAX)
            .unwrap_err()
            .contains(&format!("over the limit of {MAX_MESSAGE}")));
    }

    #[test]
    fn leftover_bytes_come_first() {
        let wire = frame(OP_BINARY, true, b"hello", None);
        let mut r = FrameReader::new(false, &wire);
        match r.next_frame().unwrap() {
            Frame::Message(m) => assert_eq!(r.message(&m), b"hello"),
            other => panic!("{other:?}"),
        }
        assert_eq!(r.next_frame().unwrap(), Frame::Incomplete);
    }

    quickcheck! {
        /// Any sequence of messages, split at any points, comes out whole
        /// and in order (client frames, masked with arbitrary keys).
        fn any_messages_any_splits(msgs: Vec<Vec<u8>>, keys: Vec<u32>, steps: Vec<u16>) -> TestResult {
            if msgs.len() > 40 {
                return TestResult::discard();
            }
            let mut wire = Vec::new();
            for (i, m) in msgs.iter().enumerate() {
                let key = keys.get(i).copied().unwrap_or(7).to_be_bytes();
                wire.extend(frame(OP_BINARY, true, m, Some(key)));
            }
            let mut r = FrameReader::new(true, &[]);
            let mut got = Vec::new();
            let (mut at, mut s) = (0, 0);
            loop {
                match r.next_frame() {
                    Ok(Frame::Message(m)) => got.push(r.message(&m).to_vec()),
                    Ok(Frame::Incomplete) if at == wire.len() => break,
                    Ok(Frame::Incomplete) => {
                        let step = usize::from(steps.get(s).copied().unwrap_or(1000)).max(1);
                        s += 1;
                        let room = r.read_room();
                        let n = room.len().min(step).min(wire.len() - at);
                        room[..n].copy_from_slice(&wire[at..at + n]);
                        r.filled(n);
                        at += n;
                    }
                    other => return TestResult::error(format!("{other:?}")),
                }
            }
            TestResult::from_bool(got == msgs)
        }

        /// Arbitrary bytes never panic the reader, and it never holds more
        /// than its limit.
        fn arbitrary_bytes_never_panic(wire: Vec<u8>, server: bool) -> bool {
            let mut r = FrameReader::new(server, &[]);
            let mut at = 0;
            loop {
                match r.next_frame() {
                    Err(_) => return true,
                    Ok(Frame::Incomplete) if at == wire.len() => return r.capacity() <= MAX_BUFFER,
                    Ok(Frame::Incomplete) => {
                        let room = r.read_room();
                        let n = room.len().min(wire.len() - at);
                        room[..n].copy_from_slice(&wire[at..at + n]);
                        r.filled(n);
                        at += n;
                    }
                    Ok(_) => {}
                }
            }
        }
    }
}
