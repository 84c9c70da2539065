//! Every deadline of an endpoint, in one table.

use std::collections::BTreeMap;
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

/// Deadlines by timer. Setting replaces; firing removes.
#[derive(Debug, Default)]
pub(crate) struct TimerTable {
    deadlines: BTreeMap<Timer, Instant>,
}

impl TimerTable {
    pub(crate) fn set(&mut self, timer: Timer, at: Instant) {
        self.deadlines.insert(timer, at);
    }

    pub(crate) fn cancel(&mut self, timer: Timer) {
        self.deadlines.remove(&timer);
    }

    /// The earliest deadline.
    pub(crate) fn next(&self) -> Option<Instant> {
        self.deadlines.values().min().copied()
    }

    /// Removes and returns the timers due at `now`, in a fixed order.
    pub(crate) fn take_expired(&mut self, now: Instant) -> Vec<Timer> {
        let due: Vec<Timer> = self
            .deadlines
            .iter()
            .filter(|(_, at)| **at <= now)
            .map(|(t, _)| *t)
            .collect();
        for t in &due {
            self.deadlines.remove(t);
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
}
