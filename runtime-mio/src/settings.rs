//! What a node needs beyond the protocol config: where to listen, where to
//! connect, and how long to wait for it.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// Everything [`Node::new`](crate::Node::new) needs. The CLI builds it from
/// config.json; tests build it directly.
#[derive(Debug, Clone)]
pub struct NodeSettings {
    /// Role, tunnel names and timings for the protocol.
    pub protocol: tcpws_protocol::Config,
    /// The server's WebSocket/HTTP address: where the server listens and the
    /// clients connect.
    pub server: ServerAddr,
    /// Listen sockets, in the order of `protocol.listens` (index = `TunnelId`).
    pub listens: Vec<ListenSpec>,
    /// Connect targets, in the order of `protocol.connects` (index = `TunnelId`).
    pub connects: Vec<ConnectSpec>,
    /// The TLS files, used when `server.tls` is set (https/wss); `None`
    /// there means a client that verifies the server against the system's
    /// trust store and sends no certificate.
    pub tls: Option<TlsSettings>,
    /// How long a TCP connect (tunnel dial, or the client's whole WebSocket
    /// connect and handshake) may take before it counts as failed.
    pub connect_timeout: Duration,
    /// TCP keepalive on tunnel connections, accepted and dialled: how long
    /// one may be idle before the first probe (whole seconds, at least 1);
    /// probes then go every max(idle / 6, 1) s and 5 unanswered ones end
    /// the connection. `None`: off. `dataExchange.tcpKeepaliveSecs`.
    pub tcp_keepalive: Option<Duration>,
    /// A client's HTTP proxy (`dataExchange.httpProxyUrl`): its WebSocket,
    /// ws or wss, goes through a CONNECT tunnel there. `None`: direct.
    pub http_proxy: Option<HttpProxy>,
}

/// An HTTP proxy that a client reaches the server through with CONNECT.
/// Its `Display` and `Debug` never show the credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpProxy {
    /// Host name or address of the proxy (an IPv6 literal without brackets).
    pub host: String,
    pub port: u16,
    /// Basic credentials sent in `Proxy-Authorization`, if any.
    pub credentials: Option<ProxyCredentials>,
}

impl HttpProxy {
    /// `host:port`, with an IPv6 literal in brackets.
    pub fn authority(&self) -> String {
        authority(&self.host, self.port)
    }
}

impl fmt::Display for HttpProxy {
    /// `http://host:port`, or `http://***@host:port` with credentials.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let userinfo = if self.credentials.is_some() {
            "***@"
        } else {
            ""
        };
        write!(f, "http://{userinfo}{}", self.authority())
    }
}

/// A user and password for a proxy's Basic authentication. `Debug` shows
/// neither, so they cannot reach a log line by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct ProxyCredentials {
    pub user: String,
    pub password: String,
}

impl fmt::Debug for ProxyCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ProxyCredentials(<redacted>)")
    }
}

/// The server's URL, taken apart.
#[derive(Debug, Clone)]
pub struct ServerAddr {
    /// Host name or address (the server binds it; clients connect to it).
    pub host: String,
    pub port: u16,
    /// The WebSocket path, e.g. "/" or "/tunnel".
    pub path: String,
    /// Whether the scheme is wss/https.
    pub tls: bool,
}

impl ServerAddr {
    /// `host:port`, with an IPv6 literal in brackets.
    pub(crate) fn authority(&self) -> String {
        authority(&self.host, self.port)
    }

    /// The `ws://` or `wss://` URL a client asks for.
    pub(crate) fn ws_url(&self) -> String {
        let scheme = if self.tls { "wss" } else { "ws" };
        format!("{scheme}://{}{}", self.authority(), self.ws_path())
    }

    /// The WebSocket path, "/" when none was given.
    pub(crate) fn ws_path(&self) -> &str {
        if self.path.is_empty() {
            "/"
        } else {
            &self.path
        }
    }
}

/// One listen socket of a tunnel (`tcpTunnelListens[]`).
#[derive(Debug, Clone)]
pub struct ListenSpec {
    pub name: String,
    pub bind_address: String,
    pub port: u16,
}

/// One connect target of a tunnel (`tcpTunnelConnects[]`).
#[derive(Debug, Clone)]
pub struct ConnectSpec {
    pub name: String,
    pub host: String,
    pub port: u16,
}

/// The TLS files of a wss:// node, as paths: [`Node::new`](crate::Node::new)
/// reads and checks them, and an error names the config key and the file.
#[derive(Debug, Clone)]
pub struct TlsSettings {
    /// `tlsBundleFilePath`: one PEM file with this node's private key, its
    /// certificate and the chain, in any order. The server always presents
    /// it; a client presents it under mutual TLS.
    pub bundle: Option<PathBuf>,
    /// `enableMutualTLS`: the server requires a client certificate, and
    /// both sides pin the other's certificate to `trusted_peers`.
    pub mutual: bool,
    /// `mutualTLSTrustedCACertificateBundleFilePath`: the CA certificates
    /// that issue the peer's certificate. A client without mutual TLS uses
    /// it too when given, else the system's trust store.
    pub trusted_ca: Option<PathBuf>,
    /// `mutualTLSTrustedPeerCertificateBundleFilePath`: under mutual TLS, the
    /// peer certificates accepted (private keys in the file are ignored).
    pub trusted_peers: Option<PathBuf>,
    /// Server, `mutualTLSClientCertificates`: client 1's and client 2's
    /// certificate files. A link may claim only the id whose certificate
    /// (the first in its file) it presented. `None`: either id.
    pub client_certificates: Option<[PathBuf; 2]>,
}

/// `host:port`, with an IPv6 literal in brackets so it parses back.
pub(crate) fn authority(host: &str, port: u16) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_bracket_ipv6_and_default_the_path() {
        let s = ServerAddr {
            host: "::1".into(),
            port: 80,
            path: String::new(),
            tls: false,
        };
        assert_eq!(s.ws_url(), "ws://[::1]:80/");
        let s = ServerAddr {
            host: "example.org".into(),
            port: 8080,
            path: "/ws".into(),
            tls: false,
        };
        assert_eq!(s.ws_url(), "ws://example.org:8080/ws");
        let s = ServerAddr { tls: true, ..s };
        assert_eq!(s.ws_url(), "wss://example.org:8080/ws");
    }

    #[test]
    fn proxy_credentials_never_show() {
        let proxy = HttpProxy {
            host: "::1".into(),
            port: 3128,
            credentials: Some(ProxyCredentials {
                user: "alice".into(),
                password: "s3cret".into(),
            }),
        };
        let shown = format!("{proxy} {proxy:?} {proxy:#?}");
        assert!(
            !shown.contains("alice") && !shown.contains("s3cret"),
            "{shown}"
        );
        assert!(shown.starts_with("http://***@[::1]:3128 "), "{shown}");
        let proxy = HttpProxy {
            credentials: None,
            ..proxy
        };
        assert_eq!(proxy.to_string(), "http://[::1]:3128");
    }
}
