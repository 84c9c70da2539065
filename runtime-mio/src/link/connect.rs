//! The event loop's side of the client's WebSocket to the server: starting
//! the attempt the protocol asks for (the name dialled, the server's or the
//! HTTP proxy's, is looked up off the loop first), advancing it on
//! readiness, and giving up at its deadline.

use std::io;
use std::net::SocketAddr;
use std::time::Instant;

use log::{debug, error, info, warn};
use mio::Interest;
use tcpws_protocol::Certified;

use crate::error::describe;
use crate::event_loop::{EventLoop, Owner};
use crate::link::closing::{Closing, CLOSE_LINGER};
use crate::link::http_proxy::ProxyConnect;
use crate::link::link_up;
use crate::link::server_dial::{DialStep, ServerDial};
use crate::link::websocket::Link;
use crate::tls::TlsContext;
use crate::tunnel::resolver::Asker;
use tcpws_protocol::frame::printable;

/// The client's lookup of the server's name on the resolver. At most one
/// runs: an attempt that starts while an abandoned attempt's lookup is still
/// out (a slow DNS server) waits for that answer instead of queueing another
/// lookup behind it.
#[derive(Debug, Default)]
pub(crate) struct ServerLookup {
    /// A lookup is out on the resolver.
    in_flight: bool,
    /// An attempt waits for its answer (the protocol times the attempt).
    waiting: bool,
}

impl EventLoop {
    /// `Output::ConnectServer` (an action): looks up the server's name (an
    /// IP literal at once, a name off the loop), then starts the attempt,
    /// unless one is under way; a failure to start goes to the protocol at
    /// once.
    pub(crate) fn start_server_dial(&mut self, now: Instant) {
        if self.server_dial.is_some() || self.server_lookup.waiting {
            debug!("ignoring ConnectServer: an attempt is already under way");
            return;
        }
        let url = self.settings.server.ws_url();
        let (host, port) = self.dial_host_port();
        let host = host.to_string();
        if self.server_lookup.in_flight {
            debug!("connecting to {url}: waiting for the lookup of {host} already under way");
            self.server_lookup.waiting = true;
            return;
        }
        match self.resolver.resolve(Asker::Server, &host, port) {
            Some(resolved) => self.connect_server(resolved, now),
            None => {
                debug!("connecting to {url}: looking up {host}");
                self.server_lookup = ServerLookup {
                    in_flight: true,
                    waiting: true,
                };
            }
        }
    }

    /// The name and port the client dials: its HTTP proxy's when it has
    /// one (which then connects to the server), else the server's.
    fn dial_host_port(&self) -> (&str, u16) {
        match &self.settings.http_proxy {
            Some(proxy) => (&proxy.host, proxy.port),
            None => (&self.settings.server.host, self.settings.server.port),
        }
    }

    /// The server's name (or the proxy's) resolved (from
    /// [`EventLoop::take_resolved`], which pumps): the attempt waiting for
    /// it connects. With none waiting (the protocol abandoned it), the
    /// answer is dropped.
    pub(crate) fn server_resolved(&mut self, resolved: io::Result<Vec<SocketAddr>>, now: Instant) {
        let waiting = self.server_lookup.waiting;
        self.server_lookup = ServerLookup::default();
        if waiting {
            self.connect_server(resolved, now);
        } else {
            debug!(
                "dropped the late answer of the lookup of {}",
                self.dial_host_port().0
            );
        }
    }

    /// Starts the TCP connect to the server's addresses, or the proxy's (or
    /// reports why it cannot).
    fn connect_server(&mut self, resolved: io::Result<Vec<SocketAddr>>, now: Instant) {
        let url = self.settings.server.ws_url();
        let token = self.next_token();
        let tls = match &self.tls {
            Some(TlsContext::Client(tls)) => Some(tls.clone()),
            _ => None,
        };
        let proxy = self.settings.http_proxy.as_ref().map(|proxy| {
            ProxyConnect::new(
                self.settings.server.authority(),
                proxy.authority(),
                proxy.credentials.as_ref(),
            )
        });
        let via = self.via_proxy();
        let started = resolved.and_then(|addrs| ServerDial::start(addrs, token, tls, proxy));
        let mut attempt = match started {
            Ok(attempt) => attempt,
            Err(e) => {
                let reason = format!("cannot connect to {url}{via}: {}", describe(&e));
                warn!("{reason}");
                self.endpoint.handle_link_failed(&reason, now);
                return;
            }
        };
        debug!("connecting to the server at {url}{via} ({})", attempt.peer);
        if let Some(stream) = attempt.stream_mut() {
            if let Err(e) = self.poll.registry().register(
                stream,
                token,
                Interest::READABLE | Interest::WRITABLE,
            ) {
                let reason = format!("cannot register the connection to {url}: {e}");
                error!("{reason}");
                self.endpoint.handle_link_failed(&reason, now);
                return;
            }
        }
        self.owners.insert(token, Owner::ServerDial);
        self.server_dial = Some(attempt);
    }

