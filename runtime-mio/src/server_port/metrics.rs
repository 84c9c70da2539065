//! The `/metrics` body: a node's status in the Prometheus text format.

use std::fmt::Write as _;

use tcpws_protocol::{Stats, TunnelStats};

use crate::handle::Status;

/// The tunnel names that label the metrics: `listens[i]` labels listen
/// tunnel `i`, `connects[i]` connect tunnel `i`.
pub(crate) struct TunnelNames<'a> {
    pub(crate) listens: &'a [String],
    pub(crate) connects: &'a [String],
}

/// The `/metrics` body in the Prometheus text format (version 0.0.4).
pub(crate) fn render_metrics(status: &Status, names: &TunnelNames) -> String {
    let listen_names = names.listens;
    let mut out = String::new();
    let active = status.active.map_or(0, |c| u64::from(c.number()));
    gauge(
        &mut out,
        "tcpws_active_client",
        "The client this node believes is active (1 or 2; 0 for none).",
        active,
    );
    gauge(
        &mut out,
        "tcpws_epoch",
        "The election epoch of that belief.",
        status.epoch,
    );
    gauge(
        &mut out,
        "tcpws_links_up",
        "WebSocket links open at the runtime.",
        status.links_up as u64,
    );
    out.push_str("# HELP tcpws_listening Whether the listen socket of each tunnel is bound.\n");
    out.push_str("# TYPE tcpws_listening gauge\n");
    for (i, &listening) in status.listening.iter().enumerate() {
        let name = listen_names.get(i).map_or("", String::as_str);
        let _ = writeln!(
            out,
            "tcpws_listening{{tunnel=\"{}\"}} {}",
            escape_label(name),
            u8::from(listening)
        );
    }
    render_stats(&mut out, &status.stats);
    render_tunnels(&mut out, status, names);
    metric(
        &mut out,
        "tcpws_connections_shed_total",
        "Connections to the server port closed at once: too many others had not completed their handshake.",
        "counter",
        status.connections_shed,
    );
    out
}

/// Every [`Stats`] field: gauges keep their name, counters get `_total`.
/// `Stats::links_up` (links past their hello) is exported as
/// `tcpws_links_established` so it does not clash with the runtime's
/// `tcpws_links_up`.
fn render_stats(out: &mut String, s: &Stats) {
    let Stats {
        links_up,
        sessions,
        streams,
        conns,
        bytes_from_apps,
        bytes_to_apps,
        bytes_buffered,
        streams_opened,
        opens_refused,
        streams_reset,
        resumes,
        sessions_ended,
        switches,
        failovers,
        handovers,
        protocol_errors,
        auth_failures,
        handshake_timeouts,
    } = *s;
    let gauges: [(&str, &str, u64); 5] = [
        (
            "tcpws_links_established",
            "WebSocket links that completed their hello.",
            links_up,
        ),
        (
            "tcpws_sessions",
            "Sessions alive (connected or within their resume grace).",
            sessions,
        ),
        ("tcpws_streams", "Streams alive in all sessions.", streams),
        (
            "tcpws_conns",
            "Local TCP connections the protocol tracks.",
            conns,
        ),
        (
            "tcpws_bytes_buffered",
            "Bytes held in send and receive buffers.",
            bytes_buffered,
        ),
    ];
    for (name, help, value) in gauges {
        gauge(out, name, help, value);
    }
    let counters: [(&str, &str, u64); 13] = [
        (
            "tcpws_bytes_from_apps_total",
            "Bytes taken from local TCP connections.",
            bytes_from_apps,
        ),
        (
            "tcpws_bytes_to_apps_total",
            "Bytes handed to local TCP connections.",
            bytes_to_apps,
        ),
        (
            "tcpws_streams_opened_total",
            "Streams opened.",
            streams_opened,
        ),
        (
            "tcpws_opens_refused_total",
            "Stream opens refused.",
            opens_refused,
        ),
        (
            "tcpws_streams_reset_total",
            "Streams reset by either side.",
            streams_reset,
        ),
        (
            "tcpws_resumes_total",
            "Sessions that continued on a new link.",
            resumes,
        ),
        (
            "tcpws_sessions_ended_total",
            "Sessions ended.",
            sessions_ended,
        ),
        (
            "tcpws_switches_total",
            "Active-client changes caused by first data on a standby.",
            switches,
        ),
        (
            "tcpws_failovers_total",
            "Active-client changes caused by the active client's loss.",
            failovers,
        ),
        (
            "tcpws_handovers_total",
            "Active-client changes caused by the active client's planned stop.",
            handovers,
        ),
        (
            "tcpws_protocol_errors_total",
            "Links closed for a protocol violation.",
            protocol_errors,
        ),
        (
            "tcpws_auth_failures_total",
            "Handshakes refused for authentication (no or wrong proof, one-sided secret, certificate of another id).",
            auth_failures,
        ),
        (
            "tcpws_handshake_timeouts_total",
            "Links closed because their handshake did not complete in time.",
            handshake_timeouts,
        ),
    ];
    for (name, help, value) in counters {
        metric(out, name, help, "counter", value);
    }
}

