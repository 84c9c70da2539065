//! SIGTERM stops a running node gracefully. A file of its own, so the
//! handlers live in their own test process.

use std::net::TcpListener;
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use tcpws_protocol::{Config, Role};
use tcpws_runtime_mio::{install_signal_handlers, Node, NodeSettings, ServerAddr};

#[test]
fn sigterm_shuts_the_node_down() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let node = Node::new(NodeSettings {
        protocol: Config::new(Role::Server),
        server: ServerAddr {
            host: "127.0.0.1".into(),
            port,
            path: "/".into(),
            tls: false,
        },
        listens: vec![],
        connects: vec![],
        tls: None,
        connect_timeout: Duration::from_secs(5),
        tcp_keepalive: None,
        http_proxy: None,
    })
    .unwrap();
    install_signal_handlers(node.handle()).unwrap();
    let (done_tx, done_rx) = mpsc::channel();
    thread::spawn(move || done_tx.send(node.run().map_err(|e| e.to_string())).unwrap());
    // SAFETY: raising a signal on our own process; the handler installed
    // above turns it into a shutdown instead of the default termination.
    assert_eq!(unsafe { libc::raise(libc::SIGTERM) }, 0);
    let result = done_rx
        .recv_timeout(Duration::from_secs(10))
        .expect("run returns after SIGTERM");
    assert_eq!(result, Ok(()));
}
