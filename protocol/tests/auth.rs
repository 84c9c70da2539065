//! Authentication at the endpoint API: the shared-secret handshake both
//! ways, refusals that change nothing, replayed and stolen credentials,
//! and ids bound to TLS certificates.

mod support;

use std::time::Duration;

use support::{origin, up, Pair};
use tcpws_protocol::frame::{frames, Frame, Hello};
use tcpws_protocol::{
    Certified, ClientId, Config, Endpoint, LinkId, LinkUp, Output, SharedSecret, TunnelId,
    PROTOCOL_VERSION,
};

fn secret(s: &str) -> Option<SharedSecret> {
    SharedSecret::new(s.as_bytes())
}

/// A pair where the server has `server` and the client has `client` as
/// their shared secrets.
fn pair(server: Option<&str>, client: Option<&str>) -> Pair {
    let (server, client) = (server.map(String::from), client.map(String::from));
    Pair::with(move |c: &mut Config| {
        c.shared_secret = match c.role {
            tcpws_protocol::Role::Server => server.as_deref().and_then(secret),
            _ => client.as_deref().and_then(secret),
        };
    })
}

/// Everything `ep` sends on `link` now, one message per entry.
fn sent(ep: &mut Endpoint, link: LinkId, now: std::time::Instant) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut buf = Vec::new();
    while ep.poll_transmit(link, now, &mut buf) {
        out.push(std::mem::take(&mut buf));
    }
    out
}

/// The kinds of frames in `messages`, for assertions.
fn kinds(messages: &[Vec<u8>]) -> Vec<String> {
    messages
        .iter()
        .flat_map(|m| frames(m).map(|f| format!("{:?}", f.unwrap())))
        .map(|d| d.split([' ', '(', '{']).next().unwrap_or("").to_string())
        .collect()
}

fn refusal(messages: &[Vec<u8>]) -> Option<String> {
    messages.iter().find_map(|m| {
        frames(m).find_map(|f| match f {
            Ok(Frame::AuthRefused { reason }) => Some(reason.to_string()),
            _ => None,
        })
    })
}

fn hello(client: ClientId, token: u128, nonce: Option<[u8; 32]>) -> Vec<u8> {
    let mut m = Vec::new();
    Frame::Hello(Hello {
        version: PROTOCOL_VERSION,
        client,
        token,
        epoch: 0,
        ctl_rx: 0,
        window: 64 * 1024,
        nonce,
    })
    .encode(&mut m);
    m
}

#[test]
fn the_same_secret_on_both_ends_connects_and_resumes() {
    let mut p = pair(Some("s3cret"), Some("s3cret"));
    assert_eq!(p.server.ep.active(), Some(ClientId::One));
    assert!(p.client.listening);
    assert_eq!(p.server.ep.stats().auth_failures, 0);
    // A resume proves the secret again, on the new link's nonces.
    let now = p.now;
    let conn = p.server.ep.handle_accept(TunnelId(0), now).unwrap();
    p.pump();
    p.server.ep.handle_link_down(p.link, "cut", now);
    p.client.ep.handle_link_down(p.link, "cut", now);
    p.advance(Duration::from_secs(1));
    p.link = LinkId(2);
    p.server.ep.handle_link_up(p.link, up(), p.now);
    p.client.ep.handle_link_up(p.link, up(), p.now);
    p.pump();
    assert_eq!(p.server.ep.stats().resumes, 1);
    assert_eq!(p.server.socks.get(&conn).and_then(|s| s.closed), None);
    assert_eq!(p.server.ep.stats().streams, 1, "the stream lives on");
}

#[test]
fn a_wrong_secret_is_refused_on_both_sides_and_nothing_starts() {
    let p = pair(Some("right"), Some("wrong"));
    let (s, c) = (p.server.ep.stats(), p.client.ep.stats());
    assert_eq!((s.auth_failures, c.auth_failures), (1, 1));
    assert_eq!((s.sessions, c.sessions), (0, 0));
    assert_eq!(p.server.ep.active(), None, "no election without a session");
    assert!(!p.server.listening && !p.client.listening);
}

