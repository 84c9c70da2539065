//! The byte stream under a WebSocket or an HTTP exchange: a plain TCP socket,
//! or TLS (rustls) over one, driven without blocking inside the mio loop.
//!
//! Sockets stay registered for both readiness kinds (edge-triggered), so
//! rustls's `wants_read` / `wants_write` decide what an event leads to rather
//! than the registration: reads pull TLS records until the socket would block,
//! and every write or flush pushes queued records until it would block; the
//! next writable event finishes the job (the link's `blocked` flag).

use std::fmt;
use std::io::{self, Read, Write};
use std::sync::Arc;

use mio::net::TcpStream;
use rustls::{ClientConnection, Connection, ServerConnection};

use crate::tls::{self, ClientTls};

/// How many bytes of a peer's first flight we look at to tell plain text
/// from TLS.
const SNIFF: usize = 64;

/// Why a TLS session failed, carried through tungstenite inside an
/// `io::Error` (kind `InvalidData`) so logs show the TLS reason.
#[derive(Debug)]
pub(crate) struct TlsFailure(pub(crate) String);

impl fmt::Display for TlsFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TLS failed: {}", self.0)
    }
}

impl std::error::Error for TlsFailure {}

/// The TLS reason inside an I/O error, if it carries one.
pub(crate) fn tls_failure(e: &io::Error) -> Option<&TlsFailure> {
    e.get_ref()?.downcast_ref::<TlsFailure>()
}

/// A connection's byte stream.
pub(crate) enum Transport {
    Plain(TcpStream),
    Tls(Box<TlsStream>),
}

/// A TLS session over a socket.
pub(crate) struct TlsStream {
    conn: Connection,
    sock: TcpStream,
    /// The peer's first bytes were looked at and are not plain text.
    sniffed: bool,
}

/// Where a TLS handshake stands.
#[derive(Debug)]
pub(crate) enum Handshake {
    /// Done (or no TLS): application data may flow.
    Done,
    /// The socket would block: wait for the next event.
    Pending,
    /// The peer speaks plain text, not TLS; this is its first line.
    PlainText(String),
    /// The handshake failed; any alert for the peer is queued (flush it).
    Failed(String),
}

impl Transport {
    /// The server side of TLS over an accepted socket.
    pub(crate) fn server(
        sock: TcpStream,
        config: &Arc<rustls::ServerConfig>,
    ) -> Result<Transport, String> {
        let conn = ServerConnection::new(config.clone()).map_err(|e| tls::describe(&e))?;
        Ok(Transport::tls(Connection::Server(conn), sock))
    }

    /// The client side of TLS over a connected socket.
    pub(crate) fn client(sock: TcpStream, tls: &ClientTls) -> Result<Transport, String> {
        let conn = ClientConnection::new(tls.config.clone(), tls.name.clone())
            .map_err(|e| tls::describe(&e))?;
        Ok(Transport::tls(Connection::Client(conn), sock))
    }

    fn tls(mut conn: Connection, sock: TcpStream) -> Transport {
        conn.set_buffer_limit(Some(tls::BUFFER_LIMIT));
        Transport::Tls(Box::new(TlsStream {
            conn,
            sock,
            sniffed: false,
        }))
    }

    pub(crate) fn is_tls(&self) -> bool {
        matches!(self, Transport::Tls(_))
    }

    /// The socket (for registration, options and shutdown).
    pub(crate) fn tcp(&self) -> &TcpStream {
        match self {
            Transport::Plain(s) => s,
            Transport::Tls(t) => &t.sock,
        }
    }

    pub(crate) fn tcp_mut(&mut self) -> &mut TcpStream {
        match self {
            Transport::Plain(s) => s,
            Transport::Tls(t) => &mut t.sock,
        }
    }

    /// The socket alone; whatever TLS still held is dropped.
    pub(crate) fn into_tcp(self) -> TcpStream {
        match self {
            Transport::Plain(s) => s,
            Transport::Tls(t) => t.sock,
        }
    }

    /// Whether TLS records wait to be written.
    pub(crate) fn wants_write(&self) -> bool {
        match self {
            Transport::Plain(_) => false,
            Transport::Tls(t) => t.conn.wants_write(),
        }
    }

    /// Queues a TLS close_notify (a no-op for plain TCP); flush to send it.
    pub(crate) fn close_notify(&mut self) {
        if let Transport::Tls(t) = self {
            t.conn.send_close_notify();
        }
    }

    /// The certificate the peer presented (its end-entity certificate, DER),
    /// once the TLS handshake is done.
    pub(crate) fn peer_certificate(&self) -> Option<&[u8]> {
        let Transport::Tls(t) = self else {
            return None;
        };
        t.conn.peer_certificates()?.first().map(|c| c.as_ref())
    }

    /// "TLS 1.3, TLS13_AES_256_GCM_SHA384" once negotiated.
    pub(crate) fn describe_session(&self) -> Option<String> {
        let Transport::Tls(t) = self else {
            return None;
        };
        let version = t.conn.protocol_version()?;
        let suite = t.conn.negotiated_cipher_suite()?;
        Some(format!("{version:?}, {:?}", suite.suite()))
    }

