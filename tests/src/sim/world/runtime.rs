//! The fake runtime: what a real runtime does with each node's sockets
//! and with every `Output`, driven by the drain contract.

use super::*;

impl World {
    pub(super) fn run_tasks(&mut self) {
        while let Some(task) = self.tasks.pop_front() {
            match task {
                Task::App(id) => self.app_pump(id),
                Task::NodeRead(node, inc, conn) => {
                    if self.live_inc(node, inc) {
                        self.node_read(node, conn);
                    }
                }
                Task::NodeWrite(node, inc, conn) => {
                    if self.live_inc(node, inc) {
                        self.node_write(node, conn);
                    }
                }
                Task::NodeTransmit(node, inc) => {
                    if self.live_inc(node, inc) {
                        self.after_input(node);
                    }
                }
            }
        }
    }

    /// The runtime's TCP connection `conn` of `node`, when it has a socket.
    pub(super) fn node_conn(&self, node: Node, conn: ConnId) -> Option<(usize, HostConn)> {
        let hc = self.host(node)?.conns.get(&conn)?;
        Some((hc.tcp?, hc.clone()))
    }

    /// The socket of `conn` was reset: tell the endpoint, forget the socket.
    pub(super) fn node_conn_reset(&mut self, node: Node, conn: ConnId, tcp_id: usize) {
        tr!(self, "{node} <- app_reset {conn}");
        self.tcp_node[tcp_id] = None;
        let now = self.clock.now();
        let h = self.hosts[node.index()].as_mut().expect("live");
        h.conns.remove(&conn);
        h.endpoint
            .handle_app_reset(conn, "connection reset by peer", now);
        self.after_input(node);
    }

    /// Readable: read while the endpoint has send capacity.
    pub(super) fn node_read(&mut self, node: Node, conn: ConnId) {
        let mut rounds = 0u32;
        loop {
            rounds += 1;
            if rounds > 100_000 {
                self.fail(
                    "liveness",
                    format_args!("{node}: endless read loop on {conn}"),
                );
            }
            let Some((tcp_id, hc)) = self.node_conn(node, conn) else {
                return;
            };
            if self.tcp.get(tcp_id).state(Side::Node) == EndState::Reset {
                self.node_conn_reset(node, conn, tcp_id);
                return;
            }
            if hc.eof {
                return;
            }
            let h = self.host(node).expect("live");
            let cap = h.endpoint.send_capacity(conn);
            if cap == 0 {
                return;
            }
            self.buf.clear();
            let max = cap.min(self.cfg.read_chunk);
            match self
                .tcp
                .get_mut(tcp_id)
                .read(Side::Node, &mut self.buf, max)
            {
                Read::Data(n) => {
                    self.tasks.push_back(Task::App(self.tcp_app[tcp_id]));
                    tr!(self, "{node} <- app_data {conn} {n}B");
                    let now = self.clock.now();
                    let h = self.hosts[node.index()].as_mut().expect("live");
                    let taken = hand_over(&mut h.endpoint, conn, &self.buf, now);
                    if taken != n {
                        self.fail(
                            "api",
                            format_args!("{node}: the endpoint took {taken} of {n} bytes read from {conn}, send_capacity was {cap}"),
                        );
                    }
                    if !hc.dialed && !hc.saw_data {
                        self.first_data(node, conn);
                    }
                    self.after_input(node);
                }
                Read::WouldBlock => return,
                Read::Eof => {
                    tr!(self, "{node} <- app_eof {conn}");
                    let now = self.clock.now();
                    let h = self.hosts[node.index()].as_mut().expect("live");
                    if let Some(c) = h.conns.get_mut(&conn) {
                        c.eof = true;
                    }
                    h.endpoint.handle_app_eof(conn, now);
                    self.after_input(node);
                    return;
                }
                Read::Reset => {
                    self.node_conn_reset(node, conn, tcp_id);
                    return;
                }
            }
        }
    }