#[test]
fn a_secret_on_one_side_only_is_refused_and_names_the_key() {
    for (server, client) in [(Some("s"), None), (None, Some("s"))] {
        let now = origin();
        let mut p = pair(server, client);
        let (s, c) = (p.server.ep.stats(), p.client.ep.stats());
        assert_eq!((s.auth_failures, c.auth_failures), (1, 1), "{server:?}");
        assert_eq!((s.sessions, c.sessions), (0, 0));
        // Once more by hand, to read the reason the client is told.
        p.server.ep.handle_link_up(LinkId(9), up(), now);
        let nonce = client.map(|_| [7; 32]);
        p.server
            .ep
            .handle_message(LinkId(9), &hello(ClientId::One, 0, nonce), now);
        let reason = refusal(&sent(&mut p.server.ep, LinkId(9), now)).unwrap();
        assert!(
            reason.contains("dataExchange.sharedSecretFilePath"),
            "{reason}"
        );
    }
}

/// An established pair with a secret and a live stream; returns the
/// client's recorded handshake messages from its first link.
fn established_with_recording() -> (Pair, Vec<Vec<u8>>, u128) {
    let now = origin();
    let cfg = |role| {
        let mut c = support::config(role);
        c.listens = vec!["web".into()];
        c.connects = vec!["web".into()];
        c.shared_secret = secret("right");
        c
    };
    let server = Endpoint::new(cfg(tcpws_protocol::Role::Server), now).unwrap();
    let client = Endpoint::new(cfg(tcpws_protocol::Role::Client(ClientId::One)), now).unwrap();
    let mut p = Pair::from_endpoints(server, client, now);
    let link = p.link;
    p.server.ep.handle_link_up(link, up(), now);
    p.client.ep.handle_link_up(link, up(), now);
    // Move the handshake by hand, recording what the client says.
    let mut recorded = Vec::new();
    let mut token = 0;
    for _ in 0..4 {
        for m in sent(&mut p.client.ep, link, now) {
            p.server.ep.handle_message(link, &m, now);
            recorded.push(m);
        }
        for m in sent(&mut p.server.ep, link, now) {
            for f in frames(&m) {
                if let Ok(Frame::Welcome(w)) = f {
                    token = w.token;
                }
            }
            p.client.ep.handle_message(link, &m, now);
        }
    }
    p.pump();
    assert_eq!(p.server.ep.active(), Some(ClientId::One));
    assert_ne!(token, 0);
    (p, recorded, token)
}

/// Checks that the intruder's link was refused and the real session, its
/// stream and the election are as they were.
fn untouched(p: &mut Pair, intruder: LinkId, before: tcpws_protocol::Stats) {
    let now = p.now;
    let out = sent(&mut p.server.ep, intruder, now);
    assert!(refusal(&out).is_some(), "refused: {:?}", kinds(&out));
    assert!(!kinds(&out).iter().any(|k| k == "Welcome"));
    let mut changes = Vec::new();
    while let Some(o) = p.server.ep.poll_output() {
        if !matches!(o, Output::CloseLink { link, .. } if link == intruder) {
            changes.push(o);
        }
    }
    assert!(changes.is_empty(), "the server did more: {changes:?}");
    let after = p.server.ep.stats();
    assert_eq!(after.auth_failures, before.auth_failures + 1);
    assert_eq!(
        (
            after.sessions,
            after.streams,
            after.resumes,
            after.streams_reset
        ),
        (
            before.sessions,
            before.streams,
            before.resumes,
            before.streams_reset
        )
    );
    assert_eq!(p.server.ep.active(), Some(ClientId::One));
}

