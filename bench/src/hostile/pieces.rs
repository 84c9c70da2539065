//! Attack (c): one-byte Data frames out of order. On each link the hostile
//! client opens one stream of a tunnel the server connects (so the stream
//! is real, dialled to the sink backend) and sends one-byte pieces at
//! offsets 2, 4, 6, … (offset 0 never comes, so every piece must be held).
//! The server holds at most [`MAX_HELD`] pieces per stream: the bench sends
//! exactly that many, checks with a barrier (an Open of an unknown tunnel,
//! whose refusal comes back only once everything before it was processed)
//! that the link is still up, then sends one piece more, which must close
//! the link at once. Then it reconnects (a new session, which replaces the
//! old one) and goes on until the count of pieces has been sent, and for
//! a least duration, so that the healthy stream is timed long enough.

use std::collections::BTreeMap;
use std::thread;
use std::time::{Duration, Instant};

use serde_json::json;

use super::effect::Effect;
use super::peer::{put_data, Peer};
use crate::error::BenchError;

/// Out-of-order pieces a stream holds (`MAX_HELD_RANGES` of the protocol).
pub const MAX_HELD: usize = 1024;
/// Pieces per message.
const BATCH: usize = 128;
/// How long a barrier's answer, or a close, may take.
const ANSWER_LIMIT: Duration = Duration::from_secs(5);
/// Messages sent past the limit on a link the server keeps open before
/// the bench gives up on it (the first carries one piece, the others
/// [`BATCH`]).
const TRIES_PAST_LIMIT: usize = 4;
/// Pause between links, which keeps the hostile client's own CPU (and the
/// reconnect rate) moderate: about 50 links a second.
pub const LINK_GAP: Duration = Duration::from_millis(20);
/// The whole attack gives up after this long.
const ATTACK_LIMIT: Duration = Duration::from_secs(300);
/// A tunnel no node has: the barrier's Open is refused.
pub const NOWHERE: &str = "tcpws-bench-nowhere";

