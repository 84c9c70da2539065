//! Where a complete request goes: the WebSocket upgrade on our path,
//! `/healthz`, `/metrics`, or a refusal with its status.

use crate::server_port::request_head::RequestHead;

/// What to do with a complete request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    Health,
    Metrics,
    /// A valid WebSocket upgrade on our path, with its `Sec-WebSocket-Key`.
    Upgrade {
        key: String,
    },
    /// Answer with this status and close; `why` goes to the log and the body.
    Reject {
        status: u16,
        why: String,
    },
}

/// Routes a request for a server whose WebSocket lives at `ws_path`, the
/// path of the configured server URL. Queries are not part of a path: the
/// client sends the URL's query (so `ws_path` may carry one) and a request
/// matches on its path alone.
pub fn route(head: &RequestHead, ws_path: &str) -> Route {
    let path = head.path();
    let ws_path = ws_path.split('?').next().unwrap_or(ws_path);
    let wants_upgrade = head.header_has_token("Upgrade", "websocket");
    if path == ws_path && (wants_upgrade || !matches!(path, "/healthz" | "/metrics")) {
        return route_upgrade(head);
    }
    if head.method != "GET" {
        return Route::Reject {
            status: 405,
            why: format!("method {} is not allowed", head.method),
        };
    }
    match path {
        "/healthz" => Route::Health,
        "/metrics" => Route::Metrics,
        _ => Route::Reject {
            status: 404,
            why: format!("no such path: {}", head.target),
        },
    }
}

/// Routes a request on the observability port: `GET /healthz` and
/// `GET /metrics` only.
pub fn route_http(head: &RequestHead) -> Route {
    match (head.method.as_str(), head.path()) {
        ("GET", "/healthz") => Route::Health,
        ("GET", "/metrics") => Route::Metrics,
        (_, "/healthz" | "/metrics") => Route::Reject {
            status: 405,
            why: format!("method {} is not allowed", head.method),
        },
        _ => Route::Reject {
            status: 404,
            why: format!("no such path: {}", head.target),
        },
    }
}

fn route_upgrade(head: &RequestHead) -> Route {
    let reject = |why: &str| Route::Reject {
        status: 400,
        why: why.to_string(),
    };
    if head.method != "GET" {
        return reject("a WebSocket upgrade must be a GET");
    }
    if !head.header_has_token("Upgrade", "websocket") {
        return reject("expected a WebSocket upgrade (Upgrade: websocket)");
    }
    if !head.header_has_token("Connection", "upgrade") {
        return reject("expected Connection: Upgrade");
    }
    if head.header("Sec-WebSocket-Version") != Some("13") {
        return reject("unsupported Sec-WebSocket-Version (need 13)");
    }
    match head.header("Sec-WebSocket-Key") {
        Some(key) if !key.is_empty() => Route::Upgrade {
            key: key.to_string(),
        },
        _ => reject("missing Sec-WebSocket-Key"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server_port::request_head::parse_head;
    use crate::server_port::request_head::tests::UPGRADE;

    #[test]
    fn routes_upgrade_health_metrics_and_the_rest() {
        let head = |b: &[u8]| parse_head(b).unwrap().unwrap().0;
        assert_eq!(
            route(&head(UPGRADE), "/ws"),
            Route::Upgrade {
                key: "dGhlIHNhbXBsZSBub25jZQ==".into()
            }
        );
        assert!(matches!(
            route(&head(UPGRADE), "/other"),
            Route::Reject { status: 404, .. }
        ));
        assert_eq!(
            route(&head(b"GET /healthz HTTP/1.1\r\n\r\n"), "/"),
            Route::Health
        );
        assert_eq!(
            route(&head(b"GET /metrics?x=1 HTTP/1.1\r\n\r\n"), "/"),
            Route::Metrics
        );
        assert!(matches!(
            route(&head(b"GET / HTTP/1.1\r\n\r\n"), "/"),
            Route::Reject { status: 400, .. }
        ));
        assert!(matches!(
            route(&head(b"POST /healthz HTTP/1.1\r\n\r\n"), "/"),
            Route::Reject { status: 405, .. }
        ));
        assert!(matches!(
            route(&head(b"GET /nope HTTP/1.1\r\n\r\n"), "/"),
            Route::Reject { status: 404, .. }
        ));
        let no_key = b"GET / HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
            Sec-WebSocket-Version: 13\r\n\r\n";
        assert!(matches!(
            route(&head(no_key), "/"),
            Route::Reject { status: 400, .. }
        ));
    }

    #[test]
    fn the_observability_port_serves_health_and_metrics_only() {
        let head = |b: &[u8]| parse_head(b).unwrap().unwrap().0;
        assert_eq!(
            route_http(&head(b"GET /healthz HTTP/1.1\r\n\r\n")),
            Route::Health
        );
        assert_eq!(
            route_http(&head(b"GET /metrics?x HTTP/1.1\r\n\r\n")),
            Route::Metrics
        );
        assert!(matches!(
            route_http(&head(UPGRADE)),
            Route::Reject { status: 404, .. }
        ));
        assert!(matches!(
            route_http(&head(b"POST /metrics HTTP/1.1\r\n\r\n")),
            Route::Reject { status: 405, .. }
        ));
    }

    /// fuzz/regressions/http_head/ws-path-with-query: a serverUrl with a
    /// query (`ws://h/t?x=1`) made the client ask for `/t?x=1` and the
    /// server compare the request's path `/t` with `/t?x=1`: a 404, so no
    /// client could ever connect.
    #[test]
    fn a_websocket_path_with_a_query_routes_on_its_path() {
        let upgrade = |target: &str| {
            let text = String::from_utf8_lossy(UPGRADE).replacen("/ws", target, 1);
            parse_head(text.as_bytes()).unwrap().unwrap().0
        };
        let key = Route::Upgrade {
            key: "dGhlIHNhbXBsZSBub25jZQ==".into(),
        };
        assert_eq!(route(&upgrade("/t?x=1"), "/t?x=1"), key);
        assert_eq!(route(&upgrade("/t"), "/t?x=1"), key);
        assert_eq!(route(&upgrade("/?x"), "/?x"), key);
        assert!(matches!(
            route(&upgrade("/u?x=1"), "/t?x=1"),
            Route::Reject { status: 404, .. }
        ));
    }
}
