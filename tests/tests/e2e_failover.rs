//! End to end: first data on the standby's listen socket switches the
//! active client; the triggering connection survives; listen sockets close
//! and reopen on time; repeated switches keep working.

mod support;

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use support::*;

const D: Duration = Duration::from_secs(STANDBY_CLOSE_SECS);

/// Switches to `to` by writing on its listen socket, checks the rules, and
/// returns when the old active's and the server's listen sockets reopened.
fn switch_to(c: &Cluster, to: u8) {
    let from = if to == 1 { 2 } else { 1 };
    // A connection through the old active client, to see it closed.
    let mut old = connect(c.ports.server[0]);
    echo_once(&mut old, b"before the switch");

    // The triggering connection: 30 messages across the switch.
    let mut trigger = connect(c.client_port(to, 0));
    let t0 = Instant::now();
    trigger.write_all(b"message 0 ").unwrap();
    let mut expected = b"message 0 ".to_vec();
    for i in 1..30 {
        let msg = format!("message {i} ");
        trigger.write_all(msg.as_bytes()).unwrap();
        expected.extend_from_slice(msg.as_bytes());
    }
    let mut got = vec![0u8; expected.len()];
    trigger
        .read_exact(&mut got)
        .expect("echo of the triggering connection");
    assert_eq!(
        got, expected,
        "the triggering connection lost or reordered bytes"
    );

    c.wait_active(to);
    // Server listen sockets and the new standby's close within 1 s.
    wait_until(
        "server listen sockets closed",
        Duration::from_secs(1),
        || !port_open(c.ports.server[0]) && !port_open(c.ports.server[1]),
    );
    wait_until(
        "new standby's listen sockets closed",
        Duration::from_secs(1),
        || !port_open(c.client_port(from, 0)) && !port_open(c.client_port(from, 1)),
    );
    assert!(
        closed_within(&mut old, Duration::from_secs(2)),
        "old active's connection left open"
    );
    // The trigger keeps working after the switch.
    echo_once(&mut trigger, b"after the switch");
    // Both reopen standby_close later (+-1 s).
    // Both: the server binds them one after the other, and the second
    // is used below (seen in CI: s2 refused a moment after s1 reopened).
    let reopened = wait_until(
        "server listen sockets reopen",
        D + Duration::from_secs(2),
        || port_open(c.ports.server[0]) && port_open(c.ports.server[1]),
    );
    let since = t0.elapsed();
    assert!(
        since + Duration::from_millis(50) >= D - Duration::from_secs(1),
        "server reopened after {since:?} ({reopened:?} of waiting), before {D:?} - 1 s"
    );
    wait_until(
        "new standby's listen sockets reopen",
        D + Duration::from_secs(2),
        || port_open(c.client_port(from, 0)),
    );
    // Server tunnels now go to the new active client.
    let before = if to == 1 {
        c.backend1.accepted()
    } else {
        c.backend2.accepted()
    };
    let mut s = connect(c.ports.server[1]);
    echo_once(&mut s, b"routed to the new active client");
    let after = if to == 1 {
        c.backend1.accepted()
    } else {
        c.backend2.accepted()
    };
    assert!(after > before, "server tunnel did not reach client {to}");
}

#[test]
fn first_data_on_standby_switches_and_repeats() {
    let c = Cluster::start("failover");
    for to in [2, 1, 2, 1] {
        switch_to(&c, to);
    }
    let epoch = c.metric("tcpws_epoch").unwrap();
    assert!(epoch >= 5.0, "epoch {epoch} after four switches");
}

#[test]
fn a_connection_without_data_does_not_switch() {
    let c = Cluster::start("nodata");
    let _idle = connect(c.client_port(2, 0));
    let mut s = connect(c.ports.server[0]);
    echo_once(&mut s, b"still client 1");
    assert_eq!(c.active(), Some(1));
}