/// Sends at least `total` pieces, and for at least `least`, over as many
/// links as it takes (each gets [`MAX_HELD`] + 1), on streams of `tunnel`.
pub fn out_of_order(
    port: u16,
    total: usize,
    least: Duration,
    tunnel: &str,
) -> Result<Effect, BenchError> {
    let start = Instant::now();
    let mut e = Effect {
        deadline: super::SLACK.as_secs_f64(),
        deadline_what: "after the piece past the limit",
        ..Effect::default()
    };
    let mut sent = 0usize;
    let mut closed_for_it = 0usize;
    let mut held_on_close: Vec<usize> = Vec::new();
    let mut reasons: BTreeMap<String, usize> = BTreeMap::new();
    let mut connect_failures = 0usize;
    while (sent < total || start.elapsed() < least) && start.elapsed() < ATTACK_LIMIT {
        if e.opened > 0 {
            thread::sleep(LINK_GAP);
        }
        let mut peer = match Peer::connect(port) {
            Ok(p) => p,
            Err(why) => {
                connect_failures += 1;
                e.findings
                    .push(format!("link {}: no session: {why}", e.opened + 1));
                if connect_failures >= 3 {
                    break;
                }
                continue;
            }
        };
        e.opened += 1;
        let link = e.opened;
        let mut buf = Vec::new();
        let stream = peer.put_open(&mut buf, tunnel);
        // The pieces the server must hold, the Open in front of the first.
        let mut on_link = 0usize;
        let mut failed = None;
        while on_link < MAX_HELD && failed.is_none() {
            let n = BATCH.min(MAX_HELD - on_link);
            for k in on_link + 1..=on_link + n {
                put_data(&mut buf, stream, 2 * k as u64, b"x");
            }
            match peer.send(&buf) {
                Ok(()) => on_link += n,
                Err(err) => failed = Some(format!("write failed: {err}")),
            }
            buf.clear();
        }
        sent += on_link;
        // The barrier: its refusal comes once all before it was processed.
        let barrier = peer.put_open(&mut buf, NOWHERE);
        if failed.is_none() {
            if let Err(err) = peer.send(&buf) {
                failed = Some(format!("write failed: {err}"));
            }
        }
        buf.clear();
        let heard = peer.wait(ANSWER_LIMIT, |h| {
            failed.is_some() || h.closed.is_some() || h.max_result.is_some_and(|s| s >= barrier)
        });
        if let Some(how) = heard.closed.map(|(_, how)| how).or(failed) {
            e.findings.push(format!(
                "link {link}: closed holding {on_link} pieces, no more than the {MAX_HELD} allowed: {how}"
            ));
            *reasons.entry(super::flood::kind_of(&how)).or_insert(0) += 1;
            continue;
        }
        if !heard.max_result.is_some_and(|s| s >= barrier) {
            e.findings.push(format!(
                "link {link}: no answer to an Open within {ANSWER_LIMIT:?} after {on_link} pieces"
            ));
        }
        // One piece past the limit, then more while the link stays up.
        let violated = Instant::now();
        let mut closed = None;
        for attempt in 0..TRIES_PAST_LIMIT {
            let n = if attempt == 0 { 1 } else { BATCH };
            for k in on_link + 1..=on_link + n {
                put_data(&mut buf, stream, 2 * k as u64, b"x");
            }
            let wrote = peer.send(&buf);
            buf.clear();
            if wrote.is_ok() {
                on_link += n;
                sent += n;
            }
            let limit = if wrote.is_ok() {
                ANSWER_LIMIT
            } else {
                Duration::ZERO
            };
            if let Some(c) = peer.wait(limit, |h| h.closed.is_some()).closed {
                closed = Some(c);
                break;
            }
            if let Err(err) = wrote {
                closed = Some((Instant::now(), format!("write failed: {err}")));
                break;
            }
            e.findings.push(format!(
                "link {link}: still open {ANSWER_LIMIT:?} after holding {on_link} pieces"
            ));
        }
        match closed {
            Some((at, how)) => {
                let delay = at.saturating_duration_since(violated).as_secs_f64();
                e.longest = Some(e.longest.map_or(delay, |l: f64| l.max(delay)));
                if how.contains("out-of-order pieces") {
                    closed_for_it += 1;
                } else {
                    e.findings.push(format!(
                        "link {link}: closed after {on_link} pieces for another reason: {how}"
                    ));
                }
                held_on_close.push(on_link);
                *reasons.entry(super::flood::kind_of(&how)).or_insert(0) += 1;
            }
            // Past the limit and never closed: the bench gives up on it.
            None => e.left_open += 1,
        }
    }
    if sent < total {
        e.findings.push(format!(
            "stopped after {sent} of {total} pieces ({:.0} s)",
            start.elapsed().as_secs_f64()
        ));
    }
    if e.longest.is_some_and(|l| l > e.deadline) {
        e.findings.push(format!(
            "a link took {:.2} s to be closed after the piece past the limit",
            e.longest.unwrap_or_default()
        ));
    }
    e.counts = vec![
        ("pieces", "pieces sent".into(), sent as f64),
        ("opened", "links (sessions) used".into(), e.opened as f64),
        (
            "closed_for_pieces",
            format!("links closed holding > {MAX_HELD} pieces"),
            closed_for_it as f64,
        ),
    ];
    e.details.insert("pieces_sent".into(), json!(sent));
    e.details
        .insert("reconnects".into(), json!(e.opened.saturating_sub(1)));
    e.details
        .insert("links_closed_for_pieces".into(), json!(closed_for_it));
    e.details.insert(
        "pieces_on_link_at_close".into(),
        json!({
            "min": held_on_close.iter().min(),
            "max": held_on_close.iter().max(),
        }),
    );
    e.details.insert("close_reasons".into(), json!(reasons));
    e.details
        .insert("connect_failures".into(), json!(connect_failures));
    e.details
        .insert("seconds".into(), json!(start.elapsed().as_secs_f64()));
    Ok(e)
}
