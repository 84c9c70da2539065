//! Attack (d): an Open flood that never acknowledges. On each link the
//! hostile client sends Opens of a tunnel nobody has, batched into
//! messages, and never sends a ControlAck, so every refusal the server
//! queues (an OpenResult) stays queued for resend. A session keeps at most
//! `4 * max_streams + 1024` unacknowledged control frames, then its link
//! must be closed. The bench counts the Opens until the close, then
//! starts a new session on a new link, a few times, and for a least
//! duration, so that the healthy stream is timed long enough.

use std::collections::BTreeMap;
use std::thread;
use std::time::{Duration, Instant};

use serde_json::json;

use super::effect::Effect;
use super::peer::Peer;
use super::pieces::{LINK_GAP, NOWHERE};
use crate::error::BenchError;

/// The server's `max_streams` (the protocol's default; the CLI has no key
/// for it).
pub const MAX_STREAMS: usize = 65_536;
/// Unacknowledged control frames a session keeps.
pub const BACKLOG_LIMIT: usize = 4 * MAX_STREAMS + 1024;
/// Opens per message.
const BATCH: usize = 1024;
/// How long the close may take after the last Open was written.
const CLOSE_LIMIT: Duration = Duration::from_secs(5);

/// At least `links` links, and for at least `least`, each flooded with
/// Opens until the server closes it.
pub fn open_flood(port: u16, links: usize, least: Duration) -> Result<Effect, BenchError> {
    let start = Instant::now();
    let mut e = Effect {
        deadline: super::SLACK.as_secs_f64(),
        deadline_what: "after the last Open written",
        ..Effect::default()
    };
    let mut per_link = Vec::new();
    let mut reasons: BTreeMap<String, usize> = BTreeMap::new();
    let mut total_sent = 0usize;
    let mut most_answered = 0u64;
    let mut link = 0;
    while link < links || start.elapsed() < least {
        if link > 0 {
            thread::sleep(LINK_GAP);
        }
        link += 1;
        let mut peer = match Peer::connect(port) {
            Ok(p) => p,
            Err(why) => {
                e.findings.push(format!("link {link}: no session: {why}"));
                continue;
            }
        };
        e.opened += 1;
        let first = Instant::now();
        let mut sent = 0usize;
        let mut last_write = Instant::now();
        let mut write_error = None;
        let mut buf = Vec::with_capacity(BATCH * 48);
        // Twice the limit and still open: the cap does not work.
        while sent < 2 * BACKLOG_LIMIT && peer.heard().closed.is_none() {
            buf.clear();
            for _ in 0..BATCH {
                peer.put_open(&mut buf, NOWHERE);
            }
            match peer.send(&buf) {
                Ok(()) => {
                    sent += BATCH;
                    last_write = Instant::now();
                }
                Err(err) => {
                    write_error = Some(err);
                    break;
                }
            }
        }
        let heard = peer.wait(CLOSE_LIMIT, |h| h.closed.is_some());
        total_sent += sent;
        most_answered = most_answered.max(heard.open_results);
        let (closed_at, how) = match (&heard.closed, &write_error) {
            (Some((at, how)), _) => (Some(*at), how.clone()),
            (None, Some(err))
                if err.kind() == std::io::ErrorKind::WouldBlock
                    || err.kind() == std::io::ErrorKind::TimedOut =>
            {
                e.findings.push(format!(
                    "link {link}: the server stopped reading without closing, after {sent} Opens"
                ));
                (None, format!("write stalled: {err}"))
            }
            (None, Some(err)) => (Some(Instant::now()), format!("write failed: {err}")),
            (None, None) => {
                e.findings.push(format!(
                    "link {link}: still open after {sent} Opens, twice the {BACKLOG_LIMIT} limit"
                ));
                (None, "still open".into())
            }
        };
        match closed_at {
            Some(at) => {
                let delay = at.saturating_duration_since(last_write).as_secs_f64();
                e.longest = Some(e.longest.map_or(delay, |l: f64| l.max(delay)));
            }
            None => e.left_open += 1,
        }
        if !how.contains("control frames wait for the peer's acknowledgement") {
            e.findings.push(format!(
                "link {link}: ended after {sent} Opens, not for the backlog: {how}"
            ));
        }
        if heard.accepted > 0 {
            e.findings.push(format!(
                "link {link}: {} Opens of an unknown tunnel were accepted",
                heard.accepted
            ));
        }
        *reasons.entry(kind_of(&how)).or_insert(0) += 1;
        per_link.push(json!({
            "ended": how,
            "seconds_after_last_open": closed_at.map(|c| c.saturating_duration_since(last_write).as_secs_f64()),
            "opens_sent": sent,
            "opens_taken_in": heard.control_ack,
            "open_results": heard.open_results,
            "server_control_frames_unacknowledged": heard.server_controls,
            "seconds_to_close": closed_at.map(|c| c.saturating_duration_since(first).as_secs_f64()),
            "bad_frame": heard.bad_frame,
        }));
    }
    if e.longest.is_some_and(|l| l > e.deadline) {
        e.findings.push(format!(
            "a link took {:.2} s to be closed after the last Open was written",
            e.longest.unwrap_or_default()
        ));
    }
    e.counts = vec![
        ("opened", "links (sessions) flooded".into(), e.opened as f64),
        (
            "opens_answered",
            format!("most Opens refused on one link (bounds: 1024 a second, {BACKLOG_LIMIT} unacknowledged)"),
            most_answered as f64,
        ),
    ];
    e.details.insert("opens_sent".into(), json!(total_sent));
    e.details
        .insert("backlog_limit".into(), json!(BACKLOG_LIMIT));
    e.details.insert("links".into(), json!(per_link));
    e.details.insert("close_reasons".into(), json!(reasons));
    e.details
        .insert("seconds".into(), json!(start.elapsed().as_secs_f64()));
    Ok(e)
}

/// How a link ended, without the figures that make every case unique.
pub fn kind_of(how: &str) -> String {
    how.split_once(" (")
        .map_or(how, |(kind, _)| kind)
        .to_string()
}
