//! The external apps and backends: connecting through a listen tunnel,
//! writing, reading and checking every byte, finishing and resetting.

use super::*;

impl World {
    /// An external app connects to `tunnel` on `node`. A closed listen
    /// socket (or a down node) refuses it: the app's status is `Refused`.
    pub fn app_connect(&mut self, node: Node, tunnel: &str, plan: AppPlan) -> AppId {
        let id = AppId(self.apps.len() as u32);
        let now = self.now();
        self.counters.apps += 1;
        let t = self.cfg.listens(node).iter().position(|x| x == tunnel);
        let open = match (t, self.host(node)) {
            (Some(t), Some(h)) => h.listening.contains(&t),
            _ => false,
        };
        let (Some(t), true) = (t, open) else {
            tr!(self, "{id} connect {node}/{tunnel}: refused");
            self.counters.refused += 1;
            self.apps.push(App::new(
                id,
                AppRole::Client {
                    node,
                    tunnel: tunnel.to_owned(),
                },
                plan,
                None,
                now,
            ));
            return id;
        };
        let tcp_id = self.tcp.open(self.cfg.tcp_buffer);
        self.tcp_node.push(None);
        self.tcp_app.push(id);
        let active = if node == Node::Server {
            self.active_of(Node::Server)
        } else {
            None
        };
        let salt = self.rng.next_u64();
        let tag = pattern::make_tag(
            TagInfo {
                app: id.0,
                origin: node,
                active_at_connect: active,
            },
            salt,
        );
        let mut app = App::new(
            id,
            AppRole::Client {
                node,
                tunnel: tunnel.to_owned(),
            },
            plan.clone(),
            Some(tcp_id),
            now,
        );
        app.tx_tag = Some(tag);
        app.rx_tag = Some(tag ^ ANSWER);
        app.active_at_connect = active;
        self.apps.push(app);

        let instant = self.clock.now();
        let host = self.hosts[node.index()].as_mut().expect("checked above");
        let inc = host.inc;
        let via = node.client_id().or(host.believes_active);
        let held = node == Node::Server && via.is_some_and(|c| self.election.server_unlinked(c));
        let conn = host.endpoint.handle_accept(TunnelId(t), instant);
        tr!(
            self,
            "{node} <- accept {tunnel} ({id} tag={tag:#018x}) -> {conn:?}"
        );
        match conn {
            Some(conn) => {
                let host = self.hosts[node.index()].as_mut().expect("checked above");
                if host.conns.contains_key(&conn) {
                    self.fail(
                        "api",
                        format_args!("{node}: handle_accept returned {conn}, which is in use"),
                    );
                }
                host.conns.insert(
                    conn,
                    HostConn {
                        tcp: Some(tcp_id),
                        dialed: false,
                        tunnel: t,
                        eof: false,
                        write_shut: false,
                        via,
                        saw_data: false,
                        held,
                    },
                );
                self.tcp_node[tcp_id] = Some((node, inc, conn));
            }
            None => {
                self.tcp.get_mut(tcp_id).close(Side::Node);
                self.tasks.push_back(Task::App(id));
            }
        }
        self.after_input(node);

        if let Some(after) = plan.reset_after {
            self.push_event(now + after, Event::AppReset(id));
        }
        if plan.bytes > 0 {
            let first = self.rng.duration(plan.interval.0, plan.interval.1);
            self.push_event(now + first, Event::AppTick(id));
        } else if plan.finish {
            self.apps[id.0 as usize].finish = true;
            self.tasks.push_back(Task::App(id));
        }
        if plan.read_rate.is_some() {
            self.push_event(now + READ_TICK, Event::AppReadTick(id));
        }
        self.run_tasks();
        id
    }

    /// The app writes `n` more payload bytes (its tag goes first).
    pub fn app_write(&mut self, id: AppId, n: u64) {
        self.apps[id.0 as usize].want(n);
        tr!(self, "{id} wants to write {n} more bytes");
        self.tasks.push_back(Task::App(id));
        self.run_tasks();
    }

