//! wstunnel driven as tcpws is: a server and a client on loopback, the
//! client listening for the app and the server dialling the backends
//! (`wstunnel client -L tcp://127.0.0.1:LOCAL:127.0.0.1:TARGET`, one `-L`
//! a backend), over ws:// or wss:// (the certificates of tcpws's wss
//! cases; the client does not verify them unless told to, which it is
//! not). Its defaults are kept otherwise: a Tokio worker thread per CPU,
//! client frames unmasked, one WebSocket per tunnelled connection.

use std::path::Path;

use crate::certs::CertFiles;
use crate::compare::route::Entry;
use crate::error::BenchError;
use crate::launch;
use crate::options::Transport;
use crate::processes::{self, Proc};

/// Its log level: warnings and errors only, as tcpws's.
const LOG: &str = "--log-lvl=WARN";

/// `ws` or `wss`; raw loopback has no wstunnel.
fn scheme(transport: Transport) -> Result<&'static str, BenchError> {
    match transport {
        Transport::Ws => Ok("ws"),
        Transport::Wss => Ok("wss"),
        Transport::Raw => Err(BenchError::Tunnel(
            "raw loopback has no wstunnel to start (a bench bug)".into(),
        )),
    }
}

/// The server's arguments: listen on `port`, with `certs` for wss://.
pub fn server_args(
    transport: Transport,
    port: u16,
    certs: Option<&CertFiles>,
) -> Result<Vec<String>, BenchError> {
    let mut args = vec![
        LOG.to_string(),
        "--no-color".into(),
        "server".into(),
        format!("{}://127.0.0.1:{port}", scheme(transport)?),
    ];
    if transport == Transport::Wss {
        let c = certs
            .ok_or_else(|| BenchError::Tunnel("wss needs certificates (a bench bug)".into()))?;
        args.push("--tls-certificate".into());
        args.push(c.chain.display().to_string());
        args.push("--tls-private-key".into());
        args.push(c.key.display().to_string());
    }
    Ok(args)
}

/// The client's arguments: a `-L` from each port of `listen` to the
/// backend port of `backends` it stands for, through the server at `port`.
pub fn client_args(
    transport: Transport,
    port: u16,
    listen: Entry,
    backends: Entry,
) -> Result<Vec<String>, BenchError> {
    let mut args = vec![LOG.to_string(), "--no-color".into(), "client".into()];
    for k in Entry::KINDS {
        args.push("-L".into());
        args.push(format!(
            "tcp://127.0.0.1:{}:127.0.0.1:{}",
            listen.to(k),
            backends.to(k)
        ));
    }
    args.push(format!("{}://127.0.0.1:{port}", scheme(transport)?));
    Ok(args)
}

/// A wstunnel server and client joined over `transport`, from the binary
/// at `program`, with logs under `dir`; returns the entry (the client's
/// listen ports) and the processes, client first, once an echo has gone
/// through.
pub fn start(
    program: &Path,
    dir: &Path,
    transport: Transport,
    backends: Entry,
    certs: Option<&CertFiles>,
) -> Result<(Entry, Vec<Proc>), BenchError> {
    let port = processes::free_port()?;
    let listen = Entry::free()?;
    let spawn = |side: &str, args: Vec<String>| -> Result<Proc, BenchError> {
        let home = dir.join(side);
        std::fs::create_dir_all(&home)
            .map_err(BenchError::io(format!("create {}", home.display())))?;
        let mut command = launch::tied(program);
        command.args(args).env_remove("RUST_LOG");
        Ok(Proc::spawn(command, format!("wstunnel {transport} {side}"), home)?.dies_on_sigterm())
    };
    let mut server = spawn("server", server_args(transport, port, certs)?)?;
    server.wait_listening(&[port])?;
    let mut client = spawn("client", client_args(transport, port, listen, backends)?)?;
    client.wait_listening(&listen.ports())?;
    let mut procs = vec![client, server];
    processes::expect_echo(
        &mut procs,
        listen.echo,
        &format!("wstunnel over {transport}"),
    )?;
    Ok((listen, procs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_lines() {
        let certs = CertFiles {
            bundle: "/b.pem".into(),
            ca: "/ca.pem".into(),
            chain: "/c.pem".into(),
            key: "/k.pem".into(),
        };
        assert_eq!(
            server_args(Transport::Ws, 8080, Some(&certs)).unwrap(),
            [
                "--log-lvl=WARN",
                "--no-color",
                "server",
                "ws://127.0.0.1:8080"
            ]
        );
        assert_eq!(
            server_args(Transport::Wss, 8443, Some(&certs)).unwrap(),
            [
                "--log-lvl=WARN",
                "--no-color",
                "server",
                "wss://127.0.0.1:8443",
                "--tls-certificate",
                "/c.pem",
                "--tls-private-key",
                "/k.pem"
            ]
        );
        assert!(server_args(Transport::Wss, 8443, None).is_err());
        assert!(server_args(Transport::Raw, 1, None).is_err());
        let listen = Entry::new(1, 2, 3);
        let backends = Entry::new(11, 12, 13);
        assert_eq!(
            client_args(Transport::Wss, 8443, listen, backends).unwrap(),
            [
                "--log-lvl=WARN",
                "--no-color",
                "client",
                "-L",
                "tcp://127.0.0.1:1:127.0.0.1:11",
                "-L",
                "tcp://127.0.0.1:2:127.0.0.1:12",
                "-L",
                "tcp://127.0.0.1:3:127.0.0.1:13",
                "wss://127.0.0.1:8443"
            ]
        );
    }
}