    /// " through the HTTP proxy at host:port" when there is one, for log
    /// lines (never with its credentials).
    fn via_proxy(&self) -> String {
        match &self.settings.http_proxy {
            Some(proxy) => format!(" through the HTTP proxy at {}", proxy.authority()),
            None => String::new(),
        }
    }

    /// An event on the attempt (a handler): the link is up, the attempt
    /// failed, or it waits for more.
    pub(crate) fn advance_server_dial(&mut self, now: Instant) {
        let Some(attempt) = self.server_dial.as_mut() else {
            return;
        };
        let url = self.settings.server.ws_url();
        match attempt.advance(&url, self.poll.registry()) {
            DialStep::Pending => return,
            DialStep::Up(ws) => {
                let Some(attempt) = self.server_dial.take() else {
                    return;
                };
                let up = match link_up::fresh(&self.random, attempt.peer, Certified::Unbound) {
                    Ok(up) => up,
                    Err(why) => {
                        error!("dropped the connection to the server: {why}");
                        self.endpoint.handle_link_failed(&why, now);
                        return;
                    }
                };
                let id = self.next_link_id();
                let session = ws
                    .get_ref()
                    .transport()
                    .describe_session()
                    .map(|s| format!(" over {s}"))
                    .unwrap_or_default();
                self.owners.insert(attempt.token, Owner::Link(id));
                self.links
                    .insert(id, Link::handshaken(attempt.token, attempt.peer, *ws));
                info!(
                    "{id} up: connected to the server at {url}{} ({}){session}",
                    self.via_proxy(),
                    attempt.peer
                );
                self.endpoint.handle_link_up(id, up, now);
                self.queue_link(id);
            }
            DialStep::Failed { reason, alert } => {
                if let Some(attempt) = self.server_dial.take() {
                    self.owners.remove(&attempt.token);
                    if let Some(transport) = alert {
                        // The server learns why from the alert.
                        let closing = Closing::failed_tls(
                            attempt.token,
                            attempt.peer,
                            transport,
                            now + CLOSE_LINGER,
                        );
                        self.add_closing(closing);
                    }
                }
                // The reason names the proxy when there is one.
                warn!("cannot reach the server at {url}: {}", printable(&reason));
                self.endpoint.handle_link_failed(&reason, now);
            }
        }
        self.pump(now);
    }

    /// `Output::AbandonConnect` (an action): the protocol gave up on the
    /// attempt (it took the connect timeout); drop it quietly. A lookup
    /// still out is no longer waited for: its answer is dropped, unless the
    /// next attempt starts before it comes.
    pub(crate) fn abandon_server_dial(&mut self) {
        if std::mem::take(&mut self.server_lookup.waiting) {
            warn!(
                "connecting to {} timed out after {:?}: the lookup of {} has not answered",
                self.settings.server.ws_url(),
                self.settings.connect_timeout,
                self.dial_host_port().0
            );
        }
        if let Some(mut attempt) = self.server_dial.take() {
            warn!(
                "connecting to {}{} timed out after {:?}",
                self.settings.server.ws_url(),
                self.via_proxy(),
                self.settings.connect_timeout
            );
            self.forget(attempt.token, attempt.stream_mut());
        }
    }

    /// Shutting down: an attempt waiting for the server's name ends too
    /// (true if there was one).
    pub(crate) fn stop_waiting_for_server_lookup(&mut self) -> bool {
        std::mem::take(&mut self.server_lookup.waiting)
    }
}

