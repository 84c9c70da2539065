//! Bounds on what a peer with a session can make the server do: refused
//! opens per second, and control frames kept for a peer that never
//! acknowledges them. Each closes only the offending link.

mod support;

use std::time::Duration;

use support::Pair;
use tcpws_protocol::frame::{encode_control, Control};
use tcpws_protocol::{Config, Output, StreamId};

/// `count` Opens for a tunnel the server does not have, as client 1 would
/// send them, control numbers from `first_seq` and stream ids from `first_id`.
fn refused_opens(first_seq: u64, first_id: u64, count: u64) -> Vec<u8> {
    let mut m = Vec::new();
    for i in 0..count {
        let body = Control::<&str>::Open {
            stream: StreamId(first_id + 2 * i),
            tunnel: "no-such-tunnel",
        };
        encode_control(&mut m, first_seq + i, &body);
    }
    m
}

fn closed(p: &mut Pair) -> Option<String> {
    while let Some(o) = p.server.ep.poll_output() {
        if let Output::CloseLink { reason, .. } = o {
            return Some(reason);
        }
    }
    None
}

#[test]
fn an_open_flood_closes_the_link_and_an_honest_rate_does_not() {
    let mut p = Pair::new();
    let link = p.link;
    // 1000 refusals a second for three seconds: allowed.
    let mut seq = 1;
    let mut id = 1_000;
    for _ in 0..3 {
        let now = p.now;
        p.server
            .ep
            .handle_message(link, &refused_opens(seq, id, 1000), now);
        seq += 1000;
        id += 2000;
        assert_eq!(closed(&mut p), None);
        // The refusals go back and are acknowledged, as a client does.
        p.pump();
        p.now += Duration::from_secs(1);
    }
    assert_eq!(p.server.ep.stats().opens_refused, 3000);
    // 1025 within one second: the link is closed with the reason.
    let now = p.now;
    p.server
        .ep
        .handle_message(link, &refused_opens(seq, id, 1025), now);
    let reason = closed(&mut p).expect("closed");
    assert!(reason.contains("opens refused within a second"), "{reason}");
    // Even the Open that tripped the bound was answered: its refusal waits
    // for the resume with the others.
    assert_eq!(p.server.ep.stats().opens_refused, 3000 + 1025);
    assert_eq!(
        p.server.ep.stats().sessions,
        1,
        "the session waits out its grace"
    );
}

#[test]
fn a_peer_that_never_acknowledges_is_closed_at_the_backlog_bound() {
    // 4 streams: the bound is 4 * 4 + 1024 = 1040 frames kept.
    let mut p = Pair::with(|c: &mut Config| c.max_streams = 4);
    let link = p.link;
    let (mut seq, mut id) = (1, 1_000);
    let mut reason = None;
    for _ in 0..3 {
        let now = p.now;
        p.server
            .ep
            .handle_message(link, &refused_opens(seq, id, 600), now);
        seq += 600;
        id += 1200;
        // The refusals are sent but never acknowledged.
        let mut buf = Vec::new();
        while p.server.ep.poll_transmit(link, now, &mut buf) {
            buf.clear();
        }
        reason = closed(&mut p);
        if reason.is_some() {
            break;
        }
        p.now += Duration::from_secs(1);
    }
    let reason = reason.expect("closed at the bound");
    assert!(reason.contains("more than the 1040"), "{reason}");
    assert!(seq > 1040, "not before the bound");
}

