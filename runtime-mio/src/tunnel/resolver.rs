//! Host-name lookups off the event loop: tunnel dials' connect targets and
//! the client's server.
//!
//! The system resolver (`getaddrinfo`) blocks, for seconds when a DNS
//! server is slow, and the loop must not stop carrying every other stream
//! meanwhile. IP literals are answered on the spot; other names go to a
//! small pool of threads, started on first use, whose answers come back
//! through a channel and wake the loop.

use std::io;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;

use log::error;
use mio::Waker;
use tcpws_protocol::ConnId;

/// Lookups that may run at once; more wait in the queue.
const THREADS: usize = 2;

/// How a name becomes addresses; the system resolver outside tests.
pub(crate) type Lookup = fn(&str, u16) -> io::Result<Vec<SocketAddr>>;

/// The system resolver, through `ToSocketAddrs`.
pub(crate) fn system_lookup(host: &str, port: u16) -> io::Result<Vec<SocketAddr>> {
    Ok((host, port).to_socket_addrs()?.collect())
}

/// Whose dial a lookup is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Asker {
    /// A tunnel connection's dial of its connect target.
    Conn(ConnId),
    /// The client's connection to the server (one lookup at a time).
    Server,
}

/// A finished lookup for the dial of `asker`.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) asker: Asker,
    pub(crate) result: io::Result<Vec<SocketAddr>>,
}

struct Job {
    asker: Asker,
    host: String,
    port: u16,
}

/// Resolves names for dials without blocking the caller.
pub(crate) struct Resolver {
    lookup: Lookup,
    waker: Arc<Waker>,
    /// Where jobs go, once the threads run.
    jobs: Option<Sender<Job>>,
    answers_tx: Sender<Answer>,
    answers: Receiver<Answer>,
}

impl std::fmt::Debug for Resolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resolver")
            .field("started", &self.jobs.is_some())
            .finish()
    }
}

impl Resolver {
    /// A resolver whose answers wake the loop through `waker`.
    pub(crate) fn new(waker: Arc<Waker>, lookup: Lookup) -> Resolver {
        let (answers_tx, answers) = mpsc::channel();
        Resolver {
            lookup,
            waker,
            jobs: None,
            answers_tx,
            answers,
        }
    }

    /// The addresses of an IP literal at once; for a name, `None`: the
    /// answer comes later from [`Resolver::answers`], tagged with `asker`.
    pub(crate) fn resolve(
        &mut self,
        asker: Asker,
        host: &str,
        port: u16,
    ) -> Option<io::Result<Vec<SocketAddr>>> {
        let literal = host.trim_start_matches('[').trim_end_matches(']');
        if let Ok(ip) = literal.parse::<IpAddr>() {
            return Some(Ok(vec![SocketAddr::new(ip, port)]));
        }
        let job = Job {
            asker,
            host: host.to_string(),
            port,
        };
        let job = match &self.jobs {
            Some(jobs) => match jobs.send(job) {
                Ok(()) => return None,
                Err(mpsc::SendError(job)) => job,
            },
            None => job,
        };
        match self.start_threads() {
            Ok(jobs) => {
                // The receiver lives as long as one thread does: this send
                // only fails if all of them died, and then the lookup runs here.
                match jobs.send(job) {
                    Ok(()) => None,
                    Err(mpsc::SendError(job)) => Some((self.lookup)(&job.host, job.port)),
                }
            }
            Err(e) => {
                error!("cannot start a resolver thread ({e}); resolving {host} on the loop");
                Some((self.lookup)(host, port))
            }
        }
    }

    /// Lookups finished since the last call.
    pub(crate) fn answers(&mut self) -> impl Iterator<Item = Answer> + '_ {
        self.answers.try_iter()
    }

    fn start_threads(&mut self) -> io::Result<&Sender<Job>> {
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        for i in 0..THREADS {
            let queue = Arc::clone(&queue);
            let answers = self.answers_tx.clone();
            let waker = Arc::clone(&self.waker);
            let lookup = self.lookup;
            thread::Builder::new()
                .name(format!("tcpws-resolver-{i}"))
                .spawn(move || serve(&queue, &answers, &waker, lookup))?;
        }
        Ok(self.jobs.insert(jobs))
    }
}

