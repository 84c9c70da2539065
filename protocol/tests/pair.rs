//! A server and client 1 wired back to back, message by message, on virtual
//! time: the smallest end-to-end check of the endpoint API. The full
//! three-node simulation with faults lives in the tcpws-tests crate.

mod support;

use std::time::Duration;

use support::{config, origin, up, Pair};
use tcpws_protocol::{ClientId, ConnId, Endpoint, LinkId, Output, Role, TunnelId};

#[test]
fn hello_makes_client_one_active_and_opens_listeners() {
    let p = Pair::new();
    assert_eq!(p.server.ep.active(), Some(ClientId::One));
    assert_eq!(p.client.ep.active(), Some(ClientId::One));
    assert!(p.server.listening && p.client.listening);
}

#[test]
fn bytes_cross_both_ways_with_half_close() {
    let mut p = Pair::new();
    let now = p.now;
    let conn = p.server.ep.handle_accept(TunnelId(0), now).unwrap();
    let payload: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let mut sent = 0;
    let mut dialed = None;
    while sent < payload.len() {
        let cap = p.server.ep.send_capacity(conn);
        let n = cap.min(payload.len() - sent);
        assert_eq!(
            p.server
                .ep
                .handle_app_data(conn, &payload[sent..sent + n], now),
            n
        );
        sent += n;
        p.pump();
        if dialed.is_none() {
            let (c, t) = p.client.dials[0];
            assert_eq!(t, TunnelId(0));
            p.client.ep.handle_dial_result(c, Ok(()), now);
            dialed = Some(c);
            p.pump();
        }
    }
    p.server.ep.handle_app_eof(conn, now);
    p.pump();
    let dialed = dialed.unwrap();
    let sock = &p.client.socks[&dialed];
    assert_eq!(sock.delivered, payload);
    assert!(sock.shut_write, "the fin is carried as a half-close");
    assert_eq!(sock.closed, None, "the other direction stays open");
    // The other direction still flows, then closes.
    assert_eq!(p.client.ep.handle_app_data(dialed, b"reply", now), 5);
    p.client.ep.handle_app_eof(dialed, now);
    p.pump();
    assert_eq!(p.server.socks[&conn].delivered, b"reply");
    assert_eq!(p.server.socks[&conn].closed, Some(false));
    assert_eq!(p.client.socks[&dialed].closed, Some(false));
    assert_eq!(
        p.server.ep.stats().streams,
        0,
        "finished streams are forgotten"
    );
    assert_eq!(p.client.ep.stats().streams, 0);
}

#[test]
fn unknown_tunnel_is_refused_and_reset() {
    let mut p = Pair::new();
    // The client listens on "ssh", which the server connects; make the server
    // lack it by asking for a tunnel the server does not have.
    let mut sc = config(Role::Server);
    sc.listens = vec!["web".into()];
    let now = p.now;
    p.server.ep = Endpoint::new(sc, now).unwrap();
    p.link = LinkId(2);
    p.server.ep.handle_link_up(p.link, up(), now);
    p.client.ep.handle_link_down(LinkId(1), "test", now);
    p.advance(Duration::from_secs(1));
    // Reconnect.
    p.client.ep.handle_link_up(p.link, up(), p.now);
    p.pump();
    let conn = p.client.ep.handle_accept(TunnelId(0), p.now).unwrap();
    p.pump();
    assert_eq!(p.client.socks[&conn].closed, Some(true));
    assert_eq!(p.client.ep.stats().opens_refused, 1);
}

#[test]
fn resume_replays_without_loss_or_duplicates() {
    let mut p = Pair::new();
    let now = p.now;
    let conn = p.server.ep.handle_accept(TunnelId(0), now).unwrap();
    p.pump();
    let (dialed, _) = p.client.dials[0];
    p.client.ep.handle_dial_result(dialed, Ok(()), now);
    p.pump();
    let first: Vec<u8> = (0..40_000u32).map(|i| (i % 199) as u8).collect();
    assert_eq!(p.server.ep.handle_app_data(conn, &first, now), first.len());
    // Send a message that is lost with the link.
    let mut lost = Vec::new();
    assert!(p.server.ep.poll_transmit(p.link, now, &mut lost));
    p.server.ep.handle_link_down(p.link, "cut", now);
    p.client.ep.handle_link_down(p.link, "cut", now);
    p.advance(Duration::from_secs(2));
    p.link = LinkId(7);
    p.server.ep.handle_link_up(p.link, up(), p.now);
    p.client.ep.handle_link_up(p.link, up(), p.now);
    p.pump();
    assert_eq!(p.client.socks[&dialed].delivered, first);
    assert_eq!(p.server.ep.stats().resumes, 1);
    assert_eq!(p.server.ep.stats().streams_reset, 0);
}