#[test]
fn replayed_handshakes_and_stolen_tokens_get_nothing() {
    let (mut p, recorded, token) = established_with_recording();
    let now = p.now;
    let conn = p.server.ep.handle_accept(TunnelId(0), now).unwrap();
    p.pump();
    let (dialed, _) = p.client.dials[0];
    p.client.ep.handle_dial_result(dialed, Ok(()), now);
    assert_eq!(p.server.ep.handle_app_data(conn, b"before", now), 6);
    p.pump();

    // 1. The client's recorded Hello and proof, replayed on a new link:
    //    the server's nonce is fresh, so the proof is worthless.
    let before = p.server.ep.stats();
    p.server.ep.handle_link_up(LinkId(50), up(), now);
    for m in &recorded {
        p.server.ep.handle_message(LinkId(50), m, now);
    }
    untouched(&mut p, LinkId(50), before);

    // 2. The stolen token with no proof at all.
    let before = p.server.ep.stats();
    p.server.ep.handle_link_up(LinkId(51), up(), now);
    p.server
        .ep
        .handle_message(LinkId(51), &hello(ClientId::One, token, None), now);
    untouched(&mut p, LinkId(51), before);

    // 3. The stolen token with a made-up proof.
    let before = p.server.ep.stats();
    p.server.ep.handle_link_up(LinkId(52), up(), now);
    p.server
        .ep
        .handle_message(LinkId(52), &hello(ClientId::One, token, Some([1; 32])), now);
    let challenge = sent(&mut p.server.ep, LinkId(52), now);
    assert_eq!(kinds(&challenge), ["AuthChallenge"]);
    let mut proof = Vec::new();
    Frame::AuthProof { proof: [0; 32] }.encode(&mut proof);
    p.server.ep.handle_message(LinkId(52), &proof, now);
    untouched(&mut p, LinkId(52), before);

    // 4. A frame of the session before the proof is a violation that
    //    closes only the intruder's link.
    let errors = p.server.ep.stats().protocol_errors;
    p.server.ep.handle_link_up(LinkId(53), up(), now);
    let mut ack = Vec::new();
    Frame::ControlAck { seq: 1 }.encode(&mut ack);
    p.server.ep.handle_message(LinkId(53), &ack, now);
    assert_eq!(p.server.ep.stats().sessions, 1);
    assert_eq!(p.server.ep.stats().protocol_errors, errors + 1);
    assert!(matches!(
        p.server.ep.poll_output(),
        Some(Output::CloseLink {
            link: LinkId(53),
            ..
        })
    ));

    // The real stream still carries bytes both ways.
    assert_eq!(p.server.ep.handle_app_data(conn, b" after", now), 6);
    p.pump();
    assert_eq!(p.client.socks[&dialed].delivered, b"before after");
    assert_eq!(p.server.ep.stats().resumes, 0);
}

#[test]
fn a_server_that_cannot_prove_the_secret_gets_no_client() {
    let now = origin();
    let mut c = support::config(tcpws_protocol::Role::Client(ClientId::One));
    c.shared_secret = secret("right");
    // A Welcome with no proof before it.
    let mut client = Endpoint::new(c.clone(), now).unwrap();
    client.handle_link_up(LinkId(1), up(), now);
    let hello = sent(&mut client, LinkId(1), now);
    assert_eq!(kinds(&hello), ["Hello"]);
    let mut welcome = Vec::new();
    Frame::Welcome(tcpws_protocol::frame::Welcome {
        version: PROTOCOL_VERSION,
        token: 5,
        resumed: false,
        ctl_rx: 0,
        window: 64 * 1024,
        grace_ms: 30_000,
        active: Some(ClientId::One),
        epoch: 1,
    })
    .encode(&mut welcome);
    client.handle_message(LinkId(1), &welcome, now);
    assert_eq!(client.stats().auth_failures, 1);
    assert_eq!(client.stats().sessions, 0);
    // A challenge, then a wrong proof from the "server".
    let mut client = Endpoint::new(c, now).unwrap();
    client.handle_link_up(LinkId(1), up(), now);
    let _ = sent(&mut client, LinkId(1), now);
    let mut challenge = Vec::new();
    Frame::AuthChallenge { nonce: [3; 32] }.encode(&mut challenge);
    client.handle_message(LinkId(1), &challenge, now);
    assert_eq!(kinds(&sent(&mut client, LinkId(1), now)), ["AuthProof"]);
    let mut proof = Vec::new();
    Frame::AuthProof { proof: [0; 32] }.encode(&mut proof);
    client.handle_message(LinkId(1), &proof, now);
    client.handle_message(LinkId(1), &welcome, now);
    assert_eq!(client.stats().auth_failures, 1);
    assert_eq!(client.stats().sessions, 0, "the welcome came too late");
}

