//! How busy the machine was with work other than the bench's own: the CPU
//! time of every process (`/proc/stat`) minus the bench's and its
//! children's (`/proc/self/stat`), over the bench's wall time. On a shared
//! machine this says how far to trust the figures.

use std::time::Instant;

/// CPU time counters at one moment, in clock ticks.
#[derive(Debug, Clone, Copy)]
pub struct Snapshot {
    at: Instant,
    /// Busy time of all CPUs.
    machine: u64,
    /// This process and its children that have been waited for.
    ours: u64,
}

impl Snapshot {
    pub fn take() -> Option<Snapshot> {
        let machine = busy_ticks(&std::fs::read_to_string("/proc/stat").ok()?)?;
        let ours = own_ticks(&std::fs::read_to_string("/proc/self/stat").ok()?)?;
        Some(Snapshot {
            at: Instant::now(),
            machine,
            ours,
        })
    }

    /// CPUs busy with other work on average since `earlier`. Take the
    /// later snapshot after every child has exited and been waited for, or
    /// their time counts as other work.
    pub fn other_cpus_since(&self, earlier: &Snapshot) -> Option<f64> {
        let secs = self.at.duration_since(earlier.at).as_secs_f64();
        if secs <= 0.0 {
            return None;
        }
        let machine = self.machine.checked_sub(earlier.machine)?;
        let ours = self.ours.checked_sub(earlier.ours)?;
        let other = machine.saturating_sub(ours) as f64 / crate::memory::clock_ticks_per_sec();
        Some(other / secs)
    }
}

/// user + nice + system + irq + softirq + steal of the `cpu` line (guest
/// time is already in user).
fn busy_ticks(stat: &str) -> Option<u64> {
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let fields: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .map(|f| f.parse().ok())
        .collect::<Option<_>>()?;
    let field = |i: usize| fields.get(i).copied().unwrap_or(0);
    Some(field(0) + field(1) + field(2) + field(5) + field(6) + field(7))
}

/// utime + stime + cutime + cstime (fields 14 to 17) of `/proc/self/stat`.
fn own_ticks(stat: &str) -> Option<u64> {
    let after = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<u64> = after
        .split_whitespace()
        .skip(11)
        .take(4)
        .map(|f| f.parse().ok())
        .collect::<Option<_>>()?;
    (fields.len() == 4).then(|| fields.iter().sum())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn busy_time_of_all_cpus() {
        let stat = "cpu  100 5 50 1000 7 3 2 1 40 0\ncpu0 50 2 25 500 3 1 1 0 20 0\n";
        assert_eq!(busy_ticks(stat), Some(161));
        assert_eq!(busy_ticks("intr 1 2 3\n"), None);
    }

    #[test]
    fn own_time_with_children() {
        let stat = "77 (tcp ws) R 1 77 77 0 -1 0 0 0 0 0 10 20 30 40 20 0 1 0";
        assert_eq!(own_ticks(stat), Some(100));
        assert_eq!(own_ticks("77 (x) R 1 2"), None);
    }

    #[test]
    fn snapshots_of_this_machine() {
        let a = Snapshot::take().unwrap();
        let b = Snapshot::take().unwrap();
        assert!(b.other_cpus_since(&a).map_or(true, |c| c >= 0.0));
    }
}
