//! The server's peak resident memory during one attack: the kernel's peak
//! (`VmHWM`) started again when the attack starts, and, in case that
//! cannot be restarted, the largest `VmRSS` seen by sampling.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use crate::memory;

/// How often `VmRSS` is sampled.
const EVERY: Duration = Duration::from_millis(20);

/// A running watch of one process's memory.
pub struct PeakWatch {
    pid: u32,
    /// Whether the kernel's peak was restarted (else it is the process's
    /// lifetime peak, and only the samples count).
    restarted: bool,
    sampled: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl PeakWatch {
    pub fn start(pid: u32) -> PeakWatch {
        let restarted = memory::reset_peak_rss(pid).is_ok();
        let sampled = Arc::new(AtomicU64::new(memory::rss_bytes(pid).unwrap_or(0)));
        let stop = Arc::new(AtomicBool::new(false));
        let (s, st) = (sampled.clone(), stop.clone());
        let thread = thread::Builder::new()
            .name("bench-rss".into())
            .spawn(move || {
                while !st.load(Ordering::SeqCst) {
                    if let Ok(rss) = memory::rss_bytes(pid) {
                        s.fetch_max(rss, Ordering::SeqCst);
                    }
                    thread::sleep(EVERY);
                }
            })
            .ok();
        PeakWatch {
            pid,
            restarted,
            sampled,
            stop,
            thread,
        }
    }

    /// The peak since the start, in bytes, and whether it is the kernel's
    /// (exact) rather than only sampled.
    pub fn stop(mut self) -> (f64, bool) {
        self.halt();
        let sampled = self.sampled.load(Ordering::SeqCst);
        let kernel = if self.restarted {
            memory::peak_rss_bytes(self.pid).ok()
        } else {
            None
        };
        (kernel.unwrap_or(0).max(sampled) as f64, kernel.is_some())
    }

    fn halt(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for PeakWatch {
    fn drop(&mut self) {
        self.halt();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_peak_of_this_process() {
        let w = PeakWatch::start(std::process::id());
        let big = vec![1u8; 16 << 20];
        assert!(std::hint::black_box(&big).iter().all(|&b| b == 1));
        let (peak, exact) = w.stop();
        drop(big);
        assert!(exact);
        assert!(peak >= (16 << 20) as f64, "{peak}");
    }
}
