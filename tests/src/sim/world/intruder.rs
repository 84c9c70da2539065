//! An intruder that reaches the server's port without the shared secret
//! (and, where ids are bound to certificates, with the other client's
//! certificate or a stolen one of the same client): wrong proofs, replayed
//! handshakes, stolen session tokens, two Hellos in one message, session
//! frames before the proof. Each attempt is one link, checked at once: the
//! server refuses it, sends no Welcome, and changes nothing else (no
//! session, no stream, no election), whatever the honest nodes are doing.

use tcpws_protocol::frame::{frames, Control, Frame, Hello};
use tcpws_protocol::{Certified, ClientId, Endpoint, LinkId, Output, PROTOCOL_VERSION};

use super::*;

/// One intrusion attempt, claiming to be `ClientId`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Intrusion {
    /// A Hello offering a secret, then a made-up proof.
    WrongProof(ClientId),
    /// The client's last recorded Hello and proof, replayed on a new link.
    Replay(ClientId),
    /// A Hello with the client's session token (snooped from a Welcome)
    /// and no proof.
    StolenToken(ClientId),
    /// A Hello, then a session frame (a Claim) instead of the proof.
    SkipProof(ClientId),
    /// In one message: a Hello the server refuses, then one it might take,
    /// then a made-up proof. Nothing after the refusal may count.
    TwoHellos(ClientId),
}

impl Intrusion {
    fn client(self) -> ClientId {
        match self {
            Intrusion::WrongProof(c)
            | Intrusion::Replay(c)
            | Intrusion::StolenToken(c)
            | Intrusion::SkipProof(c)
            | Intrusion::TwoHellos(c) => c,
        }
    }
}

/// What honest links carried that an intruder on the path could copy,
/// per client (index 0 = client 1).
#[derive(Debug, Default)]
pub(crate) struct Snooped {
    hello: [Option<Vec<u8>>; 2],
    proof: [Option<Vec<u8>>; 2],
    token: [u128; 2],
}

impl Snooped {
    /// Records what `message` (sent by `from` on `client`'s wire) reveals.
    pub(crate) fn record(&mut self, from: Node, client: ClientId, message: &[u8]) {
        let i = usize::from(client.number() - 1);
        for f in frames(message).flatten() {
            match f {
                Frame::Hello(_) if from != Node::Server => self.hello[i] = Some(message.to_vec()),
                Frame::AuthProof { .. } if from != Node::Server => {
                    self.proof[i] = Some(message.to_vec())
                }
                Frame::Welcome(w) if from == Node::Server => self.token[i] = w.token,
                _ => {}
            }
        }
    }
}

/// The server's state an intruder must not touch.
#[derive(Debug, PartialEq, Eq)]
struct Untouchable {
    active: Option<ClientId>,
    epoch: u64,
    links_up: u64,
    sessions: u64,
    streams: u64,
    sessions_ended: u64,
    streams_reset: u64,
    resumes: u64,
    switches: u64,
    failovers: u64,
    handovers: u64,
}

impl Untouchable {
    fn of(ep: &Endpoint) -> Untouchable {
        let s = ep.stats();
        Untouchable {
            active: ep.active(),
            epoch: ep.epoch(),
            links_up: s.links_up,
            sessions: s.sessions,
            streams: s.streams,
            sessions_ended: s.sessions_ended,
            streams_reset: s.streams_reset,
            resumes: s.resumes,
            switches: s.switches,
            failovers: s.failovers,
            handovers: s.handovers,
        }
    }
}

fn encode(frame: Frame<'_>) -> Vec<u8> {
    let mut m = Vec::new();
    frame.encode(&mut m);
    m
}

