//! nginx in front of the server, as an operator would put it: Debian's
//! nginx terminates TLS (a certificate made by the test) on a free
//! 127.0.0.1 port and forwards the WebSocket on [`PATH`] to the server's
//! plain ws:// port, with the README's [`LOCATION`] block. It runs in the
//! foreground with every path in the test's directory.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{free_port, port_open, tools::find_tool, wait_until};

/// The path the WebSocket is forwarded on (both serverUrls carry it).
pub const PATH: &str = "/tcpws";

/// The README's location block (README.md, "Behind nginx"), with
/// `127.0.0.1:8080` standing for the server's port; a test checks that the
/// README shows exactly this.
pub const LOCATION: &str = r#"location = /tcpws {
    proxy_pass http://127.0.0.1:8080;
    proxy_http_version 1.1;
    proxy_set_header Upgrade $http_upgrade;
    proxy_set_header Connection "upgrade";
    proxy_set_header Host $host;
    proxy_read_timeout 3600s;
    proxy_send_timeout 3600s;
    proxy_buffering off;
    proxy_request_buffering off;
}"#;

/// One running nginx (its master process); stopped when dropped.
pub struct Nginx {
    pub port: u16,
    bin: PathBuf,
    dir: PathBuf,
    child: Option<Child>,
}

impl Nginx {
    /// Starts nginx in `dir` with TLS from `cert_pem` (leaf first, then the
    /// chain) and `key_pem`, forwarding [`PATH`] to 127.0.0.1:`upstream`;
    /// `None` when nginx is not installed (outside CI, see [`find_tool`]).
    pub fn start(
        dir: &Path,
        upstream: u16,
        cert_pem: &str,
        key_pem: &str,
        test: &str,
    ) -> Option<Nginx> {
        let bin = find_tool("nginx", "nginx", test)?;
        let port = free_port();
        std::fs::create_dir_all(dir).expect("create nginx's directory");
        std::fs::write(dir.join("cert.pem"), cert_pem).expect("write cert.pem");
        std::fs::write(dir.join("key.pem"), key_pem).expect("write key.pem");
        let d = dir.display();
        let location = LOCATION.replace("127.0.0.1:8080", &format!("127.0.0.1:{upstream}"));
        // worker_shutdown_timeout: after a reload the old worker closes the
        // WebSockets it still carries within 1 s, so a reload is a real
        // drop that the link must survive (without it they would stay on
        // the old worker and a reload would prove nothing).
        let conf = format!(
            "worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log info;
worker_shutdown_timeout 1s;
events {{ worker_connections 256; }}
http {{
    access_log {d}/access.log;
    client_body_temp_path {d}/client_body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    server {{
        listen 127.0.0.1:{port} ssl;
        ssl_certificate {d}/cert.pem;
        ssl_certificate_key {d}/key.pem;
{location}
    }}
}}
"
        );
        std::fs::write(dir.join("nginx.conf"), conf).expect("write nginx.conf");
        let log = std::fs::File::create(dir.join("output.log")).expect("create output.log");
        let child = Command::new(&bin)
            .args(nginx_args(dir))
            .args(["-g", "daemon off;"])
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log handle"))
            .stderr(log)
            .spawn()
            .expect("start nginx");
        let nginx = Nginx {
            port,
            bin,
            dir: dir.to_path_buf(),
            child: Some(child),
        };
        wait_until("nginx listening", Duration::from_secs(10), || {
            port_open(port)
        });
        Some(nginx)
    }

    /// `nginx -s reload`: new workers take new connections, the old one
    /// closes its WebSockets within `worker_shutdown_timeout`.
    pub fn reload(&self) {
        let status = Command::new(&self.bin)
            .args(nginx_args(&self.dir))
            .args(["-s", "reload"])
            .status()
            .expect("run nginx -s reload");
        assert!(status.success(), "nginx -s reload failed: {}", self.log());
    }

    /// nginx's error log and output, for diagnosis.
    pub fn log(&self) -> String {
        ["error.log", "output.log"]
            .iter()
            .map(|f| std::fs::read_to_string(self.dir.join(f)).unwrap_or_default())
            .collect::<Vec<_>>()
            .join("\n")
    }
}

fn nginx_args(dir: &Path) -> Vec<String> {
    vec![
        "-p".into(),
        dir.display().to_string(),
        "-c".into(),
        dir.join("nginx.conf").display().to_string(),
        "-e".into(),
        dir.join("error.log").display().to_string(),
    ]
}

impl Drop for Nginx {
    /// SIGTERM, so the master stops its workers too (a SIGKILL would
    /// leave them holding the port); SIGKILL after 10 s.
    /// Its directory is kept when the test failed.
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill").arg(c.id().to_string()).status();
            let deadline = Instant::now() + Duration::from_secs(10);
            while c.try_wait().ok().flatten().is_none() {
                if Instant::now() > deadline {
                    let _ = c.kill();
                    let _ = c.wait();
                    break;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        if std::thread::panicking() {
            eprintln!("nginx's config and logs kept in {}", self.dir.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}
