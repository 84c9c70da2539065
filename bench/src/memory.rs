//! What a process costs: its resident memory now and at its peak (`VmRSS`
//! and `VmHWM` of `/proc/PID/status`, the peak restartable) and the CPU time it has used
//! (`utime + stime` of `/proc/PID/stat`, all its threads, counted in clock
//! ticks, usually 10 ms).

use std::io;

/// Resident set size of process `pid`, in bytes.
pub fn rss_bytes(pid: u32) -> io::Result<u64> {
    status_bytes(pid, "VmRSS")
}

/// The largest resident set size process `pid` has had, in bytes.
pub fn peak_rss_bytes(pid: u32) -> io::Result<u64> {
    status_bytes(pid, "VmHWM")
}

/// Starts the count of [`peak_rss_bytes`] of process `pid` (one of ours)
/// again from its present size (`echo 5 > /proc/PID/clear_refs`, Linux
/// 4.0 and later).
pub fn reset_peak_rss(pid: u32) -> io::Result<()> {
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5")
}

fn status_bytes(pid: u32, key: &str) -> io::Result<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    parse_status(&text, key)
        .ok_or_else(|| io::Error::other(format!("no {key} in /proc/{pid}/status")))
}

/// CPU seconds (user + system) used so far by process `pid`.
pub fn cpu_secs(pid: u32) -> io::Result<f64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let ticks = parse_cpu_ticks(&text)
        .ok_or_else(|| io::Error::other(format!("unreadable /proc/{pid}/stat")))?;
    Ok(ticks as f64 / clock_ticks_per_sec())
}

/// `KEY:   12345 kB` in bytes.
fn parse_status(status: &str, key: &str) -> Option<u64> {
    let line = status
        .lines()
        .find(|l| l.strip_prefix(key).is_some_and(|r| r.starts_with(':')))?;
    let mut words = line[key.len() + 1..].split_whitespace();
    let kib: u64 = words.next()?.parse().ok()?;
    match words.next() {
        Some("kB") | None => kib.checked_mul(1024),
        Some(_) => None,
    }
}

/// `utime + stime` (fields 14 and 15) of a `/proc/PID/stat` line. The
/// command name (field 2) is in parentheses and may hold spaces and
/// parentheses itself, so counting starts after the last `)`.
fn parse_cpu_ticks(stat: &str) -> Option<u64> {
    let after = &stat[stat.rfind(')')? + 1..];
    // Fields from 3 (state) on: utime is the 12th of them, stime the 13th.
    let mut fields = after.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    utime.checked_add(stime)
}

/// The unit of the CPU times in `/proc` (usually 100 a second).
pub fn clock_ticks_per_sec() -> f64 {
    // SAFETY: sysconf only reads a configuration value.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 {
        ticks as f64
    } else {
        100.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rss_from_status() {
        let status = "Name:\ttcpws\nVmPeak:\t  9999 kB\nVmHWM:\t 6144 kB\n\
                      VmRSS:\t    5120 kB\nRssAnon:\t 1 kB\n";
        assert_eq!(parse_status(status, "VmRSS"), Some(5 << 20));
        assert_eq!(parse_status(status, "VmHWM"), Some(6 << 20));
        assert_eq!(parse_status(status, "Vm"), None);
        assert_eq!(parse_status("Name: x\n", "VmRSS"), None);
        assert_eq!(parse_status("VmRSS: lots kB\n", "VmRSS"), None);
    }

    #[test]
    fn cpu_ticks_from_stat_with_an_awkward_name() {
        let stat = "4242 (tc) p (ws) S 1 4242 4242 0 -1 4194560 100 0 0 0 \
                    250 75 0 0 20 0 3 0 123 456 789";
        assert_eq!(parse_cpu_ticks(stat), Some(325));
        assert_eq!(parse_cpu_ticks("garbage"), None);
        assert_eq!(parse_cpu_ticks("1 (x) S 1 2"), None);
    }

    #[test]
    fn this_process_is_readable() {
        let me = std::process::id();
        assert!(rss_bytes(me).unwrap() > 0);
        assert!(peak_rss_bytes(me).unwrap() >= rss_bytes(me).unwrap() / 2);
        assert!(cpu_secs(me).unwrap() >= 0.0);
    }

    #[test]
    fn the_peak_starts_again_from_now() {
        let me = std::process::id();
        // A peak well above the present size, then let go of.
        let big = vec![1u8; 64 << 20];
        assert!(std::hint::black_box(&big).iter().all(|&b| b == 1));
        drop(big);
        let before = peak_rss_bytes(me).unwrap();
        reset_peak_rss(me).unwrap();
        let after = peak_rss_bytes(me).unwrap();
        assert!(after + (32 << 20) < before, "{before} -> {after}");
    }
}
