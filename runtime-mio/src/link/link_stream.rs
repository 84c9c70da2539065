//! The byte stream under an open link: the transport, plus the bytes of
//! ours it has not taken yet (the unwritten tail of a data frame, then
//! control frames).
//!
//! Frames must not interleave on the socket. A data frame goes straight
//! from the caller's buffer to the socket when nothing else waits, and only
//! its unwritten tail is kept (swapped in, not copied). Control frames (a
//! pong, a close) wait in a small queue of their own until everything before
//! them is out, so they never split a data frame: at most one pong (the
//! latest, RFC 6455 section 5.5.3 allows that) and one close.
//!
//! During the client's WebSocket handshake tungstenite reads through this
//! stream; whatever it reads past the end of the server's HTTP head (the
//! server's first frames) is recorded here, because it is ours to parse
//! ([`LinkStream::take_tail`]).

use std::io::{self, Read, Write};

use mio::net::TcpStream;

use crate::link::transport::Transport;
use crate::link::ws_frame::encode_control;
use crate::link::ws_reader::{OP_CLOSE, OP_PONG};

/// A WebSocket over a non-blocking mio socket during the client's handshake.
pub(crate) type Ws = tungstenite::WebSocket<LinkStream>;

/// Most bytes of the server's frames recorded behind its HTTP head (one
/// read of tungstenite's handshake, which stops once the head is in).
const MAX_TAIL: usize = 64 * 1024;

/// A transport with our pending bytes in front of any other write.
#[derive(Debug)]
pub(crate) struct LinkStream {
    transport: Transport,
    /// Our bytes not yet on the socket: `out[written..]`.
    out: Vec<u8>,
    written: usize,
    /// Control frames waiting for `out` to drain.
    control: Vec<u8>,
    /// `control` ends with a close frame: no pong joins it.
    close_queued: bool,
    /// Recording what follows the HTTP head, during the client's handshake.
    head: Option<HeadEnd>,
}

impl LinkStream {
    pub(crate) fn new(transport: Transport) -> LinkStream {
        LinkStream {
            transport,
            out: Vec::new(),
            written: 0,
            control: Vec::new(),
            close_queued: false,
            head: None,
        }
    }

    /// A stream for the client's handshake: bytes read past the server's
    /// HTTP head are kept for [`LinkStream::take_tail`].
    pub(crate) fn for_client_handshake(transport: Transport) -> LinkStream {
        let mut stream = LinkStream::new(transport);
        stream.head = Some(HeadEnd::default());
        stream
    }

    /// What was read past the HTTP head; recording stops.
    pub(crate) fn take_tail(&mut self) -> Vec<u8> {
        self.head.take().map(|h| h.tail).unwrap_or_default()
    }

    pub(crate) fn transport(&self) -> &Transport {
        &self.transport
    }

    /// The socket (for registration and shutdown).
    pub(crate) fn tcp_mut(&mut self) -> &mut TcpStream {
        self.transport.tcp_mut()
    }

    /// The transport alone; unwritten frame bytes are dropped (the link is
    /// closing).
    pub(crate) fn into_transport(self) -> Transport {
        self.transport
    }

    /// Whether bytes of ours or the transport's (TLS records) wait for the
    /// socket.
    pub(crate) fn wants_write(&self) -> bool {
        self.written < self.out.len() || !self.control.is_empty() || self.transport.wants_write()
    }

