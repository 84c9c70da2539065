//! Bytes a stream has taken from its application and not yet had
//! acknowledged: kept for resending after a resume, bounded by the window.
//!
//! The buffer is a ring sized to what it holds: it grows as bytes come in
//! (up to the window) and is given back when a burst has been
//! acknowledged, so an idle stream holds a few bytes at most. Once a stream
//! moves bulk data its ring is large, and the runtime reads the socket
//! straight into it ([`SendBuffer::direct_room`], then
//! [`SendBuffer::commit`]): a byte is then copied once on its way in
//! (socket to ring) and once on its way out (ring to the frame).

/// Rings at least this large take reads directly; smaller ones take
/// copies ([`SendBuffer::push`]), which size them exactly.
const DIRECT_MIN: usize = 64 * 1024;

/// An emptied ring larger than this is freed (an idle stream should not
/// keep a burst's worth of memory).
const KEEP_WHEN_EMPTY: usize = 64 * 1024;

/// Outgoing bytes from offset `acked` to `written`, and the cursor `sent`
/// of the next byte to transmit (`acked <= sent <= written`).
#[derive(Debug, Default)]
pub(crate) struct SendBuffer {
    /// Ring storage; its length is the capacity.
    ring: Vec<u8>,
    /// Index in `ring` of the byte at offset `acked`.
    head: usize,
    /// Bytes held, from `head` on, wrapping at the end of `ring`.
    len: usize,
    acked: u64,
    sent: u64,
}

impl SendBuffer {
    /// Offset of the first byte not yet acknowledged.
    pub(crate) fn acked(&self) -> u64 {
        self.acked
    }

    /// Offset of the next byte to transmit.
    pub(crate) fn sent(&self) -> u64 {
        self.sent
    }

    /// Offset one past the last byte taken from the application.
    pub(crate) fn written(&self) -> u64 {
        self.acked + self.len as u64
    }

    /// Bytes held (unacknowledged).
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Appends `data`, growing the ring as needed but never beyond
    /// `len() + limit` (`data.len() <= limit`).
    pub(crate) fn push(&mut self, data: &[u8], limit: usize) {
        debug_assert!(data.len() <= limit);
        if self.ring.len() - self.len < data.len() {
            self.grow(data.len(), limit);
        }
        let (start, end) = self.free_run();
        let first = (end - start).min(data.len());
        self.ring[start..start + first].copy_from_slice(&data[..first]);
        let rest = data.len() - first;
        if rest > 0 {
            // The run before ended at the ring's end; the rest wraps to 0.
            self.ring[..rest].copy_from_slice(&data[first..]);
        }
        self.len += data.len();
    }

    /// Where a read may put its bytes directly: a contiguous free part of
    /// the ring, at most `limit` long (`limit > 0`), growing a full ring.
    /// `None` while the ring is small (fewer than [`DIRECT_MIN`] bytes):
    /// read elsewhere and [`SendBuffer::push`]. Fill a prefix of the room,
    /// then [`SendBuffer::commit`] that many.
    pub(crate) fn direct_room(&mut self, limit: usize) -> Option<&mut [u8]> {
        if limit == 0 || self.ring.len() < DIRECT_MIN {
            return None;
        }
        if self.len == self.ring.len() {
            self.grow(1, limit);
        }
        let (start, end) = self.free_run();
        let end = end.min(start + limit);
        Some(&mut self.ring[start..end])
    }

    /// Bytes of [`SendBuffer::direct_room`]'s slice: the most
    /// [`SendBuffer::commit`] accepts.
    pub(crate) fn spare_len(&self) -> usize {
        let (start, end) = self.free_run();
        end - start
    }

    /// Takes the first `n` bytes of the room [`SendBuffer::direct_room`]
    /// gave (`n <= spare_len()`).
    pub(crate) fn commit(&mut self, n: usize) {
        debug_assert!(n <= self.spare_len());
        self.len += n;
    }

    /// Makes room for at least `need` more bytes: doubles the ring, or more
    /// if that is not enough, but never past `len() + limit`.
    fn grow(&mut self, need: usize, limit: usize) {
        let capacity = (self.ring.len() * 2)
            .max(self.len + need)
            .min(self.len.saturating_add(limit));
        self.resize(capacity);
    }

    /// The free run after the held bytes: indices `start..end` of `ring`.
    fn free_run(&self) -> (usize, usize) {
        let cap = self.ring.len();
        let tail = self.head + self.len;
        if tail < cap {
            (tail, cap)
        } else {
            (tail - cap, self.head)
        }
    }