    /// The app shuts down its write half once everything it wants is written.
    pub fn app_finish(&mut self, id: AppId) {
        self.apps[id.0 as usize].finish = true;
        tr!(self, "{id} finishes");
        self.tasks.push_back(Task::App(id));
        self.run_tasks();
    }

    /// Changes how fast the app reads: `None` reads at once, `Some(n)` at
    /// most `n` bytes every 10 ms (`Some(0)` not at all).
    pub fn app_set_read_rate(&mut self, id: AppId, rate: Option<usize>) {
        let app = &mut self.apps[id.0 as usize];
        let was_slow = app.plan.read_rate.is_some();
        app.plan.read_rate = rate;
        tr!(self, "{id} reads at {rate:?} bytes per 10 ms");
        if rate.is_some() && !was_slow {
            let at = self.now() + READ_TICK;
            self.push_event(at, Event::AppReadTick(id));
        }
        self.tasks.push_back(Task::App(id));
        self.run_tasks();
    }

    /// The app resets its connection (SO_LINGER 0 and close).
    pub fn app_reset(&mut self, id: AppId) {
        let app = &self.apps[id.0 as usize];
        if app.status.is_final() {
            return;
        }
        let Some(tcp_id) = app.tcp else {
            return;
        };
        tr!(self, "{id} resets its connection");
        self.tcp.get_mut(tcp_id).reset(Side::App);
        self.app_end(id, Status::Aborted);
        self.wake_node(tcp_id);
        self.run_tasks();
    }

    pub(super) fn app_end(&mut self, id: AppId, status: Status) {
        let now = self.now();
        let app = &mut self.apps[id.0 as usize];
        if app.status.is_final() {
            return;
        }
        app.status = status;
        app.ended_at = Some(now);
        tr!(self, "{id} ends: {status:?}");
    }

    pub(super) fn wake_node(&mut self, tcp_id: usize) {
        if let Some((node, inc, conn)) = self.tcp_node[tcp_id] {
            self.tasks.push_back(Task::NodeRead(node, inc, conn));
            self.tasks.push_back(Task::NodeWrite(node, inc, conn));
        }
    }

    pub(super) fn app_tick(&mut self, id: AppId) {
        let now = self.now();
        let app = &self.apps[id.0 as usize];
        if app.status.is_final() || app.shut || app.pending_auto == 0 {
            return;
        }
        let (lo, hi) = app.plan.chunk;
        let interval = app.plan.interval;
        let n = self.rng.range(lo.max(1), hi.max(1)).min(app.pending_auto);
        let app = &mut self.apps[id.0 as usize];
        app.want(n);
        app.pending_auto -= n;
        if app.pending_auto > 0 {
            let next = self.rng.duration(interval.0, interval.1);
            self.push_event(now + next, Event::AppTick(id));
        } else if app.plan.finish {
            app.finish = true;
        }
        self.tasks.push_back(Task::App(id));
    }

    pub(super) fn app_read_tick(&mut self, id: AppId) {
        let app = &self.apps[id.0 as usize];
        if app.status.is_final() || app.eof {
            return;
        }
        let rate = app.plan.read_rate.unwrap_or(usize::MAX);
        self.app_read(id, rate);
        self.tasks.push_back(Task::App(id));
        let app = &self.apps[id.0 as usize];
        if !app.status.is_final() && !app.eof {
            let at = self.now() + READ_TICK;
            self.push_event(at, Event::AppReadTick(id));
        }
    }

