//! Fake TCP connections between an external app and a node's runtime, with
//! bounded socket buffers (so backpressure happens), half-close, and resets
//! behaving as Linux does: closing a socket with unread data sends RST, and
//! writing to a peer that closed gets RST.

use std::collections::VecDeque;

/// Index of a connection in [`TcpTable`].
pub type TcpId = usize;

/// One of the two ends of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The external app (client app or backend).
    App = 0,
    /// The node's fake runtime.
    Node = 1,
}

impl Side {
    fn index(self) -> usize {
        self as usize
    }

    /// The other end.
    pub fn peer(self) -> Side {
        match self {
            Side::App => Side::Node,
            Side::Node => Side::App,
        }
    }
}

/// Where one end stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndState {
    /// The socket is open (possibly half-closed).
    Open,
    /// This end closed its socket (gracefully or with a reset it sent).
    Closed,
    /// This end received a reset; the socket is dead.
    Reset,
}

/// What a read returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Read {
    /// This many bytes were appended to the buffer.
    Data(usize),
    /// Nothing buffered yet.
    WouldBlock,
    /// The peer shut down its write half and everything was read.
    Eof,
    /// The connection was reset.
    Reset,
}

/// What a write did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Write {
    /// This many bytes were taken (0: the buffer is full, wait for writable).
    Wrote(usize),
    /// The connection was reset (possibly by this very write, when the peer
    /// had closed).
    Reset,
}

#[derive(Debug)]
struct End {
    /// Bytes the peer wrote that this end has not read yet (the peer's send
    /// buffer and this end's receive buffer, as one).
    rx: VecDeque<u8>,
    /// The peer shut down its write half: after `rx`, reads return EOF.
    rx_fin: bool,
    /// This end shut down its write half.
    tx_shut: bool,
    state: EndState,
}

impl End {
    fn new() -> End {
        End {
            rx: VecDeque::new(),
            rx_fin: false,
            tx_shut: false,
            state: EndState::Open,
        }
    }
}

/// One TCP connection: two ends and a buffer cap per direction.
#[derive(Debug)]
pub struct Tcp {
    ends: [End; 2],
    cap: usize,
}

impl Tcp {
    fn end(&self, side: Side) -> &End {
        &self.ends[side.index()]
    }

    fn end_mut(&mut self, side: Side) -> &mut End {
        &mut self.ends[side.index()]
    }

    /// Where `side` stands.
    pub fn state(&self, side: Side) -> EndState {
        self.end(side).state
    }

    /// Bytes waiting to be read by `side`.
    pub fn unread(&self, side: Side) -> usize {
        self.end(side).rx.len()
    }

    /// The buffer cap per direction.
    pub fn cap(&self) -> usize {
        self.cap
    }

    /// Whether `side` shut down its write half.
    pub fn write_shut(&self, side: Side) -> bool {
        self.end(side).tx_shut
    }

    /// Whether `side` can still read more than it has (no EOF queued).
    pub fn read_open(&self, side: Side) -> bool {
        !self.end(side).rx_fin
    }

    /// Reads up to `max` bytes for `side`, appending them to `out`.
    pub fn read(&mut self, side: Side, out: &mut Vec<u8>, max: usize) -> Read {
        let end = self.end_mut(side);
        match end.state {
            EndState::Reset => return Read::Reset,
            EndState::Closed => return Read::Eof,
            EndState::Open => {}
        }
        if end.rx.is_empty() {
            return if end.rx_fin {
                Read::Eof
            } else {
                Read::WouldBlock
            };
        }
        let n = max.min(end.rx.len());
        if n == 0 {
            return Read::WouldBlock;
        }
        out.extend(end.rx.drain(..n));
        Read::Data(n)
    }

    /// Writes as much of `data` as the peer's buffer takes.
    pub fn write(&mut self, side: Side, data: &[u8]) -> Write {
        let cap = self.cap;
        match self.end(side).state {
            EndState::Reset => return Write::Reset,
            EndState::Closed => return Write::Wrote(0),
            EndState::Open => {}
        }
        if self.end(side).tx_shut {
            return Write::Wrote(0);
        }
        match self.end(side.peer()).state {
            EndState::Open => {}
            // Data reaching a closed socket is answered with RST.
            EndState::Closed | EndState::Reset => {
                self.take_reset(side);
                return Write::Reset;
            }
        }
        let peer = self.end_mut(side.peer());
        let n = data.len().min(cap.saturating_sub(peer.rx.len()));
        peer.rx.extend(&data[..n]);
        Write::Wrote(n)
    }

