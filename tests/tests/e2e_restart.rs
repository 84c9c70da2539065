//! End to end: killing the active client fails over; restarting the server
//! or a client brings everything back, and switching still works.

mod support;

use std::time::Duration;

use support::*;

#[test]
fn killing_the_active_client_fails_over_to_the_other() {
    let mut c = Cluster::start("killactive");
    c.client1.kill();
    // The server fails over once the failover delay has passed.
    c.wait_active(2);
    let mut s = connect_when_open(c.ports.server[0], Duration::from_secs(10));
    echo_once(&mut s, b"through client 2");
    assert!(c.backend2.accepted() >= 1);
    // Client 1 comes back as standby: no preemption.
    c.client1.restart();
    c.wait_links(2);
    let mut s = connect(c.ports.server[1]);
    echo_once(&mut s, b"still client 2");
    assert_eq!(c.active(), Some(2));
}

#[test]
fn server_restart_while_clients_run() {
    let mut c = Cluster::start("serverrestart");
    c.server.restart();
    c.wait_links(2);
    let mut s = connect_when_open(c.ports.server[0], Duration::from_secs(10));
    echo_once(&mut s, b"after the server restart");
    // Switching still works after the restart.
    let mut trigger = connect_when_open(c.client_port(2, 0), Duration::from_secs(10));
    echo_once(&mut trigger, b"claim");
    c.wait_active(2);
}

#[test]
fn client_restart_keeps_the_rules_working() {
    let mut c = Cluster::start("clientrestart");
    c.client2.restart();
    c.wait_links(2);
    let mut trigger = connect_when_open(c.client_port(2, 1), Duration::from_secs(10));
    echo_once(&mut trigger, b"claim after restart");
    c.wait_active(2);
    let mut s = connect_when_open(c.ports.server[0], Duration::from_secs(10));
    echo_once(&mut s, b"routed to client 2");
}

#[test]
fn sigterm_exits_cleanly() {
    let mut c = Cluster::start("sigterm");
    let status = c.client2.terminate().expect("exit status");
    assert!(status.success(), "tcpws exited with {status}");
    c.wait_links(1);
}