    /// The runtime read the first data of a connection `node`'s listen
    /// socket accepted: on a client that believes it is standby, a claim.
    pub(super) fn first_data(&mut self, node: Node, conn: ConnId) {
        let now = self.now();
        let h = self.hosts[node.index()].as_mut().expect("live");
        if let Some(c) = h.conns.get_mut(&conn) {
            c.saw_data = true;
        }
        if let Some(me) = node.client_id() {
            if h.believes_active != Some(me) {
                tr!(self, "{node}: first data on a listen connection as standby");
                let (inc, server_inc) = (h.inc, h.server_inc);
                self.election.standby_data(me, inc, server_inc, now);
            }
        }
    }

    /// Deliver / writable: write `recv_chunk` until it is empty or the socket is full.
    pub(super) fn node_write(&mut self, node: Node, conn: ConnId) {
        let mut rounds = 0u32;
        loop {
            rounds += 1;
            if rounds > 100_000 {
                self.fail(
                    "liveness",
                    format_args!("{node}: endless write loop on {conn}"),
                );
            }
            let Some((tcp_id, hc)) = self.node_conn(node, conn) else {
                return;
            };
            if self.tcp.get(tcp_id).state(Side::Node) == EndState::Reset {
                self.node_conn_reset(node, conn, tcp_id);
                return;
            }
            let h = self.hosts[node.index()].as_ref().expect("live");
            let chunk = h.endpoint.recv_chunk(conn);
            if chunk.is_empty() {
                return;
            }
            if hc.write_shut {
                self.fail(
                    "api",
                    format_args!(
                        "{node}: {conn} has {} bytes to deliver after ShutdownWrite",
                        chunk.len()
                    ),
                );
            }
            match self.tcp.get_mut(tcp_id).write(Side::Node, chunk) {
                Write::Wrote(0) => return,
                Write::Wrote(n) => {
                    self.tasks.push_back(Task::App(self.tcp_app[tcp_id]));
                    tr!(self, "{node} <- app_written {conn} {n}B");
                    let now = self.clock.now();
                    let h = self.hosts[node.index()].as_mut().expect("live");
                    h.endpoint.handle_app_written(conn, n, now);
                    self.after_input(node);
                }
                Write::Reset => {
                    self.tasks.push_back(Task::App(self.tcp_app[tcp_id]));
                    self.node_conn_reset(node, conn, tcp_id);
                    return;
                }
            }
        }
    }

    /// A stopping process with no link and no connection left exits (in
    /// an event of its own, so callers still find the host).
    pub(super) fn exit_when_done(&mut self, node: Node) {
        let Some(h) = self.host(node) else {
            return;
        };
        if h.stopping && h.links.is_empty() && h.conns.is_empty() {
            let (inc, now) = (h.inc, self.now());
            self.push_event(now, Event::Exit { node, inc });
        }
    }

    /// The drain contract: outputs until `None`, then transmit on every
    /// link that can take bytes, until both are quiet.
    pub(super) fn after_input(&mut self, node: Node) {
        for _ in 0..1000 {
            let mut any = false;
            loop {
                let Some(h) = self.hosts[node.index()].as_mut() else {
                    return;
                };
                let Some(out) = h.endpoint.poll_output() else {
                    break;
                };
                any = true;
                tr!(self, "{node} -> {out:?}");
                self.apply_output(node, out);
            }
            if !self.transmit(node) && !any {
                self.exit_when_done(node);
                return;
            }
        }
        self.fail(
            "liveness",
            format_args!("{node}: outputs and transmits never run dry"),
        );
    }

