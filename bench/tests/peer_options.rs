//! The parts of `tcpws-bench --peer` that need no peer installed: a bad
//! `--peer` is a usage error (exit 2) before anything starts, and the
//! floor's relays (`--serve-relay`, this program again) chained in two
//! processes carry a bulk transfer byte for byte.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

fn bench() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_tcpws-bench"));
    c.env_remove("RUST_LOG");
    c
}

#[test]
fn a_bad_peer_is_a_usage_error() {
    for (args, says) in [
        (&["--peer", "chisel=/bin/sh"][..], "unknown peer"),
        (
            &["--peer", "wstunnel=/no/such/wstunnel"][..],
            "/no/such/wstunnel",
        ),
        (&["--peer", "wstunnel"][..], "NAME=PATH"),
        (
            &["--peer", "wstunnel=/bin/sh", "--cases", "ws"][..],
            "--cases",
        ),
    ] {
        let out = bench().args(args).output().expect("run tcpws-bench");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
        assert!(out.stdout.is_empty(), "{args:?}");
    }
}

/// A relay process, killed when dropped.
struct Relay(Child);

impl Drop for Relay {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn relay(listen: u16, target: u16) -> Relay {
    let child = bench()
        .arg("--serve-relay")
        .arg(format!("{listen}={target}"))
        .stdin(Stdio::null())
        .spawn()
        .expect("start a relay");
    let relay = Relay(child);
    let start = Instant::now();
    while TcpStream::connect(("127.0.0.1", listen)).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "no relay on {listen}"
        );
        thread::sleep(Duration::from_millis(10));
    }
    relay
}

#[test]
fn two_relay_processes_carry_every_byte() {
    const LEN: usize = 8 << 20;
    let sink = TcpListener::bind("127.0.0.1:0").unwrap();
    let sink_port = sink.local_addr().unwrap().port();
    let counter = thread::spawn(move || {
        // The relays' readiness probes connect and close; the transfer is
        // the connection that brings bytes.
        loop {
            let (mut s, _) = sink.accept().unwrap();
            let mut buf = vec![0u8; 1 << 16];
            let mut total = 0usize;
            while let Ok(n) = s.read(&mut buf) {
                if n == 0 {
                    break;
                }
                total += n;
            }
            if total > 0 {
                s.write_all(&(total as u64).to_le_bytes()).unwrap();
                return total;
            }
        }
    });
    let (b_port, a_port) = (free_port(), free_port());
    let _b = relay(b_port, sink_port);
    let _a = relay(a_port, b_port);
    let mut app = TcpStream::connect(("127.0.0.1", a_port)).unwrap();
    app.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    app.write_all(&vec![7u8; LEN]).unwrap();
    app.shutdown(std::net::Shutdown::Write).unwrap();
    let mut count = [0u8; 8];
    app.read_exact(&mut count).unwrap();
    assert_eq!(u64::from_le_bytes(count), LEN as u64);
    assert_eq!(counter.join().unwrap(), LEN);
}
