//! The servers at the far end of every case, as threads of the bench
//! process on free loopback ports:
//! * **sink**: reads a connection to its end, then answers with the byte
//!   count (8 bytes, little-endian) and closes, so the sender knows the far
//!   end has received every byte;
//! * **counted**: a sink told the byte count first (8 bytes,
//!   little-endian), which answers once that many have arrived, without
//!   waiting for the end: for tunnels that drop a connection at its first
//!   half-close (wstunnel);
//! * **echo**: writes back what it reads, with `TCP_NODELAY`;
//! * **once**: for connection setups: echoes the first bytes it reads, then
//!   closes, so the TIME_WAIT of every connection stays on the far side
//!   (piled up on the side that connects, they slow down its next connects
//!   to the same port several times over and the figure drifts from run to
//!   run); it serves connections one at a time;
//! * **hold**: for idle streams: echoes one byte, then keeps the connection
//!   open and silent until the backend is dropped. It serves connections
//!   one at a time, in order, so whoever opens them must wait for each
//!   echo before opening the next. The bench runs it in a process of its
//!   own ([`HoldProcess`]): 10,000 streams held at both ends in one
//!   process would need 20,000 descriptors, more than many machines allow.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use crate::error::BenchError;
use crate::launch;

/// What a backend does with its connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Sink,
    Counted,
    Echo,
    Once,
    Hold,
}

/// Bytes per read and write of the sink and the echo.
const BUF_BYTES: usize = 256 * 1024;

/// How long a hold or once backend waits for a new connection's first byte.
const FIRST_BYTE: Duration = Duration::from_secs(10);

/// A running backend. Dropping it stops accepting and closes the
/// connections a hold backend keeps; sink and echo connections end when
/// their peers close them.
pub struct Backend {
    pub port: u16,
    stop: Arc<AtomicBool>,
    held: Arc<Mutex<Vec<TcpStream>>>,
}

impl Backend {
    pub fn start(kind: Kind) -> Result<Backend, BenchError> {
        let listener = TcpListener::bind("127.0.0.1:0")
            .map_err(BenchError::io(format!("bind the {kind:?} backend")))?;
        let port = listener
            .local_addr()
            .map_err(BenchError::io("read the backend's port"))?
            .port();
        let backend = Backend {
            port,
            stop: Arc::default(),
            held: Arc::default(),
        };
        let (stop, held) = (backend.stop.clone(), backend.held.clone());
        thread::Builder::new()
            .name(format!("bench-{kind:?}").to_lowercase())
            .spawn(move || accept_loop(kind, &listener, &stop, &held))
            .map_err(BenchError::io("start a backend thread"))?;
        Ok(backend)
    }

    /// Connections a hold backend is keeping open, once it keeps `n` or
    /// after a few seconds (it keeps a connection just after echoing on it).
    #[cfg(test)]
    pub fn held(&self, n: usize) -> usize {
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        loop {
            let held = self.held.lock().map_or(0, |h| h.len());
            if held >= n || std::time::Instant::now() > deadline {
                return held;
            }
            thread::sleep(Duration::from_millis(1));
        }
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the accept loop so it sees the flag and lets go of the listener.
        let _ =
            TcpStream::connect_timeout(&([127, 0, 0, 1], self.port).into(), Duration::from_secs(1));
        if let Ok(mut held) = self.held.lock() {
            held.clear();
        }
    }
}

/// A hold backend in a child process (`tcpws-bench --serve-hold`), which
/// ends when this value is dropped.
pub struct HoldProcess {
    pub port: u16,
    child: Child,
}

impl HoldProcess {
    pub fn start() -> Result<HoldProcess, BenchError> {
        let mut child = launch::this_program()?
            .arg("--serve-hold")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(BenchError::io("start the hold backend process"))?;
        let mut line = String::new();
        if let Some(out) = child.stdout.take() {
            let _ = BufReader::new(out).read_line(&mut line);
        }
        match line.trim().strip_prefix("port ").map(str::parse::<u16>) {
            Some(Ok(port)) => Ok(HoldProcess { port, child }),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                Err(BenchError::Tunnel(format!(
                    "the hold backend process did not say its port (it said {line:?})"
                )))
            }
        }
    }
}

impl Drop for HoldProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The body of `tcpws-bench --serve-hold`: a hold backend that prints
/// `port N` and serves until its standard input closes.
pub fn serve_hold() -> Result<(), BenchError> {
    let hold = Backend::start(Kind::Hold)?;
    let mut out = io::stdout();
    writeln!(out, "port {}", hold.port)
        .and_then(|()| out.flush())
        .map_err(BenchError::io("tell the bench the hold port"))?;
    let mut sink = Vec::new();
    let _ = io::stdin().read_to_end(&mut sink);
    drop(hold);
    Ok(())
}

