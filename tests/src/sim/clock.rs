//! Virtual time: one base `Instant` captured once, plus an offset that only
//! the simulation loop moves. Every endpoint call gets `base + offset`.

use std::time::{Duration, Instant};

/// The simulation's clock. Nothing in the simulation reads the real clock
/// after [`Clock::new`].
#[derive(Debug, Clone)]
pub struct Clock {
    base: Instant,
    offset: Duration,
}

impl Clock {
    /// A clock at virtual time zero.
    pub fn new() -> Clock {
        Clock {
            // The only real clock read: an anchor for `Instant` values. The
            // trace prints offsets only, so runs stay comparable.
            base: Instant::now(),
            offset: Duration::ZERO,
        }
    }

    /// Virtual time since the start.
    pub fn elapsed(&self) -> Duration {
        self.offset
    }

    /// The `Instant` handed to endpoints.
    pub fn now(&self) -> Instant {
        self.base + self.offset
    }

    /// Converts an endpoint deadline to virtual time (deadlines in the past
    /// map to zero).
    pub fn offset_of(&self, at: Instant) -> Duration {
        at.saturating_duration_since(self.base)
    }

    /// Moves time forward; never backward.
    pub fn advance_to(&mut self, t: Duration) {
        if t > self.offset {
            self.offset = t;
        }
    }
}

impl Default for Clock {
    fn default() -> Clock {
        Clock::new()
    }
}
