//! HA rule: the connection whose first data switched the active client stays
//! up through the switch, and none of its data is lost.

use tcpws_protocol::ClientId;
use tcpws_tests::sim::scenario::{
    expect, expect_complete, millis, secs, settle, trigger_switch, wait_final, wait_up, world,
};
use tcpws_tests::sim::{AppPlan, Node, SimConfig, Status};

const NAME: &str = "ha_trigger_survives_switch";

fn thirty_messages_across_the_switch(cfg: SimConfig) {
    let mut w = world(NAME, cfg);
    wait_up(&mut w);
    let standby = w
        .active_of(Node::Server)
        .map_or(ClientId::Two, ClientId::other);
    let app = trigger_switch(&mut w, standby, AppPlan::manual());
    let mut switched_at = None;
    for i in 0..30u64 {
        w.app_write(app, 100 + i);
        w.run_for(millis(100));
        if switched_at.is_none() && w.active_of(Node::Server) == Some(standby) {
            switched_at = Some(i);
        }
        expect(
            &w,
            w.app(app).status == Status::Open,
            format_args!("the trigger connection ended after message {i}"),
        );
    }
    // Within a few round trips of the first message, even on a slow WAN.
    expect(
        &w,
        switched_at.is_some_and(|i| i <= 5),
        format_args!("the switch came after message {switched_at:?}"),
    );
    w.app_finish(app);
    wait_final(&mut w, app, secs(10));
    expect_complete(&w, app);
    let sent: u64 = (0..30u64).map(|i| 100 + i).sum();
    expect(
        &w,
        w.app(app).payload_sent() == sent && w.app(app).payload_received() == sent,
        "every message went through and was echoed",
    );
    settle(&mut w, secs(10));
}

#[test]
fn thirty_messages_on_a_lan() {
    thirty_messages_across_the_switch(SimConfig::default());
}

#[test]
fn thirty_messages_on_a_slow_wan() {
    let mut cfg = SimConfig::default();
    for p in &mut cfg.paths {
        p.latency = (millis(40), millis(120));
        p.bandwidth = Some(200_000);
    }
    thirty_messages_across_the_switch(cfg);
}

#[test]
fn a_bulk_trigger_survives_the_switch() {
    let mut w = world(NAME, SimConfig::default());
    wait_up(&mut w);
    let standby = w
        .active_of(Node::Server)
        .map_or(ClientId::Two, ClientId::other);
    let app = trigger_switch(&mut w, standby, AppPlan::bulk(2_000_000));
    wait_final(&mut w, app, secs(30));
    expect_complete(&w, app);
    expect(
        &w,
        w.active_of(Node::Server) == Some(standby),
        "the triggering client is active",
    );
    settle(&mut w, secs(10));
}
