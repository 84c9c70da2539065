//! Helpers shared by the runtime's integration tests: free ports, waiting on
//! a node's status, an echo backend and a node running on its own thread.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use tcpws_runtime_mio::{Node, NodeHandle, NodeSettings, Status};

pub const WAIT: Duration = Duration::from_secs(20);

/// A port that was free a moment ago (bind port 0, then release it).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Polls `cond` on the node's status until it holds or `WAIT` passes.
pub fn wait_for(handle: &NodeHandle, what: &str, cond: impl Fn(&Status) -> bool) {
    let deadline = Instant::now() + WAIT;
    loop {
        let status = handle.status();
        if cond(&status) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}; last status: {status:?}"
        );
        thread::sleep(Duration::from_millis(10));
    }
}

/// An echo server on its own threads: every connection gets its bytes back
/// and a FIN after the peer's FIN.
pub struct Echo {
    pub port: u16,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Echo {
    pub fn start() -> Echo {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = stop.clone();
        let thread = thread::spawn(move || {
            for stream in listener.incoming() {
                if stop2.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(mut stream) = stream else { continue };
                thread::spawn(move || {
                    let mut buf = vec![0; 64 * 1024];
                    loop {
                        match stream.read(&mut buf) {
                            Ok(0) | Err(_) => break,
                            Ok(n) => {
                                if stream.write_all(&buf[..n]).is_err() {
                                    return;
                                }
                            }
                        }
                    }
                    let _ = stream.shutdown(Shutdown::Write);
                });
            }
        });
        Echo {
            port,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Echo {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

pub struct Running {
    pub handle: NodeHandle,
    thread: Option<JoinHandle<()>>,
}

impl Running {
    pub fn start(settings: NodeSettings) -> Running {
        let node = Node::new(settings).expect("node starts");
        let handle = node.handle();
        let thread = thread::spawn(move || node.run().expect("node runs and stops cleanly"));
        Running {
            handle,
            thread: Some(thread),
        }
    }

    pub fn stop(mut self) {
        self.handle.shutdown();
        if let Some(t) = self.thread.take() {
            t.join().expect("node thread");
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(t) = self.thread.take() {
            self.handle.shutdown();
            let _ = t.join();
        }
    }
}
