//! HA rule: when the active client's link has been down for the failover
//! delay and the other is online, the server fails over to the other one.
//! Server listen sockets are open only while at least one client is online;
//! client listen sockets only while the server is online.

use tcpws_protocol::ClientId;
use tcpws_tests::sim::scenario::{
    expect, expect_complete, millis, secs, settle, wait_active, wait_final, wait_up, world,
};
use tcpws_tests::sim::{AppPlan, Node, SimConfig, Status};

const NAME: &str = "ha_failover_on_active_loss";

#[test]
fn crash_of_the_active_client_fails_over_after_the_failover_delay() {
    let cfg = SimConfig::default();
    let delay = cfg.failover_after;
    let mut w = world(NAME, cfg);
    wait_up(&mut w);
    let active = w.active_of(Node::Server).expect("up");
    let other = active.other();
    let epoch = w.epoch_of(Node::Server);
    w.crash(Node::client(active));
    let t0 = w.now();
    // Within the failover delay the server waits for a resume.
    w.run_for(delay - millis(100));
    expect(
        &w,
        w.active_of(Node::Server) == Some(active),
        "the server failed over before the failover delay ended",
    );
    wait_active(&mut w, other, secs(1));
    expect(
        &w,
        w.epoch_of(Node::Server) > epoch,
        "the failover raised the epoch",
    );
    let took = w.now() - t0;
    expect(
        &w,
        took <= delay + millis(100),
        format_args!("the failover took {took:?}, the delay is {delay:?}"),
    );
    w.wait_for("the server to listen", secs(5), |w| {
        w.listens_all(Node::Server)
    });
    let app = w.app_connect(Node::Server, "s1", AppPlan::bulk(20_000));
    wait_final(&mut w, app, secs(5));
    expect_complete(&w, app);
    expect(
        &w,
        w.peer(app).map(|p| p.node()) == Some(Node::client(other)),
        "s1 reaches the other client",
    );
    w.start(Node::client(active));
    settle(&mut w, secs(15));
}

#[test]
fn a_partitioned_active_client_is_failed_over_and_its_streams_reset() {
    let cfg = SimConfig::default();
    let mut w = world(NAME, cfg);
    wait_up(&mut w);
    let active = w.active_of(Node::Server).expect("up");
    let app = w.app_connect(Node::Server, "s1", AppPlan::manual());
    w.app_write(app, 1_000);
    w.run_for(millis(200));
    expect(&w, w.peer(app).is_some(), "the app reached its backend");
    w.partition(active);
    // The keepalive timeout, then the failover delay, and some slack.
    let other = active.other();
    let cfg = w.config().clone();
    w.wait_for(
        "the failover",
        cfg.keepalive_timeout + cfg.failover_after + secs(1),
        |w| {
            w.active_of(Node::Server) == Some(other)
                && w.active_of(Node::client(other)) == Some(other)
        },
    );
    // The partitioned client cannot know: its own resume grace ends its
    // session, and the connections through it, a little later.
    w.wait_for(
        "the lost client's streams to be reset",
        cfg.resume_grace,
        |w| w.peer(app).is_some_and(|b| b.status.is_final()),
    );
    let a = w.app(app);
    let b = w.peer(app).expect("checked");
    expect(
        &w,
        a.status == Status::Reset,
        format_args!("the server-side app is {:?}, expected Reset", a.status),
    );
    expect(
        &w,
        b.status == Status::Reset,
        format_args!(
            "the backend behind the lost client is {:?}, expected Reset",
            b.status
        ),
    );
    w.restore_link(active);
    settle(&mut w, secs(15));
    expect(
        &w,
        w.active_of(Node::Server) == Some(active.other()),
        "the healed client took over again",
    );
}

#[test]
fn listen_sockets_follow_who_is_online() {
    let cfg = SimConfig::default();
    let grace = cfg.resume_grace;
    let mut w = world(NAME, cfg);
    wait_up(&mut w);
    // Both clients gone: after the grace period the server stops listening.
    w.crash(Node::C1);
    w.crash(Node::C2);
    w.run_for(grace + secs(1));
    expect(
        &w,
        w.listens_none(Node::Server),
        "the server listens with no client online",
    );
    w.start(Node::C2);
    wait_up(&mut w);
    expect(
        &w,
        w.active_of(Node::Server) == Some(ClientId::Two),
        "client 2, alone online, is active",
    );
    w.wait_for("the server to listen again", secs(5), |w| {
        w.listens_all(Node::Server)
    });
    // The server gone: after the grace period the clients stop listening.
    w.start(Node::C1);
    wait_up(&mut w);
    w.crash(Node::Server);
    w.run_for(grace + secs(1));
    for c in [Node::C1, Node::C2] {
        expect(
            &w,
            w.listens_none(c),
            format_args!("{c} listens with the server gone"),
        );
    }
    w.start(Node::Server);
    settle(&mut w, secs(15));
}

#[test]
fn a_connection_made_during_the_failover_delay_is_carried_by_the_new_active_client() {
    let cfg = SimConfig::default();
    let delay = cfg.failover_after;
    let mut w = world(NAME, cfg);
    wait_up(&mut w);
    let active = w.active_of(Node::Server).expect("up");
    let other = active.other();
    w.crash(Node::client(active));
    w.run_for(millis(500));
    // The server still listens and holds the connection for the delay.
    let app = w.app_connect(Node::Server, "s1", AppPlan::bulk(20_000));
    expect(
        &w,
        w.app(app).status == Status::Open,
        "the server refused a connection during the failover delay",
    );
    wait_final(&mut w, app, delay + secs(5));
    expect_complete(&w, app);
    expect(
        &w,
        w.peer(app).map(|p| p.node()) == Some(Node::client(other)),
        "the held connection reached the new active client",
    );
    w.start(Node::client(active));
    settle(&mut w, secs(15));
}