impl World {
    /// One intrusion attempt against the server, if it runs and the world
    /// has a shared secret (without one, a Hello is all a client needs).
    pub(super) fn intrude(&mut self, how: Intrusion) {
        let (secret, bound) = (self.cfg.shared_secret, self.cfg.certificate_ids);
        if !(secret || bound) || self.hosts[0].is_none() {
            return;
        }
        let client = how.client();
        let i = usize::from(client.number() - 1);
        let mut up = self.fresh_link_up(Some(client), 60_000);
        if bound {
            // The other client's certificate; with a secret also, at
            // times, a copy of this client's own (the secret still holds).
            up.certified = if secret && self.rng.chance(0.5) {
                Certified::Client(client)
            } else {
                Certified::Client(client.other())
            };
        }
        let nonce = secret.then_some([0x5A; 32]);
        let hello = |token, nonce| {
            encode(Frame::Hello(Hello {
                version: PROTOCOL_VERSION,
                client,
                token,
                epoch: 0,
                ctl_rx: 0,
                window: 64 * 1024,
                nonce,
            }))
        };
        let made_up = [0xA5; 32];
        let messages = match how {
            Intrusion::WrongProof(_) => vec![
                hello(self.snooped.token[i], Some(made_up)),
                encode(Frame::AuthProof { proof: made_up }),
            ],
            Intrusion::Replay(_) => match (&self.snooped.hello[i], &self.snooped.proof[i]) {
                (Some(h), Some(p)) => vec![h.clone(), p.clone()],
                (Some(h), None) if !secret => vec![h.clone()],
                _ => return,
            },
            Intrusion::TwoHellos(_) => {
                let mut m = hello(self.snooped.token[i], None);
                m.extend(hello(self.snooped.token[i], nonce));
                Frame::AuthProof { proof: made_up }.encode(&mut m);
                vec![m]
            }
            Intrusion::StolenToken(_) if self.snooped.token[i] == 0 => return,
            Intrusion::StolenToken(_) => vec![hello(self.snooped.token[i], None)],
            Intrusion::SkipProof(_) => {
                let mut m = hello(0, Some(made_up));
                tcpws_protocol::frame::encode_control(
                    &mut m,
                    1,
                    &Control::<&str>::Claim { epoch: 0 },
                );
                vec![m]
            }
        };
        self.counters.intrusions += 1;
        let now = self.clock.now();
        let server = self.hosts[0].as_mut().expect("checked above");
        let link = server.alloc_link();
        let before = Untouchable::of(&server.endpoint);
        let refusals_before = {
            let s = server.endpoint.stats();
            s.auth_failures + s.protocol_errors
        };
        tr!(self, "S <- intruder {how:?} on {link}");
        let server = self.hosts[0].as_mut().expect("checked above");
        server.endpoint.handle_link_up(link, up, now);
        for m in &messages {
            server.endpoint.handle_message(link, m, now);
        }
        self.drain_intruder(link, how);
        let server = self.hosts[0].as_ref().expect("checked above");
        let after = Untouchable::of(&server.endpoint);
        let s = server.endpoint.stats();
        if after != before {
            self.fail(
                "intruder",
                format_args!("{how:?} changed the server: {before:?} -> {after:?}"),
            );
        }
        if s.auth_failures + s.protocol_errors == refusals_before {
            self.fail(
                "intruder",
                format_args!("{how:?} was neither refused nor closed as a violation"),
            );
        }
    }

    /// Runs the server's outputs and transmits for the intruder's link: the
    /// only output allowed is closing that link, and no Welcome may go out.
    fn drain_intruder(&mut self, link: LinkId, how: Intrusion) {
        let now = self.clock.now();
        for _ in 0..100 {
            let server = self.hosts[0].as_mut().expect("running");
            let mut moved = false;
            while let Some(out) = server.endpoint.poll_output() {
                moved = true;
                if !matches!(&out, Output::CloseLink { link: l, .. } if *l == link) {
                    self.fail(
                        "intruder",
                        format_args!("{how:?} made the server act: {out:?}"),
                    );
                }
            }
            let server = self.hosts[0].as_mut().expect("running");
            let mut buf = Vec::new();
            while server.endpoint.poll_transmit(link, now, &mut buf) {
                moved = true;
                if frames(&buf).any(|f| matches!(f, Ok(Frame::Welcome(_)))) {
                    self.fail("intruder", format_args!("{how:?} got a Welcome"));
                }
                buf.clear();
            }
            if !moved {
                return;
            }
        }
        self.fail("liveness", "the intruder's link never went quiet");
    }
}
