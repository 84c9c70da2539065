//! Authentication: the checks a Hello passes before it may touch a session,
//! the shared-secret challenge and proofs both ways, and refusals that
//! change nothing but a counter.

use std::time::Instant;

use log::warn;

use super::*;

/// The config key operators set for the shared secret, named in refusals.
const SECRET_KEY: &str = "dataExchange.sharedSecretFilePath";
/// The config key that binds client ids to certificates.
const CERTIFICATES_KEY: &str = "dataExchange.mutualTLSClientCertificates";

impl Endpoint {
    /// Server: a Hello arrived. Nothing about sessions or the election is
    /// looked at until the link passed every check and, with a shared
    /// secret, proved it (our AuthChallenge went out at link-up).
    pub(super) fn on_hello(
        &mut self,
        link: LinkId,
        hello: Hello,
        now: Instant,
    ) -> Result<(), ProtocolError> {
        if self.view.is_some() {
            return Err(ProtocolError::WrongRole(
                "a hello sent to a client: both ends are clients",
            ));
        }
        if hello.version != PROTOCOL_VERSION {
            return Err(ProtocolError::Version {
                ours: PROTOCOL_VERSION,
                theirs: hello.version,
            });
        }
        if hello.window < 1024 {
            return Err(ProtocolError::WindowTooSmall {
                what: "hello",
                window: hello.window,
            });
        }
        let Some(l) = self.links.get(&link) else {
            return Ok(());
        };
        if l.auth != AuthStage::Start {
            return Err(ProtocolError::SecondHandshake);
        }
        let client = hello.client;
        if !l.up.certified.may_claim(client) {
            let whose = match l.up.certified {
                Certified::Client(c) => format!("{c}'s"),
                _ => "neither client's".to_string(),
            };
            self.refuse(
                link,
                format!("the TLS certificate of this connection is {whose} ({CERTIFICATES_KEY}); it may not claim {client}"), now);
            return Ok(());
        }
        match (self.config.shared_secret.is_some(), hello.nonce) {
            (true, Some(client_nonce)) => {
                if client_nonce == l.up.nonce {
                    self.refuse(link, "the client echoed the server's nonce".into(), now);
                    return Ok(());
                }
                // Our challenge went out at link-up; the proof is due next.
                if let Some(l) = self.links.get_mut(&link) {
                    l.auth = AuthStage::Challenged(hello);
                }
            }
            (true, None) => self.refuse(
                link,
                format!("{client} has no shared secret and this server requires one ({SECRET_KEY})"), now),
            (false, Some(_)) => self.refuse(
                link,
                format!("{client} has a shared secret and this server has none: set {SECRET_KEY} on both ends or neither"), now),
            (false, None) => self.accept_hello(link, hello, now),
        }
        Ok(())
    }

    /// Server: the client's proof for our challenge. Client: the server's
    /// proof, which must come before its Welcome.
    pub(super) fn on_auth_proof(
        &mut self,
        link: LinkId,
        proof: Proof,
        now: Instant,
    ) -> Result<(), ProtocolError> {
        let Some(l) = self.links.get(&link) else {
            return Ok(());
        };
        let Some(secret) = self.config.shared_secret.as_ref() else {
            return Err(ProtocolError::Unexpected(
                "an auth-proof, and this node has no shared secret",
            ));
        };
        match (self.config.role, l.auth) {
            (Role::Server, AuthStage::Challenged(hello)) => {
                let Some(client_nonce) = hello.nonce else {
                    return Err(ProtocolError::Unexpected("an auth-proof without a nonce"));
                };
                let transcript = Transcript {
                    version: hello.version,
                    client: hello.client,
                    client_nonce,
                    server_nonce: l.up.nonce,
                };
                if !transcript.verify(secret, Prover::Client, &proof) {
                    self.refuse(
                        link,
                        format!("{}'s proof is wrong: it does not know this server's shared secret ({SECRET_KEY})", hello.client), now);
                    return Ok(());
                }
                let ours = transcript.prove(secret, Prover::Server);
                if let Some(l) = self.links.get_mut(&link) {
                    l.auth = AuthStage::Start;
                    l.handshake.push(Frame::AuthProof { proof: ours });
                }
                self.accept_hello(link, hello, now);
                Ok(())
            }
            (Role::Client(me), AuthStage::Proving(server_nonce)) => {
                let transcript = Transcript {
                    version: PROTOCOL_VERSION,
                    client: me,
                    client_nonce: l.up.nonce,
                    server_nonce,
                };
                if transcript.verify(secret, Prover::Server, &proof) {
                    if let Some(l) = self.links.get_mut(&link) {
                        l.auth = AuthStage::ServerProved;
                    }
                } else {
                    self.auth_failed(
                        link,
                        format!("the server's proof is wrong: it does not know our shared secret ({SECRET_KEY})"),
                        now,
                    );
                }
                Ok(())
            }
            _ => Err(ProtocolError::Unexpected(
                "an auth-proof out of the handshake's order",
            )),
        }
    }

