//! Bytes a stream has taken from its application and not yet had
//! acknowledged: kept for resending after a resume, bounded by the window.

use std::collections::VecDeque;

/// Outgoing bytes from offset `acked` to `written`, and the cursor `sent`
/// of the next byte to transmit (`acked <= sent <= written`).
#[derive(Debug, Default)]
pub(crate) struct SendBuffer {
    buf: VecDeque<u8>,
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
        self.acked + self.buf.len() as u64
    }

    /// Bytes held (unacknowledged).
    pub(crate) fn len(&self) -> usize {
        self.buf.len()
    }

    pub(crate) fn push(&mut self, data: &[u8]) {
        self.buf.extend(data);
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
        self.buf.drain(..n);
        self.acked = offset;
        self.sent = self.sent.max(offset);
        if self.buf.is_empty() && self.buf.capacity() > 64 * 1024 {
            // An idle stream should not keep a burst's worth of memory.
            self.buf = VecDeque::new();
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
        let n = max.min(self.buf.len() - skip);
        let (a, b) = self.buf.as_slices();
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
}