    /// Shuts down the write half of `side` (FIN after the buffered bytes).
    pub fn shutdown_write(&mut self, side: Side) {
        if self.end(side).state != EndState::Open || self.end(side).tx_shut {
            return;
        }
        self.end_mut(side).tx_shut = true;
        self.end_mut(side.peer()).rx_fin = true;
    }

    /// Closes `side`'s socket: a FIN, or a reset when it leaves unread data.
    pub fn close(&mut self, side: Side) {
        if self.end(side).state != EndState::Open {
            self.end_mut(side).state = EndState::Closed;
            return;
        }
        if !self.end(side).rx.is_empty() {
            self.reset(side);
            return;
        }
        self.shutdown_write(side);
        self.end_mut(side).state = EndState::Closed;
    }

    /// Closes `side`'s socket with a reset (SO_LINGER 0).
    pub fn reset(&mut self, side: Side) {
        let was_open = self.end(side).state == EndState::Open;
        let end = self.end_mut(side);
        end.state = EndState::Closed;
        end.rx.clear();
        if was_open && self.end(side.peer()).state == EndState::Open {
            self.take_reset(side.peer());
        }
    }

    fn take_reset(&mut self, side: Side) {
        let end = self.end_mut(side);
        end.state = EndState::Reset;
        end.rx.clear();
    }
}

/// Every TCP connection of a simulation; ids are never reused.
#[derive(Debug, Default)]
pub struct TcpTable {
    conns: Vec<Tcp>,
}

impl TcpTable {
    /// A new open connection with `cap` bytes of buffer per direction.
    pub fn open(&mut self, cap: usize) -> TcpId {
        self.conns.push(Tcp {
            ends: [End::new(), End::new()],
            cap,
        });
        self.conns.len() - 1
    }

    /// The connection `id`.
    pub fn get(&self, id: TcpId) -> &Tcp {
        &self.conns[id]
    }

    /// The connection `id`, to act on.
    pub fn get_mut(&mut self, id: TcpId) -> &mut Tcp {
        &mut self.conns[id]
    }

    /// Every connection with its id.
    pub fn iter(&self) -> impl Iterator<Item = (TcpId, &Tcp)> {
        self.conns.iter().enumerate()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn(cap: usize) -> Tcp {
        Tcp {
            ends: [End::new(), End::new()],
            cap,
        }
    }

    #[test]
    fn bounded_buffer_and_half_close() {
        let mut t = conn(4);
        assert_eq!(t.write(Side::App, b"abcdef"), Write::Wrote(4));
        assert_eq!(t.write(Side::App, b"ef"), Write::Wrote(0));
        t.shutdown_write(Side::App);
        let mut buf = Vec::new();
        assert_eq!(t.read(Side::Node, &mut buf, 3), Read::Data(3));
        assert_eq!(t.read(Side::Node, &mut buf, 3), Read::Data(1));
        assert_eq!(t.read(Side::Node, &mut buf, 3), Read::Eof);
        assert_eq!(buf, b"abcd");
        // The other direction still flows.
        assert_eq!(t.write(Side::Node, b"xy"), Write::Wrote(2));
        assert_eq!(t.read(Side::App, &mut buf, 10), Read::Data(2));
    }

    #[test]
    fn close_with_unread_data_resets_the_peer() {
        let mut t = conn(16);
        assert_eq!(t.write(Side::App, b"abc"), Write::Wrote(3));
        t.close(Side::Node);
        assert_eq!(t.state(Side::App), EndState::Reset);
        let mut buf = Vec::new();
        assert_eq!(t.read(Side::App, &mut buf, 10), Read::Reset);
    }

    #[test]
    fn writing_to_a_closed_peer_resets() {
        let mut t = conn(16);
        assert_eq!(t.write(Side::Node, b"hi"), Write::Wrote(2));
        t.close(Side::Node);
        let mut buf = Vec::new();
        assert_eq!(t.read(Side::App, &mut buf, 10), Read::Data(2));
        assert_eq!(t.read(Side::App, &mut buf, 10), Read::Eof);
        assert_eq!(t.write(Side::App, b"x"), Write::Reset);
        assert_eq!(t.state(Side::App), EndState::Reset);
    }
}