    /// Moves the held bytes to the front of a ring of `capacity` bytes.
    fn resize(&mut self, capacity: usize) {
        debug_assert!(capacity >= self.len);
        let mut ring = vec![0u8; capacity];
        let (a, b) = self.held();
        ring[..a.len()].copy_from_slice(a);
        ring[a.len()..a.len() + b.len()].copy_from_slice(b);
        self.ring = ring;
        self.head = 0;
    }

    /// The held bytes in order: the run up to the end of the ring, then the
    /// wrapped run from its start.
    fn held(&self) -> (&[u8], &[u8]) {
        let cap = self.ring.len();
        if self.head + self.len <= cap {
            (&self.ring[self.head..self.head + self.len], &[])
        } else {
            let wrapped = self.head + self.len - cap;
            (&self.ring[self.head..], &self.ring[..wrapped])
        }
    }

    /// Bytes taken but not yet transmitted.
    pub(crate) fn unsent(&self) -> u64 {
        self.written() - self.sent
    }

    /// Frees everything below `offset` (an acknowledgement). Returns whether
    /// anything was freed. After a resume rewound the cursor, an ack may
    /// cover bytes not yet sent again: they need no resending. Offsets
    /// beyond what was ever taken are ignored as bogus.
    pub(crate) fn ack(&mut self, offset: u64) -> bool {
        if offset <= self.acked || offset > self.written() {
            return false;
        }
        let n = (offset - self.acked) as usize;
        self.len -= n;
        self.head = if self.len == 0 {
            0
        } else {
            (self.head + n) % self.ring.len()
        };
        self.acked = offset;
        self.sent = self.sent.max(offset);
        if self.len == 0 && self.ring.len() > KEEP_WHEN_EMPTY {
            self.ring = Vec::new();
        }
        true
    }

    /// Starts transmitting again from the last acknowledged byte (after a resume).
    pub(crate) fn rewind(&mut self) {
        self.sent = self.acked;
    }

