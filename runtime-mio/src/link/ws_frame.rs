//! The WebSocket frames we write ourselves: one binary frame per protocol
//! message, built in place in the buffer the protocol filled.
//!
//! tungstenite would copy each message twice on the way out (into a
//! `Bytes`, then into its write buffer while masking). Here the protocol
//! writes its message after [`MAX_HEADER`] reserved bytes, the header goes in
//! front of it, and a client masks the payload in place (RFC 6455 section
//! 5.3: every client frame is masked with a fresh, unpredictable key), so the
//! socket gets the buffer as it is. Control frames (pong, close) are small
//! and encoded by [`encode_control`]; [`LinkStream`](crate::link::link_stream)
//! keeps them from splitting a data frame. Reading is
//! [`ws_reader`](crate::link::ws_reader)'s.

use std::io;

/// The longest frame header: 2 bytes, an 8-byte length and a 4-byte mask key.
pub(crate) const MAX_HEADER: usize = 14;

/// FIN set, opcode 2 (binary).
const FIN_BINARY: u8 = 0x82;
/// The mask bit of the second header byte.
const MASKED: u8 = 0x80;

/// Writes the header of a final binary frame carrying `buf[MAX_HEADER..]`
/// just in front of that payload, masking the payload in place when `mask`
/// is given. Returns where the frame starts in `buf`.
pub(crate) fn frame_in_place(buf: &mut [u8], mask: Option<[u8; 4]>) -> usize {
    debug_assert!(buf.len() >= MAX_HEADER);
    let (head, payload) = buf.split_at_mut(MAX_HEADER);
    let len = payload.len();
    let mut header = [0u8; MAX_HEADER];
    header[0] = FIN_BINARY;
    let mut n = 2;
    if len < 126 {
        header[1] = len as u8;
    } else if let Ok(short) = u16::try_from(len) {
        header[1] = 126;
        header[2..4].copy_from_slice(&short.to_be_bytes());
        n = 4;
    } else {
        header[1] = 127;
        header[2..10].copy_from_slice(&(len as u64).to_be_bytes());
        n = 10;
    }
    if let Some(key) = mask {
        header[1] |= MASKED;
        header[n..n + 4].copy_from_slice(&key);
        n += 4;
        apply_mask(payload, key);
    }
    let start = MAX_HEADER - n;
    head[start..].copy_from_slice(&header[..n]);
    start
}

/// Appends a control frame (`opcode` close, ping or pong; `payload` at
/// most 125 bytes) to `out`, masked when `mask` is given.
pub(crate) fn encode_control(out: &mut Vec<u8>, opcode: u8, payload: &[u8], mask: Option<[u8; 4]>) {
    debug_assert!(payload.len() <= 125);
    out.push(0x80 | opcode);
    let len = payload.len() as u8;
    match mask {
        Some(key) => {
            out.push(MASKED | len);
            out.extend_from_slice(&key);
            let at = out.len();
            out.extend_from_slice(payload);
            apply_mask(&mut out[at..], key);
        }
        None => {
            out.push(len);
            out.extend_from_slice(payload);
        }
    }
}

/// XORs `data` with the repeated 4-byte `key`, eight bytes at a time.
pub(crate) fn apply_mask(data: &mut [u8], key: [u8; 4]) {
    let wide = u64::from_ne_bytes([
        key[0], key[1], key[2], key[3], key[0], key[1], key[2], key[3],
    ]);
    let mut chunks = data.chunks_exact_mut(8);
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        chunk.copy_from_slice(&(u64::from_ne_bytes(word) ^ wide).to_ne_bytes());
    }
    // The tail starts at a multiple of 8, hence of 4: the key restarts.
    for (byte, k) in chunks.into_remainder().iter_mut().zip(key.iter().cycle()) {
        *byte ^= k;
    }
}

/// Mask keys from the OS's random source, fetched 64 at a time.
pub(crate) struct MaskKeys {
    pool: [u8; 256],
    used: usize,
}

impl MaskKeys {
    pub(crate) fn new() -> MaskKeys {
        MaskKeys {
            pool: [0; 256],
            used: 256,
        }
    }