/// Frames we queued ourselves while the link was down are not the peer's
/// fault: a resume with more of them than the bound is not refused.
#[test]
fn a_resume_after_a_busy_outage_is_not_refused() {
    let mut p = Pair::with(|c: &mut Config| c.max_streams = 4);
    let now = p.now;
    p.server.ep.handle_link_down(p.link, "cut", now);
    p.client.ep.handle_link_down(p.link, "cut", now);
    // The client's apps connect and reset 600 times meanwhile: an Open and
    // a Reset each, 1200 frames queued for the server.
    let mut accepted = 0;
    for _ in 0..600 {
        if let Some(conn) = p.client.ep.handle_accept(tcpws_protocol::TunnelId(0), now) {
            p.client.ep.handle_app_reset(conn, "gone", now);
            accepted += 1;
        }
    }
    assert_eq!(accepted, 600, "the client accepts while its link is down");
    p.advance(Duration::from_secs(1));
    p.link = tcpws_protocol::LinkId(2);
    p.server.ep.handle_link_up(p.link, support::up(), p.now);
    p.client.ep.handle_link_up(p.link, support::up(), p.now);
    p.pump();
    assert_eq!(p.server.ep.stats().protocol_errors, 0);
    assert_eq!(p.client.ep.stats().protocol_errors, 0);
    assert_eq!(p.server.ep.stats().resumes, 1);
}

/// A long message is taken a bounded number of frames at a time: each part
/// says where the rest starts, the link stays up between parts, and a bad
/// frame in a later part ends the link as it would in one piece.
#[test]
fn a_long_message_is_taken_in_parts_of_frames_per_turn() {
    use tcpws_protocol::frame::Frame;
    use tcpws_protocol::FRAMES_PER_TURN;

    let mut p = Pair::new();
    let mut one = Vec::new();
    Frame::Keepalive.encode(&mut one);
    let frames = 2 * FRAMES_PER_TURN + 10;
    let message = one.repeat(frames);
    let now = p.now;
    let mut rest = &message[..];
    let mut parts = 0;
    while let Some(at) = p.server.ep.handle_message_part(p.link, rest, now) {
        assert_eq!(at, FRAMES_PER_TURN * one.len(), "part {parts}");
        rest = &rest[at..];
        parts += 1;
        assert!(
            p.server.ep.poll_output().is_none(),
            "nothing closes the link"
        );
    }
    assert_eq!(parts, 2);
    p.pump();
    assert!(p.server.ep.health().is_ready(), "{}", p.server.ep.health());

    // Garbage after the first part's worth of good frames: the second
    // part closes the link with the decoder's reason.
    let mut bad = one.repeat(FRAMES_PER_TURN + 1);
    bad.extend_from_slice(&[0xEE; 8]);
    let first = p.server.ep.handle_message_part(p.link, &bad, now);
    assert_eq!(first, Some(FRAMES_PER_TURN * one.len()));
    let at = first.unwrap_or_default();
    assert_eq!(
        p.server.ep.handle_message_part(p.link, &bad[at..], now),
        None
    );
    let closed = std::iter::from_fn(|| p.server.ep.poll_output())
        .any(|o| matches!(o, tcpws_protocol::Output::CloseLink { .. }));
    assert!(closed, "the bad frame in the second part closes the link");
}

/// An Open flood taken in parts ends the same way as in one piece: the
/// link closes at the refusal past the bound, with the same reason.
#[test]
fn an_open_flood_in_parts_ends_as_in_one_piece() {
    let flood = refused_opens(1, 1_000, 1500);
    let mut whole = Pair::new();
    let now = whole.now;
    whole.server.ep.handle_message(whole.link, &flood, now);
    let whole_reason = closed(&mut whole).expect("the flood closes the link");

    let mut parts = Pair::new();
    let mut rest = &flood[..];
    let mut taken = 0;
    while let Some(at) = parts.server.ep.handle_message_part(parts.link, rest, now) {
        rest = &rest[at..];
        taken += 1;
        // Other sockets' turns would come here; nothing closed the link yet.
        assert_eq!(closed(&mut parts), None, "after part {taken}");
    }
    assert_eq!(taken, 1024 / tcpws_protocol::FRAMES_PER_TURN);
    let parts_reason = closed(&mut parts).expect("the flood closes the link");
    assert_eq!(parts_reason, whole_reason);
}