    /// Calls `poll_transmit` on every link of `node` while its wire has
    /// room. Returns whether anything was sent.
    pub(super) fn transmit(&mut self, node: Node) -> bool {
        let Some(h) = self.host(node) else {
            return false;
        };
        let end = if node == Node::Server {
            End::Server
        } else {
            End::Client
        };
        let links: Vec<(LinkId, WireId)> = h.links.iter().map(|(l, w)| (*l, *w)).collect();
        let mut sent = false;
        for (link, wire) in links {
            for round in 0.. {
                if round > 100_000 {
                    self.fail(
                        "liveness",
                        format_args!("{node}: poll_transmit({link}) never returns false"),
                    );
                }
                if !self.host(node).is_some_and(|h| h.links.contains_key(&link)) {
                    break;
                }
                if !self.net.can_send(wire, end) {
                    self.net.set_blocked(wire, end);
                    break;
                }
                let now = self.clock.now();
                let mut buf = Vec::new();
                let h = self.hosts[node.index()].as_mut().expect("live");
                if !h.endpoint.poll_transmit(link, now, &mut buf) {
                    break;
                }
                if buf.is_empty() {
                    self.fail(
                        "api",
                        format_args!(
                            "{node}: poll_transmit({link}) returned true with an empty message"
                        ),
                    );
                }
                if buf.len() > self.cfg.max_message {
                    self.fail(
                        "api",
                        format_args!(
                            "{node}: poll_transmit({link}) built a {}-byte message, more than max_message {}",
                            buf.len(),
                            self.cfg.max_message
                        ),
                    );
                }
                tr!(
                    self,
                    "{node} => {link} {}B h={:08x}",
                    buf.len(),
                    content_hash(&buf)
                );
                self.counters.messages += 1;
                self.counters.message_bytes += buf.len() as u64;
                let client = self.net.wire(wire).client;
                self.snooped.record(node, client, &buf);
                let t = self.now();
                self.net
                    .send(wire, end, Item::Message(buf), t, &mut self.rng);
                sent = true;
            }
        }
        sent
    }

