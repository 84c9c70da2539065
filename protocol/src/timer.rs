//! Every deadline of an endpoint, in one table.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use crate::endpoint::Slot;
use crate::ids::{ConnId, LinkId, TunnelId};

/// What a deadline is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Timer {
    /// Nothing received on the link for the keepalive timeout.
    LinkIdle(LinkId),
    /// Nothing sent on the link for the keepalive interval: send a keepalive.
    LinkKeepalive(LinkId),
    /// The link has not completed its handshake (hello, proofs, welcome)
    /// within the handshake timeout.
    Handshake(LinkId),
    /// A session's link has been gone for the resume grace period, or a
    /// leaving session's streams had their time to drain.
    SessionGrace(Slot),
    /// Server: a session's link has been gone for the failover delay.
    Failover(Slot),
    /// Client: time to dial the server again.
    Reconnect,
    /// Client: the WebSocket asked for has taken the connect timeout.
    ConnectServer,
    /// Listen sockets closed by a switch may reopen.
    ListenBlackoutEnd,
    /// A wanted listen socket that failed to bind is asked for again.
    ListenRetry(TunnelId),
    /// A dial of a connect target has taken the connect timeout.
    Dial(ConnId),
}

/// Deadlines by timer. Setting replaces; firing removes. Indexed both
/// ways, so the next deadline and the due timers cost O(log n) however
/// many links, streams and dials have timers.
#[derive(Debug, Default)]
pub(crate) struct TimerTable {
    deadlines: BTreeMap<Timer, Instant>,
    by_time: BTreeSet<(Instant, Timer)>,
}

impl TimerTable {
    pub(crate) fn set(&mut self, timer: Timer, at: Instant) {
        if let Some(old) = self.deadlines.insert(timer, at) {
            self.by_time.remove(&(old, timer));
        }
        self.by_time.insert((at, timer));
    }

    pub(crate) fn cancel(&mut self, timer: Timer) {
        if let Some(old) = self.deadlines.remove(&timer) {
            self.by_time.remove(&(old, timer));
        }
    }

    /// The earliest deadline.
    pub(crate) fn next(&self) -> Option<Instant> {
        self.by_time.first().map(|(at, _)| *at)
    }

    /// Removes and returns the timers due at `now`, earliest first (ties
    /// in a fixed order).
    pub(crate) fn take_expired(&mut self, now: Instant) -> Vec<Timer> {
        let mut due = Vec::new();
        while let Some(&(at, timer)) = self.by_time.first() {
            if at > now {
                break;
            }
            self.by_time.pop_first();
            self.deadlines.remove(&timer);
            due.push(timer);
        }
        due
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn expired_timers_are_taken_once() {
        let t0 = crate::test_origin();
        let mut table = TimerTable::default();
        table.set(Timer::Reconnect, t0 + Duration::from_secs(1));
        table.set(Timer::ListenBlackoutEnd, t0 + Duration::from_secs(2));
        assert_eq!(table.next(), Some(t0 + Duration::from_secs(1)));
        assert!(table.take_expired(t0).is_empty());
        assert_eq!(
            table.take_expired(t0 + Duration::from_secs(1)),
            vec![Timer::Reconnect]
        );
        assert!(table.take_expired(t0 + Duration::from_secs(1)).is_empty());
        table.cancel(Timer::ListenBlackoutEnd);
        assert_eq!(table.next(), None);
    }

    quickcheck::quickcheck! {
        /// Sets, cancels and expiries in any order agree with a plain map
        /// scanned in full: same next deadline, same timers due, each once.
        fn the_index_agrees_with_a_scan(ops: Vec<(u8, u8, u8)>) -> bool {
            let t0 = crate::test_origin();
            let mut table = TimerTable::default();
            let mut model: BTreeMap<Timer, Instant> = BTreeMap::new();
            let mut now = t0;
            for (op, which, at) in ops {
                let timer = Timer::LinkIdle(LinkId(u64::from(which % 8)));
                let at = t0 + Duration::from_millis(u64::from(at));
                match op % 3 {
                    0 => {
                        table.set(timer, at);
                        model.insert(timer, at);
                    }
                    1 => {
                        table.cancel(timer);
                        model.remove(&timer);
                    }
                    _ => {
                        now += Duration::from_millis(at.duration_since(t0).as_millis() as u64 % 50);
                        let mut want: Vec<(Instant, Timer)> = model
                            .iter()
                            .filter(|(_, a)| **a <= now)
                            .map(|(t, a)| (*a, *t))
                            .collect();
                        want.sort();
                        model.retain(|_, a| *a > now);
                        let got = table.take_expired(now);
                        if got != want.into_iter().map(|(_, t)| t).collect::<Vec<_>>() {
                            return false;
                        }
                    }
                }
                if table.next() != model.values().min().copied() {
                    return false;
                }
            }
            true
        }
    }
}
