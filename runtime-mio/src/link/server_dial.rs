//! The client's connect-and-handshake attempt to the server, once its name
//! is resolved (off the loop, see [`connect`](crate::link::connect)): TCP,
//! then CONNECT when an HTTP proxy is configured, then TLS for wss, then the
//! WebSocket upgrade, none of them blocking.

use std::io;
use std::net::SocketAddr;

use mio::net::TcpStream;
use mio::{Interest, Registry, Token};
use tungstenite::client::client_with_config;
use tungstenite::handshake::client::ClientHandshake;
use tungstenite::handshake::{HandshakeError, MidHandshake};

use crate::link::http_proxy::{describe_proxy, ProxyConnect, ProxyStep};
use crate::link::link_stream::{LinkStream, Ws};
use crate::link::transport::{Handshake, Transport};
use crate::link::websocket::{describe_ws, ws_config};
use crate::tcp::dial::{self, Fallback, Progress};
use crate::tls::ClientTls;

enum DialState {
    Connecting(TcpStream, Fallback),
    /// Asking the HTTP proxy for a tunnel to the server.
    ProxyConnecting(TcpStream, ProxyConnect),
    TlsHandshaking(Transport),
    Handshaking(Box<MidHandshake<ClientHandshake<LinkStream>>>),
}

/// What a step of the client's attempt produced.
pub(crate) enum DialStep {
    Pending,
    Up(Box<Ws>),
    /// The attempt failed for `reason`; `alert` is a TLS connection whose
    /// queued alert should reach the server (flush it, then close).
    Failed {
        reason: String,
        alert: Option<Transport>,
    },
}

impl DialStep {
    fn failed(reason: String) -> DialStep {
        DialStep::Failed {
            reason,
            alert: None,
        }
    }
}

/// A client's attempt to open its WebSocket to the server: a non-blocking
/// TCP connect (to the HTTP proxy, if any, then a CONNECT exchange with
/// it), a non-blocking TLS handshake for wss, then a non-blocking
/// tungstenite handshake (the protocol times the whole attempt out).
pub(crate) struct ServerDial {
    pub(crate) token: Token,
    /// The address dialled: the server's, or the proxy's.
    pub(crate) peer: SocketAddr,
    tls: Option<ClientTls>,
    /// The CONNECT exchange still to run once TCP is up (`None`: direct,
    /// or already done).
    proxy: Option<ProxyConnect>,
    /// The HTTP proxy's `host:port`, when the attempt goes through one.
    proxy_name: Option<String>,
    state: Option<DialState>,
}

impl ServerDial {
    /// Starts the TCP connect to the first of the server's `addrs` that
    /// takes one; the caller registers [`stream_mut`](Self::stream_mut) with
    /// the poller under `token`. With `proxy`, `addrs` are the proxy's and
    /// its CONNECT exchange runs first; with `tls`, TLS runs over the socket
    /// before the WebSocket handshake.
    pub(crate) fn start(
        addrs: Vec<SocketAddr>,
        token: Token,
        tls: Option<ClientTls>,
        proxy: Option<ProxyConnect>,
    ) -> io::Result<ServerDial> {
        let (stream, peer, fallback) = dial::start_with(addrs)?;
        Ok(ServerDial {
            token,
            peer,
            tls,
            proxy_name: proxy.as_ref().map(|p| p.name().to_string()),
            proxy,
            state: Some(DialState::Connecting(stream, fallback)),
        })
    }

    /// The socket before TLS or the WebSocket own it (for registration).
    pub(crate) fn stream_mut(&mut self) -> Option<&mut TcpStream> {
        match &mut self.state {
            Some(DialState::Connecting(s, _) | DialState::ProxyConnecting(s, _)) => Some(s),
            _ => None,
        }
    }

    /// Advances after a readiness event; `url` is the `ws://` or `wss://`
    /// URL asked for. A failed connect moves on to the name's next address,
    /// registering the new socket under our token.
    pub(crate) fn advance(&mut self, url: &str, registry: &Registry) -> DialStep {
        let result = match self.state.take() {
            None => return DialStep::failed("the attempt already ended".into()),
            Some(DialState::Connecting(stream, mut fallback)) => match dial::check(&stream) {
                Progress::Pending => {
                    self.state = Some(DialState::Connecting(stream, fallback));
                    return DialStep::Pending;
                }
                Progress::Failed(e) => {
                    let failed = self.peer;
                    drop(stream);
                    match fallback.connect_next(e) {
                        Ok((mut stream, addr)) => {
                            log::debug!(
                                "cannot connect to {}; trying {addr}",
                                self.dialled(failed)
                            );
                            if let Err(e) = registry.register(
                                &mut stream,
                                self.token,
                                Interest::READABLE | Interest::WRITABLE,
                            ) {
                                return DialStep::failed(format!("cannot register a socket: {e}"));
                            }
                            self.peer = addr;
                            self.state = Some(DialState::Connecting(stream, fallback));
                            return DialStep::Pending;
                        }
                        Err(e) => {
                            return DialStep::failed(format!(
                                "cannot connect to {}: {}",
                                self.dialled(failed),
                                crate::error::describe(&e)
                            ))
                        }
                    }
                }
                Progress::Connected => {
                    if let Err(e) = stream.set_nodelay(true) {
                        log::debug!("cannot set TCP_NODELAY on the link to {}: {e}", self.peer);
                    }
                    match self.proxy.take() {
                        Some(exchange) => return self.proxy_connect(stream, exchange, url),
                        None => return self.tunnel_up(stream, url),
                    }
                }
            },
            Some(DialState::ProxyConnecting(stream, exchange)) => {
                return self.proxy_connect(stream, exchange, url)
            }
            Some(DialState::TlsHandshaking(transport)) => {
                return self.tls_handshake(transport, url)
            }
            Some(DialState::Handshaking(mid)) => mid.handshake(),
        };
        self.websocket_step(result)
    }

