//! A WebSocket client by hand (RFC 6455), as much of one as the hostile
//! case needs: the HTTP upgrade, masked binary messages out, frames in. A
//! real client library would not let the bench stop halfway (upgrade, then
//! silence) or send what the server must refuse.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// Opcodes the hostile case looks at.
pub const OP_BINARY: u8 = 0x2;
pub const OP_CLOSE: u8 = 0x8;

/// Longest frame the bench accepts from the server: the server's largest
/// message with room for its header.
const MAX_FRAME: usize = tcpws_protocol::frame::MAX_MESSAGE + 16;

/// Longest HTTP answer head read before giving up on it.
const MAX_HEAD: usize = 16 * 1024;

/// One WebSocket frame from the server, unmasked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WsFrame {
    pub fin: bool,
    pub opcode: u8,
    pub payload: Vec<u8>,
}

/// Why a frame could not be read from a buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    /// More bytes are needed.
    Incomplete,
    /// A length the bench will not buffer.
    TooLarge(u64),
}

/// Connects to the server's WebSocket port and upgrades, with `timeout`
/// for every read and write. Returns the socket and any bytes the server
/// sent after its `101` head. A connection the server resets or closes
/// before answering (shed at accept) is an error of kind
/// `ConnectionReset`, `BrokenPipe` or `UnexpectedEof`; any other answer
/// than `101` is an `Other` error quoting its status line.
pub fn connect_upgraded(port: u16, timeout: Duration) -> io::Result<(TcpStream, Vec<u8>)> {
    let mut stream = TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), timeout)?;
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    stream.write_all(upgrade_request(port).as_bytes())?;
    let mut buf = Vec::new();
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        if buf.len() > MAX_HEAD {
            return Err(io::Error::other("an HTTP answer head of more than 16 KiB"));
        }
        let mut chunk = [0u8; 4096];
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]);
    let status = head.lines().next().unwrap_or_default();
    if !status.starts_with("HTTP/1.1 101") {
        return Err(io::Error::other(format!("upgrade refused: {status:?}")));
    }
    buf.drain(..head_end);
    Ok((stream, buf))
}

/// The upgrade request for the server's path `/`.
fn upgrade_request(port: u16) -> String {
    format!(
        "GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n\
         Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
    )
}

/// Appends `payload` as one final, masked binary frame. A client must
/// mask every frame; the key need not be secret to a server under attack,
/// and a zero key (legal framing, nothing to XOR) spares the bench's CPU.
pub fn put_binary(out: &mut Vec<u8>, payload: &[u8], key: [u8; 4]) {
    out.push(0x80 | OP_BINARY);
    let len = payload.len();
    if len < 126 {
        out.push(0x80 | len as u8);
    } else if let Ok(short) = u16::try_from(len) {
        out.push(0x80 | 126);
        out.extend_from_slice(&short.to_be_bytes());
    } else {
        out.push(0x80 | 127);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
    out.extend_from_slice(&key);
    if key == [0; 4] {
        out.extend_from_slice(payload);
    } else {
        out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    }
}

/// The frame at the start of `buf` and the bytes it took, unmasking a
/// masked payload.
pub fn parse_frame(buf: &[u8]) -> Result<(WsFrame, usize), ParseError> {
    let incomplete = ParseError::Incomplete;
    if buf.len() < 2 {
        return Err(incomplete);
    }
    let fin = buf[0] & 0x80 != 0;
    let opcode = buf[0] & 0x0f;
    let masked = buf[1] & 0x80 != 0;
    let (len, mut at) = match buf[1] & 0x7f {
        126 => {
            let b: [u8; 2] = buf
                .get(2..4)
                .ok_or(ParseError::Incomplete)?
                .try_into()
                .unwrap_or_default();
            (u64::from(u16::from_be_bytes(b)), 4)
        }
        127 => {
            let b: [u8; 8] = buf
                .get(2..10)
                .ok_or(ParseError::Incomplete)?
                .try_into()
                .unwrap_or_default();
            (u64::from_be_bytes(b), 10)
        }
        n => (u64::from(n), 2),
    };
    if len > MAX_FRAME as u64 {
        return Err(ParseError::TooLarge(len));
    }
    let len = len as usize;
    let key = if masked {
        let k: [u8; 4] = buf
            .get(at..at + 4)
            .ok_or(ParseError::Incomplete)?
            .try_into()
            .unwrap_or_default();
        at += 4;
        Some(k)
    } else {
        None
    };
    let mut payload = buf
        .get(at..at + len)
        .ok_or(ParseError::Incomplete)?
        .to_vec();
    if let Some(k) = key {
        for (i, b) in payload.iter_mut().enumerate() {
            *b ^= k[i % 4];
        }
    }
    Ok((
        WsFrame {
            fin,
            opcode,
            payload,
        },
        at + len,
    ))
}

/// A close frame's payload for people: `1000 "reason"`, or `no code`.
pub fn describe_close(payload: &[u8]) -> String {
    match payload {
        [a, b, reason @ ..] => format!(
            "{} {:?}",
            u16::from_be_bytes([*a, *b]),
            String::from_utf8_lossy(reason)
        ),
        _ => "no code".into(),
    }
}

/// Whether `e` says the server shed the connection: reset, or closed
/// before it answered.
pub fn is_shed(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe
            | io::ErrorKind::UnexpectedEof
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_at_every_length_form() {
        for (len, key) in [0usize, 1, 125, 126, 65_535, 65_536, 200_000]
            .into_iter()
            .flat_map(|n| [(n, [1, 2, 3, 4]), (n, [0; 4])])
        {
            let payload: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            let mut out = Vec::new();
            put_binary(&mut out, &payload, key);
            assert_eq!(out[1] & 0x80, 0x80, "masked");
            out.extend_from_slice(b"next");
            let (f, used) = parse_frame(&out).unwrap();
            assert_eq!((f.fin, f.opcode, used), (true, OP_BINARY, out.len() - 4));
            assert_eq!(f.payload, payload, "length {len}");
            assert_eq!(
                parse_frame(&out[..used - 1]).unwrap_err(),
                ParseError::Incomplete
            );
        }
    }

    #[test]
    fn unmasked_frames_from_a_server_and_their_limits() {
        let close = [0x88, 0x05, 0x03, 0xe8, b'b', b'y', b'e'];
        let (f, used) = parse_frame(&close).unwrap();
        assert_eq!((f.opcode, used), (OP_CLOSE, 7));
        assert_eq!(describe_close(&f.payload), "1000 \"bye\"");
        assert_eq!(describe_close(&[]), "no code");
        let mut huge = vec![0x82, 127];
        huge.extend_from_slice(&u64::MAX.to_be_bytes());
        assert_eq!(
            parse_frame(&huge).unwrap_err(),
            ParseError::TooLarge(u64::MAX)
        );
        assert_eq!(parse_frame(&[0x82]).unwrap_err(), ParseError::Incomplete);
    }

    #[test]
    fn the_request_is_an_upgrade() {
        let r = upgrade_request(8080);
        assert!(r.starts_with("GET / HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n"));
        assert!(r.contains("Upgrade: websocket\r\n") && r.ends_with("\r\n\r\n"));
        assert!(is_shed(&io::ErrorKind::ConnectionReset.into()));
        assert!(!is_shed(&io::ErrorKind::TimedOut.into()));
    }
}
