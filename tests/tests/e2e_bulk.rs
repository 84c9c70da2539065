//! End to end: bulk transfers both ways through each tunnel direction,
//! compared with SHA-256, and an application that writes everything before
//! reading its echo. `TCPWS_E2E_MB` sets the size (default 16; 100 for the
//! seed's full suite).

mod support;

use std::io::{Read, Write};
use std::net::Shutdown;

use support::*;

fn megabytes() -> usize {
    std::env::var("TCPWS_E2E_MB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(16)
}

#[test]
fn bulk_both_ways_per_tunnel_direction_is_intact() {
    let c = Cluster::start("bulk");
    let len = megabytes() << 20;
    for (what, port) in [
        ("server-listen", c.ports.server[0]),
        ("client-listen", c.client_port(1, 0)),
    ] {
        let (sent, received) = transfer_sha(port, 42, len);
        assert_eq!(sent, received, "{what}: SHA-256 of the echo differs");
    }
}

#[test]
fn write_everything_before_reading_with_a_raised_buffer() {
    let mb = megabytes();
    let c = Cluster::start_with(
        "writefirst",
        Options {
            buffer_bytes: Some(((mb as u64) << 20) * 2 + (8 << 20)),
            ..Options::default()
        },
    );
    let data = pattern(7, mb << 20);
    let mut s = connect(c.ports.server[0]);
    s.write_all(&data)
        .expect("the tunnel buffers the whole write");
    s.shutdown(Shutdown::Write).unwrap();
    let mut back = Vec::with_capacity(data.len());
    s.read_to_end(&mut back).unwrap();
    assert!(
        back == data,
        "echo differs ({} of {} bytes)",
        back.len(),
        data.len()
    );
}

#[test]
fn many_connections_of_random_sizes_all_intact() {
    let c = Cluster::start("random");
    let max = std::env::var("TCPWS_E2E_MAX_CONN_BYTES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2_000_000u64);
    let ports = [
        c.ports.server[0],
        c.ports.server[1],
        c.client_port(1, 0),
        c.client_port(1, 1),
    ];
    let sizes: Vec<usize> = (0..100u64)
        .map(|i| {
            (100_000 + pattern(i, 8).iter().fold(0u64, |a, b| a * 31 + *b as u64) % max) as usize
        })
        .collect();
    let mut next = 0;
    while next < sizes.len() {
        let batch: Vec<_> = (next..(next + 20).min(sizes.len()))
            .map(|i| {
                let port = ports[i % ports.len()];
                let len = sizes[i];
                std::thread::spawn(move || {
                    let (a, b) = transfer_sha(port, i as u64, len);
                    assert_eq!(a, b, "connection {i} of {len} bytes corrupted");
                })
            })
            .collect();
        next += batch.len();
        for t in batch {
            t.join().expect("every connection intact");
        }
    }
}
