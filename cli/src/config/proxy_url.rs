//! The `dataExchange.httpProxyUrl` setting: the HTTP proxy a client opens
//! its WebSocket through, `http://[user:password@]host:port`.
//!
//! The text may hold a password, so no error message repeats it: they show
//! the URL with its user info replaced by `***`.

use tcpws_runtime_mio::{HttpProxy, ProxyCredentials};

use super::url::split_host_port;

/// The most bytes a proxy URL may have.
const MAX_URL: usize = 2048;

const EXPECTED: &str = "expected a URL like http://host:port or http://user:password@host:port";

/// Parses a proxy URL; the error says what was expected and never shows
/// the credentials.
pub(crate) fn parse(text: &str) -> Result<HttpProxy, String> {
    if text.len() > MAX_URL {
        return Err(format!("{EXPECTED}, got a {}-byte string", text.len()));
    }
    let shown = redacted(text);
    if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!("{EXPECTED}, got {shown:?} (it contains spaces)"));
    }
    let Some((scheme, rest)) = text.split_once("://") else {
        return Err(format!("{EXPECTED}, got {shown:?}"));
    };
    if !scheme.eq_ignore_ascii_case("http") {
        return Err(format!(
            "{EXPECTED}, got scheme {:?} in {shown:?} (only http:// proxies, \
             which tunnel wss:// too, are supported)",
            scheme.chars().take(16).collect::<String>()
        ));
    }
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    if rest.contains(['/', '?', '#']) {
        return Err(format!(
            "{EXPECTED}, got {shown:?} (a proxy URL has no path)"
        ));
    }
    // A password may hold '@': the host starts after the last one.
    let (userinfo, authority) = match rest.rsplit_once('@') {
        Some((u, a)) => (Some(u), a),
        None => (None, rest),
    };
    let (host, port) =
        split_host_port(authority).map_err(|why| format!("{EXPECTED}, got {shown:?} ({why})"))?;
    let Some(port) = port else {
        return Err(format!(
            "{EXPECTED}, got {shown:?} (the proxy's port is missing)"
        ));
    };
    let credentials = match userinfo {
        None => None,
        Some(userinfo) => {
            let (user, password) = userinfo.split_once(':').unwrap_or((userinfo, ""));
            let decode = |part: &str, what: &str| {
                percent_decode(part).ok_or_else(|| {
                    format!(
                        "{EXPECTED}, got {shown:?} (the {what} is not valid percent-encoded \
                         UTF-8 without control characters)"
                    )
                })
            };
            let user = decode(user, "user")?;
            if user.is_empty() {
                return Err(format!("{EXPECTED}, got {shown:?} (the user is empty)"));
            }
            // RFC 7617: the user-id of Basic authentication cannot hold ':'.
            if user.contains(':') {
                return Err(format!(
                    "{EXPECTED}, got {shown:?} (the user may not contain ':')"
                ));
            }
            Some(ProxyCredentials {
                user,
                password: decode(password, "password")?,
            })
        }
    };
    Ok(HttpProxy {
        host,
        port,
        credentials,
    })
}

/// The proxy variables curl reads; tcpws reads none of them.
const PROXY_VARIABLES: [&str; 6] = [
    "https_proxy",
    "HTTPS_PROXY",
    "http_proxy",
    "HTTP_PROXY",
    "all_proxy",
    "ALL_PROXY",
];

impl super::FileConfig {
    /// For a client without `httpProxyUrl` in an environment that sets a
    /// proxy variable: a note that the variable is not read (curl users
    /// expect it to be). It names the variable only, never its value,
    /// which may hold a password.
    pub fn proxy_environment_note(&self) -> Option<String> {
        if self.we_are_server || self.data_exchange.http_proxy.is_some() {
            return None;
        }
        let set: Vec<&str> = PROXY_VARIABLES
            .into_iter()
            .filter(|v| std::env::var_os(v).is_some_and(|s| !s.is_empty()))
            .collect();
        if set.is_empty() {
            return None;
        }
        let verb = if set.len() == 1 { "is" } else { "are" };
        Some(format!(
            "{} {verb} set in the environment, but tcpws does not read proxy variables: it \
             connects to the server directly unless dataExchange.httpProxyUrl is set",
            set.join(", ")
        ))
    }
}

/// `text` with anything between `://` and the last `@` replaced by `***`.
fn redacted(text: &str) -> String {
    match (text.find("://"), text.rfind('@')) {
        (Some(start), Some(at)) if at > start => {
            format!("{}***{}", &text[..start + 3], &text[at..])
        }
        (None, Some(at)) => format!("***{}", &text[at..]),
        _ => text.to_string(),
    }
}

/// Decodes `%XX` escapes (so a password may hold `@`, `:` or `/`); `None`
/// for a bad escape, invalid UTF-8 or a control character.
fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    let decoded = String::from_utf8(out).ok()?;
    (!decoded.chars().any(char::is_control)).then_some(decoded)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn takes_host_port_and_optional_credentials() {
        let p = parse("http://proxy.corp:3128").unwrap();
        assert_eq!(
            (p.host.as_str(), p.port, p.credentials),
            ("proxy.corp", 3128, None)
        );
        let p = parse("HTTP://alice:s%40cr%3At@[::1]:8080/").unwrap();
        assert_eq!((p.host.as_str(), p.port), ("::1", 8080));
        let c = p.credentials.unwrap();
        assert_eq!((c.user.as_str(), c.password.as_str()), ("alice", "s@cr:t"));
        let c = parse("http://bob:p@ss@h:1").unwrap().credentials.unwrap();
        assert_eq!((c.user.as_str(), c.password.as_str()), ("bob", "p@ss"));
        let c = parse("http://carol@h:1").unwrap().credentials.unwrap();
        assert_eq!((c.user.as_str(), c.password.as_str()), ("carol", ""));
    }

    #[test]
    fn rejects_bad_urls_without_showing_the_password() {
        for bad in [
            "https://alice:hunter2@h:1",
            "socks5://alice:hunter2@h:1",
            "alice:hunter2@h:1",
            "http://alice:hunter2@h",
            "http://alice:hunter2@h:0",
            "http://alice:hunter2@h:1/path",
            "http://alice:hunter2@:1",
            "http://:hunter2@h:1",
            "http://alice:hunter2%zz@h:1",
            "http://alice:hunter2%0a@h:1",
            "http://alice:hunter2 @h:1",
        ] {
            let why = parse(bad).unwrap_err();
            assert!(why.starts_with(EXPECTED), "{bad}: {why}");
            assert!(
                !why.contains("hunter2") && !why.contains("alice"),
                "{bad}: {why}"
            );
        }
        assert!(parse("http://h").unwrap_err().contains("port is missing"));
    }

    /// Whatever the text, parsing answers (no panic), and a password
    /// behind the scheme never shows in the error.
    #[test]
    fn arbitrary_text_never_panics_nor_shows_the_password() {
        fn prop(before: String, after: String) -> bool {
            let secret = "pw-7d1f0c";
            for text in [
                before.clone(),
                format!("http://{before}"),
                format!("http://user:{secret}{before}@{after}"),
                format!("{before}://u:{secret}@{after}"),
            ] {
                if let Err(why) = parse(&text) {
                    if text.contains(secret) && why.contains(secret) {
                        return false;
                    }
                }
            }
            true
        }
        quickcheck::QuickCheck::new()
            .tests(2000)
            .quickcheck(prop as fn(String, String) -> bool);
    }
}
