//! The receive side of a stream: bytes placed by offset, duplicates dropped,
//! gaps held until filled, everything bounded by the window.

use std::collections::{BTreeMap, VecDeque};

/// Why received bytes were not accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ReorderError {
    /// The bytes end past `consumed + window`: the peer ignored our credit.
    BeyondWindow { end: u64, limit: u64 },
}

/// In-order bytes from `consumed` up to `contiguous_end`, ready for the
/// application, plus out-of-order ranges beyond it. Holds at most `window`
/// bytes in all.
#[derive(Debug)]
pub(crate) struct Reassembler {
    ready: VecDeque<u8>,
    consumed: u64,
    /// Non-overlapping ranges that start past `contiguous_end`, by offset.
    pending: BTreeMap<u64, Vec<u8>>,
    pending_bytes: usize,
    window: u64,
}

impl Reassembler {
    pub(crate) fn new(window: u32) -> Reassembler {
        Reassembler {
            ready: VecDeque::new(),
            consumed: 0,
            pending: BTreeMap::new(),
            pending_bytes: 0,
            window: u64::from(window),
        }
    }

    /// Offset of the next byte the application will get.
    pub(crate) fn consumed(&self) -> u64 {
        self.consumed
    }

    /// Offset one past the last in-order byte received.
    pub(crate) fn contiguous_end(&self) -> u64 {
        self.consumed + self.ready.len() as u64
    }

    /// Bytes held, in order or not.
    pub(crate) fn buffered(&self) -> usize {
        self.ready.len() + self.pending_bytes
    }

    /// The next in-order bytes for the application (one contiguous slice).
    pub(crate) fn chunk(&self) -> &[u8] {
        self.ready.as_slices().0
    }

    /// Places `data` at `offset`. Returns how many bytes became ready in order.
    pub(crate) fn insert(&mut self, offset: u64, data: &[u8]) -> Result<usize, ReorderError> {
        let end = offset + data.len() as u64;
        let limit = self.consumed + self.window;
        if end > limit {
            return Err(ReorderError::BeyondWindow { end, limit });
        }
        let contiguous = self.contiguous_end();
        if end <= contiguous {
            return Ok(0);
        }
        if offset <= contiguous {
            let skip = (contiguous - offset) as usize;
            self.ready.extend(&data[skip..]);
            let mut added = data.len() - skip;
            added += self.drain_pending();
            return Ok(added);
        }
        self.hold(offset, data);
        Ok(0)
    }

    /// Keeps the parts of `data` at `offset` that no held range already has.
    fn hold(&mut self, offset: u64, data: &[u8]) {
        let mut cursor = offset;
        let end = offset + data.len() as u64;
        let overlapping: Vec<(u64, u64)> = self
            .pending
            .range(..end)
            .map(|(s, v)| (*s, *s + v.len() as u64))
            .filter(|(_, e)| *e > offset)
            .collect();
        for (s, e) in overlapping {
            if s > cursor {
                self.put(
                    cursor,
                    &data[(cursor - offset) as usize..(s - offset) as usize],
                );
            }
            cursor = cursor.max(e);
        }
        if cursor < end {
            self.put(cursor, &data[(cursor - offset) as usize..]);
        }
    }

    fn put(&mut self, offset: u64, bytes: &[u8]) {
        if !bytes.is_empty() {
            self.pending_bytes += bytes.len();
            self.pending.insert(offset, bytes.to_vec());
        }
    }

    /// Moves held ranges that now touch the in-order end into `ready`.
    fn drain_pending(&mut self) -> usize {
        let mut added = 0;
        while let Some((&start, _)) = self.pending.first_key_value() {
            let contiguous = self.contiguous_end();
            if start > contiguous {
                break;
            }
            let bytes = self.pending.remove(&start).unwrap_or_default();
            self.pending_bytes -= bytes.len();
            let end = start + bytes.len() as u64;
            if end > contiguous {
                let skip = (contiguous - start) as usize;
                self.ready.extend(&bytes[skip..]);
                added += bytes.len() - skip;
            }
        }
        added
    }

    /// The application took `n` in-order bytes.
    pub(crate) fn consume(&mut self, n: usize) {
        let n = n.min(self.ready.len());
        self.ready.drain(..n);
        self.consumed += n as u64;
        if self.ready.is_empty() && self.ready.capacity() > 64 * 1024 {
            self.ready = VecDeque::new();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quickcheck::{quickcheck, TestResult};

    fn read_all(r: &mut Reassembler) -> Vec<u8> {
        let mut out = Vec::new();
        loop {
            let c = r.chunk().to_vec();
            if c.is_empty() {
                return out;
            }
            out.extend_from_slice(&c);
            r.consume(c.len());
        }
    }

    #[test]
    fn gap_is_held_then_filled() {
        let mut r = Reassembler::new(1024);
        assert_eq!(r.insert(5, b"fghij"), Ok(0));
        assert_eq!(r.buffered(), 5);
        assert_eq!(r.insert(0, b"abcde"), Ok(10));
        assert_eq!(read_all(&mut r), b"abcdefghij");
        assert_eq!(r.insert(3, b"defghij"), Ok(0), "duplicates are dropped");
        assert_eq!(r.buffered(), 0);
    }

    #[test]
    fn beyond_window_is_refused() {
        let mut r = Reassembler::new(1024);
        assert!(r.insert(1000, &[0; 25]).is_err());
        assert_eq!(r.insert(1000, &[0; 24]), Ok(0));
    }

    quickcheck! {
        /// Any split of a byte string into pieces, delivered in any order with
        /// duplicates, reassembles into exactly the string, and never holds
        /// more than the window.
        fn reassembles_like_the_model(cuts: Vec<u16>, order: Vec<u16>, dups: Vec<u16>) -> TestResult {
            let data: Vec<u8> = (0..2000u32).map(|i| (i * 7 % 251) as u8).collect();
            let mut points: Vec<usize> = cuts.iter().map(|c| *c as usize % data.len()).collect();
            points.push(0);
            points.push(data.len());
            points.sort();
            points.dedup();
            let mut pieces: Vec<(usize, usize)> = points.windows(2).map(|w| (w[0], w[1])).collect();
            for d in &dups {
                if !pieces.is_empty() {
                    let p = pieces[*d as usize % pieces.len()];
                    pieces.push(p);
                }
            }
            for (i, o) in order.iter().enumerate() {
                if pieces.len() > 1 {
                    let j = *o as usize % pieces.len();
                    let k = i % pieces.len();
                    pieces.swap(j, k);
                }
            }
            let mut r = Reassembler::new(data.len() as u32);
            let mut out = Vec::new();
            for (s, e) in pieces {
                if r.insert(s as u64, &data[s..e]).is_err() {
                    return TestResult::failed();
                }
                if r.buffered() > data.len() {
                    return TestResult::failed();
                }
                out.extend(read_all(&mut r));
            }
            TestResult::from_bool(out == data)
        }
    }
}
