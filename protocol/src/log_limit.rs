//! Log lines a peer can cause at will (refused opens, refused handshakes,
//! violations), limited so a flood costs a few lines a second instead of
//! the disk: the lines held back are counted and reported with the next
//! one let through.

use std::time::Instant;

use crate::rate::Rate;

/// Lines of one kind let through per second.
const BURST: u32 = 10;

/// One kind of line (the runtime uses it too, for its own peer-caused lines).
#[derive(Debug, Default)]
pub struct LogLimit {
    lines: Rate,
    held_back: u64,
}

impl LogLimit {
    /// Whether a line may be logged at `now`; if so, a note of how many
    /// were held back since the last one ("" when none), to append to it.
    pub fn allow(&mut self, now: Instant) -> Option<String> {
        if self.lines.note(now) > BURST {
            self.held_back += 1;
            return None;
        }
        let note = match std::mem::take(&mut self.held_back) {
            0 => String::new(),
            n => format!(" ({n} similar lines held back)"),
        };
        Some(note)
    }
}

/// The limited kinds of an endpoint.
#[derive(Debug, Default)]
pub struct LogLimits {
    /// Opens refused (unknown tunnel, limits).
    pub(crate) refused_opens: LogLimit,
    /// Handshakes refused or timed out.
    pub(crate) handshakes: LogLimit,
    /// Links closed for a protocol violation.
    pub(crate) violations: LogLimit,
    /// Sessions replaced by a new one of the same client.
    pub(crate) new_sessions: LogLimit,
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_flood_costs_a_burst_a_second_and_is_counted() {
        let t0 = crate::test_origin();
        let mut l = LogLimit::default();
        let allowed = (0..1000).filter(|_| l.allow(t0).is_some()).count();
        assert_eq!(allowed, BURST as usize);
        let next = l.allow(t0 + Duration::from_secs(1)).expect("a new period");
        assert_eq!(next, format!(" ({} similar lines held back)", 1000 - BURST));
        assert_eq!(l.allow(t0 + Duration::from_secs(1)).as_deref(), Some(""));
    }
}
