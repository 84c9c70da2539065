//! Watches the hostile case's silent sockets until the server closes them:
//! one thread polls them all (`poll(2)`, so 10,000 sockets cost one thread
//! and a few milliseconds a second) and notes for each when it was closed,
//! how (a reset, or an end after what bytes) and how long after it was
//! opened. The bench never writes to them after handing them over.

use std::io::{self, Read};
use std::net::TcpStream;
use std::os::fd::AsRawFd;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crate::error::BenchError;

/// Longest wait of one `poll(2)`: the resolution of the close times.
const TICK: Duration = Duration::from_millis(20);
/// Bytes of what the server sent that are kept per socket.
const KEEP: usize = 512;

/// How the server closed a socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum How {
    /// A reset (a connection shed at accept is reset).
    Reset,
    /// An orderly end, after whatever the server said.
    End,
}

/// One socket the server closed.
#[derive(Debug, Clone)]
pub struct Closed {
    pub how: How,
    /// Seconds from when it was opened (as the caller said) to its close.
    pub life: f64,
    pub closed_at: Instant,
    /// The first bytes the server sent before closing (an HTTP 408, a
    /// WebSocket close frame).
    pub head: Vec<u8>,
}

/// What became of every socket handed over.
#[derive(Debug, Default)]
pub struct Watched {
    pub closed: Vec<Closed>,
    /// Sockets still open when the watch ended.
    pub left_open: usize,
}

enum Message {
    Add(TcpStream, Instant),
    /// No more sockets; stop when all are closed or at this instant.
    Finish(Instant),
}

struct Socket {
    stream: TcpStream,
    opened: Instant,
    head: Vec<u8>,
}

/// The watching thread.
pub struct Watcher {
    tx: Sender<Message>,
    thread: JoinHandle<Watched>,
}

impl Watcher {
    pub fn start() -> Result<Watcher, BenchError> {
        let (tx, rx) = mpsc::channel();
        let thread = thread::Builder::new()
            .name("bench-watcher".into())
            .spawn(move || watch(&rx))
            .map_err(BenchError::io("start the watcher thread"))?;
        Ok(Watcher { tx, thread })
    }

    /// Watches `stream`, opened at `opened`, from now on.
    pub fn add(&self, stream: TcpStream, opened: Instant) {
        let _ = self.tx.send(Message::Add(stream, opened));
    }

    /// Waits until every socket is closed, or until `limit` (those still
    /// open then are counted and closed by the bench).
    pub fn finish(self, limit: Instant) -> Watched {
        let _ = self.tx.send(Message::Finish(limit));
        self.thread.join().unwrap_or_default()
    }
}

fn watch(rx: &Receiver<Message>) -> Watched {
    let mut open: Vec<Socket> = Vec::new();
    let mut done = Watched::default();
    let mut limit: Option<Instant> = None;
    let mut buf = [0u8; 4096];
    loop {
        // New sockets and the finish; without sockets, wait for them here.
        loop {
            let message = if open.is_empty() && limit.is_none() {
                match rx.recv_timeout(TICK) {
                    Ok(m) => m,
                    Err(RecvTimeoutError::Timeout) => continue,
                    Err(RecvTimeoutError::Disconnected) => return done,
                }
            } else {
                match rx.try_recv() {
                    Ok(m) => m,
                    Err(_) => break,
                }
            };
            match message {
                Message::Add(stream, opened) => {
                    if stream.set_nonblocking(true).is_ok() {
                        open.push(Socket {
                            stream,
                            opened,
                            head: Vec::new(),
                        });
                    }
                }
                Message::Finish(at) => limit = Some(at),
            }
        }
        if let Some(at) = limit {
            if open.is_empty() {
                return done;
            }
            if Instant::now() >= at {
                done.left_open = open.len();
                return done;
            }
        }
        let mut fds: Vec<libc::pollfd> = open
            .iter()
            .map(|s| libc::pollfd {
                fd: s.stream.as_raw_fd(),
                events: libc::POLLIN | libc::POLLRDHUP,
                revents: 0,
            })
            .collect();
        // SAFETY: `fds` is a valid array of `fds.len()` pollfd structs that
        // poll fills in; the descriptors stay open (owned by `open`).
        let ready = unsafe {
            libc::poll(
                fds.as_mut_ptr(),
                fds.len() as libc::nfds_t,
                TICK.as_millis() as libc::c_int,
            )
        };
        if ready <= 0 {
            continue;
        }
        let now = Instant::now();
        // Back to front, so that removing one keeps the others' indexes.
        for i in (0..fds.len()).rev() {
            if fds[i].revents == 0 {
                continue;
            }
            if let Some(how) = drain(&mut open[i], &mut buf) {
                let s = open.swap_remove(i);
                done.closed.push(Closed {
                    how,
                    life: now.saturating_duration_since(s.opened).as_secs_f64(),
                    closed_at: now,
                    head: s.head,
                });
            }
        }
    }
}

/// Reads what is there; `Some` when the socket has been closed.
fn drain(s: &mut Socket, buf: &mut [u8]) -> Option<How> {
    loop {
        match s.stream.read(buf) {
            Ok(0) => return Some(How::End),
            Ok(n) => {
                let room = KEEP.saturating_sub(s.head.len()).min(n);
                s.head.extend_from_slice(&buf[..room]);
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return None,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return Some(How::Reset),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::net::{Shutdown, TcpListener};

    /// Makes closing `s` send a reset.
    fn linger_zero(s: &TcpStream) {
        let linger = libc::linger {
            l_onoff: 1,
            l_linger: 0,
        };
        // SAFETY: setsockopt reads one linger struct we own.
        let rc = unsafe {
            libc::setsockopt(
                s.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_LINGER,
                (&linger as *const libc::linger).cast(),
                std::mem::size_of::<libc::linger>() as libc::socklen_t,
            )
        };
        assert_eq!(rc, 0);
    }

    #[test]
    fn closes_are_seen_with_what_came_before_them() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let w = Watcher::start().unwrap();
        let opened = Instant::now();
        let mut kept = Vec::new();
        for _ in 0..3 {
            w.add(TcpStream::connect(("127.0.0.1", port)).unwrap(), opened);
            kept.push(l.accept().unwrap().0);
        }
        // One answered and ended, one reset, one left open.
        kept[0].write_all(b"HTTP/1.1 408").unwrap();
        kept[0].shutdown(Shutdown::Both).unwrap();
        let reset = kept.remove(1);
        linger_zero(&reset);
        drop(reset);
        let got = w.finish(Instant::now() + Duration::from_millis(500));
        assert_eq!(got.left_open, 1);
        let mut hows: Vec<How> = got.closed.iter().map(|c| c.how).collect();
        hows.sort_by_key(|h| *h == How::End);
        assert_eq!(hows, [How::Reset, How::End]);
        let ended = got.closed.iter().find(|c| c.how == How::End).unwrap();
        assert_eq!(ended.head, b"HTTP/1.1 408");
        assert!(ended.life >= 0.0 && ended.life < 0.5);
    }
}
