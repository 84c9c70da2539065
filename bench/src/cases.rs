//! The measurements, each against one loopback port, so that the same code
//! times raw TCP (the port of a backend) and the tunnel (a listen port of
//! the server or of client 1 whose tunnel dials that backend):
//! * [`bulk`]: bytes sent on N concurrent streams to a sink, timed until
//!   the sink has counted every byte;
//! * [`ping_pong`]: round trips of a small message through an echo;
//! * [`setup`]: connections opened, first byte echoed, closed by the far
//!   end, one by one;
//! * [`open_idle`]: connections opened and echoed once, then kept.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::{Arc, PoisonError, RwLock};
use std::thread;
use std::time::{Duration, Instant};

use crate::error::BenchError;

/// Bytes per write of a bulk sender.
const CHUNK: usize = 1 << 20;
/// A socket making no progress this long fails the case.
const STALL: Duration = Duration::from_secs(60);
/// Round trips before the timed ones.
const WARM_UP: usize = 20;

/// Bytes moved and how long it took.
#[derive(Debug, Clone, Copy)]
pub struct Transfer {
    pub bytes: u64,
    pub elapsed: Duration,
}

impl Transfer {
    pub fn bytes_per_sec(&self) -> f64 {
        self.bytes as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// How a bulk sender lets the sink know it has sent everything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// It ends its writing side, and a sink counts to the end.
    HalfClose,
    /// It announces its byte count first, to a counted sink, and keeps its
    /// side open until the count comes back.
    Announced,
}

/// Sends `total` bytes split over `streams` concurrent connections to the
/// sink behind `port`, ending each as `ending` says; the clock runs from
/// when every connection is open until every sender has the sink's count
/// of what it received. A count that differs from what was sent is an
/// error.
pub fn bulk(
    what: &str,
    port: u16,
    total: u64,
    streams: usize,
    ending: Ending,
) -> Result<Transfer, BenchError> {
    let streams = streams.max(1);
    let per = (total / streams as u64).max(1);
    let mut conns = Vec::with_capacity(streams);
    for i in 0..streams {
        let s = connect(port).map_err(|e| {
            BenchError::Tunnel(format!("{what}: connection {} of {streams}: {e}", i + 1))
        })?;
        conns.push(s);
    }
    // The senders wait on the gate until it opens (true) or is dropped
    // shut (false) because not every sender could start.
    let gate = Arc::new(RwLock::new(false));
    let mut open_gate = gate.write().unwrap_or_else(PoisonError::into_inner);
    let chunk: Arc<Vec<u8>> = Arc::new((0..CHUNK).map(|i| (i % 251) as u8).collect());
    let mut senders = Vec::with_capacity(streams);
    for (i, s) in conns.into_iter().enumerate() {
        let (gate, chunk) = (gate.clone(), chunk.clone());
        let spawned = thread::Builder::new()
            .name("bench-sender".into())
            .spawn(move || {
                if !*gate.read().unwrap_or_else(PoisonError::into_inner) {
                    return Err("not started".to_string());
                }
                send_and_count(s, per, &chunk, ending)
            });
        match spawned {
            Ok(h) => senders.push((i, h)),
            Err(e) => {
                return Err(BenchError::Io {
                    what: format!("{what}: start sender {} of {streams}", i + 1),
                    source: e,
                })
            }
        }
    }
    *open_gate = true;
    drop(open_gate);
    let start = Instant::now();
    let mut first_error = None;
    for (i, h) in senders {
        let outcome = h
            .join()
            .unwrap_or_else(|_| Err("the sender thread panicked".into()));
        if let Err(why) = outcome {
            first_error.get_or_insert(format!("{what}: stream {} of {streams}: {why}", i + 1));
        }
    }
    let elapsed = start.elapsed();
    match first_error {
        Some(why) => Err(BenchError::Tunnel(why)),
        None => Ok(Transfer {
            bytes: per * streams as u64,
            elapsed,
        }),
    }
}

fn send_and_count(mut s: TcpStream, len: u64, chunk: &[u8], ending: Ending) -> Result<(), String> {
    if ending == Ending::Announced {
        s.write_all(&len.to_le_bytes())
            .map_err(|e| format!("announce {len} bytes: {}", describe(&e)))?;
    }
    let mut left = len;
    while left > 0 {
        let n = left.min(chunk.len() as u64) as usize;
        s.write_all(&chunk[..n]).map_err(|e| {
            format!(
                "write after {} of {len} bytes: {}",
                len - left,
                describe(&e)
            )
        })?;
        left -= n as u64;
    }
    if ending == Ending::HalfClose {
        s.shutdown(Shutdown::Write)
            .map_err(|e| format!("shutdown: {e}"))?;
    }
    let mut count = [0u8; 8];
    s.read_exact(&mut count).map_err(|e| {
        format!(
            "waiting for the sink's count after sending {len} bytes: {}",
            describe(&e)
        )
    })?;
    let got = u64::from_le_bytes(count);
    if got != len {
        return Err(format!("the sink received {got} of {len} bytes"));
    }
    Ok(())
}

/// Times `round_trips` round trips of `message` bytes through the echo
/// behind `port` on one connection with `TCP_NODELAY`, after a warm-up;
/// returns each in seconds.
pub fn ping_pong(
    what: &str,
    port: u16,
    round_trips: usize,
    message: usize,
) -> Result<Vec<f64>, BenchError> {
    let fail = |i: usize, e: io::Error| {
        BenchError::Tunnel(format!("{what}: round trip {i}: {}", describe(&e)))
    };
    let mut s = connect(port).map_err(|e| fail(0, e))?;
    let out: Vec<u8> = (0..message).map(|i| (i % 253) as u8).collect();
    let mut back = vec![0u8; message];
    let mut times = Vec::with_capacity(round_trips);
    for i in 0..WARM_UP + round_trips {
        let start = Instant::now();
        s.write_all(&out).map_err(|e| fail(i, e))?;
        s.read_exact(&mut back).map_err(|e| fail(i, e))?;
        let rtt = start.elapsed();
        if back != out {
            return Err(BenchError::Tunnel(format!(
                "{what}: round trip {i}: the echo differs from what was sent"
            )));
        }
        if i >= WARM_UP {
            times.push(rtt.as_secs_f64());
        }
    }
    Ok(times)
}

/// Opens `count` connections to the once backend behind `port` one after
/// the other, each connected, one byte echoed and closed by the far end
/// (so the connection's whole life is timed); returns connections per
/// second.
pub fn setup(what: &str, port: u16, count: usize) -> Result<f64, BenchError> {
    let start = Instant::now();
    for i in 0..count {
        echo_one(port).and_then(until_closed).map_err(|e| {
            BenchError::Tunnel(format!(
                "{what}: connection {} of {count}: {}",
                i + 1,
                describe(&e)
            ))
        })?;
    }
    Ok(count as f64 / start.elapsed().as_secs_f64().max(1e-9))
}

/// Opens `count` connections to the hold backend behind `port`, one after
/// the other, each established end to end (one byte echoed), and returns
/// them open.
pub fn open_idle(what: &str, port: u16, count: usize) -> Result<Vec<TcpStream>, BenchError> {
    let mut open = Vec::with_capacity(count);
    for i in 0..count {
        let s = echo_one(port).map_err(|e| {
            BenchError::Tunnel(format!(
                "{what}: idle stream {} of {count} ({} open): {}",
                i + 1,
                open.len(),
                describe(&e)
            ))
        })?;
        open.push(s);
    }
    Ok(open)
}

/// Waits for the far end to close `s` (nothing more may arrive).
fn until_closed(mut s: TcpStream) -> io::Result<()> {
    let mut b = [0u8; 1];
    match s.read(&mut b)? {
        0 => Ok(()),
        _ => Err(io::Error::other("more bytes than were sent came back")),
    }
}

fn echo_one(port: u16) -> io::Result<TcpStream> {
    let mut s = connect(port)?;
    s.write_all(b"!")?;
    let mut b = [0u8; 1];
    s.read_exact(&mut b)?;
    if &b != b"!" {
        return Err(io::Error::other("the echo differs from what was sent"));
    }
    Ok(s)
}

fn connect(port: u16) -> io::Result<TcpStream> {
    let s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_nodelay(true)?;
    s.set_read_timeout(Some(STALL))?;
    s.set_write_timeout(Some(STALL))?;
    Ok(s)
}

/// An I/O error, with timeouts and early ends said plainly.
fn describe(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => {
            format!("no progress for {} s (stalled)", STALL.as_secs())
        }
        io::ErrorKind::UnexpectedEof => "the connection was closed early".into(),
        _ => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backends::{Backend, Kind};

    #[test]
    fn cases_against_raw_backends() {
        let sink = Backend::start(Kind::Sink).unwrap();
        let t = bulk("raw", sink.port, 3 << 20, 3, Ending::HalfClose).unwrap();
        assert_eq!(t.bytes, 3 << 20);
        let counted = Backend::start(Kind::Counted).unwrap();
        let t = bulk("raw", counted.port, 3 << 20, 2, Ending::Announced).unwrap();
        assert_eq!(t.bytes, 3 << 20);
        assert!(t.bytes_per_sec() > 0.0);
        let echo = Backend::start(Kind::Echo).unwrap();
        let rtts = ping_pong("raw", echo.port, 50, 500).unwrap();
        assert_eq!(rtts.len(), 50);
        assert!(rtts.iter().all(|&t| t > 0.0));
        let once = Backend::start(Kind::Once).unwrap();
        assert!(setup("raw", once.port, 20).unwrap() > 0.0);
        let hold = Backend::start(Kind::Hold).unwrap();
        let open = open_idle("raw", hold.port, 10).unwrap();
        assert_eq!((open.len(), hold.held(10)), (10, 10));
    }

    #[test]
    fn a_closed_port_is_an_error_naming_the_case() {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let e = bulk("ws srv-listen", port, 1 << 20, 2, Ending::HalfClose).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("ws srv-listen: connection 1 of 2"),
            "{e}"
        );
        let e = setup("raw", port, 1).unwrap_err();
        assert!(e.to_string().starts_with("raw: connection 1 of 1"), "{e}");
    }
}
