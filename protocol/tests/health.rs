//! `Endpoint::health`, what `/healthz` answers, follows the session: a
//! server is ready only while a client is active and its session has a
//! link, a client only while its session with the server has one; neither
//! once it is shutting down. The per-tunnel counters count by tunnel.

mod support;

use std::time::Duration;

use support::{config, origin, up, Pair};
use tcpws_protocol::{ClientId, Endpoint, Health, LinkId, Role, TunnelId};

fn unready(why: &str) -> Health {
    Health::Unready(why.into())
}

#[test]
fn health_follows_the_link_and_ends_with_a_stop() {
    let now = origin();
    let server = Endpoint::new(config(Role::Server), now).unwrap();
    let client = Endpoint::new(config(Role::Client(ClientId::One)), now).unwrap();
    assert_eq!(server.health(), unready("no client is active"));
    assert_eq!(client.health(), unready("no session with the server"));

    let mut p = Pair::new();
    assert_eq!(p.server.ep.health(), Health::Ready);
    assert_eq!(p.client.ep.health(), Health::Ready);

    p.server.ep.handle_link_down(p.link, "cut", p.now);
    p.client.ep.handle_link_down(p.link, "cut", p.now);
    assert_eq!(
        p.server.ep.health(),
        unready("client 1 is active but its session has no link")
    );
    assert_eq!(p.client.ep.health(), unready("no session with the server"));

    p.advance(Duration::from_secs(1));
    p.link = LinkId(2);
    p.server.ep.handle_link_up(p.link, up(), p.now);
    p.client.ep.handle_link_up(p.link, up(), p.now);
    p.pump();
    assert!(p.server.ep.health().is_ready() && p.client.ep.health().is_ready());

    p.server.ep.handle_shutdown(p.now);
    assert_eq!(p.server.ep.health(), unready("the server is shutting down"));
}

#[test]
fn tunnel_counters_count_connections_and_bytes_by_tunnel() {
    let mut p = Pair::new();
    let now = p.now;
    let conn = p.server.ep.handle_accept(TunnelId(0), now).unwrap();
    assert_eq!(p.server.ep.handle_app_data(conn, b"request", now), 7);
    p.pump();
    let (dialed, _) = p.client.dials[0];
    p.client.ep.handle_dial_result(dialed, Ok(()), now);
    p.pump();
    assert_eq!(p.client.socks[&dialed].delivered, b"request");

    let listen = p.server.ep.listen_tunnel_stats()[0];
    assert_eq!((listen.streams_opened, listen.bytes_from_apps), (1, 7));
    assert_eq!(p.server.ep.connect_tunnel_stats()[0].streams_opened, 0);
    let connect = p.client.ep.connect_tunnel_stats()[0];
    assert_eq!((connect.streams_opened, connect.bytes_to_apps), (1, 7));
    assert_eq!(p.client.ep.listen_tunnel_stats()[0].streams_opened, 0);
}
