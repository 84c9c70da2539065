//! The `dataExchange.serverUrl` setting: where the server listens and the
//! clients connect.

use std::fmt;
use std::net::Ipv6Addr;

/// The most bytes a server URL may have.
const MAX_URL: usize = 2048;

/// The URL scheme; `https` and `wss` mean TLS, as in the seed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Http,
    Https,
    Ws,
    Wss,
}

impl Scheme {
    /// Whether the link runs over TLS.
    pub fn tls(self) -> bool {
        matches!(self, Scheme::Https | Scheme::Wss)
    }

    /// The port used when the URL names none.
    pub fn default_port(self) -> u16 {
        if self.tls() {
            443
        } else {
            80
        }
    }

    fn name(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
            Scheme::Ws => "ws",
            Scheme::Wss => "wss",
        }
    }
}

/// A parsed `scheme://host[:port][/path]`. `host` has no brackets (an IPv6
/// address is bare); `path` starts with `/` and keeps any `?query`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerUrl {
    pub scheme: Scheme,
    pub host: String,
    pub port: u16,
    pub path: String,
}

impl ServerUrl {
    /// Parses a server URL; the error says what was expected.
    pub fn parse(text: &str) -> Result<ServerUrl, String> {
        const EXPECTED: &str = "expected a URL like http://host:port/path \
                                (scheme http, https, ws or wss)";
        if text.len() > MAX_URL {
            return Err(format!("{EXPECTED}, got a {}-byte string", text.len()));
        }
        if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(format!("{EXPECTED}, got {text:?} (it contains spaces)"));
        }
        let Some((scheme, rest)) = text.split_once("://") else {
            return Err(format!("{EXPECTED}, got {text:?}"));
        };
        let scheme = match scheme.to_ascii_lowercase().as_str() {
            "http" => Scheme::Http,
            "https" => Scheme::Https,
            "ws" => Scheme::Ws,
            "wss" => Scheme::Wss,
            _ => return Err(format!("{EXPECTED}, got scheme {scheme:?} in {text:?}")),
        };
        // Fragments never reach the server.
        let rest = rest.split('#').next().unwrap_or_default();
        let split = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, path) = rest.split_at(split);
        let path = if path.starts_with('/') {
            path.to_string()
        } else {
            format!("/{path}")
        };
        // The client would send the bytes as they are, and the server
        // refuses a request target that is not ASCII.
        if !path.is_ascii() {
            return Err(format!(
                "{EXPECTED}, got {text:?} (percent-encode the path's non-ASCII characters)"
            ));
        }
        if authority.contains('@') {
            return Err(format!(
                "{EXPECTED}, got {text:?} (user info is not supported)"
            ));
        }
        let (host, port) = split_host_port(authority)
            .map_err(|why| format!("{EXPECTED}, got {text:?} ({why})"))?;
        Ok(ServerUrl {
            scheme,
            host,
            port: port.unwrap_or(scheme.default_port()),
            path,
        })
    }

    /// Whether the link runs over TLS.
    pub fn tls(&self) -> bool {
        self.scheme.tls()
    }
}

impl fmt::Display for ServerUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(
                f,
                "{}://[{}]:{}{}",
                self.scheme.name(),
                self.host,
                self.port,
                self.path
            )
        } else {
            write!(
                f,
                "{}://{}:{}{}",
                self.scheme.name(),
                self.host,
                self.port,
                self.path
            )
        }
    }
}

/// Splits `host[:port]` or `[v6]:port`; a bare IPv6 address (several colons,
/// no brackets) is all host. The port, when present, is 1-65535.
pub(crate) fn split_host_port(text: &str) -> Result<(String, Option<u16>), String> {
    let (host, port) = if let Some(inner) = text.strip_prefix('[') {
        let (v6, after) = inner
            .split_once(']')
            .ok_or("an IPv6 address needs a closing ']'")?;
        if v6.parse::<Ipv6Addr>().is_err() {
            return Err(format!("{v6:?} is not an IPv6 address"));
        }
        let port = match after {
            "" => None,
            _ => Some(
                after
                    .strip_prefix(':')
                    .ok_or("expected ':port' after ']'")?,
            ),
        };
        (v6, port)
    } else if text.matches(':').count() > 1 {
        if text.parse::<Ipv6Addr>().is_err() {
            return Err(format!("{text:?} is not a host name or address"));
        }
        (text, None)
    } else {
        match text.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (text, None),
        }
    };
    if host.is_empty() {
        return Err("the host is missing".to_string());
    }
    if host.len() > 255 {
        return Err("the host is longer than 255 bytes".to_string());
    }
    let host_ok = host.contains(':')
        || host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
    if !host_ok {
        return Err(format!("{host:?} is not a host name or address"));
    }
    let port = match port {
        None | Some("") => None,
        Some(p) => match p.parse::<u16>() {
            Ok(n) if n > 0 && p.bytes().all(|b| b.is_ascii_digit()) => Some(n),
            _ => return Err(format!("port {p:?} is not a number 1-65535")),
        },
    };
    Ok((host.to_string(), port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_port_and_path_by_scheme() {
        let u = ServerUrl::parse("http://localhost:8080").unwrap();
        assert_eq!(
            (u.scheme, u.host.as_str(), u.port, u.path.as_str()),
            (Scheme::Http, "localhost", 8080, "/")
        );
        let u = ServerUrl::parse("HTTPS://example.com").unwrap();
        assert_eq!((u.scheme, u.port, u.tls()), (Scheme::Https, 443, true));
        let u = ServerUrl::parse("ws://h/vortexws?x=1#frag").unwrap();
        assert_eq!(
            (u.port, u.path.as_str(), u.tls()),
            (80, "/vortexws?x=1", false)
        );
        let u = ServerUrl::parse("wss://[::1]:9443/t").unwrap();
        assert_eq!((u.host.as_str(), u.port, u.tls()), ("::1", 9443, true));
        assert_eq!(u.to_string(), "wss://[::1]:9443/t");
    }

    #[test]
    fn rejects_bad_urls() {
        for bad in [
            "ftp://h:1",
            "localhost:8080",
            "http://",
            "http://:80",
            "http://h:0",
            "http://h:65536",
            "http://h:8o",
            "http://u@h",
            "http://h h",
            "http://[::1",
            "http://[zz]:1",
        ] {
            assert!(ServerUrl::parse(bad).is_err(), "{bad} should be rejected");
        }
    }

    /// fuzz/regressions/http_head/non-ascii-ws-path: with `ws://h/ü` the
    /// client sent the path's UTF-8 bytes raw and the server refused every
    /// upgrade as binary; such a URL is now refused when the config loads.
    #[test]
    fn a_path_must_be_ascii() {
        for bad in ["ws://h:1/ü", "ws://h:1/t?q=ü", "ws://h:1?ü"] {
            let why = ServerUrl::parse(bad).unwrap_err();
            assert!(why.contains("percent-encode"), "{bad}: {why}");
        }
        let u = ServerUrl::parse("ws://h:1/%C3%BC?q=%C3%BC#ü").unwrap();
        assert_eq!(u.path, "/%C3%BC?q=%C3%BC");
    }
}
