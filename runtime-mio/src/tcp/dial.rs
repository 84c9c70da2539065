//! Non-blocking TCP connects: start one, tell from readiness whether it
//! finished, and fall back to the name's next address when one fails (so
//! "localhost" reaches a server bound to 127.0.0.1 even when ::1 comes
//! first). Deadlines live in the event loop's timer table.

use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;

use mio::net::TcpStream;

/// The resolved addresses a connect has not tried yet.
#[derive(Debug, Default)]
pub(crate) struct Fallback {
    rest: VecDeque<SocketAddr>,
}

impl Fallback {
    /// The current address failed with `error`: start a connect to the next
    /// address that takes one (the caller registers the new stream), or give
    /// back the last error when none is left.
    pub(crate) fn connect_next(&mut self, error: io::Error) -> io::Result<(TcpStream, SocketAddr)> {
        let mut last = error;
        while let Some(addr) = self.rest.pop_front() {
            match TcpStream::connect(addr) {
                Ok(stream) => return Ok((stream, addr)),
                Err(e) => last = e,
            }
        }
        Err(last)
    }
}

/// Starts a non-blocking connect to the first of `addrs` that takes one;
/// the other addresses come back as a [`Fallback`]. Names are resolved
/// before, off the loop, by the
/// [`Resolver`](crate::tunnel::resolver::Resolver).
pub(crate) fn start_with(addrs: Vec<SocketAddr>) -> io::Result<(TcpStream, SocketAddr, Fallback)> {
    let mut fallback = Fallback { rest: addrs.into() };
    let none = io::Error::new(io::ErrorKind::NotFound, "the name resolved to no address");
    let (stream, addr) = fallback.connect_next(none)?;
    Ok((stream, addr, fallback))
}

/// Where a connect stands after a readiness event.
#[derive(Debug)]
pub(crate) enum Progress {
    Connected,
    /// Spurious wakeup: wait for the next event.
    Pending,
    Failed(io::Error),
}

/// Checks a connecting socket, as mio's `TcpStream::connect` documents:
/// a pending socket error means failure, a peer address means success.
pub(crate) fn check(stream: &TcpStream) -> Progress {
    match stream.take_error() {
        Ok(Some(e)) | Err(e) => return Progress::Failed(e),
        Ok(None) => {}
    }
    match stream.peer_addr() {
        Ok(_) => Progress::Connected,
        Err(e) if e.kind() == io::ErrorKind::NotConnected => Progress::Pending,
        Err(e) if e.kind() == io::ErrorKind::Interrupted => Progress::Pending,
        Err(e) => Progress::Failed(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    /// Waits for a connect to settle, as the loop would on readiness events.
    fn settle(stream: &mut TcpStream) -> Progress {
        let mut poll = mio::Poll::new().unwrap();
        poll.registry()
            .register(stream, mio::Token(0), mio::Interest::WRITABLE)
            .unwrap();
        let mut events = mio::Events::with_capacity(4);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            poll.poll(&mut events, Some(Duration::from_millis(100)))
                .unwrap();
            match check(stream) {
                Progress::Pending => assert!(Instant::now() < deadline, "connect never settled"),
                done => return done,
            }
        }
    }

    #[test]
    fn a_refused_address_falls_back_to_the_next() {
        let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let dead_addr = dead.local_addr().unwrap();
        drop(dead);
        let live = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let live_addr = live.local_addr().unwrap();
        let mut fallback = Fallback {
            rest: VecDeque::from([dead_addr, live_addr]),
        };
        let none = io::Error::from(io::ErrorKind::NotFound);
        let (mut stream, addr) = fallback.connect_next(none).unwrap();
        assert_eq!(addr, dead_addr);
        let Progress::Failed(e) = settle(&mut stream) else {
            panic!("a closed port refuses");
        };
        assert_eq!(e.kind(), io::ErrorKind::ConnectionRefused);
        let (mut stream, addr) = fallback.connect_next(e).unwrap();
        assert_eq!(addr, live_addr);
        assert!(matches!(settle(&mut stream), Progress::Connected));
        let last = io::Error::from(io::ErrorKind::ConnectionReset);
        let err = fallback.connect_next(last).unwrap_err();
        assert_eq!(
            err.kind(),
            io::ErrorKind::ConnectionReset,
            "the last error comes back"
        );
    }
}
