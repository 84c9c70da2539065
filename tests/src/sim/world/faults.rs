//! Faults the scenarios and the random runs inject: cuts, partitions,
//! latency, crashes, planned stops and starts.

use super::*;

impl World {
    /// Applies a fault now.
    pub fn apply(&mut self, fault: Fault) {
        self.counters.faults += 1;
        tr!(self, "fault {fault:?}");
        match fault {
            Fault::Cut(c) => self.cut_link(c),
            Fault::Partition(c) => self.partition(c),
            Fault::Heal(c) => self.restore_link(c),
            Fault::Crash(n) => self.crash(n),
            Fault::Stop(n) => self.stop(n),
            Fault::Start(n) => self.start(n),
            Fault::Intrude(how) => self.intrude(how),
        }
    }

    /// Drops the client's WebSocket(s): both ends see it go down after a
    /// random delay; everything in flight is lost. The client may reconnect.
    pub fn cut_link(&mut self, client: ClientId) {
        let wires: Vec<WireId> = self
            .net
            .wires()
            .filter(|(_, w)| w.client == client && !w.cut && !w.is_dead())
            .map(|(id, _)| id)
            .collect();
        for wire in wires {
            tr!(self, "cut wire {wire} of {client}");
            for end in self.net.cut(wire) {
                let node = match end {
                    End::Server => Node::Server,
                    End::Client => Node::client(client),
                };
                let inc = self.net.wire(wire).incs[end.index()];
                let delay = self
                    .rng
                    .duration(Duration::ZERO, Duration::from_millis(300));
                let at = self.now() + delay;
                self.push_event(at, Event::LinkDown { node, inc, wire });
            }
        }
        self.run_tasks();
    }

    /// Nothing passes between the client and the server until
    /// [`restore_link`](Self::restore_link); new WebSocket dials hang.
    pub fn partition(&mut self, client: ClientId) {
        tr!(self, "partition {client}");
        self.net.partitioned[usize::from(client.number() - 1)] = true;
    }

    /// Ends a partition: held messages flow again.
    pub fn restore_link(&mut self, client: ClientId) {
        tr!(self, "restore {client}");
        self.net.partitioned[usize::from(client.number() - 1)] = false;
    }

    /// Sets the one-way latency range of a client's path.
    pub fn set_latency(&mut self, client: ClientId, lo: Duration, hi: Duration) {
        tr!(self, "latency of {client}: {lo:?}..{hi:?}");
        self.net.paths[usize::from(client.number() - 1)].latency = (lo, hi);
        let worst = &mut self.worst_latency[slot(client)];
        *worst = (*worst).max(hi);
    }

    /// Sets how `node`'s backends of connect tunnel `tunnel` answer dials.
    pub fn set_dial(&mut self, node: Node, tunnel: &str, dial: Dial) {
        tr!(self, "dial {node}/{tunnel}: {dial:?}");
        self.cfg.backends.push((node, tunnel.to_owned(), dial));
    }

    /// Kills `node`'s process: its TCP connections are reset, its links
    /// close (the peers see them go down), all its state is gone.
    pub fn crash(&mut self, node: Node) {
        let Some(host) = self.hosts[node.index()].take() else {
            return;
        };
        tr!(self, "{node} crashes");
        for hc in host.conns.values() {
            if let Some(t) = hc.tcp {
                self.tcp.get_mut(t).reset(Side::Node);
                self.tcp_node[t] = None;
                self.tasks.push_back(Task::App(self.tcp_app[t]));
            }
        }
        let end = if node == Node::Server {
            End::Server
        } else {
            End::Client
        };
        for (_, &wire) in host.links.iter() {
            self.net.wire_mut(wire).links[end.index()] = None;
            let now = self.now();
            self.net.send(
                wire,
                end,
                Item::Close("peer process died".into()),
                now,
                &mut self.rng,
            );
        }
        self.run_tasks();
    }

    /// Stops `node` on purpose, as SIGTERM does: the endpoint's planned
    /// stop runs (Goodbye, connections closed with FIN after what they
    /// hold); the process exits once it holds no link and no connection,
    /// or after [`STOP_BOUND`] as the runtime does, whatever is left reset.
    pub fn stop(&mut self, node: Node) {
        let Some(h) = self.hosts[node.index()].as_mut() else {
            return;
        };
        if h.stopping {
            return;
        }
        h.stopping = true;
        let inc = h.inc;
        tr!(self, "{node} stops on purpose");
        self.election.stopping(node);
        // Connections through a stopping node may end with FIN wherever
        // they stand: a planned stop cuts them short, cleanly.
        for i in 0..self.apps.len() {
            let a = &self.apps[i];
            if a.status.is_final() {
                continue;
            }
            let through = node == Node::Server
                || a.node() == node
                || a.peer.is_some_and(|p| self.app(p).node() == node);
            if through {
                self.apps[i].stop_cut = true;
            }
        }
        let now = self.clock.now();
        let h = self.hosts[node.index()].as_mut().expect("checked above");
        h.endpoint.handle_shutdown(now);
        self.after_input(node);
        let at = self.now() + STOP_BOUND;
        self.push_event(at, Event::Exit { node, inc });
        self.run_tasks();
    }

    /// Starts `node` afresh (nothing happens when it runs).
    pub fn start(&mut self, node: Node) {
        if self.is_up(node) {
            return;
        }
        self.incs[node.index()] += 1;
        let inc = self.incs[node.index()];
        let rng_seed = self.rng.next_u64();
        let config = self.cfg.endpoint_config(node, rng_seed);
        let endpoint = match Endpoint::new(config, self.clock.now()) {
            Ok(e) => e,
            Err(e) => self.fail("setup", format_args!("Endpoint::new for {node}: {e}")),
        };
        tr!(self, "{node} starts (incarnation {inc})");
        self.hosts[node.index()] = Some(Host::new(node, inc, endpoint));
        self.election.started(node);
        self.after_input(node);
        self.run_tasks();
    }

    /// Crashes and starts `node` at once.
    pub fn restart(&mut self, node: Node) {
        self.crash(node);
        self.start(node);
    }

    /// Ends every partition and starts every node that is down.
    pub fn heal_all(&mut self) {
        for c in [ClientId::One, ClientId::Two] {
            if self.net.partitioned[usize::from(c.number() - 1)] {
                self.restore_link(c);
            }
        }
        for node in Node::ALL {
            self.start(node);
        }
    }
}
