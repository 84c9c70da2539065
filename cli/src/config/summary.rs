//! The one-screen description of a config that `tcpws check` prints.

use std::fmt::Write;
use std::time::Duration;

use tcpws_protocol::Role;

use super::FileConfig;

impl FileConfig {
    /// A human-readable summary: role, server URL and TLS mode, each tunnel
    /// with its direction, the timings, the buffer and the logging.
    pub fn summary(&self) -> String {
        let dx = &self.data_exchange;
        let mut out = String::new();
        let role = self.role();
        let role_text = match role {
            Role::Server => "server (clients connect to it)".to_string(),
            Role::Client(id) => format!("{id} (connects to the server)"),
        };
        let _ = writeln!(out, "role:             {role_text}");
        let _ = writeln!(out, "server:           {}", dx.server_url);
        let tls = if !dx.server_url.tls() {
            "off".to_string()
        } else {
            let mut parts = vec![if dx.enable_mutual_tls { "mutual" } else { "on" }.to_string()];
            let files = [
                ("bundle", &dx.tls_bundle),
                ("trusted CA", &dx.trusted_ca),
                ("trusted peers", &dx.trusted_peers),
            ];
            for (what, path) in files {
                if let Some(path) = path {
                    parts.push(format!("{what} {}", path.display()));
                }
            }
            parts.join(", ")
        };
        let _ = writeln!(out, "TLS:              {tls}");
        if let (Role::Client(_), Some(proxy)) = (role, &dx.http_proxy) {
            let auth = if proxy.credentials.is_some() {
                " (Basic credentials, not shown)"
            } else {
                ""
            };
            let _ = writeln!(out, "HTTP proxy:       {proxy}{auth}");
        }
        if let Some(addr) = dx.metrics_bind {
            let _ = writeln!(out, "health, metrics:  http://{addr}/healthz and /metrics");
        }

        let peer = match role {
            Role::Server => "active client",
            Role::Client(_) => "server",
        };
        let width = self
            .listens
            .iter()
            .map(|l| l.name.chars().count())
            .chain(self.connects.iter().map(|c| c.name.chars().count()))
            .max()
            .unwrap_or(0)
            .min(24);
        if self.listens.is_empty() && self.connects.is_empty() {
            let _ = writeln!(out, "tunnels:          none");
        } else {
            let _ = writeln!(
                out,
                "tunnels:          {} listen, {} connect",
                self.listens.len(),
                self.connects.len()
            );
        }
        for l in &self.listens {
            let _ = writeln!(
                out,
                "  listen   {:width$}  {} --> {peer}",
                l.name,
                host_port(&l.bind_address, l.port)
            );
        }
        for c in &self.connects {
            let _ = writeln!(
                out,
                "  connect  {:width$}  {peer} --> {}",
                c.name,
                host_port(&c.host, c.port)
            );
        }
        let _ = writeln!(out, "standby close:    {}", secs(self.standby_close));
        let _ = writeln!(
            out,
            "buffer:           {} per connection and direction",
            bytes(dx.buffer_bytes)
        );
        let _ = writeln!(out, "resume grace:     {}", secs(dx.resume_grace));
        let _ = writeln!(out, "failover after:   {}", secs(dx.failover_after));
        let _ = writeln!(
            out,
            "keepalive:        every {}, link dropped after {} of silence",
            secs(dx.keepalive_interval),
            secs(dx.keepalive_timeout)
        );
        let _ = writeln!(out, "connect timeout:  {}", secs(dx.connect_timeout));
        let tcp_keepalive = match dx.tcp_keepalive {
            Some(idle) => format!(
                "first probe after {} idle, then every {}s, 5 probes",
                secs(idle),
                (idle.as_secs() / 6).max(1)
            ),
            None => "off".to_string(),
        };
        let _ = writeln!(
            out,
            "TCP keepalive:    {tcp_keepalive} (tunnel connections)"
        );
        let lg = &self.logging;
        let syslog = match &lg.syslog {
            Some(s) => format!("syslog {}", host_port(&s.host, s.port)),
            None => "no syslog".to_string(),
        };
        let _ = writeln!(
            out,
            "logging:          {}, stdout {}, daily files kept {} days, {syslog}",
            lg.level.as_str().to_ascii_uppercase(),
            if lg.log_to_stdout { "on" } else { "off" },
            lg.days_to_keep
        );
        out
    }
}

fn host_port(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

fn secs(d: Duration) -> String {
    if d.subsec_nanos() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{}s", d.as_secs_f64())
    }
}

fn bytes(n: u32) -> String {
    const KIB: u32 = 1024;
    const MIB: u32 = 1024 * 1024;
    if n % MIB == 0 {
        format!("{} MiB", n / MIB)
    } else if n % KIB == 0 {
        format!("{} KiB", n / KIB)
    } else {
        format!("{n} bytes")
    }
}

#[cfg(test)]
mod tests {
    use crate::config::testing::{ok, SEED_CLIENT_1, SEED_SERVER};

    #[test]
    fn summary_shows_role_tunnels_and_settings() {
        let text = ok(SEED_CLIENT_1).0.summary();
        for expected in [
            "client 1",
            "http://localhost:8080/",
            "TLS:              off",
            "listen   duckduckgo  127.0.0.1:8091 --> server",
            "connect  brave       server --> search.brave.com:80",
            "4 MiB",
            "standby close:    30s",
            "TCP keepalive:    first probe after 60s idle, then every 10s, 5 probes",
            "DEBUG",
        ] {
            assert!(text.contains(expected), "{expected:?} missing from\n{text}");
        }
        assert!(!text.contains("HTTP proxy"), "{text}");
        let with_proxy = SEED_CLIENT_1.replacen(
            "\"dataExchange\": {",
            "\"dataExchange\": {\"httpProxyUrl\": \"http://alice:hunter2@proxy:3128\",",
            1,
        );
        assert_ne!(with_proxy, SEED_CLIENT_1);
        let text = ok(&with_proxy).0.summary();
        assert!(
            text.contains("HTTP proxy:       http://***@proxy:3128 (Basic credentials, not shown)"),
            "{text}"
        );
        assert!(
            !text.contains("alice") && !text.contains("hunter2"),
            "{text}"
        );
        let text = ok(SEED_SERVER).0.summary();
        assert!(text.contains("127.0.0.1:8092 --> active client"), "{text}");
    }
}
