//! The runtime's own I/O deadlines (handshakes, dials, bind retries,
//! closing sockets), kept apart from the protocol's timers.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::{Duration, Instant};

use mio::Token;

/// What a runtime deadline is for. Each names the thing it guards; the owner
/// keeps its own deadline too, so a fired entry whose owner is gone or was
/// rescheduled is simply ignored (entries are never cancelled).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Deadline {
    /// An accepted HTTP connection must send its request head (and take our
    /// answer) by then.
    Incoming(Token),
    /// A socket we are done with must finish flushing and closing by then.
    Closing(Token),
}

/// A min-heap of deadlines. Stale entries cost one spurious wakeup each; every
/// owner schedules a bounded number of them, so the heap stays bounded.
#[derive(Debug, Default)]
pub(crate) struct Timers {
    heap: BinaryHeap<Reverse<(Instant, Deadline)>>,
}

impl Timers {
    /// Asks to be told about `what` once `at` has passed.
    pub(crate) fn schedule(&mut self, at: Instant, what: Deadline) {
        self.heap.push(Reverse((at, what)));
    }

    /// The earliest deadline, if any.
    pub(crate) fn next(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse((at, _))| *at)
    }

    /// Removes and returns one deadline that is due at `now`.
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<Deadline> {
        match self.heap.peek() {
            Some(Reverse((at, _))) if *at <= now => self.heap.pop().map(|Reverse((_, what))| what),
            _ => None,
        }
    }
}

/// The poll timeout that sleeps until `deadline`: rounded up to the next whole
/// millisecond, so the loop wakes after the deadline and never spins on a
/// sub-millisecond remainder.
pub(crate) fn poll_timeout(now: Instant, deadline: Instant) -> Duration {
    let nanos = deadline.saturating_duration_since(now).as_nanos();
    let millis = nanos.div_ceil(1_000_000);
    Duration::from_millis(u64::try_from(millis).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pops_in_deadline_order_only_when_due() {
        let t0 = Instant::now();
        let mut timers = Timers::default();
        timers.schedule(t0 + Duration::from_secs(2), Deadline::Closing(Token(2)));
        timers.schedule(t0 + Duration::from_secs(1), Deadline::Closing(Token(1)));
        assert_eq!(timers.next(), Some(t0 + Duration::from_secs(1)));
        assert_eq!(timers.pop_due(t0), None);
        let later = t0 + Duration::from_secs(5);
        assert_eq!(timers.pop_due(later), Some(Deadline::Closing(Token(1))));
        assert_eq!(timers.pop_due(later), Some(Deadline::Closing(Token(2))));
        assert_eq!(timers.pop_due(later), None);
    }

    #[test]
    fn timeout_rounds_up_to_whole_millis() {
        let t0 = Instant::now();
        assert_eq!(poll_timeout(t0, t0), Duration::ZERO);
        assert_eq!(
            poll_timeout(t0 + Duration::from_secs(1), t0),
            Duration::ZERO
        );
        assert_eq!(
            poll_timeout(t0, t0 + Duration::from_micros(1)),
            Duration::from_millis(1)
        );
        assert_eq!(
            poll_timeout(t0, t0 + Duration::from_micros(2_500)),
            Duration::from_millis(3)
        );
        assert_eq!(
            poll_timeout(t0, t0 + Duration::from_millis(7)),
            Duration::from_millis(7)
        );
    }
}
