//! The receive side of a stream: bytes placed by offset, duplicates dropped,
//! gaps held until filled, everything bounded by the window.

use std::collections::{BTreeMap, VecDeque};

/// Most separate out-of-order ranges one stream holds. An honest peer sends
/// in order (a resume replays from our last ack), so it holds a few at most;
/// a peer past this is cutting its data into pieces to cost us memory and
/// time, and its link is closed.
pub(crate) const MAX_HELD_RANGES: usize = 1024;
/// What one held range costs beyond its bytes (its map entry, its buffer's
/// header and allocation), counted against the window.
pub(crate) const RANGE_COST: usize = 64;
/// Held ranges whose cost the window does not have to cover, so an honest
/// peer that fills the window around a gap or two is never refused.
const FREE_RANGES: usize = 16;

/// Why received bytes were not accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ReorderError {
    /// The bytes end past `consumed + window`: the peer ignored our credit.
    BeyondWindow { end: u64, limit: u64 },
    /// Holding the bytes would pass [`MAX_HELD_RANGES`] separate pieces, or
    /// their bytes plus [`RANGE_COST`] per piece would pass the window.
    TooFragmented { ranges: usize, cost: usize },
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
        self.hold(offset, data)?;
        Ok(0)
    }

    /// Keeps the parts of `data` at `offset` that no held range already
    /// has. Costs O(log n) to find the neighbours plus one step per held
    /// range inside `data`'s span (at most [`MAX_HELD_RANGES`]).
    fn hold(&mut self, offset: u64, data: &[u8]) -> Result<(), ReorderError> {
        if data.is_empty() {
            return Ok(());
        }
        let end = offset + data.len() as u64;
        // Held ranges do not overlap, so only the last one starting at or
        // before `offset` and those starting inside the span can touch it.
        let mut cursor = self
            .pending
            .range(..=offset)
            .next_back()
            .map_or(offset, |(s, v)| (s + v.len() as u64).clamp(offset, end));
        let mut gaps = Vec::new();
        for (&s, v) in self.pending.range(offset + 1..end) {
            if s > cursor {
                gaps.push((cursor, s));
            }
            cursor = cursor.max(s + v.len() as u64);
        }
        if cursor < end {
            gaps.push((cursor, end));
        }
        if gaps.is_empty() {
            return Ok(());
        }
        let new_bytes: usize = gaps.iter().map(|(s, e)| (e - s) as usize).sum();
        let ranges = self.pending.len() + gaps.len();
        let cost = self.ready.len()
            + self.pending_bytes
            + new_bytes
            + ranges.saturating_sub(FREE_RANGES) * RANGE_COST;
        if ranges > MAX_HELD_RANGES || cost as u64 > self.window {
            return Err(ReorderError::TooFragmented { ranges, cost });
        }
        for (s, e) in gaps {
            self.put(offset, data, s, e);
        }
        Ok(())
    }

    /// Holds `data[s - offset .. e - offset]` at `s`.
    fn put(&mut self, offset: u64, data: &[u8], s: u64, e: u64) {
        let bytes = &data[(s - offset) as usize..(e - offset) as usize];
        if !bytes.is_empty() {
            self.pending_bytes += bytes.len();
            self.pending.insert(s, bytes.to_vec());
        }
    }

    /// Separate out-of-order ranges held now.
    #[cfg(test)]
    pub(crate) fn held_ranges(&self) -> usize {
        self.pending.len()
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

    #[test]
    fn one_byte_pieces_are_cheap_to_hold_and_bounded() {
        // The attack of the review: 1-byte pieces at offsets 2, 4, 6, ...
        // Each insert is O(log n), and the count is capped.
        let mut r = Reassembler::new(4 * 1024 * 1024);
        let mut held = 0;
        let err = (1..).find_map(|i: u64| match r.insert(2 * i, b"x") {
            Ok(_) => {
                held += 1;
                None
            }
            Err(e) => Some(e),
        });
        assert_eq!(held, MAX_HELD_RANGES);
        assert_eq!(
            err,
            Some(ReorderError::TooFragmented {
                ranges: MAX_HELD_RANGES + 1,
                cost: MAX_HELD_RANGES + 1 + (MAX_HELD_RANGES + 1 - FREE_RANGES) * RANGE_COST
            })
        );
        // What it holds stays as it was, and the gap fills in order.
        assert_eq!(r.held_ranges(), MAX_HELD_RANGES);
        let data: Vec<u8> = (0..=2 * MAX_HELD_RANGES as u64).map(|_| b'x').collect();
        assert_eq!(r.insert(0, &data), Ok(data.len()));
        assert_eq!(r.held_ranges(), 0);
    }

    #[test]
    fn the_cost_of_pieces_counts_against_a_small_window() {
        let mut r = Reassembler::new(4096);
        let mut held = 0;
        while r.insert(2 + 2 * held, b"x").is_ok() {
            held += 1;
        }
        let held = held as usize;
        assert!(held < MAX_HELD_RANGES, "the window bound comes first");
        assert!(held + (held - FREE_RANGES) * RANGE_COST <= 4096);
        // An honest peer around a gap or two is never refused: a full
        // window of bytes in two pieces.
        let mut r = Reassembler::new(4096);
        assert_eq!(r.insert(10, &[1; 2000]), Ok(0));
        assert_eq!(r.insert(2020, &[1; 2076]), Ok(0));
        assert_eq!(r.insert(0, &[1; 10]), Ok(2010));
    }

    quickcheck! {
        /// Adversarial offsets (any pieces, any order, duplicates and
        /// overlaps) against a model that keeps one byte per offset: the
        /// in-order output is the model's prefix, nothing is held twice,
        /// and the bounds hold or the insert is refused whole.
        fn adversarial_pieces_match_the_model(pieces: Vec<(u16, u8)>) -> bool {
            let data: Vec<u8> = (0..70_000u32).map(|i| (i * 13 % 251) as u8).collect();
            let mut r = Reassembler::new(8192);
            let mut model = std::collections::BTreeMap::new();
            let mut out = Vec::new();
            for (at, len) in pieces {
                let start = u64::from(at) % 9000;
                let end = (start + u64::from(len)).min(data.len() as u64);
                let bytes = &data[start as usize..end as usize];
                let before_held = r.buffered();
                match r.insert(start, bytes) {
                    Ok(_) => {
                        for o in start..end {
                            model.insert(o, data[o as usize]);
                        }
                    }
                    Err(_) => {
                        if r.buffered() != before_held {
                            return false;
                        }
                    }
                }
                if r.held_ranges() > MAX_HELD_RANGES || r.buffered() > 8192 {
                    return false;
                }
                out.extend(read_all(&mut r));
            }
            // The output is exactly the model's contiguous prefix from 0.
            let prefix: Vec<u8> = (0..)
                .map_while(|o| model.get(&o).copied())
                .collect();
            out == prefix
        }
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
            // Room for the pieces' cost beyond their bytes (up to one per
            // byte here): the bound itself is checked below.
            let room = data.len() * (1 + RANGE_COST);
            let mut r = Reassembler::new(room as u32);
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
