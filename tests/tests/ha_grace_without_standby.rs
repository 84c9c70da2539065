//! HA rule: with no standby online, a dropped active client gets the whole
//! resume grace: its streams survive an outage longer than the failover
//! delay. A connection accepted on a server listen socket while its link is
//! down waits at most the failover delay, then is closed; later ones are
//! refused at once.

use tcpws_tests::sim::scenario::{
    expect, expect_complete, millis, secs, settle, wait_final, wait_up, world,
};
use tcpws_tests::sim::{AppPlan, BackendMode, Node, SimConfig, Status};

const NAME: &str = "ha_grace_without_standby";

#[test]
fn an_outage_past_the_failover_delay_loses_nothing_without_a_standby() {
    let cfg = SimConfig::default();
    let (delay, grace, idle) = (cfg.failover_after, cfg.resume_grace, cfg.keepalive_timeout);
    let mut w = world(NAME, cfg);
    wait_up(&mut w);
    let active = w.active_of(Node::Server).expect("up");
    w.crash(Node::client(active.other()));
    w.run_for(millis(200));
    let apps = [
        w.app_connect(Node::Server, "s1", AppPlan::bulk(2_000_000)),
        w.app_connect(
            Node::Server,
            "s2",
            AppPlan::bulk(1_000).with_backend(BackendMode::Stream(2_000_000)),
        ),
    ];
    w.run_for(millis(300));
    // Nothing gets through until the keepalive timeout closes the link,
    // then the link stays down past the failover delay, within the grace.
    w.partition(active);
    w.wait_for("the link to drop", idle + secs(1), |w| !w.link_up(active));
    w.run_for(delay + secs(1));
    expect(
        &w,
        w.active_of(Node::Server) == Some(active),
        "the server gave up its only client before the grace ended",
    );
    expect(
        &w,
        delay + secs(1) < grace,
        "the scenario needs an outage shorter than the grace",
    );
    w.restore_link(active);
    for app in apps {
        wait_final(&mut w, app, secs(60));
        expect_complete(&w, app);
    }
    w.start(Node::client(active.other()));
    settle(&mut w, secs(15));
}

#[test]
fn a_connection_nobody_can_carry_is_closed_after_the_failover_delay() {
    let cfg = SimConfig::default();
    let delay = cfg.failover_after;
    let mut w = world(NAME, cfg);
    wait_up(&mut w);
    let active = w.active_of(Node::Server).expect("up");
    w.crash(Node::client(active.other()));
    w.crash(Node::client(active));
    w.run_for(millis(200));
    let held = w.app_connect(Node::Server, "s1", AppPlan::manual());
    expect(
        &w,
        w.app(held).status == Status::Open,
        "the server refused a connection while the session waits",
    );
    let t0 = w.now();
    wait_final(&mut w, held, delay + secs(1));
    let waited = w.now() - t0;
    expect(
        &w,
        w.app(held).status == Status::Reset && waited <= delay,
        format_args!(
            "the held connection ended {:?} after {waited:?}, delay {delay:?}",
            w.app(held).status
        ),
    );
    let late = w.app_connect(Node::Server, "s1", AppPlan::manual());
    w.run_for(millis(10));
    expect(
        &w,
        w.app(late).eof || w.app(late).status.is_final(),
        "a connection after the delay was not closed at once",
    );
    w.app_finish(late);
    w.start(Node::C1);
    w.start(Node::C2);
    settle(&mut w, secs(15));
}
