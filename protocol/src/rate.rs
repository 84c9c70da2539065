//! Counting events per second, for bounds on what a peer may make us do
//! at will (refused opens): pure, time comes in as an argument.

use std::time::{Duration, Instant};

const PERIOD: Duration = Duration::from_secs(1);

/// Events counted in the current one-second period.
#[derive(Debug, Default)]
pub(crate) struct Rate {
    period_start: Option<Instant>,
    count: u32,
}

impl Rate {
    /// Counts one event at `now`; returns the events of this period so far.
    pub(crate) fn note(&mut self, now: Instant) -> u32 {
        let current = matches!(
            self.period_start,
            Some(start) if now.saturating_duration_since(start) < PERIOD
        );
        if !current {
            self.period_start = Some(now);
            self.count = 0;
        }
        self.count = self.count.saturating_add(1);
        self.count
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_restart_each_second() {
        let t0 = crate::test_origin();
        let mut r = Rate::default();
        assert_eq!((0..5).map(|_| r.note(t0)).last(), Some(5));
        assert_eq!(r.note(t0 + Duration::from_millis(999)), 6);
        assert_eq!(r.note(t0 + PERIOD), 1);
    }
}