    /// Client: the server wants proof of the shared secret.
    pub(super) fn on_auth_challenge(
        &mut self,
        link: LinkId,
        server_nonce: Nonce,
        now: Instant,
    ) -> Result<(), ProtocolError> {
        let Role::Client(me) = self.config.role else {
            return Err(ProtocolError::WrongRole(
                "an auth-challenge sent to the server",
            ));
        };
        let Some(l) = self.links.get(&link) else {
            return Ok(());
        };
        if l.auth != AuthStage::Start {
            return Err(ProtocolError::Unexpected("a second auth-challenge"));
        }
        let Some(secret) = self.config.shared_secret.as_ref() else {
            self.auth_failed(
                link,
                format!(
                    "the server asks for a shared secret and this client has none ({SECRET_KEY})"
                ),
                now,
            );
            return Ok(());
        };
        if server_nonce == l.up.nonce {
            self.auth_failed(link, "the server echoed our nonce".into(), now);
            return Ok(());
        }
        let proof = Transcript {
            version: PROTOCOL_VERSION,
            client: me,
            client_nonce: l.up.nonce,
            server_nonce,
        }
        .prove(secret, Prover::Client);
        if let Some(l) = self.links.get_mut(&link) {
            l.auth = AuthStage::Proving(server_nonce);
            l.handshake.push(Frame::AuthProof { proof });
        }
        Ok(())
    }

    /// Client: the server refused our handshake.
    pub(super) fn on_auth_refused(&mut self, link: LinkId, reason: &str, now: Instant) {
        if self.view.is_none() {
            // A client never refuses: a peer saying so is not one.
            self.handle_violation(link, "an auth-refused sent to the server", now);
            return;
        }
        // The reason comes from a peer not yet proven: shown escaped.
        let reason = frame::printable(reason);
        self.auth_failed(link, format!("the server refused us: {reason}"), now);
    }

    /// Client: whether a Welcome on `link` may be taken. With a shared
    /// secret it must follow the server's proof; without one the server
    /// must not have asked for any.
    pub(super) fn welcome_allowed(&mut self, link: LinkId, now: Instant) -> bool {
        let stage = self.links.get(&link).map(|l| l.auth);
        match (self.config.shared_secret.is_some(), stage) {
            (true, Some(AuthStage::ServerProved)) | (false, Some(AuthStage::Start)) => true,
            (true, Some(_)) => {
                self.auth_failed(
                    link,
                    format!("the server sent its welcome without proving it knows the shared secret: is {SECRET_KEY} set on the server?"),
                    now,
                );
                false
            }
            _ => false,
        }
    }

    /// Server: refuses the handshake on `link`. It had no session, so
    /// nothing else changes: AuthRefused goes out, then the link closes.
    fn refuse(&mut self, link: LinkId, reason: String, now: Instant) {
        self.stats.auth_failures += 1;
        let note = self.log_limits.handshakes.allow(now);
        if let Some(l) = self.links.get_mut(&link) {
            if let Some(note) = note {
                warn!(
                    "authentication failed: {link} from {}: {reason}{note}",
                    l.up.peer
                );
            }
            l.handshake.clear();
            l.auth = AuthStage::Refused;
            l.refusal = Some(reason);
        }
    }

    /// Client: gives up on this link's handshake; the reconnect backoff
    /// applies as for any failed connect.
    fn auth_failed(&mut self, link: LinkId, reason: String, now: Instant) {
        self.stats.auth_failures += 1;
        warn!("authentication failed: {reason}");
        self.close_link(link, "authentication failed".into(), now);
    }
}