    pub(super) fn apply_output(&mut self, node: Node, out: Output) {
        let now = self.now();
        let h = self.hosts[node.index()].as_mut().expect("live");
        let inc = h.inc;
        match out {
            Output::ConnectServer => {
                let Some(client) = node.client_id() else {
                    self.fail("api", "the server emitted ConnectServer");
                };
                if h.dialing_server > 0 {
                    tr!(
                        self,
                        "{node}: a WebSocket dial is already in progress; ConnectServer ignored"
                    );
                    return;
                }
                h.dialing_server += 1;
                let latency = self.net.latency(client, &mut self.rng);
                let partitioned = self.net.partitioned[usize::from(client.number() - 1)];
                if partitioned {
                    // Nothing answers: the dial hangs until the protocol's
                    // connect timeout abandons it.
                } else if self.is_up(Node::Server) {
                    self.push_event(now + latency, Event::WsArrive { client, inc });
                } else {
                    self.push_event(
                        now + latency * 2,
                        Event::WsFailed {
                            client,
                            inc,
                            reason: "connection refused",
                        },
                    );
                }
            }
            Output::AbandonConnect => {
                if node.client_id().is_none() {
                    self.fail("api", "the server emitted AbandonConnect");
                }
                if h.dialing_server == 0 {
                    self.fail("api", format_args!("{node}: AbandonConnect with no dial"));
                }
                h.dialing_server -= 1;
            }
            Output::CloseLink { link, reason } => {
                if let Some(wire) = h.links.remove(&link) {
                    let end = if node == Node::Server {
                        End::Server
                    } else {
                        End::Client
                    };
                    self.net.wire_mut(wire).links[end.index()] = None;
                    self.net
                        .send(wire, end, Item::Close(reason), now, &mut self.rng);
                }
            }
            Output::Dial { conn, tunnel } => {
                let Some(name) = self.cfg_connects(node).get(tunnel.0).cloned() else {
                    self.fail(
                        "api",
                        format_args!("{node}: Dial for unknown connect tunnel {tunnel:?}"),
                    );
                };
                let h = self.hosts[node.index()].as_mut().expect("live");
                if h.conns.contains_key(&conn) {
                    self.fail(
                        "api",
                        format_args!("{node}: Dial with {conn}, which is in use"),
                    );
                }
                h.conns.insert(
                    conn,
                    HostConn {
                        tcp: None,
                        dialed: true,
                        tunnel: tunnel.0,
                        eof: false,
                        write_shut: false,
                        via: node.client_id().or(self.carrier),
                        saw_data: false,
                        held: false,
                    },
                );
                let latency = self
                    .rng
                    .duration(self.cfg.dial_latency.0, self.cfg.dial_latency.1);
                let (at, result) = match self.cfg.dial(node, &name) {
                    Dial::Accept => (now + latency, Ok(())),
                    Dial::Refuse => (now + latency, Err("connection refused".to_owned())),
                    Dial::Hang(d) => (now + d, Err("connect timed out".to_owned())),
                };
                self.push_event(
                    at,
                    Event::Dial {
                        node,
                        inc,
                        conn,
                        result,
                    },
                );
            }
            Output::StartListening { tunnel } => {
                h.listening.insert(tunnel.0);
            }
            Output::StopListening { tunnel } => {
                h.listening.remove(&tunnel.0);
            }
            Output::Deliver { conn } => {
                if let Some(c) = h.conns.get(&conn) {
                    if c.tcp.is_none() {
                        self.fail(
                            "api",
                            format_args!("{node}: Deliver for {conn} before its dial succeeded"),
                        );
                    }
                    self.tasks.push_back(Task::NodeWrite(node, inc, conn));
                }
            }
            Output::ResumeReading { conn } => {
                self.tasks.push_back(Task::NodeRead(node, inc, conn));
            }
            Output::ShutdownWrite { conn } => {
                let pending = h.endpoint.recv_chunk(conn).len();
                let Some(c) = h.conns.get_mut(&conn) else {
                    return;
                };
                let Some(tcp_id) = c.tcp else {
                    self.fail(
                        "api",
                        format_args!("{node}: ShutdownWrite for {conn} before its dial succeeded"),
                    );
                };
                if pending > 0 {
                    self.fail(
                        "api",
                        format_args!("{node}: ShutdownWrite for {conn} with {pending} bytes still to deliver"),
                    );
                }
                c.write_shut = true;
                self.tcp.get_mut(tcp_id).shutdown_write(Side::Node);
                self.tasks.push_back(Task::App(self.tcp_app[tcp_id]));
            }
            Output::Close { conn, reset } => {
                if let Some(c) = h.conns.remove(&conn) {
                    if let Some(tcp_id) = c.tcp {
                        let t = self.tcp.get_mut(tcp_id);
                        if reset {
                            t.reset(Side::Node);
                        } else {
                            t.close(Side::Node);
                        }
                        self.tcp_node[tcp_id] = None;
                        self.tasks.push_back(Task::App(self.tcp_app[tcp_id]));
                    }
                }
            }
            Output::ActiveChanged { active, why, .. } => {
                let old = h.believes_active;
                if node == Node::Server {
                    self.counters.switches += 1;
                }
                // README, "High availability": a switch by first data closes the
                // server's listen sockets, and those of the client that
                // was active (as it learns of it), for the standby close
                // duration. Failovers and default choices close nothing.
                let switch = why == ActiveReason::Elected(ActiveWhy::Claim);
                let lost_activity = match node.client_id() {
                    Some(me) => h.believes_active == Some(me) && active != Some(me),
                    None => true,
                };
                if switch && lost_activity {
                    h.blackout_until = Some(now + self.cfg.standby_close);
                }
                h.believes_active = active;
                if node == Node::Server && old != active {
                    self.server_active_changed(old, active, why);
                }
            }
        }
    }
}

/// Gives bytes read from `conn` to the endpoint as the runtime does: into
/// the room [`Endpoint::app_read_buf`] offers when it offers some (the
/// direct read of a stream moving bulk data), the rest through
/// [`Endpoint::handle_app_data`]. Returns how many were taken.
fn hand_over(endpoint: &mut Endpoint, conn: ConnId, data: &[u8], now: Instant) -> usize {
    let mut taken = 0;
    if let Some(room) = endpoint.app_read_buf(conn) {
        let n = room.len().min(data.len());
        room[..n].copy_from_slice(&data[..n]);
        taken = endpoint.handle_app_read(conn, n, now);
        if taken < n || taken == data.len() {
            return taken;
        }
    }
    taken + endpoint.handle_app_data(conn, &data[taken..], now)
}