    /// Appends up to `max` untransmitted bytes to `out`, advancing the cursor;
    /// returns the offset of the first byte appended and how many.
    pub(crate) fn transmit(&mut self, max: usize, out: &mut Vec<u8>) -> (u64, usize) {
        let start = self.sent;
        let skip = (self.sent - self.acked) as usize;
        let n = max.min(self.len - skip);
        let (a, b) = self.held();
        if skip < a.len() {
            let first = (a.len() - skip).min(n);
            out.extend_from_slice(&a[skip..skip + first]);
            out.extend_from_slice(&b[..n - first]);
        } else {
            let off = skip - a.len();
            out.extend_from_slice(&b[off..off + n]);
        }
        self.sent += n as u64;
        (start, n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transmit_ack_and_rewind() {
        let mut s = SendBuffer::default();
        s.push(b"hello world", usize::MAX);
        let mut out = Vec::new();
        assert_eq!(s.transmit(5, &mut out), (0, 5));
        assert_eq!(out, b"hello");
        assert!(s.ack(3));
        assert!(!s.ack(12), "cannot ack what was never taken");
        s.rewind();
        out.clear();
        assert_eq!(s.transmit(100, &mut out), (3, 8));
        assert_eq!(out, b"lo world");
        assert_eq!(s.unsent(), 0);
        assert!(s.ack(11));
        assert_eq!(s.len(), 0);
        assert_eq!(s.written(), 11);
    }

    #[test]
    fn ack_after_rewind_skips_the_acknowledged_resend() {
        let mut s = SendBuffer::default();
        s.push(b"0123456789", usize::MAX);
        let mut out = Vec::new();
        s.transmit(10, &mut out);
        s.rewind();
        assert!(s.ack(6), "the peer had bytes we are about to resend");
        assert_eq!(s.sent(), 6);
        out.clear();
        assert_eq!(s.transmit(10, &mut out), (6, 4));
        assert_eq!(out, b"6789");
    }

    #[test]
    fn transmit_across_the_ring_wrap() {
        let mut s = SendBuffer::default();
        let mut out = Vec::new();
        let mut expected = Vec::new();
        for round in 0u8..50 {
            let chunk: Vec<u8> = (0..37)
                .map(|i| round.wrapping_mul(31).wrapping_add(i))
                .collect();
            s.push(&chunk, usize::MAX);
            expected.extend_from_slice(&chunk);
            let (_, n) = s.transmit(29, &mut out);
            assert!(n <= 29);
            let sent = s.sent();
            s.ack(sent);
        }
        while s.unsent() > 0 {
            s.transmit(64, &mut out);
        }
        assert_eq!(out, expected);
    }

    #[test]
    fn small_pushes_size_the_ring_exactly_and_take_no_direct_reads() {
        let mut s = SendBuffer::default();
        assert_eq!(s.spare_len(), 0, "an idle stream holds no memory");
        s.push(b"hi", 1 << 20);
        assert_eq!(s.ring.len(), 2, "sized to what it holds");
        assert!(s.direct_room(1 << 20).is_none(), "small rings take copies");
        s.push(&[7; 100], 1 << 20);
        assert_eq!(s.ring.len(), 102);
        s.push(&[7; 10], 1 << 20);
        assert_eq!(s.ring.len(), 204, "then doubles");
    }

    #[test]
    fn growth_stops_at_the_limit() {
        let mut s = SendBuffer::default();
        s.push(&[1; 1000], 1000);
        s.push(&[2; 500], 600);
        assert_eq!(s.ring.len(), 1600, "doubling would pass len + limit");
    }

    #[test]
    fn a_large_ring_takes_direct_reads_and_wraps_around_the_acknowledged_front() {
        let mut s = SendBuffer::default();
        s.push(&[1; DIRECT_MIN], DIRECT_MIN);
        let grown = s.direct_room(1 << 20).expect("large ring").len();
        assert_eq!(grown, DIRECT_MIN, "a full ring doubles");
        assert_eq!(s.direct_room(10).map(|r| r.len()), Some(10));
        let mut out = Vec::new();
        s.transmit(DIRECT_MIN, &mut out);
        assert!(s.ack(1000));
        s.commit(grown);
        let room = s.direct_room(5000).expect("large ring");
        assert_eq!(room.len(), 1000, "the freed front, contiguous");
        room.copy_from_slice(&[3; 1000]);
        s.commit(1000);
        assert_eq!(s.len(), 2 * DIRECT_MIN);
        out.clear();
        s.rewind();
        assert_eq!(s.transmit(usize::MAX, &mut out), (1000, 2 * DIRECT_MIN));
        assert_eq!(&out[..DIRECT_MIN - 1000], &[1; DIRECT_MIN - 1000][..]);
        assert_eq!(&out[2 * DIRECT_MIN - 1000..], &[3; 1000][..]);
        assert!(s.ack(s.written()));
        assert_eq!(s.ring.len(), 0, "an emptied large ring is freed");
    }

    /// One step of the property below.
    #[derive(Debug, Clone)]
    enum Op {
        /// Offer up to `limit` bytes of room, fill `fill` of it.
        Take {
            limit: u16,
            fill: u16,
        },
        Transmit(u16),
        Ack(u16),
        Rewind,
    }

    impl quickcheck::Arbitrary for Op {
        fn arbitrary(g: &mut quickcheck::Gen) -> Op {
            match u8::arbitrary(g) % 4 {
                0 => Op::Take {
                    limit: u16::arbitrary(g),
                    fill: u16::arbitrary(g),
                },
                1 => Op::Transmit(u16::arbitrary(g)),
                2 => Op::Ack(u16::arbitrary(g)),
                _ => Op::Rewind,
            }
        }
    }

    quickcheck::quickcheck! {
        /// Against a plain byte model: whatever is taken, transmitted,
        /// acknowledged and rewound, transmit hands out exactly the bytes
        /// taken at their offsets, and `direct_room` honours its limit.
        fn ring_matches_a_plain_model(ops: Vec<Op>) -> bool {
            let mut s = SendBuffer::default();
            let mut model: Vec<u8> = Vec::new(); // every byte ever taken
            let mut next = 0u8;
            let mut out = Vec::new();
            for op in ops {
                match op {
                    Op::Take { limit, fill } => {
                        // `limit` plays the window's remaining room.
                        let limit = limit as usize * 2;
                        let n = (fill as usize * 2).min(limit);
                        match s.direct_room(limit) {
                            Some(room) => {
                                if room.is_empty() || room.len() > limit {
                                    return false;
                                }
                                let n = n.min(room.len());
                                for b in &mut room[..n] {
                                    next = next.wrapping_add(1);
                                    *b = next;
                                    model.push(next);
                                }
                                s.commit(n);
                            }
                            None => {
                                let data: Vec<u8> = (0..n)
                                    .map(|_| {
                                        next = next.wrapping_add(1);
                                        next
                                    })
                                    .collect();
                                model.extend_from_slice(&data);
                                s.push(&data, limit);
                            }
                        }
                    }
                    Op::Transmit(max) => {
                        out.clear();
                        let (offset, n) = s.transmit(max as usize, &mut out);
                        let at = offset as usize;
                        if out[..] != model[at..at + n] {
                            return false;
                        }
                    }
                    Op::Ack(k) => {
                        let to = (s.acked() + u64::from(k)).min(s.sent());
                        s.ack(to);
                    }
                    Op::Rewind => s.rewind(),
                }
                if s.written() != model.len() as u64 || s.len() > s.ring.len() {
                    return false;
                }
            }
            true
        }
    }
}