    /// Writes `buf[from..]`, one whole frame, to the socket. `Ok(true)`: all
    /// written. `Ok(false)`: the socket filled; the rest is kept (`buf` and
    /// the pending buffer swap places, nothing is copied) and goes out
    /// before any later write.
    pub(crate) fn write_frame(&mut self, buf: &mut Vec<u8>, from: usize) -> io::Result<bool> {
        if self.written < self.out.len() {
            // Not expected (the link flushes first); keep the order anyway.
            self.out.extend_from_slice(&buf[from..]);
            return Ok(false);
        }
        let mut at = from;
        while at < buf.len() {
            match self.transport.write(&buf[at..]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => at += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    std::mem::swap(&mut self.out, buf);
                    self.written = at;
                    buf.clear();
                    return Ok(false);
                }
                Err(e) => return Err(e),
            }
        }
        Ok(true)
    }

    /// Queues a pong echoing `payload` (at most 125 bytes), replacing one
    /// that still waits; none once a close is queued.
    pub(crate) fn queue_pong(&mut self, payload: &[u8], mask: Option<[u8; 4]>) {
        if self.close_queued {
            return;
        }
        self.control.clear();
        encode_control(&mut self.control, OP_PONG, payload, mask);
    }

    /// Queues a close frame with `code` and `reason` (at most 123 bytes),
    /// dropping a pong that still waits. Only the first close is sent.
    pub(crate) fn queue_close(&mut self, code: Option<u16>, reason: &str, mask: Option<[u8; 4]>) {
        if self.close_queued {
            return;
        }
        self.control.clear();
        let mut payload = Vec::with_capacity(2 + reason.len());
        if let Some(code) = code {
            payload.extend_from_slice(&code.to_be_bytes());
            payload.extend_from_slice(reason.as_bytes());
        }
        encode_control(&mut self.control, OP_CLOSE, &payload, mask);
        self.close_queued = true;
    }

    /// Writes out our pending bytes, then the control frames; `WouldBlock`
    /// while some remain.
    fn drain(&mut self) -> io::Result<()> {
        loop {
            while self.written < self.out.len() {
                match self.transport.write(&self.out[self.written..]) {
                    Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                    Ok(n) => self.written += n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
            self.out.clear();
            self.written = 0;
            if self.control.is_empty() {
                return Ok(());
            }
            // The pending buffer is empty: the control frames take its place.
            self.out.extend_from_slice(&self.control);
            self.control.clear();
        }
    }
}

impl Read for LinkStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.transport.read(buf)?;
        if let Some(head) = &mut self.head {
            head.record(&buf[..n])?;
        }
        Ok(n)
    }
}

impl Write for LinkStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.drain()?;
        self.transport.write(buf)
    }

    /// Writes out everything of ours, then flushes the transport (TLS).
    fn flush(&mut self) -> io::Result<()> {
        self.drain()?;
        self.transport.flush()
    }
}

/// Finds the end of an HTTP head in a byte stream as httparse (which
/// tungstenite's handshake uses) does: empty lines before the status line
/// are skipped, then the head ends at an empty line, ended by CRLF or LF;
/// records the bytes after it.
#[derive(Debug, Default)]
struct HeadEnd {
    /// A byte of the status line was seen.
    started: bool,
    /// 0: inside a line; 1: just after a LF; 2: after LF CR.
    state: u8,
    done: bool,
    tail: Vec<u8>,
}

impl HeadEnd {
    fn record(&mut self, bytes: &[u8]) -> io::Result<()> {
        let mut rest = bytes;
        while !self.done {
            let Some((&b, more)) = rest.split_first() else {
                return Ok(());
            };
            rest = more;
            if !self.started {
                if b == b'\r' || b == b'\n' {
                    continue;
                }
                self.started = true;
            }
            self.state = match (self.state, b) {
                (1 | 2, b'\n') => {
                    self.done = true;
                    0
                }
                (_, b'\n') => 1,
                (1, b'\r') => 2,
                _ => 0,
            };
        }
        if self.tail.len() + rest.len() > MAX_TAIL {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "the server sent more than 64 KiB behind its HTTP head during the handshake",
            ));
        }
        self.tail.extend_from_slice(rest);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tail_starts_after_the_empty_line_in_any_split() {
        let wire = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n\x82\x02hi";
        for split in 0..wire.len() {
            let mut h = HeadEnd::default();
            h.record(&wire[..split]).unwrap();
            h.record(&wire[split..]).unwrap();
            assert_eq!(h.tail, b"\x82\x02hi", "split at {split}");
        }
        let mut lf = HeadEnd::default();
        lf.record(b"HTTP/1.1 101 OK\nA: b\n\nrest").unwrap();
        assert_eq!(lf.tail, b"rest");
    }

    /// The tail is what tungstenite keeps: what follows the head as
    /// httparse measures it, which skips empty lines before the status
    /// line (found in review: a CRLF CRLF prefix ended our head at once).
    #[test]
    fn the_tail_agrees_with_httparse() {
        let head = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n";
        for prefix in [&b""[..], b"\r\n", b"\r\n\r\n", b"\n\r\n", b"\n\n\n"] {
            let mut wire = prefix.to_vec();
            wire.extend_from_slice(head);
            wire.extend_from_slice(b"\x82\x02hi");
            let mut headers = [httparse::EMPTY_HEADER; 16];
            let mut response = httparse::Response::new(&mut headers);
            let end = match response.parse(&wire).unwrap() {
                httparse::Status::Complete(n) => n,
                httparse::Status::Partial => panic!("partial"),
            };
            for split in 0..wire.len() {
                let mut h = HeadEnd::default();
                h.record(&wire[..split]).unwrap();
                h.record(&wire[split..]).unwrap();
                assert_eq!(h.tail, &wire[end..], "prefix {prefix:?}, split {split}");
            }
        }
    }
}
