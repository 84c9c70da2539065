//! The bare-relay floor: the least any user-space tunnel can cost on this
//! machine. Two relay processes in a chain (app → relay A → relay B →
//! backend), each copying every connection in both directions with
//! blocking reads and writes of 256 KiB, two threads a connection, and no
//! framing, no multiplexing, no TLS. A tunnel has the same two hops, so
//! its figure over the floor's is what its protocol and event loop cost.
//! It is a floor for bytes and round trips, not for setups: each
//! connection costs every relay two thread starts, which an event loop
//! does not pay; and having no TLS, its wss figures are its ws ones.
//!
//! A relay is this program again (`tcpws-bench --serve-relay
//! LISTEN=TARGET,...`, [`serve`]), so its CPU time and memory are its own.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::Path;
use std::thread;
use std::time::Duration;

use crate::compare::route::Entry;
use crate::error::BenchError;
use crate::launch;
use crate::processes::{self, Proc};

/// Bytes per read and write of each direction of a relayed connection.
const BUF_BYTES: usize = 256 * 1024;

/// `LISTEN=TARGET,...`: the loopback port a relay listens on and the one
/// it forwards each connection to, for each backend.
pub fn parse_spec(text: &str) -> Result<Vec<(u16, u16)>, BenchError> {
    let bad = || {
        BenchError::Usage(format!(
            "--serve-relay: expected LISTEN=TARGET port pairs such as 5000=6000,5001=6001, \
             got {text:?}"
        ))
    };
    text.split(',')
        .map(|pair| {
            let (listen, target) = pair.split_once('=').ok_or_else(bad)?;
            let port = |p: &str| p.trim().parse::<u16>().ok().filter(|&p| p > 0);
            Ok((port(listen).ok_or_else(bad)?, port(target).ok_or_else(bad)?))
        })
        .collect()
}

/// The spec of a relay forwarding `listen`'s ports to `target`'s.
fn spec(listen: Entry, target: Entry) -> String {
    Entry::KINDS
        .iter()
        .map(|&k| format!("{}={}", listen.to(k), target.to(k)))
        .collect::<Vec<_>>()
        .join(",")
}

/// Listens on every `LISTEN` port of `pairs` and relays each connection
/// to its `TARGET` on threads of its own; returns once all listen.
pub fn start_relays(pairs: &[(u16, u16)]) -> Result<(), BenchError> {
    for &(listen, target) in pairs {
        let listener = TcpListener::bind(("127.0.0.1", listen))
            .map_err(BenchError::io(format!("relay: listen on port {listen}")))?;
        thread::Builder::new()
            .name("relay-accept".into())
            .spawn(move || accept_loop(&listener, target))
            .map_err(BenchError::io("relay: start a thread"))?;
    }
    Ok(())
}

/// The body of `tcpws-bench --serve-relay SPEC`: relays until killed.
pub fn serve(spec: &str) -> Result<(), BenchError> {
    start_relays(&parse_spec(spec)?)?;
    loop {
        thread::park();
    }
}

fn accept_loop(listener: &TcpListener, target: u16) {
    for conn in listener.incoming() {
        let conn = match conn {
            Ok(c) => c,
            Err(e) => {
                eprintln!("relay: accept: {e}");
                thread::sleep(Duration::from_millis(10));
                continue;
            }
        };
        if let Err(e) = relay(conn, target) {
            eprintln!("relay: to port {target}: {e}");
        }
    }
}

/// Connects to `target` and copies each way on a thread of its own.
fn relay(app: TcpStream, target: u16) -> io::Result<()> {
    let far = TcpStream::connect(("127.0.0.1", target))?;
    for s in [&app, &far] {
        s.set_nodelay(true)?;
    }
    let (app2, far2) = (app.try_clone()?, far.try_clone()?);
    thread::Builder::new()
        .name("relay-up".into())
        .spawn(move || copy(app, far))?;
    thread::Builder::new()
        .name("relay-down".into())
        .spawn(move || copy(far2, app2))?;
    Ok(())
}