/// A resolver thread: takes jobs until the loop drops its sender.
fn serve(queue: &Mutex<Receiver<Job>>, answers: &Sender<Answer>, waker: &Waker, lookup: Lookup) {
    loop {
        let job = {
            let queue = queue.lock().unwrap_or_else(PoisonError::into_inner);
            match queue.recv() {
                Ok(job) => job,
                Err(_) => return,
            }
        };
        let result = lookup(&job.host, job.port);
        if answers
            .send(Answer {
                asker: job.asker,
                result,
            })
            .is_err()
        {
            return;
        }
        if let Err(e) = waker.wake() {
            error!("cannot wake the event loop with a resolved name: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    use mio::{Events, Poll, Token};

    fn setup(lookup: Lookup) -> (Poll, Resolver) {
        let poll = Poll::new().unwrap();
        let waker = Arc::new(Waker::new(poll.registry(), Token(0)).unwrap());
        (poll, Resolver::new(waker, lookup))
    }

    /// Polls until the resolver has an answer, as the loop does on a wakeup.
    fn next_answer(poll: &mut Poll, resolver: &mut Resolver) -> Answer {
        let mut events = Events::with_capacity(4);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(answer) = resolver.answers().next() {
                return answer;
            }
            assert!(Instant::now() < deadline, "no answer");
            poll.poll(&mut events, Some(Duration::from_secs(1)))
                .unwrap();
        }
    }

    fn never_called(host: &str, _: u16) -> io::Result<Vec<SocketAddr>> {
        panic!("looked up {host}");
    }

    #[test]
    fn ip_literals_are_answered_at_once_without_threads() {
        let (_poll, mut resolver) = setup(never_called);
        let v4 = resolver
            .resolve(Asker::Conn(ConnId(1)), "127.0.0.1", 80)
            .unwrap()
            .unwrap();
        assert_eq!(v4, vec!["127.0.0.1:80".parse().unwrap()]);
        let v6 = resolver
            .resolve(Asker::Server, "[::1]", 443)
            .unwrap()
            .unwrap();
        assert_eq!(v6, vec!["[::1]:443".parse().unwrap()]);
        assert!(resolver.jobs.is_none(), "no thread started");
    }

    /// Held by the test while its lookups must hang.
    static GATE: Mutex<()> = Mutex::new(());

    /// A lookup that hangs until the test opens the gate, like a slow DNS server.
    fn slow_lookup(host: &str, port: u16) -> io::Result<Vec<SocketAddr>> {
        drop(GATE.lock().unwrap_or_else(PoisonError::into_inner));
        if host == "backend.example" {
            Ok(vec![SocketAddr::from(([10, 0, 0, 7], port))])
        } else {
            Err(io::Error::new(io::ErrorKind::NotFound, "no such name"))
        }
    }

    #[test]
    fn a_slow_name_does_not_block_the_caller_and_its_answer_wakes_the_loop() {
        let closed = GATE.lock().unwrap();
        let (mut poll, mut resolver) = setup(slow_lookup);
        assert!(resolver
            .resolve(Asker::Conn(ConnId(1)), "backend.example", 9000)
            .is_none());
        assert!(resolver
            .resolve(Asker::Server, "nowhere.example", 1)
            .is_none());
        // The caller went on while both lookups hang.
        assert!(resolver.answers().next().is_none());
        drop(closed);
        let mut answers = [
            next_answer(&mut poll, &mut resolver),
            next_answer(&mut poll, &mut resolver),
        ];
        answers.sort_by_key(|a| a.asker);
        assert_eq!(answers[0].asker, Asker::Conn(ConnId(1)));
        assert_eq!(
            answers[0].result.as_ref().unwrap(),
            &vec![SocketAddr::from(([10, 0, 0, 7], 9000))]
        );
        assert_eq!(answers[1].asker, Asker::Server);
        assert!(answers[1].result.is_err());
    }

    #[test]
    fn the_system_resolver_answers_localhost() {
        let (mut poll, mut resolver) = setup(system_lookup);
        assert!(resolver
            .resolve(Asker::Conn(ConnId(3)), "localhost", 7)
            .is_none());
        let answer = next_answer(&mut poll, &mut resolver);
        let addrs = answer.result.expect("localhost resolves");
        assert!(addrs.iter().all(|a| a.ip().is_loopback() && a.port() == 7));
    }
}
