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
