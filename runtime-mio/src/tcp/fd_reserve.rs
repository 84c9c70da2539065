//! What a listener does when the process is out of file descriptors.
//!
//! `accept` then fails with EMFILE/ENFILE and the connection stays in the
//! kernel's backlog: the peer sees a connect that succeeded and then nothing,
//! and with edge-triggered readiness the listener is not reported again until
//! another connection arrives. A node keeps one descriptor in reserve; at the
//! limit it gives the reserve up, accepts the waiting connection, closes it
//! (so the peer sees the connection end instead of a hang) and takes the
//! reserve back.

use std::fs::File;
use std::io;

use mio::net::TcpListener;

/// One spare descriptor (`/dev/null`), released to shed connections at the
/// open-files limit.
#[derive(Debug)]
pub(crate) struct FdReserve {
    spare: Option<File>,
}

impl FdReserve {
    pub(crate) fn new() -> FdReserve {
        FdReserve {
            spare: File::open("/dev/null").ok(),
        }
    }

    /// Whether `e` says the process or the system is out of descriptors.
    pub(crate) fn is_exhaustion(e: &io::Error) -> bool {
        matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE))
    }

    /// Accepts and closes every connection waiting on `listener`, using the
    /// reserve descriptor; returns how many were shed.
    pub(crate) fn shed(&mut self, listener: &TcpListener) -> usize {
        let mut shed = 0;
        loop {
            if self.spare.is_none() {
                self.spare = File::open("/dev/null").ok();
                if self.spare.is_none() {
                    // No descriptor to give up: stop rather than spin.
                    return shed;
                }
            }
            self.spare = None;
            let accepted = listener.accept();
            match accepted {
                Ok((stream, _)) => {
                    drop(stream);
                    shed += 1;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => {
                    self.spare = File::open("/dev/null").ok();
                    return shed;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::time::Duration;

    #[test]
    fn shedding_closes_every_waiting_connection_and_keeps_the_reserve() {
        let listener = TcpListener::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = listener.local_addr().unwrap();
        let mut waiting: Vec<std::net::TcpStream> = (0..3)
            .map(|_| std::net::TcpStream::connect(addr).unwrap())
            .collect();
        let mut reserve = FdReserve::new();
        // The connects completed in the backlog; accept sees them at once.
        assert_eq!(reserve.shed(&listener), 3);
        assert!(reserve.spare.is_some(), "the reserve is taken back");
        for s in &mut waiting {
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let mut buf = [0u8; 1];
            assert_eq!(s.read(&mut buf).unwrap_or(0), 0, "the peer sees the end");
        }
        assert_eq!(reserve.shed(&listener), 0, "nothing left to shed");
    }

    #[test]
    fn exhaustion_is_emfile_or_enfile() {
        assert!(FdReserve::is_exhaustion(&io::Error::from_raw_os_error(
            libc::EMFILE
        )));
        assert!(FdReserve::is_exhaustion(&io::Error::from_raw_os_error(
            libc::ENFILE
        )));
        assert!(!FdReserve::is_exhaustion(&io::Error::from(
            io::ErrorKind::WouldBlock
        )));
    }
}