    /// Reads up to `budget` bytes for the app, checking every byte.
    pub(super) fn app_read(&mut self, id: AppId, mut budget: usize) {
        let Some(tcp_id) = self.apps[id.0 as usize].tcp else {
            return;
        };
        while budget > 0 {
            let app = &self.apps[id.0 as usize];
            if app.status.is_final() || app.eof {
                return;
            }
            self.buf.clear();
            let r = self
                .tcp
                .get_mut(tcp_id)
                .read(Side::App, &mut self.buf, budget.min(64 * 1024));
            match r {
                Read::Data(n) => {
                    budget -= n;
                    self.counters.app_bytes += n as u64;
                    let buf = std::mem::take(&mut self.buf);
                    let res = self.apps[id.0 as usize].on_receive(&buf);
                    self.buf = buf;
                    match res {
                        Err(e) => self.fail("byte stream (invariant 1)", e),
                        Ok(Some(tag)) => self.learned_tag(id, tag),
                        Ok(None) => {}
                    }
                    self.wake_node(tcp_id);
                }
                Read::WouldBlock => return,
                Read::Eof => {
                    self.apps[id.0 as usize].eof = true;
                    tr!(
                        self,
                        "{id} read EOF after {} bytes",
                        self.apps[id.0 as usize].received
                    );
                    self.check_eof(id);
                    return;
                }
                Read::Reset => {
                    self.app_end(id, Status::Reset);
                    return;
                }
            }
        }
    }

    /// A clean EOF must mean the peer finished and every byte it wrote
    /// arrived, unless a planned stop of a node on the way cut it short.
    pub(super) fn check_eof(&self, id: AppId) {
        let app = self.app(id);
        let Some(peer) = app.peer.map(|p| self.app(p)) else {
            return;
        };
        if app.stop_cut || peer.stop_cut {
            return;
        }
        if !peer.shut {
            self.fail(
                "byte stream (invariant 1)",
                format_args!(
                    "{id} read a clean EOF after {} bytes, but its peer {} never shut down its \
                     write half (it wrote {} bytes; status {:?}): a close or reset was carried as FIN",
                    app.received, peer.id, peer.sent, peer.status
                ),
            );
        }
        if peer.sent != app.received {
            self.fail(
                "byte stream (invariant 1)",
                format_args!(
                    "{id} read a clean EOF after {} bytes, but its peer {} wrote {} bytes and FIN",
                    app.received, peer.id, peer.sent
                ),
            );
        }
    }

    /// A backend learned its app's tag: check the routing, pair them up.
    pub(super) fn learned_tag(&mut self, backend: AppId, tag: u64) {
        let b = self.app(backend);
        let bnode = b.node();
        let btunnel = match &b.role {
            AppRole::Backend { tunnel, .. } => tunnel.clone(),
            AppRole::Client { .. } => self.fail(
                "byte stream (invariant 1)",
                format_args!("{backend} is a client app but got a wrong stream header"),
            ),
        };
        let Some(info) = pattern::parse_tag(tag).filter(|i| (i.app as usize) < self.apps.len())
        else {
            self.fail(
                "byte stream (invariant 1)",
                format_args!(
                    "{backend} behind {bnode} received a stream whose tag {tag:#018x} no app chose"
                ),
            );
        };
        let app_id = AppId(info.app);
        let app = self.app(app_id);
        if app.is_backend() || app.tx_tag != Some(tag) {
            self.fail(
                "byte stream (invariant 1)",
                format_args!(
                    "{backend} behind {bnode} received a stream whose tag {tag:#018x} no app chose"
                ),
            );
        }
        if let Some(other) = app.peer {
            self.fail(
                "routing (invariant 2)",
                format_args!("{app_id} reached two backends: {other} and {backend} behind {bnode}"),
            );
        }
        let AppRole::Client {
            node: origin,
            tunnel,
        } = &app.role
        else {
            unreachable!("checked above")
        };
        if tunnel != &btunnel {
            self.fail(
                "routing (invariant 2)",
                format_args!("{app_id} connected to tunnel {tunnel} but reached {backend}, a backend of tunnel {btunnel}"),
            );
        }
        match origin {
            Node::Server => {
                let carrier = app.moved_to.or(info.active_at_connect);
                if carrier.map(Node::client) != Some(bnode) {
                    self.fail(
                        "routing (invariant 2)",
                        format_args!(
                            "{backend} behind {bnode} received bytes of {app_id}, which connected to the \
                             server at {:?} while the server's active client was {:?}",
                            app.connected_at, info.active_at_connect
                        ),
                    );
                }
            }
            Node::C1 | Node::C2 => {
                if bnode != Node::Server {
                    self.fail(
                        "routing (invariant 2)",
                        format_args!(
                            "{app_id} connected to {origin} but reached {backend} behind {bnode}"
                        ),
                    );
                }
            }
        }
        let mode = app.plan.backend;
        let rate = app.plan.backend_read_rate;
        tr!(self, "{backend} behind {bnode} serves {app_id} ({mode:?})");
        self.apps[app_id.0 as usize].peer = Some(backend);
        let b = &mut self.apps[backend.0 as usize];
        b.peer = Some(app_id);
        b.tx_tag = Some(tag ^ ANSWER);
        b.plan.backend = mode;
        b.plan.read_rate = rate;
        if rate.is_some() {
            let at = self.now() + READ_TICK;
            self.push_event(at, Event::AppReadTick(backend));
        }
    }