#[cfg(test)]
mod tests {
    use std::io;
    use std::net::SocketAddr;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Mutex, PoisonError};
    use std::thread::{self, JoinHandle};
    use std::time::{Duration, Instant};

    use tcpws_protocol::{ClientId, Config, Role};

    use crate::handle::NodeHandle;
    use crate::node::Node;
    use crate::settings::{NodeSettings, ServerAddr};
    use crate::tunnel::resolver::Lookup;

    /// The name the clients below know the server by.
    const SERVER_NAME: &str = "tcpws-server.test";

    /// A DNS server that answers only once the test opens its gate.
    struct SlowDns {
        gate: Mutex<()>,
        calls: AtomicUsize,
    }

    impl SlowDns {
        const fn new() -> SlowDns {
            SlowDns {
                gate: Mutex::new(()),
                calls: AtomicUsize::new(0),
            }
        }

        fn lookup(&self, host: &str, port: u16) -> io::Result<Vec<SocketAddr>> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            drop(self.gate.lock().unwrap_or_else(PoisonError::into_inner));
            assert_eq!(host, SERVER_NAME);
            Ok(vec![SocketAddr::from(([127, 0, 0, 1], port))])
        }

        fn calls(&self) -> usize {
            self.calls.load(Ordering::SeqCst)
        }
    }

    fn settings(role: Role, host: &str, port: u16) -> NodeSettings {
        let mut protocol = Config::new(role);
        protocol.connect_timeout = Duration::from_millis(200);
        protocol.reconnect_min = Duration::from_millis(20);
        protocol.reconnect_max = Duration::from_millis(100);
        NodeSettings {
            protocol,
            server: ServerAddr {
                host: host.into(),
                port,
                path: "/".into(),
                tls: false,
            },
            listens: vec![],
            connects: vec![],
            tls: None,
            connect_timeout: Duration::from_millis(200),
            tcp_keepalive: None,
            http_proxy: None,
        }
    }

    fn run(node: Node) -> (NodeHandle, JoinHandle<()>) {
        let handle = node.handle();
        let thread = thread::spawn(move || node.run().expect("the node runs and stops"));
        (handle, thread)
    }

    fn client(port: u16, lookup: Lookup) -> (NodeHandle, JoinHandle<()>) {
        let settings = settings(Role::Client(ClientId::One), SERVER_NAME, port);
        run(Node::with_lookup(settings, lookup).unwrap())
    }

    fn wait_until(what: &str, cond: impl Fn() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !cond() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            thread::sleep(Duration::from_millis(5));
        }
    }

    fn free_port() -> u16 {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    }

    /// While the server's name does not resolve, attempts time out (the
    /// loop runs its timers) and the next ones wait for the lookup already
    /// out rather than queueing more; its answer lets the dial go on.
    #[test]
    fn the_client_dials_the_server_once_a_slow_lookup_answers() {
        static DNS: SlowDns = SlowDns::new();
        fn lookup(host: &str, port: u16) -> io::Result<Vec<SocketAddr>> {
            DNS.lookup(host, port)
        }
        let port = free_port();
        let (server, server_thread) =
            run(Node::new(settings(Role::Server, "127.0.0.1", port)).unwrap());
        let closed = DNS.gate.lock().unwrap();
        let (client, client_thread) = client(port, lookup);
        wait_until("the lookup", || DNS.calls() == 1);
        // Five connect timeouts and their retries.
        thread::sleep(Duration::from_secs(1));
        assert_eq!(DNS.calls(), 1, "one lookup at a time");
        assert_eq!(client.status().links_up, 0);
        drop(closed);
        wait_until("the client's link", || client.status().links_up == 1);
        wait_until("the server's link", || server.status().links_up == 1);
        client.shutdown();
        client_thread.join().unwrap();
        server.shutdown();
        server_thread.join().unwrap();
    }

    /// A lookup that hangs does not hold the loop: shutdown is prompt.
    #[test]
    fn a_hung_lookup_of_the_server_does_not_block_the_loop() {
        static DNS: SlowDns = SlowDns::new();
        fn lookup(host: &str, port: u16) -> io::Result<Vec<SocketAddr>> {
            DNS.lookup(host, port)
        }
        let closed = DNS.gate.lock().unwrap();
        let (client, client_thread) = client(free_port(), lookup);
        wait_until("the lookup", || DNS.calls() == 1);
        let asked = Instant::now();
        client.shutdown();
        wait_until("the client to stop", || client_thread.is_finished());
        assert!(
            asked.elapsed() < Duration::from_secs(3),
            "{:?}",
            asked.elapsed()
        );
        drop(closed);
        client_thread.join().unwrap();
    }
}
