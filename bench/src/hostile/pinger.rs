//! The healthy stream of the hostile case: one connection through a tunnel
//! to the echo backend, doing a 500-byte round trip every millisecond
//! (paced, not back to back, so that it costs the two cores little and an
//! attack that slows the server shows in its times rather than being
//! drowned by its own load). A round trip held up by a slow one before it
//! counts from when it was due, so a stall weighs as much as the time it
//! lasts. Every round trip is kept with the time it was due, so that the
//! case can cut the run into windows: idle, each attack.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crate::error::BenchError;
use crate::options::MESSAGE_BYTES;

/// One round trip started this often.
pub const INTERVAL: Duration = Duration::from_millis(1);
/// A round trip taking this long fails (and the stream is opened again).
const STALL: Duration = Duration::from_secs(30);
/// Pause before opening the stream again after a failure.
const RETRY: Duration = Duration::from_millis(100);

#[derive(Default)]
struct Log {
    /// (when it was due, round-trip seconds).
    rtts: Vec<(Instant, f64)>,
    /// (when, what) for each failure of the stream.
    errors: Vec<(Instant, String)>,
}

/// The running healthy stream.
pub struct Pinger {
    log: Arc<Mutex<Log>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Pinger {
    /// Connects to the echo behind `port`, checks one round trip, and
    /// starts pinging in a thread of its own.
    pub fn start(port: u16) -> Result<Pinger, BenchError> {
        let first = connect(port).and_then(|mut s| {
            round_trip(&mut s, &message())?;
            Ok(s)
        });
        let stream = first.map_err(|e| {
            BenchError::Tunnel(format!("hostile: the healthy stream (port {port}): {e}"))
        })?;
        let log = Arc::new(Mutex::new(Log::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let (l, s) = (log.clone(), stop.clone());
        let thread = thread::Builder::new()
            .name("bench-healthy".into())
            .spawn(move || ping(port, stream, &l, &s))
            .map_err(BenchError::io("start the healthy stream's thread"))?;
        Ok(Pinger {
            log,
            stop,
            thread: Some(thread),
        })
    }

    fn with<T>(&self, f: impl FnOnce(&Log) -> T) -> T {
        f(&self.log.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// Round trips due at or after `since`.
    pub fn count_since(&self, since: Instant) -> usize {
        self.with(|l| l.rtts.iter().rev().take_while(|(t, _)| *t >= since).count())
    }

    /// Waits until `n` round trips due since `since` are done (or a round
    /// trip's worth of stalls has passed).
    pub fn wait_for(&self, since: Instant, n: usize) {
        let limit = INTERVAL * 4 * n as u32 + STALL;
        while self.count_since(since) < n && since.elapsed() < limit {
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Round-trip times (seconds) of those due in `[from, to)`.
    pub fn between(&self, from: Instant, to: Instant) -> Vec<f64> {
        self.with(|l| {
            l.rtts
                .iter()
                .filter(|(t, _)| *t >= from && *t < to)
                .map(|&(_, rtt)| rtt)
                .collect()
        })
    }

    /// Failures of the stream in `[from, to)`.
    pub fn errors_between(&self, from: Instant, to: Instant) -> Vec<String> {
        self.with(|l| {
            l.errors
                .iter()
                .filter(|(t, _)| *t >= from && *t < to)
                .map(|(t, e)| format!("{:.3} s in: {e}", t.duration_since(from).as_secs_f64()))
                .collect()
        })
    }
}

impl Drop for Pinger {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn message() -> Vec<u8> {
    (0..MESSAGE_BYTES).map(|i| (i % 253) as u8).collect()
}

fn ping(port: u16, stream: TcpStream, log: &Mutex<Log>, stop: &AtomicBool) {
    let out = message();
    let mut stream = Some(stream);
    let mut next = Instant::now();
    while !stop.load(Ordering::SeqCst) {
        let now = Instant::now();
        if next > now {
            thread::sleep(next - now);
        }
        let scheduled = next;
        next += INTERVAL;
        let start = Instant::now();
        // Behind schedule by an interval or more, because a round trip
        // before held this one up: it counts from when it was due, as the
        // application's bytes would have waited (else a stall would be
        // one slow sample among fewer, not the many it delays). On time,
        // it counts from when it went out (the sleep's own lateness is
        // not the tunnel's).
        let from = if start.duration_since(scheduled) >= INTERVAL {
            scheduled
        } else {
            start
        };
        // Whether a round trip was timed (not a reconnect).
        let outcome = if let Some(s) = stream.as_mut() {
            round_trip(s, &out).map(|()| true)
        } else {
            connect(port).map(|s| {
                stream = Some(s);
                false
            })
        };
        let mut log = log.lock().unwrap_or_else(PoisonError::into_inner);
        match outcome {
            Ok(true) => log.rtts.push((scheduled, from.elapsed().as_secs_f64())),
            Ok(false) => next = Instant::now(),
            Err(e) => {
                log.errors.push((start, e.to_string()));
                drop(log);
                stream = None;
                thread::sleep(RETRY);
                // The outage is a failure, not latency.
                next = Instant::now();
            }
        }
    }
}

fn round_trip(s: &mut TcpStream, out: &[u8]) -> std::io::Result<()> {
    let mut back = vec![0u8; out.len()];
    s.write_all(out)?;
    s.read_exact(&mut back)?;
    if back != out {
        return Err(std::io::Error::other("the echo differs from what was sent"));
    }
    Ok(())
}

fn connect(port: u16) -> std::io::Result<TcpStream> {
    let s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_nodelay(true)?;
    s.set_read_timeout(Some(STALL))?;
    s.set_write_timeout(Some(STALL))?;
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backends::{Backend, Kind};

    #[test]
    fn paced_round_trips_in_windows() {
        let echo = Backend::start(Kind::Echo).unwrap();
        let p = Pinger::start(echo.port).unwrap();
        let from = Instant::now();
        p.wait_for(from, 30);
        let to = Instant::now();
        let rtts = p.between(from, to);
        assert!(rtts.len() >= 30, "{}", rtts.len());
        assert!(rtts.iter().all(|&t| t > 0.0 && t < 1.0));
        // Paced: 30 round trips take at least 29 intervals.
        assert!(to - from >= INTERVAL * 29);
        assert!(p.errors_between(from, to).is_empty());
        assert!(p.between(to, to).is_empty());
    }
}