/// A server-listen stream with bytes received on both sides, not yet
/// finished: (server conn, client conn).
fn open_stream(p: &mut Pair) -> (ConnId, ConnId) {
    let now = p.now;
    let conn = p.server.ep.handle_accept(TunnelId(0), now).unwrap();
    assert_eq!(p.server.ep.handle_app_data(conn, b"request", now), 7);
    p.pump();
    let (dialed, _) = p.client.dials[0];
    p.client.ep.handle_dial_result(dialed, Ok(()), now);
    p.pump();
    assert_eq!(p.client.ep.handle_app_data(dialed, b"answer", now), 6);
    p.pump();
    (conn, dialed)
}

#[test]
fn a_planned_stop_of_the_server_ends_streams_with_fin_and_tells_the_client() {
    let mut p = Pair::new();
    let (conn, dialed) = open_stream(&mut p);
    // Bytes the server has received but not yet written to its socket
    // when it stops.
    let now = p.now;
    assert_eq!(p.client.ep.handle_app_data(dialed, b" late", now), 5);
    let mut buf = Vec::new();
    assert!(p.client.ep.poll_transmit(p.link, now, &mut buf));
    p.server.ep.handle_message(p.link, &buf, now);
    p.server.ep.handle_shutdown(now);
    p.pump();
    for (sock, what) in [
        (&p.server.socks[&conn], "server"),
        (&p.client.socks[&dialed], "client"),
    ] {
        assert!(sock.shut_write, "{what}: the connection got no FIN");
        assert_eq!(sock.closed, Some(false), "{what}: closed with a reset");
    }
    assert_eq!(p.client.socks[&dialed].delivered, b"request");
    assert_eq!(p.server.socks[&conn].delivered, b"answer late");
    assert!(!p.server.listening && !p.client.listening);
    assert_eq!(p.server.ep.stats().sessions, 0);
    assert_eq!(
        p.client.ep.stats().sessions,
        0,
        "the client ended its session at once"
    );
    // It reconnects with backoff, not after a keepalive timeout.
    p.advance(Duration::from_millis(200));
    assert_eq!(p.client.connects, 1);
}

/// fuzz/regressions/protocol_endpoint/leaving-session-listen-stream-no-active:
/// after a client's Goodbye the server elects someone else (here nobody)
/// while that client's session still writes what it received to the
/// server's sockets; the invariants must hold meanwhile.
#[test]
fn a_planned_stop_of_the_client_hands_over_and_ends_streams_with_fin() {
    let mut p = Pair::new();
    let (conn, dialed) = open_stream(&mut p);
    let now = p.now;
    assert_eq!(p.client.ep.handle_app_data(dialed, b" late", now), 5);
    p.client.ep.handle_shutdown(now);
    let mut buf = Vec::new();
    while p.client.ep.poll_transmit(p.link, now, &mut buf) {
        // The server's socket has not taken " late" yet.
        p.server.ep.handle_message(p.link, &buf, now);
        p.server
            .ep
            .check_invariants()
            .expect("invariants while draining");
        buf.clear();
    }
    p.pump();
    assert_eq!(p.server.socks[&conn].delivered, b"answer late");
    for (sock, what) in [
        (&p.server.socks[&conn], "server"),
        (&p.client.socks[&dialed], "client"),
    ] {
        assert!(sock.shut_write, "{what}: the connection got no FIN");
        assert_eq!(sock.closed, Some(false), "{what}: closed with a reset");
    }
    let stats = p.server.ep.stats();
    assert_eq!(stats.handovers, 1, "the server counted no handover");
    assert_eq!(
        p.server.ep.active(),
        None,
        "no other client to hand over to"
    );
    assert!(
        !p.server.listening,
        "the server listens with no client online"
    );
    assert_eq!(stats.sessions, 0);
    p.advance(Duration::from_secs(1));
    assert_eq!(p.client.connects, 0, "a stopped client reconnected");
}

/// A listen socket that failed to bind is not reported as listening, and
/// the protocol asks for it again a second later.
#[test]
fn a_failed_bind_is_asked_for_again() {
    let mut p = Pair::new();
    assert!(p.server.ep.is_listening(TunnelId(0)));
    p.server
        .ep
        .handle_listen_failed(TunnelId(0), "address in use", p.now);
    assert!(!p.server.ep.is_listening(TunnelId(0)));
    p.server.listening = false;
    p.advance(Duration::from_millis(900));
    assert!(!p.server.listening, "asked again too soon");
    p.advance(Duration::from_millis(100));
    assert!(p.server.listening, "StartListening was not asked for again");
    assert!(p.server.ep.is_listening(TunnelId(0)));
}

/// Something the protocol never sends on a link (a text message) closes
/// that link and counts as a protocol error; the session waits for a resume.
#[test]
fn a_violation_reported_by_the_runtime_closes_the_link() {
    let mut p = Pair::new();
    p.server
        .ep
        .handle_violation(p.link, "text message on a binary-only link", p.now);
    let stats = p.server.ep.stats();
    assert_eq!(stats.protocol_errors, 1);
    assert_eq!(stats.links_up, 0);
    assert_eq!(stats.sessions, 1, "the session waits for a resume");
}