/// A per-tunnel metric: its name, its help and how to read it.
type Family = (&'static str, &'static str, fn(&TunnelStats) -> u64);

/// Per-tunnel counters, labelled `tunnel` (its name) and `end` (`listen`:
/// connections accepted on this node's socket; `connect`: dialled by it).
fn render_tunnels(out: &mut String, status: &Status, names: &TunnelNames) {
    let families: [Family; 3] = [
        (
            "tcpws_tunnel_connections_total",
            "Connections the tunnel carried.",
            |t| t.streams_opened,
        ),
        (
            "tcpws_tunnel_bytes_from_apps_total",
            "Bytes the tunnel took from its local TCP connections.",
            |t| t.bytes_from_apps,
        ),
        (
            "tcpws_tunnel_bytes_to_apps_total",
            "Bytes the tunnel handed to its local TCP connections.",
            |t| t.bytes_to_apps,
        ),
    ];
    for (name, help, value) in families {
        let _ = write!(out, "# HELP {name} {help}\n# TYPE {name} counter\n");
        for (end, stats, labels) in [
            ("listen", &status.listen_tunnels, names.listens),
            ("connect", &status.connect_tunnels, names.connects),
        ] {
            for (i, t) in stats.iter().enumerate() {
                let tunnel = labels.get(i).map_or("", String::as_str);
                let _ = writeln!(
                    out,
                    "{name}{{tunnel=\"{}\",end=\"{end}\"}} {}",
                    escape_label(tunnel),
                    value(t)
                );
            }
        }
    }
}

fn gauge(out: &mut String, name: &str, help: &str, value: u64) {
    metric(out, name, help, "gauge", value);
}

fn metric(out: &mut String, name: &str, help: &str, kind: &str, value: u64) {
    let _ = write!(
        out,
        "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}\n"
    );
}

fn escape_label(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use tcpws_protocol::{ClientId, Health, Role};

    fn sample_status() -> Status {
        Status {
            role: Role::Server,
            active: Some(ClientId::Two),
            epoch: 3,
            links_up: 2,
            listening: vec![true, false],
            stats: Stats {
                bytes_from_apps: 1234,
                switches: 1,
                ..Stats::default()
            },
            health: Health::Ready,
            listen_tunnels: vec![
                TunnelStats {
                    streams_opened: 2,
                    bytes_from_apps: 10,
                    bytes_to_apps: 20,
                },
                TunnelStats::default(),
            ],
            connect_tunnels: vec![TunnelStats {
                streams_opened: 5,
                ..TunnelStats::default()
            }],
            connections_shed: 7,
        }
    }

    #[test]
    fn metrics_render_every_value_in_prometheus_text_format() {
        let listens = vec!["web".to_string(), "we\"ird".to_string()];
        let connects = vec!["ssh".to_string()];
        let names = TunnelNames {
            listens: &listens,
            connects: &connects,
        };
        let text = render_metrics(&sample_status(), &names);
        for line in [
            "tcpws_active_client 2",
            "tcpws_epoch 3",
            "tcpws_links_up 2",
            "tcpws_listening{tunnel=\"web\"} 1",
            "tcpws_listening{tunnel=\"we\\\"ird\"} 0",
            "tcpws_links_established 0",
            "tcpws_bytes_from_apps_total 1234",
            "tcpws_switches_total 1",
            "tcpws_protocol_errors_total 0",
            "tcpws_auth_failures_total 0",
            "tcpws_connections_shed_total 7",
            "# TYPE tcpws_switches_total counter",
            "# TYPE tcpws_epoch gauge",
            "tcpws_tunnel_connections_total{tunnel=\"web\",end=\"listen\"} 2",
            "tcpws_tunnel_bytes_from_apps_total{tunnel=\"web\",end=\"listen\"} 10",
            "tcpws_tunnel_bytes_to_apps_total{tunnel=\"web\",end=\"listen\"} 20",
            "tcpws_tunnel_connections_total{tunnel=\"we\\\"ird\",end=\"listen\"} 0",
            "tcpws_tunnel_connections_total{tunnel=\"ssh\",end=\"connect\"} 5",
            "# TYPE tcpws_tunnel_bytes_to_apps_total counter",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "missing {line:?} in:\n{text}"
            );
        }
        // Every sample line is `name[{labels}] value` and every name is declared.
        let samples = text.lines().filter(|l| !l.starts_with('#'));
        assert_eq!(samples.clone().count(), 3 + 2 + 18 + 1 + 3 * 3);
        for line in samples {
            let (name, value) = line.rsplit_once(' ').unwrap();
            value.parse::<u64>().unwrap();
            let bare = name.split('{').next().unwrap();
            assert!(
                text.contains(&format!("# TYPE {bare} ")),
                "{bare} has no TYPE"
            );
        }
    }
}
