//! What one attack did, as seen from the hostile side: how many
//! connections or links it opened, how long the server took to close them
//! against the deadline it should keep, and anything that looked wrong.

use std::collections::BTreeMap;

use serde_json::Value;

use super::watcher::{How, Watched};
use crate::websocket::{self, OP_CLOSE};

/// The hostile side's account of one attack.
#[derive(Debug, Clone, Default)]
pub struct Effect {
    /// Connections (a) or links (b, c, d) opened.
    pub opened: usize,
    /// Connections the server reset at accept (a, b).
    pub shed: Option<usize>,
    /// The longest the server took to close one, in seconds, from the
    /// moment its deadline started to run (see `deadline`).
    pub longest: Option<f64>,
    /// The deadline each should be closed within, seconds.
    pub deadline: f64,
    /// What `deadline` counts from, for the table.
    pub deadline_what: &'static str,
    /// Still open when the bench stopped waiting.
    pub left_open: usize,
    /// Seconds from the last one opened until every one was closed.
    pub all_closed_after: Option<f64>,
    /// Attack-specific figures for the JSON.
    pub details: BTreeMap<String, Value>,
    /// Counts shown in the table: (id, label, value).
    pub counts: Vec<(&'static str, String, f64)>,
    /// Things that looked wrong, for the lead.
    pub findings: Vec<String>,
}

/// What the server said before closing each watched socket, counted: the
/// HTTP status line, a WebSocket close frame's code and reason, nothing.
pub fn close_kinds(w: &Watched) -> BTreeMap<String, usize> {
    let mut kinds = BTreeMap::new();
    for c in &w.closed {
        let said = match c.how {
            How::Reset => "reset".to_string(),
            How::End => said(&c.head),
        };
        *kinds.entry(said).or_insert(0) += 1;
    }
    if w.left_open > 0 {
        kinds.insert("still open".into(), w.left_open);
    }
    kinds
}

fn said(head: &[u8]) -> String {
    if head.is_empty() {
        return "closed without a word".into();
    }
    if head.starts_with(b"HTTP/") {
        let line = head.split(|&b| b == b'\r').next().unwrap_or_default();
        return format!("answered {:?}, then closed", String::from_utf8_lossy(line));
    }
    match websocket::parse_frame(head) {
        Ok((f, _)) if f.opcode == OP_CLOSE => {
            format!("WebSocket close {}", websocket::describe_close(&f.payload))
        }
        Ok((f, _)) => format!("WebSocket frame opcode {}, then closed", f.opcode),
        Err(_) => format!("{} bytes, then closed", head.len()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hostile::watcher::Closed;
    use std::time::Instant;

    #[test]
    fn kinds_of_close() {
        let c = |how, head: &[u8]| Closed {
            how,
            life: 1.0,
            closed_at: Instant::now(),
            head: head.to_vec(),
        };
        let w = Watched {
            closed: vec![
                c(How::Reset, b""),
                c(How::Reset, b""),
                c(How::End, b"HTTP/1.1 408 Request Timeout\r\nx"),
                c(How::End, &[0x88, 0x04, 0x03, 0xe8, b'n', b'o']),
                c(How::End, b""),
            ],
            left_open: 2,
        };
        let k = close_kinds(&w);
        assert_eq!(k["reset"], 2);
        assert_eq!(
            k["answered \"HTTP/1.1 408 Request Timeout\", then closed"],
            1
        );
        assert_eq!(k["WebSocket close 1000 \"no\""], 1);
        assert_eq!(k["closed without a word"], 1);
        assert_eq!(k["still open"], 2);
    }
}
