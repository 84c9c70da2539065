//! Timed events: app ticks, dial results, WebSocket dials and arrivals,
//! links going down, messages delivered.

use super::*;

impl World {
    pub(super) fn live_inc(&self, node: Node, inc: u32) -> bool {
        self.host(node).is_some_and(|h| h.inc == inc)
    }

    pub(super) fn handle_event(&mut self, ev: Event) {
        match ev {
            Event::Exit { node, inc } => {
                if self.live_inc(node, inc) {
                    tr!(self, "{node} exits");
                    self.crash(node);
                }
            }
            Event::AppTick(id) => self.app_tick(id),
            Event::AppReadTick(id) => self.app_read_tick(id),
            Event::AppReset(id) => self.app_reset(id),
            Event::Fault(f) => self.apply(f),
            Event::Dial {
                node,
                inc,
                conn,
                result,
            } => self.dial_done(node, inc, conn, result),
            Event::WsArrive { client, inc } => self.ws_arrive(client, inc),
            Event::WsUp { client, inc, wire } => self.ws_up(client, inc, wire),
            Event::WsFailed {
                client,
                inc,
                reason,
            } => {
                let node = Node::client(client);
                if !self.live_inc(node, inc) {
                    return;
                }
                tr!(self, "{node} <- link_failed {reason}");
                let now = self.clock.now();
                let h = self.hosts[node.index()].as_mut().expect("live");
                h.dialing_server = h.dialing_server.saturating_sub(1);
                h.endpoint.handle_link_failed(reason, now);
                self.after_input(node);
            }
            Event::LinkDown { node, inc, wire } => {
                if !self.live_inc(node, inc) {
                    return;
                }
                let end = if node == Node::Server {
                    End::Server
                } else {
                    End::Client
                };
                let Some(link) = self.net.wire(wire).links[end.index()] else {
                    return;
                };
                self.net.wire_mut(wire).links[end.index()] = None;
                tr!(self, "{node} <- link_down {link} (connection reset)");
                let now = self.clock.now();
                let h = self.hosts[node.index()].as_mut().expect("live");
                h.links.remove(&link);
                h.endpoint
                    .handle_link_down(link, "connection reset by peer", now);
                self.after_input(node);
            }
        }
    }

    pub(super) fn dial_done(
        &mut self,
        node: Node,
        inc: u32,
        conn: ConnId,
        result: Result<(), String>,
    ) {
        if !self.live_inc(node, inc) {
            return;
        }
        let pending = self
            .host(node)
            .and_then(|h| h.conns.get(&conn))
            .is_some_and(|c| c.dialed && c.tcp.is_none());
        if !pending {
            return;
        }
        let now = self.clock.now();
        match result {
            Ok(()) => {
                let h = self.host(node).expect("live");
                let tunnel = self.cfg_connects(node)[h.conns[&conn].tunnel].clone();
                let id = AppId(self.apps.len() as u32);
                let tcp_id = self.tcp.open(self.cfg.tcp_buffer);
                self.tcp_node.push(Some((node, inc, conn)));
                self.tcp_app.push(id);
                let backend = App::new(
                    id,
                    AppRole::Backend {
                        node,
                        tunnel: tunnel.clone(),
                    },
                    AppPlan::manual(),
                    Some(tcp_id),
                    self.now(),
                );
                self.apps.push(backend);
                let h = self.hosts[node.index()].as_mut().expect("live");
                if let Some(c) = h.conns.get_mut(&conn) {
                    c.tcp = Some(tcp_id);
                }
                tr!(
                    self,
                    "{node} <- dial_result {conn} Ok ({id} serves {tunnel})"
                );
                let h = self.hosts[node.index()].as_mut().expect("live");
                h.endpoint.handle_dial_result(conn, Ok(()), now);
            }
            Err(e) => {
                tr!(self, "{node} <- dial_result {conn} Err({e})");
                let h = self.hosts[node.index()].as_mut().expect("live");
                h.conns.remove(&conn);
                h.endpoint.handle_dial_result(conn, Err(e), now);
            }
        }
        self.after_input(node);
    }

    pub(super) fn cfg_connects(&self, node: Node) -> &[String] {
        match node {
            Node::Server => &self.cfg.server_connects,
            _ => &self.cfg.client_connects,
        }
    }

    pub(super) fn ws_arrive(&mut self, client: ClientId, inc: u32) {
        let cnode = Node::client(client);
        if !self.live_inc(cnode, inc) {
            return;
        }
        let partitioned = self.net.partitioned[usize::from(client.number() - 1)];
        let latency = self.net.latency(client, &mut self.rng);
        let now = self.now();
        let Some(server) = self.hosts[0].as_mut().filter(|_| !partitioned) else {
            self.push_event(
                now + latency,
                Event::WsFailed {
                    client,
                    inc,
                    reason: "connection refused",
                },
            );
            return;
        };
        let link = server.alloc_link();
        let sinc = server.inc;
        let wire = self.net.open(client, [sinc, inc], link, now + latency);
        server.links.insert(link, wire);
        tr!(self, "S <- link_up {link} (wire {wire} from {client})");
        let instant = self.clock.now();
        let up = self.fresh_link_up(Some(client), inc);
        self.hosts[0]
            .as_mut()
            .expect("up")
            .endpoint
            .handle_link_up(link, up, instant);
        self.after_input(Node::Server);
        self.push_event(now + latency, Event::WsUp { client, inc, wire });
    }

