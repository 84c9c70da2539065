//! Attacks (a) and (b): connections to the server's port that go silent.
//! * (a) TCP connections that never send a byte, opened one after the
//!   other as fast as the kernel takes them. The server holds at most
//!   [`MAX_HANDSHAKING`] connections short of a session and resets the rest
//!   at accept; the ones it holds must be closed at the handshake deadline.
//! * (b) WebSocket links that complete the HTTP upgrade and never send a
//!   Hello. The attacker insists: a link shed at accept is tried again
//!   after a short pause, until the count has been upgraded, so the cap
//!   stays full for several handshake deadlines in a row.

use std::collections::BTreeMap;
use std::net::TcpStream;
use std::thread;
use std::time::{Duration, Instant};

use serde_json::json;

use super::effect::{close_kinds, Effect};
use super::watcher::{How, Watcher};
use crate::error::BenchError;
use crate::websocket;

/// The server's cap on connections short of a session (`MAX_UNAUTHENTICATED`
/// of its runtime).
pub const MAX_HANDSHAKING: usize = 256;
/// How long a connect may take before it counts as failed.
const CONNECT_LIMIT: Duration = Duration::from_secs(10);
/// How long the server may take, beyond a deadline, to finish closing (it
/// lingers this long for its last bytes to go out).
const CLOSE_LINGER: Duration = Duration::from_secs(2);
/// Extra wait for closes beyond every deadline, before the bench gives up.
const GIVE_UP: Duration = Duration::from_secs(10);
/// Pause of the insisting attacker of (b) after a shed attempt.
const RETRY_PAUSE: Duration = Duration::from_millis(20);

/// (a): `count` connections to `port` that never send a byte.
pub fn silent_tcp(port: u16, count: usize, handshake: Duration) -> Result<Effect, BenchError> {
    let watcher = Watcher::start()?;
    let start = Instant::now();
    let mut failed = 0;
    let mut reset_connecting = 0;
    let mut first_failure = None;
    let mut slowest = Duration::ZERO;
    for _ in 0..count {
        let asked = Instant::now();
        let connected = TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), CONNECT_LIMIT);
        slowest = slowest.max(asked.elapsed());
        match connected {
            // Connected: the server accepts it next, and its deadline runs
            // from then (a connect that waited for room in the kernel's
            // accept queue does not count against the server).
            Ok(s) => watcher.add(s, Instant::now()),
            // Accepted and reset before the connect had returned: shed.
            Err(e) if websocket::is_shed(&e) => reset_connecting += 1,
            Err(e) => {
                failed += 1;
                first_failure.get_or_insert_with(|| e.to_string());
            }
        }
    }
    let last_open = Instant::now();
    let opening = last_open.duration_since(start);
    let watched = watcher.finish(last_open + handshake + CLOSE_LINGER + GIVE_UP);
    let mut e = Effect {
        opened: count - failed,
        deadline: handshake.as_secs_f64(),
        deadline_what: "from its connect",
        ..Effect::default()
    };
    let resets = reset_connecting
        + watched
            .closed
            .iter()
            .filter(|c| c.how == How::Reset)
            .count();
    e.shed = Some(resets);
    judge(&mut e, &watched, last_open, "connection");
    if failed > 0 {
        e.findings.push(format!(
            "{failed} of {count} connects failed (first: {})",
            first_failure.unwrap_or_default()
        ));
    }
    e.counts = vec![
        ("opened", "connections opened".into(), e.opened as f64),
        ("shed", "of them reset at accept".into(), resets as f64),
    ];
    e.details
        .insert("opening_seconds".into(), json!(opening.as_secs_f64()));
    e.details.insert("connect_failures".into(), json!(failed));
    e.details
        .insert("reset_while_connecting".into(), json!(reset_connecting));
    e.details.insert(
        "slowest_connect_seconds".into(),
        json!(slowest.as_secs_f64()),
    );
    e.details
        .insert("closed_by_kind".into(), json!(close_kinds(&watched)));
    Ok(e)
}

