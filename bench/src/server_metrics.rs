//! The server's `/metrics` (Prometheus text) over plain HTTP on its
//! WebSocket port of a ws:// deployment. While the port sheds connections
//! (too many short of a session), a request is reset like any other and
//! the answer is `None`.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// Every sample of the server's `/metrics`, by name (with its labels, if
/// any): `None` when the server did not answer.
pub fn fetch(port: u16) -> Option<BTreeMap<String, f64>> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    let (head, body) = text.split_once("\r\n\r\n")?;
    head.starts_with("HTTP/1.1 200").then(|| parse(body))
}

/// One sample of the server's `/metrics`.
pub fn get(port: u16, name: &str) -> Option<f64> {
    fetch(port)?.get(name).copied()
}

/// `name value` lines; comments and unreadable lines skipped.
fn parse(body: &str) -> BTreeMap<String, f64> {
    body.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (k, v) = l.rsplit_once(' ')?;
            Some((k.trim().to_string(), v.trim().parse().ok()?))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_by_name() {
        let m = parse(
            "# HELP tcpws_streams x\n# TYPE tcpws_streams gauge\ntcpws_streams 3\n\
             tcpws_listening{tunnel=\"a b\"} 1\nbroken\ntcpws_x notanumber\n",
        );
        assert_eq!(m["tcpws_streams"], 3.0);
        assert_eq!(m["tcpws_listening{tunnel=\"a b\"}"], 1.0);
        assert_eq!(m.len(), 2);
    }
}
