//! A real HTTP CONNECT proxy for the end-to-end tests: Debian's tinyproxy,
//! in the foreground, with a config written into the test's directory, on
//! a free 127.0.0.1 port, allowing CONNECT to the given ports only.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::{free_port, port_open, tools::find_tool, wait_until};

/// One running tinyproxy; killed when dropped.
pub struct Tinyproxy {
    pub port: u16,
    bin: PathBuf,
    dir: PathBuf,
    child: Option<Child>,
}

impl Tinyproxy {
    /// Starts tinyproxy in `dir` allowing CONNECT to `connect_ports`, with
    /// Basic credentials `auth` required when given; `None` when tinyproxy
    /// is not installed (outside CI, see [`find_tool`]).
    pub fn start(
        dir: &Path,
        connect_ports: &[u16],
        auth: Option<(&str, &str)>,
        test: &str,
    ) -> Option<Tinyproxy> {
        let bin = find_tool("tinyproxy", "tinyproxy", test)?;
        let port = free_port();
        std::fs::create_dir_all(dir).expect("create the proxy's directory");
        // No User/Group lines: tinyproxy then stays the user it was started
        // as (it only warns when that is root, as in CI), so the test needs
        // no account of its own. Without a LogFile it logs to stderr.
        let mut conf = format!(
            "Port {port}\nListen 127.0.0.1\nTimeout 600\nMaxClients 64\nAllow 127.0.0.1\n\
             LogLevel Info\n"
        );
        // Without ConnectPort lines tinyproxy would allow every port; the
        // Debian default config allows 443 and 563 only.
        for p in connect_ports {
            conf.push_str(&format!("ConnectPort {p}\n"));
        }
        if let Some((user, password)) = auth {
            conf.push_str(&format!("BasicAuth {user} {password}\n"));
        }
        std::fs::write(dir.join("tinyproxy.conf"), conf).expect("write tinyproxy.conf");
        let mut proxy = Tinyproxy {
            port,
            bin,
            dir: dir.to_path_buf(),
            child: None,
        };
        proxy.spawn();
        Some(proxy)
    }

    fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("tinyproxy.log"))
            .expect("open tinyproxy.log");
        let child = Command::new(&self.bin)
            .arg("-d")
            .arg("-c")
            .arg(self.dir.join("tinyproxy.conf"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log handle"))
            .stderr(log)
            .spawn()
            .expect("start tinyproxy");
        self.child = Some(child);
        let port = self.port;
        wait_until("tinyproxy listening", Duration::from_secs(10), || {
            port_open(port)
        });
    }

    /// Kills the proxy (every tunnel through it drops at once, as in a
    /// crash) and starts it again on the same port.
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// What tinyproxy logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("tinyproxy.log")).unwrap_or_default()
    }
}

impl Drop for Tinyproxy {
    /// Stops the proxy; keeps its directory when the test failed.
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            eprintln!("tinyproxy's config and log kept in {}", self.dir.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}