    /// Drives the CONNECT exchange; once the proxy says yes, the socket
    /// reaches the server.
    fn proxy_connect(
        &mut self,
        mut stream: TcpStream,
        mut exchange: ProxyConnect,
        url: &str,
    ) -> DialStep {
        match exchange.advance(&mut stream, self.peer) {
            ProxyStep::Pending => {
                self.state = Some(DialState::ProxyConnecting(stream, exchange));
                DialStep::Pending
            }
            ProxyStep::Established => self.tunnel_up(stream, url),
            ProxyStep::Failed(reason) => DialStep::failed(reason),
        }
    }

    /// A socket that reaches the server (directly or through the proxy):
    /// starts TLS for wss, else the WebSocket handshake.
    fn tunnel_up(&mut self, stream: TcpStream, url: &str) -> DialStep {
        match &self.tls {
            None => {
                let stream = LinkStream::for_client_handshake(Transport::Plain(stream));
                let result = client_with_config(url, stream, Some(ws_config()));
                self.websocket_step(result)
            }
            Some(tls) => match Transport::client(stream, tls) {
                Ok(transport) => self.tls_handshake(transport, url),
                Err(why) => DialStep::failed(format!("cannot start TLS: {why}")),
            },
        }
    }

    /// Drives the TLS handshake; once done, starts the WebSocket handshake.
    fn tls_handshake(&mut self, mut transport: Transport, url: &str) -> DialStep {
        match transport.handshake() {
            Handshake::Pending => {
                self.state = Some(DialState::TlsHandshaking(transport));
                DialStep::Pending
            }
            Handshake::Done => {
                if let Some(session) = transport.describe_session() {
                    log::debug!("TLS up with {} ({session})", self.server_at());
                }
                let stream = LinkStream::for_client_handshake(transport);
                let result = client_with_config(url, stream, Some(ws_config()));
                self.websocket_step(result)
            }
            Handshake::PlainText(line) => DialStep::failed(format!(
                "{} answered in plain text ({line:?}), not TLS: \
                 is it a plain server (then serverUrl must be http:// or ws://)?",
                self.server_at()
            )),
            Handshake::Failed(why) => DialStep::Failed {
                reason: format!("TLS handshake with {} failed: {why}", self.handshake_peer()),
                alert: Some(transport),
            },
        }
    }

    fn websocket_step(
        &mut self,
        result: Result<
            (Ws, tungstenite::handshake::client::Response),
            HandshakeError<ClientHandshake<LinkStream>>,
        >,
    ) -> DialStep {
        match result {
            Ok((ws, _response)) => DialStep::Up(Box::new(ws)),
            Err(HandshakeError::Interrupted(mid)) => {
                self.state = Some(DialState::Handshaking(Box::new(mid)));
                DialStep::Pending
            }
            Err(HandshakeError::Failure(e)) => DialStep::failed(format!(
                "WebSocket handshake with {} failed: {}",
                self.handshake_peer(),
                describe_ws(&e)
            )),
        }
    }

    /// `addr` as dialled, for messages: the proxy's, named so, or the
    /// server's.
    fn dialled(&self, addr: SocketAddr) -> String {
        match &self.proxy_name {
            Some(name) => describe_proxy(name, addr),
            None => addr.to_string(),
        }
    }

    /// "the server at ADDR", or "the server through the HTTP proxy at ...".
    fn server_at(&self) -> String {
        match &self.proxy_name {
            Some(name) => format!("the server through {}", describe_proxy(name, self.peer)),
            None => format!("the server at {}", self.peer),
        }
    }

    /// Whom the TLS and WebSocket handshakes are with: the server's
    /// address, or the server through the proxy (never the proxy alone).
    fn handshake_peer(&self) -> String {
        match &self.proxy_name {
            Some(_) => self.server_at(),
            None => self.peer.to_string(),
        }
    }
}
