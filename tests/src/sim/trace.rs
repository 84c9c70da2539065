//! The simulation's trace: one line per input, output and fault, stamped
//! with virtual time. It is kept as a running hash (for the determinism
//! check) and a ring of the last lines (printed when an invariant fails).

use std::collections::VecDeque;
use std::fmt::{self, Write as _};
use std::time::Duration;

/// How many of the latest lines a failure report shows.
pub const TAIL: usize = 60;

/// A running FNV-1a hash over every line, and the last [`TAIL`] lines.
#[derive(Debug)]
pub struct Trace {
    hash: u64,
    lines: u64,
    ring: VecDeque<String>,
    echo: bool,
    line: String,
}

impl Trace {
    /// An empty trace; with `echo` every line is also printed to stderr.
    pub fn new(echo: bool) -> Trace {
        Trace {
            hash: 0xCBF2_9CE4_8422_2325,
            lines: 0,
            ring: VecDeque::with_capacity(TAIL),
            echo,
            line: String::new(),
        }
    }

    /// Records one line at virtual time `at`.
    pub fn record(&mut self, at: Duration, args: fmt::Arguments<'_>) {
        self.line.clear();
        let _ = write!(
            self.line,
            "[{:>4}.{:06}] ",
            at.as_secs(),
            at.subsec_micros()
        );
        let _ = self.line.write_fmt(args);
        for &b in self.line.as_bytes() {
            self.hash = (self.hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01B3);
        }
        self.hash = (self.hash ^ u64::from(b'\n')).wrapping_mul(0x0100_0000_01B3);
        self.lines += 1;
        if self.echo {
            eprintln!("{}", self.line);
        }
        if self.ring.len() == TAIL {
            let mut old = self.ring.pop_front().unwrap_or_default();
            old.clear();
            old.push_str(&self.line);
            self.ring.push_back(old);
        } else {
            self.ring.push_back(self.line.clone());
        }
    }

    /// Whether lines are printed as they happen.
    pub fn echoes(&self) -> bool {
        self.echo
    }

    /// Prints a detail line when echoing, outside the hash (so a replay with
    /// details has the same trace as one without).
    pub fn detail(&self, args: fmt::Arguments<'_>) {
        if self.echo {
            eprintln!("              {args}");
        }
    }

    /// The hash of every line so far: equal hashes mean equal traces.
    pub fn hash(&self) -> u64 {
        self.hash
    }

    /// How many lines were recorded.
    pub fn len(&self) -> u64 {
        self.lines
    }

    /// Whether nothing was recorded yet.
    pub fn is_empty(&self) -> bool {
        self.lines == 0
    }

    /// The last lines, oldest first.
    pub fn tail(&self) -> impl Iterator<Item = &str> {
        self.ring.iter().map(String::as_str)
    }
}

/// One line per frame of a WebSocket message, payloads left out.
pub fn describe_frames(message: &[u8]) -> Vec<String> {
    use tcpws_protocol::frame::{frames, Frame};
    frames(message)
        .map(|f| match f {
            Ok(Frame::Data {
                stream,
                offset,
                payload,
            }) => {
                format!(
                    "Data {{ {stream}, offset {offset}, {} bytes }}",
                    payload.len()
                )
            }
            Ok(other) => format!("{other:?}"),
            Err(e) => format!("undecodable: {e}"),
        })
        .collect()
}

/// A cheap content hash of a message, so the trace covers payload bytes
/// without printing them.
pub fn content_hash(bytes: &[u8]) -> u32 {
    let mut h: u64 = 0x243F_6A88_85A3_08D3 ^ bytes.len() as u64;
    let mut chunks = bytes.chunks_exact(8);
    for c in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        h = (h ^ u64::from_le_bytes(w))
            .wrapping_mul(0x9E37_79B9_7F4A_7C15)
            .rotate_left(29);
    }
    for &b in chunks.remainder() {
        h = (h ^ u64::from(b))
            .wrapping_mul(0x9E37_79B9_7F4A_7C15)
            .rotate_left(29);
    }
    (h ^ (h >> 32)) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_lines_same_hash() {
        let mut a = Trace::new(false);
        let mut b = Trace::new(false);
        for t in [Trace::new(false), Trace::new(false)] {
            assert_eq!(t.hash(), a.hash());
        }
        a.record(Duration::from_millis(5), format_args!("x {}", 1));
        b.record(Duration::from_millis(5), format_args!("x {}", 1));
        assert_eq!(a.hash(), b.hash());
        b.record(Duration::from_millis(6), format_args!("y"));
        assert_ne!(a.hash(), b.hash());
        assert_eq!(b.len(), 2);
    }

    #[test]
    fn ring_keeps_the_tail() {
        let mut t = Trace::new(false);
        for i in 0..(TAIL + 10) {
            t.record(Duration::ZERO, format_args!("line {i}"));
        }
        let tail: Vec<&str> = t.tail().collect();
        assert_eq!(tail.len(), TAIL);
        assert!(tail[TAIL - 1].ends_with(&format!("line {}", TAIL + 9)));
    }
}