fn accept_loop(
    kind: Kind,
    listener: &TcpListener,
    stop: &AtomicBool,
    held: &Mutex<Vec<TcpStream>>,
) {
    for stream in listener.incoming() {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        let stream = match stream {
            Ok(s) => s,
            Err(e) => {
                // Out of descriptors, typically: back off rather than spin.
                eprintln!("bench {kind:?} backend: accept: {e}");
                thread::sleep(Duration::from_millis(10));
                continue;
            }
        };
        match kind {
            Kind::Once => {
                let _ = first_byte_echoed(stream).and_then(|s| s.shutdown(Shutdown::Both));
            }
            Kind::Hold => {
                if let Ok(s) = first_byte_echoed(stream) {
                    if let Ok(mut held) = held.lock() {
                        held.push(s);
                    }
                }
            }
            Kind::Sink | Kind::Counted | Kind::Echo => {
                let spawned = thread::Builder::new()
                    .name(format!("bench-{kind:?}-conn").to_lowercase())
                    .spawn(move || {
                        let _ = match kind {
                            Kind::Sink => sink(stream, None),
                            Kind::Counted => counted_sink(stream),
                            _ => echo(stream),
                        };
                    });
                if let Err(e) = spawned {
                    eprintln!("bench {kind:?} backend: cannot start a thread: {e}");
                }
            }
        }
    }
}

/// Reads to the end (or `limit` bytes), then answers with the count and
/// closes.
fn sink(mut s: TcpStream, limit: Option<u64>) -> io::Result<()> {
    let limit = limit.unwrap_or(u64::MAX);
    let mut buf = vec![0u8; BUF_BYTES];
    let mut total: u64 = 0;
    while total < limit {
        let want = buf
            .len()
            .min(usize::try_from(limit - total).unwrap_or(usize::MAX));
        match s.read(&mut buf[..want]) {
            Ok(0) => break,
            Ok(n) => total += n as u64,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    s.write_all(&total.to_le_bytes())?;
    s.shutdown(Shutdown::Write)
}

/// Reads the byte count announced, then sinks that many.
fn counted_sink(mut s: TcpStream) -> io::Result<()> {
    let mut len = [0u8; 8];
    s.read_exact(&mut len)?;
    sink(s, Some(u64::from_le_bytes(len)))
}

fn echo(mut s: TcpStream) -> io::Result<()> {
    s.set_nodelay(true)?;
    let mut buf = vec![0u8; BUF_BYTES];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return s.shutdown(Shutdown::Write),
            Ok(n) => s.write_all(&buf[..n])?,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

fn first_byte_echoed(mut s: TcpStream) -> io::Result<TcpStream> {
    s.set_nodelay(true)?;
    s.set_read_timeout(Some(FIRST_BYTE))?;
    let mut byte = [0u8; 1];
    s.read_exact(&mut byte)?;
    s.write_all(&byte)?;
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn connect(port: u16) -> TcpStream {
        let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s
    }

    #[test]
    fn sink_counts_to_the_end() {
        let b = Backend::start(Kind::Sink).unwrap();
        let mut s = connect(b.port);
        s.write_all(&[7u8; 100_000]).unwrap();
        s.shutdown(Shutdown::Write).unwrap();
        let mut count = [0u8; 8];
        s.read_exact(&mut count).unwrap();
        assert_eq!(u64::from_le_bytes(count), 100_000);
        assert_eq!(s.read(&mut count).unwrap(), 0);
    }

    #[test]
    fn a_counted_sink_answers_without_the_end() {
        let b = Backend::start(Kind::Counted).unwrap();
        let mut s = connect(b.port);
        s.write_all(&100_000u64.to_le_bytes()).unwrap();
        s.write_all(&[7u8; 100_000]).unwrap();
        let mut count = [0u8; 8];
        s.read_exact(&mut count).unwrap();
        assert_eq!(u64::from_le_bytes(count), 100_000);
        assert_eq!(s.read(&mut count).unwrap(), 0);
    }

    #[test]
    fn echo_once_and_hold() {
        let e = Backend::start(Kind::Echo).unwrap();
        let mut s = connect(e.port);
        s.write_all(b"ping").unwrap();
        let mut got = [0u8; 4];
        s.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"ping");

        let once = Backend::start(Kind::Once).unwrap();
        let mut s = connect(once.port);
        s.write_all(b"x").unwrap();
        let mut got = Vec::new();
        s.read_to_end(&mut got).unwrap();
        assert_eq!(got, b"x", "echoed, then closed by the backend");

        let h = Backend::start(Kind::Hold).unwrap();
        let mut kept = Vec::new();
        for _ in 0..3 {
            let mut s = connect(h.port);
            s.write_all(b"x").unwrap();
            let mut b = [0u8; 1];
            s.read_exact(&mut b).unwrap();
            kept.push(s);
        }
        assert_eq!(h.held(3), 3);
        drop(h);
        let mut b = [0u8; 1];
        assert_eq!(
            kept[0].read(&mut b).unwrap(),
            0,
            "dropping closes held streams"
        );
    }
}