/// (b): `count` upgraded links to `port` that never send a Hello, each
/// tried again while the server sheds it.
pub fn silent_links(port: u16, count: usize, handshake: Duration) -> Result<Effect, BenchError> {
    let watcher = Watcher::start()?;
    let start = Instant::now();
    let waves = count.div_ceil(MAX_HANDSHAKING) as u32;
    let limit = start + (handshake * 2 + CLOSE_LINGER) * waves + GIVE_UP;
    let (mut upgraded, mut shed) = (0, 0);
    let mut other: BTreeMap<String, usize> = BTreeMap::new();
    let mut last_open = start;
    while upgraded < count && Instant::now() < limit {
        match websocket::connect_upgraded(port, CONNECT_LIMIT) {
            Ok((s, _)) => {
                last_open = Instant::now();
                // The server's tcpws handshake deadline runs from here.
                watcher.add(s, last_open);
                upgraded += 1;
            }
            Err(e) => {
                if websocket::is_shed(&e) {
                    shed += 1;
                } else {
                    *other.entry(e.to_string()).or_insert(0) += 1;
                }
                thread::sleep(RETRY_PAUSE);
            }
        }
    }
    let upgrading = Instant::now().duration_since(start);
    let watched = watcher.finish(last_open + handshake + CLOSE_LINGER + GIVE_UP);
    let mut e = Effect {
        opened: upgraded,
        shed: Some(shed),
        deadline: handshake.as_secs_f64(),
        deadline_what: "from its upgrade",
        ..Effect::default()
    };
    judge(&mut e, &watched, last_open, "link");
    if upgraded < count {
        e.findings.push(format!(
            "only {upgraded} of {count} links were upgraded within {:.0} s",
            limit.duration_since(start).as_secs_f64()
        ));
    }
    if !other.is_empty() {
        e.findings.push(format!(
            "upgrade attempts failed other than by a reset: {other:?}"
        ));
    }
    e.counts = vec![
        ("opened", "links upgraded".into(), upgraded as f64),
        ("shed", "attempts reset at accept".into(), shed as f64),
    ];
    e.details
        .insert("upgrading_seconds".into(), json!(upgrading.as_secs_f64()));
    e.details.insert("other_failures".into(), json!(other));
    e.details
        .insert("closed_by_kind".into(), json!(close_kinds(&watched)));
    Ok(e)
}

/// Fills in the close figures of `e` from what the watcher saw, with a
/// finding for every socket closed late or never.
fn judge(e: &mut Effect, watched: &super::watcher::Watched, last_open: Instant, what: &str) {
    e.left_open = watched.left_open;
    e.longest = watched.closed.iter().map(|c| c.life).reduce(f64::max);
    if watched.left_open == 0 {
        e.all_closed_after = watched
            .closed
            .iter()
            .map(|c| {
                c.closed_at
                    .saturating_duration_since(last_open)
                    .as_secs_f64()
            })
            .reduce(f64::max)
            .or(Some(0.0));
    } else {
        e.findings.push(format!(
            "{} {what}(s) still open {:.0} s after the last was opened, past the {:.0} s deadline",
            watched.left_open,
            (handshake_give_up(e.deadline)).as_secs_f64(),
            e.deadline
        ));
    }
    let late: Vec<f64> = watched
        .closed
        .iter()
        .map(|c| c.life)
        .filter(|&life| life > e.deadline + super::SLACK.as_secs_f64())
        .collect();
    if !late.is_empty() {
        e.findings.push(format!(
            "{} {what}(s) closed later than {:.1} s {} (the deadline plus {:.1} s); the latest after {:.2} s",
            late.len(),
            e.deadline,
            e.deadline_what,
            super::SLACK.as_secs_f64(),
            late.iter().copied().fold(0.0, f64::max)
        ));
    }
}

fn handshake_give_up(deadline: f64) -> Duration {
    Duration::from_secs_f64(deadline) + CLOSE_LINGER + GIVE_UP
}