    pub(super) fn ws_up(&mut self, client: ClientId, inc: u32, wire: WireId) {
        let cnode = Node::client(client);
        if !self.live_inc(cnode, inc) {
            // The client died during the handshake: the server end closes.
            if self.net.wire(wire).links[End::Server.index()].is_some() {
                let now = self.now();
                self.net.send(
                    wire,
                    End::Client,
                    Item::Close("client process gone".into()),
                    now,
                    &mut self.rng,
                );
            }
            return;
        }
        let now = self.clock.now();
        if self.net.wire(wire).cut {
            tr!(self, "{cnode} <- link_failed (cut during the handshake)");
            let h = self.hosts[cnode.index()].as_mut().expect("live");
            h.dialing_server = h.dialing_server.saturating_sub(1);
            h.endpoint
                .handle_link_failed("connection reset during the handshake", now);
            self.after_input(cnode);
            return;
        }
        let h = self.hosts[cnode.index()].as_mut().expect("live");
        h.dialing_server = h.dialing_server.saturating_sub(1);
        let link = h.alloc_link();
        h.links.insert(link, wire);
        self.net.wire_mut(wire).links[End::Client.index()] = Some(link);
        tr!(self, "{cnode} <- link_up {link} (wire {wire})");
        let up = self.fresh_link_up(None, inc);
        let h = self.hosts[cnode.index()].as_mut().expect("live");
        h.endpoint.handle_link_up(link, up, now);
        self.after_input(cnode);
    }

    pub(super) fn deliver(&mut self, wire: WireId, to: End, item: Item, unblocked: bool) {
        let w = self.net.wire(wire);
        let client = w.client;
        let node_of = |e: End| match e {
            End::Server => Node::Server,
            End::Client => Node::client(client),
        };
        if unblocked {
            let from = to.peer();
            let inc = w.incs[from.index()];
            self.tasks.push_back(Task::NodeTransmit(node_of(from), inc));
        }
        let node = node_of(to);
        let (Some(link), inc) = (w.links[to.index()], w.incs[to.index()]) else {
            return;
        };
        if !self.live_inc(node, inc) {
            return;
        }
        let now = self.clock.now();
        self.carrier = (node == Node::Server).then_some(client);
        match item {
            Item::Message(m) => {
                let secret = self.cfg.shared_secret;
                let heard = &mut self.net.wire_mut(wire).heard[to.index()];
                *heard = *heard || completes_handshake(&m, to, secret);
                let heard = *heard;
                if to == End::Server && heard {
                    // A link heard even for an instant (its hello, or its
                    // proof with a secret, then a reset in the same step)
                    // resumes the session.
                    self.election.server_heard(client);
                }
                if to == End::Server {
                    let goodbye = tcpws_protocol::frame::frames(&m)
                        .any(|f| matches!(f, Ok(tcpws_protocol::frame::Frame::Goodbye { .. })));
                    if goodbye {
                        self.election.goodbye_heard(client);
                    }
                }
                if to == End::Client {
                    let sinc = self.net.wire(wire).incs[End::Server.index()];
                    self.hosts[node.index()].as_mut().expect("live").server_inc = Some(sinc);
                }
                tr!(
                    self,
                    "{node} <- msg {link} {}B h={:08x}",
                    m.len(),
                    content_hash(&m)
                );
                if self.trace.echoes() {
                    for f in describe_frames(&m) {
                        self.trace.detail(format_args!("{f}"));
                    }
                }
                let h = self.hosts[node.index()].as_mut().expect("live");
                h.endpoint.handle_message(link, &m, now);
            }
            Item::Close(reason) => {
                self.net.wire_mut(wire).links[to.index()] = None;
                tr!(self, "{node} <- link_down {link} ({reason})");
                let h = self.hosts[node.index()].as_mut().expect("live");
                h.links.remove(&link);
                h.endpoint.handle_link_down(link, &reason, now);
            }
        }
        self.after_input(node);
        self.carrier = None;
    }
}

/// Whether message `m`, arriving at `to`, completes the handshake there, so
/// that from then on the link carries its session: at the server the Hello
/// (or, with a shared secret, the client's proof), at a client the Welcome.
fn completes_handshake(m: &[u8], to: End, secret: bool) -> bool {
    use tcpws_protocol::frame::{frames, Frame};
    frames(m).flatten().any(|f| match (to, f) {
        (End::Server, Frame::Hello(_)) => !secret,
        (End::Server, Frame::AuthProof { .. }) => secret,
        (End::Client, Frame::Welcome(_)) => true,
        _ => false,
    })
}