/// Reads `from` to its end and writes it all to `to`, then ends `to`'s
/// writing side; a failure either way ends both.
fn copy(mut from: TcpStream, mut to: TcpStream) {
    let mut buf = vec![0u8; BUF_BYTES];
    loop {
        match from.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                if to.write_all(&buf[..n]).is_err() {
                    let _ = from.shutdown(Shutdown::Both);
                    break;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => {
                let _ = to.shutdown(Shutdown::Both);
                return;
            }
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}

/// The two relay processes and the ports that lead through them.
pub struct Floor {
    pub entry: Entry,
    /// Relay A (the app's side), then relay B (the backends' side).
    pub procs: Vec<Proc>,
}

impl Floor {
    /// Starts relay B towards `backends`, then relay A towards B, logs
    /// under `dir`, and waits until an echo goes through both.
    pub fn start(dir: &Path, backends: Entry) -> Result<Floor, BenchError> {
        let (a_ports, b_ports) = (Entry::free()?, Entry::free()?);
        let mut procs = Vec::new();
        for (name, listen, target) in [
            ("relay B", b_ports, backends),
            ("relay A", a_ports, b_ports),
        ] {
            let home = dir.join(name.replace(' ', "-"));
            std::fs::create_dir_all(&home)
                .map_err(BenchError::io(format!("create {}", home.display())))?;
            let mut command = launch::this_program()?;
            command.arg("--serve-relay").arg(spec(listen, target));
            let mut p = Proc::spawn(command, name.into(), home)?.dies_on_sigterm();
            p.wait_listening(&listen.ports())?;
            procs.push(p);
        }
        procs.reverse();
        processes::expect_echo(&mut procs, a_ports.echo, "the relay chain")?;
        Ok(Floor {
            entry: a_ports,
            procs,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backends::{Backend, Kind};
    use crate::cases::{self, Ending};

    #[test]
    fn specs() {
        assert_eq!(parse_spec("5000=6000").unwrap(), [(5000, 6000)]);
        assert_eq!(
            parse_spec("1=2, 3 =4").unwrap(),
            [(1, 2), (3, 4)],
            "spaces are allowed"
        );
        for bad in ["", "5000", "5000=", "0=1", "1=70000", "1=2;3=4"] {
            assert!(parse_spec(bad).is_err(), "{bad}");
        }
        let e = Entry::new(1, 2, 3);
        let f = Entry::new(4, 5, 6);
        assert_eq!(spec(e, f), "1=4,2=5,3=6");
        assert_eq!(parse_spec(&spec(e, f)).unwrap(), [(1, 4), (2, 5), (3, 6)]);
    }

    /// Two relays in a chain, as threads here: every case's bytes arrive.
    #[test]
    fn a_chain_of_two_relays_carries_every_case() {
        let sink = Backend::start(Kind::Counted).unwrap();
        let echo = Backend::start(Kind::Echo).unwrap();
        let once = Backend::start(Kind::Once).unwrap();
        let port = || processes::free_port().unwrap();
        let (b, a) = ([port(), port(), port()], [port(), port(), port()]);
        start_relays(&[(b[0], sink.port), (b[1], echo.port), (b[2], once.port)]).unwrap();
        start_relays(&[(a[0], b[0]), (a[1], b[1]), (a[2], b[2])]).unwrap();
        let t = cases::bulk("floor", a[0], 5 << 20, 1, Ending::Announced).unwrap();
        assert_eq!(t.bytes, 5 << 20, "the sink counted every byte");
        assert_eq!(
            cases::bulk("floor", a[0], 4 << 20, 4, Ending::Announced)
                .unwrap()
                .bytes,
            4 << 20
        );
        assert_eq!(cases::ping_pong("floor", a[1], 30, 500).unwrap().len(), 30);
        assert!(cases::setup("floor", a[2], 20).unwrap() > 0.0);
    }
}
