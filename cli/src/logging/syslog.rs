//! Log lines to a syslog server as UDP datagrams, RFC 3164 style:
//! `<PRI>tcpws: target: message`.

use std::io;
use std::net::{SocketAddr, ToSocketAddrs, UdpSocket};

use log::Level;

/// RFC 3164 limits a datagram to 1024 bytes.
const MAX_DATAGRAM: usize = 1024;

/// A connected UDP socket to the syslog server.
pub(crate) struct Syslog {
    socket: UdpSocket,
    facility: u8,
}

impl Syslog {
    /// Resolves `host:port` (first address wins) and connects a UDP socket to it.
    pub fn connect(host: &str, port: u16, facility: u8) -> io::Result<Syslog> {
        let addr = (host, port).to_socket_addrs()?.next().ok_or_else(|| {
            io::Error::new(io::ErrorKind::NotFound, "the host name has no address")
        })?;
        let local: SocketAddr = if addr.is_ipv4() {
            ([0, 0, 0, 0], 0).into()
        } else {
            ([0u16; 8], 0).into()
        };
        let socket = UdpSocket::bind(local)?;
        socket.connect(addr)?;
        Ok(Syslog { socket, facility })
    }

    /// Sends one message; `text` is cut to fit one datagram.
    pub fn send(&self, level: Level, text: &str) -> io::Result<()> {
        let datagram = format_datagram(self.facility, level, text);
        self.socket.send(datagram.as_bytes()).map(drop)
    }
}

/// `<PRI>tcpws: text`, at most [`MAX_DATAGRAM`] bytes, cut on a char boundary.
fn format_datagram(facility: u8, level: Level, text: &str) -> String {
    let severity = match level {
        Level::Error => 3,
        Level::Warn => 4,
        Level::Info => 6,
        Level::Debug | Level::Trace => 7,
    };
    let mut out = format!("<{}>tcpws: {text}", u32::from(facility) * 8 + severity);
    if out.len() > MAX_DATAGRAM {
        let mut cut = MAX_DATAGRAM;
        while !out.is_char_boundary(cut) {
            cut -= 1;
        }
        out.truncate(cut);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn priority_and_length() {
        assert_eq!(format_datagram(1, Level::Warn, "a: b"), "<12>tcpws: a: b");
        assert_eq!(format_datagram(16, Level::Error, "x"), "<131>tcpws: x");
        let long = "é".repeat(2000);
        let d = format_datagram(1, Level::Info, &long);
        assert!(d.len() <= MAX_DATAGRAM && d.len() > MAX_DATAGRAM - 2);
    }

    #[test]
    fn sends_to_a_udp_listener() {
        let server = UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = server.local_addr().unwrap().port();
        let syslog = Syslog::connect("127.0.0.1", port, 1).unwrap();
        syslog.send(Level::Info, "t: hello").unwrap();
        let mut buf = [0u8; 2048];
        server
            .set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .unwrap();
        let n = server.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"<14>tcpws: t: hello");
    }
}