    /// Reads (fast readers), writes what the app wants, finishes and closes.
    pub(super) fn app_pump(&mut self, id: AppId) {
        let app = &self.apps[id.0 as usize];
        if app.status.is_final() {
            return;
        }
        let Some(tcp_id) = app.tcp else {
            return;
        };
        if self.tcp.get(tcp_id).state(Side::App) == EndState::Reset {
            self.app_end(id, Status::Reset);
            return;
        }
        if app.plan.read_rate.is_none() {
            self.app_read(id, usize::MAX);
        }
        // A backend's wishes follow its mode.
        let app = &mut self.apps[id.0 as usize];
        if app.is_backend() {
            match app.plan.backend {
                BackendMode::Echo => {
                    if app.tx_tag.is_some() {
                        app.allowed = app.received;
                    }
                    app.finish = app.eof;
                }
                BackendMode::Stream(n) => {
                    if app.tx_tag.is_some() {
                        app.allowed = TAG_LEN + n;
                        app.finish = true;
                    } else {
                        app.finish = app.eof;
                    }
                }
                BackendMode::Sink => app.finish = app.eof,
            }
        }
        loop {
            let app = &self.apps[id.0 as usize];
            if app.status.is_final() || app.shut {
                break;
            }
            let Some(tag) = app.tx_tag else {
                break;
            };
            let n = app.unsent().min(APP_WRITE as u64) as usize;
            if n == 0 {
                break;
            }
            self.buf.clear();
            pattern::fill(tag, app.sent, n, &mut self.buf);
            match self.tcp.get_mut(tcp_id).write(Side::App, &self.buf) {
                Write::Wrote(0) => break,
                Write::Wrote(k) => {
                    self.apps[id.0 as usize].sent += k as u64;
                    self.wake_node(tcp_id);
                }
                Write::Reset => {
                    self.app_end(id, Status::Reset);
                    return;
                }
            }
        }
        let app = &self.apps[id.0 as usize];
        if app.status.is_final() {
            return;
        }
        if app.finish && !app.shut && app.unsent() == 0 {
            self.apps[id.0 as usize].shut = true;
            tr!(
                self,
                "{id} shuts down its write half after {} bytes",
                self.apps[id.0 as usize].sent
            );
            self.tcp.get_mut(tcp_id).shutdown_write(Side::App);
            self.wake_node(tcp_id);
        }
        let app = &self.apps[id.0 as usize];
        if app.eof && app.shut {
            self.tcp.get_mut(tcp_id).close(Side::App);
            self.wake_node(tcp_id);
            let status = match self.tcp.get(tcp_id).state(Side::App) {
                EndState::Reset => Status::Reset,
                _ => Status::Done,
            };
            self.app_end(id, status);
        }
    }
}
