//! Bytes a stream has taken from its application and not yet had
//! acknowledged: kept for resending after a resume, bounded by the window.
//!
//! The buffer is a ring the runtime reads the socket straight into
//! ([`SendBuffer::spare`], then [`SendBuffer::commit`]), so a byte is copied
//! once on its way in (socket to ring) and once on its way out (ring to the
//! frame). It grows on demand up to the window and is given back when a
//! burst has been acknowledged, so an idle stream holds no memory.

/// The first allocation of a stream's ring, and the least it grows by.
const MIN_RING: usize = 16 * 1024;

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

    /// Appends all of `data`, growing the ring as needed.
    #[cfg(test)]
    pub(crate) fn push(&mut self, mut data: &[u8]) {
        while !data.is_empty() {
            let room = self.spare(data.len());
            let n = room.len().min(data.len());
            room[..n].copy_from_slice(&data[..n]);
            self.commit(n);
            data = &data[n..];
        }
    }

    /// Where the next bytes go: a contiguous free part of the ring, at most
    /// `limit` long and not empty when `limit > 0` (the ring grows if it is
    /// full). Fill a prefix of it, then [`SendBuffer::commit`] that many.
    pub(crate) fn spare(&mut self, limit: usize) -> &mut [u8] {
        if limit == 0 {
            return &mut [];
        }
        if self.len == self.ring.len() {
            // Full (or never allocated): grow by at least MIN_RING and at
            // most to what the caller may still add.
            let grown = (self.ring.len() * 2)
                .max(self.len + MIN_RING.min(limit))
                .min(self.len + limit);
            self.resize(grown);
        }
        let (start, end) = self.free_run();
        let end = end.min(start + limit);
        &mut self.ring[start..end]
    }

    /// Bytes of [`SendBuffer::spare`]'s slice now free to take, without
    /// growing: the most [`SendBuffer::commit`] accepts.
    pub(crate) fn spare_len(&self) -> usize {
        if self.ring.is_empty() {
            return 0;
        }
        let (start, end) = self.free_run();
        end - start
    }

    /// Takes the first `n` bytes of the slice [`SendBuffer::spare`] gave
    /// (`n <= spare_len()`).
    pub(crate) fn commit(&mut self, n: usize) {
        debug_assert!(n <= self.spare_len());
        self.len += n;
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
        s.push(b"hello world");
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
        s.push(b"0123456789");
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
            s.push(&chunk);
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
    fn spare_grows_from_nothing_up_to_the_limit() {
        let mut s = SendBuffer::default();
        assert!(s.spare(0).is_empty());
        assert_eq!(s.spare_len(), 0, "an idle stream holds no memory");
        assert_eq!(
            SendBuffer::default().spare(100).len(),
            100,
            "never more than the limit"
        );
        let first = s.spare(1 << 20).len();
        assert_eq!(first, MIN_RING);
        s.commit(first);
        let second = s.spare(1 << 20).len();
        assert_eq!(second, MIN_RING, "doubled when full");
        s.commit(second);
        assert_eq!(s.len(), 2 * MIN_RING);
        let limited = s.spare(10).len();
        assert_eq!(limited, 10, "growth stops at what the caller may add");
    }

    #[test]
    fn spare_wraps_around_the_acknowledged_front() {
        let mut s = SendBuffer::default();
        s.push(&[1; MIN_RING]);
        let mut out = Vec::new();
        s.transmit(MIN_RING, &mut out);
        assert!(s.ack(1000));
        let room = s.spare(5000);
        assert_eq!(room.len(), 1000, "the freed front, contiguous");
        room.copy_from_slice(&[2; 1000]);
        s.commit(1000);
        assert_eq!(s.len(), MIN_RING);
        out.clear();
        s.rewind();
        assert_eq!(s.transmit(usize::MAX, &mut out), (1000, MIN_RING));
        assert_eq!(&out[..MIN_RING - 1000], &[1; MIN_RING - 1000][..]);
        assert_eq!(&out[MIN_RING - 1000..], &[2; 1000][..]);
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
        /// taken at their offsets, and `spare` honours its limit.
        fn ring_matches_a_plain_model(ops: Vec<Op>) -> bool {
            let mut s = SendBuffer::default();
            let mut model: Vec<u8> = Vec::new(); // every byte ever taken
            let mut next = 0u8;
            let mut out = Vec::new();
            for op in ops {
                match op {
                    Op::Take { limit, fill } => {
                        let room = s.spare(limit as usize);
                        if room.len() > limit as usize || (limit > 0 && room.is_empty()) {
                            return false;
                        }
                        let n = (fill as usize).min(room.len());
                        for b in &mut room[..n] {
                            next = next.wrapping_add(1);
                            *b = next;
                            model.push(next);
                        }
                        s.commit(n);
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