    /// Advances the TLS handshake as far as the socket allows (done at once
    /// for plain TCP). Before the first TLS read it peeks at the peer's first
    /// bytes, so plain HTTP on a TLS port (or a plain answer to a TLS client)
    /// is told apart from a broken handshake.
    pub(crate) fn handshake(&mut self) -> Handshake {
        let Transport::Tls(t) = self else {
            return Handshake::Done;
        };
        loop {
            match t.write_out() {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Handshake::Pending,
                Err(e) => return Handshake::Failed(socket_error(&e)),
            }
            if !t.conn.is_handshaking() {
                return Handshake::Done;
            }
            if !t.sniffed {
                let mut head = [0u8; SNIFF];
                match t.sock.peek(&mut head) {
                    Ok(0) => {
                        return Handshake::Failed(
                            "the peer closed the connection before the TLS handshake".into(),
                        )
                    }
                    Ok(n) => {
                        if let Some(line) = plain_text(&head[..n]) {
                            return Handshake::PlainText(line);
                        }
                        t.sniffed = true;
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Handshake::Pending,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Handshake::Failed(socket_error(&e)),
                }
            }
            match t.conn.read_tls(&mut t.sock) {
                Ok(0) => {
                    return Handshake::Failed(
                        "the peer closed the connection during the TLS handshake".into(),
                    )
                }
                Ok(_) => {
                    if let Err(e) = t.conn.process_new_packets() {
                        return Handshake::Failed(tls::describe(&e));
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Handshake::Pending,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Handshake::Failed(socket_error(&e)),
            }
        }
    }
}

fn socket_error(e: &io::Error) -> String {
    format!("socket error: {}", crate::error::describe(e))
}

/// The first line of `head` when it is plain text rather than a TLS record
/// (whose first byte is a content type, 20 to 23).
fn plain_text(head: &[u8]) -> Option<String> {
    let first = *head.first()?;
    if (0x14..=0x17).contains(&first) || !first.is_ascii_alphabetic() {
        return None;
    }
    let line: String = head
        .iter()
        .take_while(|&&b| b != b'\r' && b != b'\n')
        .map(|&b| {
            if (0x20..0x7f).contains(&b) {
                b as char
            } else {
                '?'
            }
        })
        .collect();
    Some(line)
}

impl TlsStream {
    /// Writes queued TLS records until none are left; `WouldBlock` when the
    /// socket fills first.
    fn write_out(&mut self) -> io::Result<()> {
        while self.conn.wants_write() {
            match self.conn.write_tls(&mut self.sock) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            // Plaintext first: rustls reads no more records while it holds some.
            match self.conn.reader().read(buf) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                // Ok(0) after the peer's close_notify; UnexpectedEof after a
                // bare TCP FIN.
                other => return other,
            }
            match self.conn.read_tls(&mut self.sock) {
                // EOF is recorded; the reader reports it on the next turn.
                Ok(0) => {}
                Ok(_) => {
                    if let Err(e) = self.conn.process_new_packets() {
                        // The alert for the peer is queued; the closing
                        // socket's flush sends it.
                        return Err(io::Error::new(
                            io::ErrorKind::InvalidData,
                            TlsFailure(tls::describe(&e)),
                        ));
                    }
                }
                Err(e) => return Err(e),
            }
        }
    }

    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut taken = self.conn.writer().write(buf)?;
        if taken == 0 && !buf.is_empty() {
            // rustls's buffer is full: make room, or report the full socket.
            self.write_out()?;
            taken = self.conn.writer().write(buf)?;
            if taken == 0 {
                return Err(io::ErrorKind::WouldBlock.into());
            }
        }
        // Push what the socket takes now; a full socket is fine (flush
        // finishes), and a broken one shows again on the next flush.
        let _ = self.write_out();
        Ok(taken)
    }
}

impl Read for Transport {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Transport::Plain(s) => s.read(buf),
            Transport::Tls(t) => t.read(buf),
        }
    }
}

impl Write for Transport {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Transport::Plain(s) => s.write(buf),
            Transport::Tls(t) => t.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Transport::Plain(s) => s.flush(),
            Transport::Tls(t) => t.write_out(),
        }
    }
}

impl fmt::Debug for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Transport::Plain(s) => f.debug_tuple("Plain").field(s).finish(),
            Transport::Tls(t) => f.debug_tuple("Tls").field(&t.sock).finish(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_is_told_from_tls_records() {
        assert_eq!(
            plain_text(b"GET / HTTP/1.1\r\nHost: x\r\n").as_deref(),
            Some("GET / HTTP/1.1")
        );
        assert_eq!(
            plain_text(b"HTTP/1.1 400 Bad Request\r\n").as_deref(),
            Some("HTTP/1.1 400 Bad Request")
        );
        assert_eq!(plain_text(b"\x16\x03\x01\x02\x00"), None);
        assert_eq!(plain_text(b"\x15\x03\x03\x00\x02"), None);
        assert_eq!(
            plain_text(b"\x00\x01"),
            None,
            "binary junk is left to rustls"
        );
        assert_eq!(plain_text(b""), None);
    }
}