#[test]
fn a_certificate_may_claim_only_its_own_id() {
    let now = origin();
    for (certified, accepted) in [
        (Certified::Client(ClientId::Two), false),
        (Certified::Neither, false),
        (Certified::Client(ClientId::One), true),
        (Certified::Unbound, true),
    ] {
        let mut server = Endpoint::new(support::config(tcpws_protocol::Role::Server), now).unwrap();
        let link_up = LinkUp { certified, ..up() };
        server.handle_link_up(LinkId(1), link_up, now);
        server.handle_message(LinkId(1), &hello(ClientId::One, 0, None), now);
        let out = sent(&mut server, LinkId(1), now);
        assert_eq!(
            kinds(&out).contains(&"Welcome".to_string()),
            accepted,
            "{certified:?}"
        );
        if !accepted {
            let reason = refusal(&out).unwrap();
            assert!(
                reason.contains("dataExchange.mutualTLSClientCertificates"),
                "{reason}"
            );
            assert_eq!(server.stats().sessions, 0);
            assert_eq!(server.active(), None);
        }
    }
}

/// Nothing after a refusal counts, not even the rest of its message: a
/// second Hello that would pass (here, for the id the certificate allows)
/// must not start a session on a refused link.
#[test]
fn frames_after_a_refusal_in_the_same_message_are_ignored() {
    let now = origin();
    let mut server = Endpoint::new(support::config(tcpws_protocol::Role::Server), now).unwrap();
    let link_up = LinkUp {
        certified: Certified::Client(ClientId::One),
        ..up()
    };
    server.handle_link_up(LinkId(1), link_up, now);
    let mut message = hello(ClientId::Two, 0, None);
    message.extend(hello(ClientId::One, 0, None));
    for _ in 0..100 {
        Frame::AuthProof { proof: [0; 32] }.encode(&mut message);
    }
    server.handle_message(LinkId(1), &message, now);
    let out = sent(&mut server, LinkId(1), now);
    assert_eq!(kinds(&out), ["AuthRefused"]);
    let s = server.stats();
    assert_eq!((s.auth_failures, s.protocol_errors), (1, 0), "one refusal");
    assert_eq!((s.sessions, s.links_up), (0, 0));
    assert_eq!(server.active(), None);
    // A later message on the refused link is ignored too.
    server.handle_message(LinkId(1), &hello(ClientId::One, 0, None), now);
    assert_eq!(server.stats().sessions, 0);
}

