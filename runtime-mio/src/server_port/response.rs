//! The answers the server port writes: plain HTTP/1.1 responses that close
//! the connection, the `/healthz` body, and the 101 of a WebSocket upgrade.

use tcpws_protocol::Health;

use crate::handle::Status;

/// A complete HTTP/1.1 response that closes the connection.
pub fn response(status: u16, content_type: &str, body: &str) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 {status} {}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
         Cache-Control: no-store\r\nConnection: close\r\n\r\n",
        reason_phrase(status),
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(body.as_bytes());
    out
}

/// A plain-text error response whose body is `why`.
pub fn error_response(status: u16, why: &str) -> Vec<u8> {
    response(status, "text/plain; charset=utf-8", &format!("{why}\n"))
}

/// The 101 answer to a WebSocket upgrade with this `Sec-WebSocket-Key`.
pub fn upgrade_response(key: &str) -> Vec<u8> {
    let accept = tungstenite::handshake::derive_accept_key(key.as_bytes());
    format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {accept}\r\n\r\n"
    )
    .into_bytes()
}

fn reason_phrase(status: u16) -> &'static str {
    match status {
        101 => "Switching Protocols",
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        431 => "Request Header Fields Too Large",
        503 => "Service Unavailable",
        _ => "Error",
    }
}

/// The `/healthz` answer: 200 "ok" when the node can carry traffic, else
/// 503 with the reason; then this node's role and who it believes is active.
pub(crate) fn healthz(status: &Status) -> (u16, String) {
    let active = match status.active {
        Some(client) => client.to_string(),
        None => "none".to_string(),
    };
    let (code, first) = match &status.health {
        Health::Ready => (200, "ok".to_string()),
        unready => (503, unready.to_string()),
    };
    (
        code,
        format!("{first}\nrole {}\nactive {active}\n", status.role),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use tcpws_protocol::{ClientId, Role, Stats};

    #[test]
    fn upgrade_response_carries_the_rfc_accept_key() {
        let text = String::from_utf8(upgrade_response("dGhlIHNhbXBsZSBub25jZQ==")).unwrap();
        assert!(text.starts_with("HTTP/1.1 101 Switching Protocols\r\n"));
        assert!(text.contains("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"));
        assert!(text.ends_with("\r\n\r\n"));
    }

    #[test]
    fn responses_have_length_and_close() {
        let text = String::from_utf8(response(200, "text/plain", "ok\n")).unwrap();
        assert!(text.starts_with("HTTP/1.1 200 OK\r\n"));
        assert!(text.contains("Content-Length: 3\r\n"));
        assert!(text.contains("Connection: close\r\n"));
        assert!(text.ends_with("\r\n\r\nok\n"));
    }

    #[test]
    fn healthz_is_200_only_when_ready_and_names_role_and_active_client() {
        let server = Status {
            role: Role::Server,
            active: Some(ClientId::Two),
            epoch: 3,
            links_up: 2,
            listening: vec![true],
            stats: Stats::default(),
            health: Health::Ready,
            listen_tunnels: Vec::new(),
            connect_tunnels: Vec::new(),
            connections_shed: 0,
        };
        assert_eq!(
            healthz(&server),
            (200, "ok\nrole server\nactive client 2\n".into())
        );
        let none = Status {
            role: Role::Client(ClientId::One),
            active: None,
            health: Health::Unready("no session with the server".into()),
            ..server
        };
        assert_eq!(
            healthz(&none),
            (
                503,
                "not ready: no session with the server\nrole client 1\nactive none\n".into()
            )
        );
    }
}