    /// A fresh key. Fails only if the OS has no random source at all.
    pub(crate) fn next(&mut self) -> io::Result<[u8; 4]> {
        if self.used + 4 > self.pool.len() {
            fill_random(&mut self.pool)?;
            self.used = 0;
        }
        let mut key = [0u8; 4];
        key.copy_from_slice(&self.pool[self.used..self.used + 4]);
        self.used += 4;
        Ok(key)
    }
}

impl std::fmt::Debug for MaskKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MaskKeys")
    }
}

/// Fills `buf` from getrandom(2).
fn fill_random(buf: &mut [u8]) -> io::Result<()> {
    let mut filled = 0;
    while filled < buf.len() {
        let rest = &mut buf[filled..];
        // SAFETY: the pointer and length describe `rest`, a live, writable
        // slice; getrandom writes at most that many bytes into it.
        let n = unsafe { libc::getrandom(rest.as_mut_ptr().cast(), rest.len(), 0) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        filled += n as usize;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;
    use tungstenite::protocol::Role;
    use tungstenite::{Message, WebSocket};

    /// Frames `payload` as a client or server would and reads it back with
    /// tungstenite on the other side.
    fn round_trip(payload: &[u8], client: bool) -> Vec<u8> {
        let mut buf = vec![0u8; MAX_HEADER];
        buf.extend_from_slice(payload);
        let mask = client.then(|| MaskKeys::new().next().expect("random"));
        let start = frame_in_place(&mut buf, mask);
        if client {
            assert_ne!(&buf[buf.len() - payload.len()..], payload, "masked");
        }
        let reader_role = if client { Role::Server } else { Role::Client };
        let mut ws =
            WebSocket::from_raw_socket(Cursor::new(buf[start..].to_vec()), reader_role, None);
        match ws.read().expect("tungstenite reads our frame") {
            Message::Binary(bytes) => bytes.to_vec(),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn tungstenite_reads_our_frames_at_every_length_class() {
        for len in [1usize, 125, 126, 127, 65_535, 65_536, 300_000] {
            let payload: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
            assert_eq!(round_trip(&payload, true), payload, "client, {len} bytes");
            assert_eq!(round_trip(&payload, false), payload, "server, {len} bytes");
        }
    }

    #[test]
    fn masking_twice_restores_the_data_at_any_length_and_alignment() {
        let key = [0x12, 0x34, 0x56, 0x78];
        for len in 0..40 {
            let original: Vec<u8> = (0..len as u8).collect();
            let mut data = original.clone();
            apply_mask(&mut data, key);
            for (i, (m, o)) in data.iter().zip(&original).enumerate() {
                assert_eq!(*m, o ^ key[i % 4], "byte {i} of {len}");
            }
            apply_mask(&mut data, key);
            assert_eq!(data, original);
        }
    }

    #[test]
    fn tungstenite_reads_our_control_frames() {
        for mask in [None, Some([9, 8, 7, 6])] {
            let mut wire = Vec::new();
            encode_control(&mut wire, 0x9, b"ping!", mask);
            encode_control(&mut wire, 0x8, &[0x03, 0xE8, b'o', b'k'], mask);
            let role = if mask.is_some() {
                Role::Server
            } else {
                Role::Client
            };
            let mut ws = WebSocket::from_raw_socket(Cursor::new(wire), role, None);
            match ws.read().expect("a ping") {
                Message::Ping(p) => assert_eq!(&p[..], b"ping!"),
                other => panic!("unexpected {other:?}"),
            }
            match ws.read().expect("a close") {
                Message::Close(Some(f)) => {
                    assert_eq!(u16::from(f.code), 1000);
                    assert_eq!(f.reason.as_str(), "ok");
                }
                other => panic!("unexpected {other:?}"),
            }
        }
    }

    #[test]
    fn mask_keys_differ() {
        let mut keys = MaskKeys::new();
        let drawn: Vec<[u8; 4]> = (0..200).map(|_| keys.next().expect("random")).collect();
        let distinct: std::collections::BTreeSet<_> = drawn.iter().collect();
        assert!(distinct.len() > 190, "{} distinct of 200", distinct.len());
    }
}