#[test]
fn a_second_hello_or_an_echoed_nonce_is_refused() {
    let now = origin();
    let mut c = support::config(tcpws_protocol::Role::Server);
    c.shared_secret = secret("right");
    // A second Hello while the first waits for its proof.
    let mut server = Endpoint::new(c.clone(), now).unwrap();
    server.handle_link_up(LinkId(1), up(), now);
    server.handle_message(LinkId(1), &hello(ClientId::One, 0, Some([1; 32])), now);
    server.handle_message(LinkId(1), &hello(ClientId::One, 0, Some([2; 32])), now);
    assert_eq!(server.stats().protocol_errors, 1);
    assert_eq!(server.stats().sessions, 0);
    // A client that sends back the server's own nonce as its own.
    let mut server = Endpoint::new(c, now).unwrap();
    let link_up = up();
    server.handle_link_up(LinkId(1), link_up, now);
    let challenge = sent(&mut server, LinkId(1), now);
    assert_eq!(kinds(&challenge), ["AuthChallenge"]);
    server.handle_message(
        LinkId(1),
        &hello(ClientId::One, 0, Some(link_up.nonce)),
        now,
    );
    let reason = refusal(&sent(&mut server, LinkId(1), now)).unwrap();
    assert!(reason.contains("echoed"), "{reason}");
    // And a server that sends back the client's nonce as its challenge.
    let mut cc = support::config(tcpws_protocol::Role::Client(ClientId::One));
    cc.shared_secret = secret("right");
    let mut client = Endpoint::new(cc, now).unwrap();
    let link_up = up();
    client.handle_link_up(LinkId(1), link_up, now);
    let _ = sent(&mut client, LinkId(1), now);
    let mut echo = Vec::new();
    Frame::AuthChallenge {
        nonce: link_up.nonce,
    }
    .encode(&mut echo);
    client.handle_message(LinkId(1), &echo, now);
    assert_eq!(client.stats().auth_failures, 1);
    assert!(
        !kinds(&sent(&mut client, LinkId(1), now)).contains(&"AuthProof".to_string()),
        "no proof for an echoed nonce"
    );
}

#[test]
fn a_link_without_its_handshake_in_time_is_closed() {
    let now = origin();
    let mut server = Endpoint::new(support::config(tcpws_protocol::Role::Server), now).unwrap();
    server.handle_link_up(LinkId(1), up(), now);
    // Keepalives do not extend the deadline, and none go out before it.
    let mut keepalive = Vec::new();
    Frame::Keepalive.encode(&mut keepalive);
    let step = Duration::from_secs(1);
    let mut t = now;
    for _ in 0..4 {
        t += step;
        server.handle_message(LinkId(1), &keepalive, t);
        server.handle_timeout(t);
        assert!(
            sent(&mut server, LinkId(1), t).is_empty(),
            "nothing before the hello"
        );
        assert_eq!(server.poll_output(), None);
    }
    t += step;
    server.handle_timeout(t);
    assert!(matches!(
        server.poll_output(),
        Some(Output::CloseLink {
            link: LinkId(1),
            ..
        })
    ));
    assert_eq!(server.stats().handshake_timeouts, 1);
    assert_eq!(server.handshaking_links(), 0);
}

/// `may_transmit` is false only when `poll_transmit` has nothing: a server
/// link waiting for its Hello; true once the Welcome (or a refusal) waits.
#[test]
fn may_transmit_is_false_only_for_a_quiet_handshake() {
    let now = origin();
    let mut server = Endpoint::new(support::config(tcpws_protocol::Role::Server), now).unwrap();
    server.handle_link_up(LinkId(1), up(), now);
    assert!(!server.may_transmit(LinkId(1)));
    assert!(sent(&mut server, LinkId(1), now).is_empty());
    // Keepalives are due later, but none goes out before the handshake.
    let later = now + Duration::from_secs(4);
    server.handle_timeout(later);
    assert!(!server.may_transmit(LinkId(1)));
    assert!(sent(&mut server, LinkId(1), later).is_empty());
    server.handle_message(LinkId(1), &hello(ClientId::One, 0, None), later);
    assert!(server.may_transmit(LinkId(1)));
    assert_eq!(
        kinds(&sent(&mut server, LinkId(1), later)),
        ["Welcome", "Control"]
    );
    assert!(
        server.may_transmit(LinkId(1)),
        "a session's link always may"
    );
    assert!(!server.may_transmit(LinkId(9)), "an unknown link may not");
}
