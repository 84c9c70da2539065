//! Arbitrary bytes as the WebSocket frames a peer sends on a link, through
//! the runtime's frame reader (`tcpws_runtime_mio::fuzzing::FrameReader`),
//! delivered in arbitrary chunks.
//!
//! Input layout:
//!
//! ```text
//! flags: u8            bit 0: we are the server (frames must be masked)
//! n: u8, n x u16 LE    the sizes of the reads that deliver the bytes (a
//!                      read takes at most what the reader offers); after
//!                      them, reads take all they are offered
//! the rest             the bytes the peer sends
//! ```
//!
//! Promises checked, beyond "no panic":
//!
//! * the reader never offers an empty room (a read would look like EOF);
//! * its buffer never exceeds `MAX_BUFFER`, nor twice the bytes that
//!   arrived (or its initial size): a peer pays for what it makes us hold;
//! * chunked = one-shot: the frames (messages, pings, pongs, closes) and the
//!   error, if any, are the same whether the bytes arrive in the given
//!   chunks or in reads as large as offered.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tcpws_runtime_mio::fuzzing::{Frame, FrameReader, INITIAL_BUFFER, MAX_BUFFER};

/// What the reader saw, in order, ending with its error or the end.
fn events(server: bool, wire: &[u8], chunks: &[usize]) -> Vec<String> {
    let mut r = FrameReader::new(server, &[]);
    let mut seen = Vec::new();
    let (mut at, mut chunk) = (0, 0);
    loop {
        match r.next_frame() {
            Err(why) => {
                seen.push(format!("error {why}"));
                return seen;
            }
            Ok(Frame::Message(m)) => seen.push(format!("message {:?}", r.message(&m))),
            Ok(Frame::Ping(p)) => seen.push(format!("ping {:?}", r.bytes(p))),
            Ok(Frame::Pong) => seen.push("pong".into()),
            Ok(Frame::Close(c)) => seen.push(format!("close {c:?}")),
            Ok(Frame::Incomplete) => {
                if at == wire.len() {
                    return seen;
                }
                let room = r.read_room();
                assert!(!room.is_empty(), "an empty room would read as EOF");
                let want = chunks.get(chunk).copied().unwrap_or(usize::MAX).max(1);
                chunk += 1;
                let n = room.len().min(want).min(wire.len() - at);
                room[..n].copy_from_slice(&wire[at..at + n]);
                r.filled(n);
                at += n;
                let cap = r.capacity();
                assert!(cap <= MAX_BUFFER, "buffer of {cap} bytes");
                assert!(
                    cap <= INITIAL_BUFFER.max(2 * at),
                    "buffer of {cap} bytes after {at} bytes arrived"
                );
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let Some((&n, mut rest)) = rest.split_first() else {
        return;
    };
    let mut chunks = Vec::new();
    for _ in 0..n {
        let [lo, hi, more @ ..] = rest else { break };
        chunks.push(usize::from(u16::from_le_bytes([*lo, *hi])));
        rest = more;
    }
    let server = flags & 1 == 1;
    let chunked = events(server, rest, &chunks);
    let whole = events(server, rest, &[]);
    assert_eq!(chunked, whole, "chunks {chunks:?}");
});