/// A dial the runtime never reports on times out in the protocol: the
/// runtime is told to drop it and the opener's connection is refused.
#[test]
fn a_dial_that_hangs_is_timed_out_by_the_protocol() {
    let mut p = Pair::new();
    let conn = p.server.ep.handle_accept(TunnelId(0), p.now).unwrap();
    p.pump();
    let (dialed, _) = p.client.dials[0];
    p.advance(Duration::from_secs(9));
    assert_eq!(p.client.socks[&dialed].closed, None, "timed out too soon");
    p.advance(Duration::from_secs(1));
    assert_eq!(
        p.client.socks[&dialed].closed,
        Some(true),
        "the runtime was not told to drop the dial"
    );
    assert_eq!(
        p.server.socks[&conn].closed,
        Some(true),
        "the opener was not refused"
    );
    assert_eq!(p.client.ep.stats().opens_refused, 1);
    // A late report of the dropped dial changes nothing.
    p.client.ep.handle_dial_result(dialed, Ok(()), p.now);
    p.pump();
    assert_eq!(p.client.ep.stats().streams, 0);
}

/// A WebSocket to the server that never comes up is abandoned by the
/// protocol after the connect timeout, and asked for again with backoff.
#[test]
fn a_server_dial_that_hangs_is_abandoned_and_retried() {
    let t0 = origin();
    let mut ep = Endpoint::new(config(Role::Client(ClientId::One)), t0).unwrap();
    assert_eq!(ep.poll_output(), Some(Output::ConnectServer));
    ep.handle_timeout(t0 + Duration::from_millis(9_999));
    assert_eq!(ep.poll_output(), None, "abandoned too soon");
    ep.handle_timeout(t0 + Duration::from_secs(10));
    assert_eq!(ep.poll_output(), Some(Output::AbandonConnect));
    let retry = ep.poll_timeout().expect("a reconnect is scheduled");
    assert!(retry <= t0 + Duration::from_millis(10_100));
    ep.handle_timeout(retry);
    assert_eq!(ep.poll_output(), Some(Output::ConnectServer));
}

/// fuzz/regressions/protocol_endpoint/abandon-after-shutdown: a client that
/// stops while its dial is under way, whose link then comes up anyway,
/// must not abandon a dial it no longer has.
#[test]
fn no_abandoned_dial_after_a_stop() {
    let t0 = origin();
    let mut ep = Endpoint::new(config(Role::Client(ClientId::One)), t0).unwrap();
    assert_eq!(ep.poll_output(), Some(Output::ConnectServer));
    ep.handle_shutdown(t0);
    while ep.poll_output().is_some() {}
    ep.handle_link_up(LinkId(1), up(), t0);
    while ep.poll_output().is_some() {}
    ep.handle_timeout(t0 + Duration::from_secs(60));
    assert_eq!(ep.poll_output(), None);
    assert_eq!(ep.poll_timeout(), None, "a stopped client keeps no timer");
}

/// A link lost while a stop waits to say Goodbye is a stop all the same:
/// the session leaves at once instead of waiting out the grace.
#[test]
fn a_link_lost_during_a_stop_still_ends_the_session() {
    let mut p = Pair::new();
    let (conn, _) = open_stream(&mut p);
    let now = p.now;
    p.server.ep.handle_shutdown(now);
    p.server.ep.handle_link_down(p.link, "lost", now);
    p.server.drain(now);
    assert_eq!(p.server.socks[&conn].closed, Some(false), "closed with FIN");
    assert_eq!(p.server.ep.stats().sessions, 0);
    assert_eq!(p.server.ep.stats().failovers, 0);
}

/// An OpenResult for a stream the peer opened itself is a violation: it
/// must not mark our dial as done (which would defeat its timeout).
#[test]
fn an_open_result_for_the_peers_own_stream_is_a_violation() {
    use tcpws_protocol::frame::{Control, Frame};
    let mut p = Pair::new();
    let now = p.now;
    let conn = p.client.ep.handle_accept(TunnelId(0), now).unwrap();
    assert!(p.client.ep.send_capacity(conn) > 0);
    p.pump();
    let (_, tunnel) = p.server.dials[0];
    assert_eq!(tunnel, TunnelId(0));
    // The client's Open was control frame 1; a forged result of its own
    // stream (id 2, the first a client allocates) is frame 2.
    let mut msg = Vec::new();
    Frame::Control {
        seq: 2,
        body: Control::OpenResult {
            stream: tcpws_protocol::StreamId(2),
            accepted: true,
            reason: "",
        },
    }
    .encode(&mut msg);
    p.server.ep.handle_message(p.link, &msg, now);
    assert_eq!(p.server.ep.stats().protocol_errors, 1);
}

/// With the smallest message size the Goodbye still goes out: it needs
/// only its reason's length, not the longest reason's.
#[test]
fn a_goodbye_fits_the_smallest_message() {
    let mut p = Pair::with(|c| c.max_message = 1024);
    p.client.ep.handle_shutdown(p.now);
    p.pump();
    assert_eq!(
        p.server.ep.stats().handovers,
        1,
        "the Goodbye never went out"
    );
}
