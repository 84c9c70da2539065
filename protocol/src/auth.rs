//! Proof of the shared secret: HMAC-SHA256 (ring) over the handshake's
//! transcript, so the secret never crosses the wire.
//!
//! Each side proves itself over the same transcript with its own role byte:
//!
//! ```text
//! proof = HMAC-SHA256(secret, "tcpws-auth-hmac-sha256" version:u16 role:u8
//!                             client:u8 client_nonce[32] server_nonce[32])
//! ```
//!
//! `role` is 1 when the client proves itself and 0 for the server, so one
//! side's proof is never the other's. Both nonces are fresh per link (from
//! the OS's CSPRNG, drawn by the runtime), so a recorded proof is worthless
//! on any other link. Proofs are checked in constant time (`ring::hmac::verify`).

use std::fmt;

use ring::hmac;
use subtle::ConstantTimeEq;

use crate::ids::ClientId;

/// Bytes of a handshake nonce.
pub const NONCE_LEN: usize = 32;
/// Bytes of a proof (an HMAC-SHA256 tag).
pub const PROOF_LEN: usize = 32;

/// A fresh random value one side contributes to a handshake.
pub type Nonce = [u8; NONCE_LEN];
/// One side's proof that it knows the shared secret.
pub type Proof = [u8; PROOF_LEN];

const LABEL: &[u8] = b"tcpws-auth-hmac-sha256";

/// The secret both ends of a link must know (`sharedSecretFilePath`).
/// Its `Debug` never shows the bytes.
#[derive(Clone)]
pub struct SharedSecret {
    key: hmac::Key,
}

impl SharedSecret {
    /// The secret made of `bytes`; `None` when they are empty.
    pub fn new(bytes: &[u8]) -> Option<SharedSecret> {
        if bytes.is_empty() {
            return None;
        }
        Some(SharedSecret {
            key: hmac::Key::new(hmac::HMAC_SHA256, bytes),
        })
    }
}

impl fmt::Debug for SharedSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SharedSecret(<redacted>)")
    }
}

/// Who proves itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Prover {
    Client,
    Server,
}

/// What one handshake's proofs cover.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Transcript {
    pub(crate) version: u16,
    pub(crate) client: ClientId,
    pub(crate) client_nonce: Nonce,
    pub(crate) server_nonce: Nonce,
}

impl Transcript {
    fn message(&self, prover: Prover) -> [u8; LABEL.len() + 4 + 2 * NONCE_LEN] {
        let mut m = [0u8; LABEL.len() + 4 + 2 * NONCE_LEN];
        let (label, rest) = m.split_at_mut(LABEL.len());
        label.copy_from_slice(LABEL);
        rest[..2].copy_from_slice(&self.version.to_be_bytes());
        rest[2] = match prover {
            Prover::Client => 1,
            Prover::Server => 0,
        };
        rest[3] = self.client.number();
        rest[4..4 + NONCE_LEN].copy_from_slice(&self.client_nonce);
        rest[4 + NONCE_LEN..].copy_from_slice(&self.server_nonce);
        m
    }

    /// `prover`'s proof over this transcript.
    pub(crate) fn prove(&self, secret: &SharedSecret, prover: Prover) -> Proof {
        let tag = hmac::sign(&secret.key, &self.message(prover));
        let mut proof = [0u8; PROOF_LEN];
        proof.copy_from_slice(tag.as_ref());
        proof
    }

    /// Whether `proof` is `prover`'s over this transcript, in constant time.
    pub(crate) fn verify(&self, secret: &SharedSecret, prover: Prover, proof: &Proof) -> bool {
        hmac::verify(&secret.key, &self.message(prover), proof).is_ok()
    }
}

/// Whether two session tokens are equal, in constant time: a token is a
/// bearer credential when no secret is configured.
pub(crate) fn same_token(a: u128, b: u128) -> bool {
    a.to_be_bytes().ct_eq(&b.to_be_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn transcript() -> Transcript {
        Transcript {
            version: 2,
            client: ClientId::One,
            client_nonce: [1; NONCE_LEN],
            server_nonce: [2; NONCE_LEN],
        }
    }

    fn secret(s: &str) -> SharedSecret {
        SharedSecret::new(s.as_bytes()).unwrap()
    }

    #[test]
    fn a_proof_verifies_with_the_same_secret_only() {
        let t = transcript();
        let p = t.prove(&secret("right"), Prover::Client);
        assert!(t.verify(&secret("right"), Prover::Client, &p));
        assert!(!t.verify(&secret("wrong"), Prover::Client, &p));
    }

    #[test]
    fn the_transcript_is_the_documented_hmac() {
        // HMAC-SHA256 of the documented message, computed independently of
        // `message` so the layout cannot drift from the wire page.
        let t = transcript();
        let mut m = b"tcpws-auth-hmac-sha256".to_vec();
        m.extend_from_slice(&[0, 2, 1, 1]);
        m.extend_from_slice(&[1; 32]);
        m.extend_from_slice(&[2; 32]);
        let key = hmac::Key::new(hmac::HMAC_SHA256, b"right");
        let tag = hmac::sign(&key, &m);
        assert_eq!(&t.prove(&secret("right"), Prover::Client)[..], tag.as_ref());
    }

    #[test]
    fn every_field_of_the_transcript_counts() {
        let s = secret("right");
        let t = transcript();
        let p = t.prove(&s, Prover::Client);
        assert!(
            !t.verify(&s, Prover::Server, &p),
            "a client's proof is not the server's"
        );
        let other_id = Transcript {
            client: ClientId::Two,
            ..t
        };
        assert!(!other_id.verify(&s, Prover::Client, &p), "wrong client id");
        let other_version = Transcript { version: 1, ..t };
        assert!(!other_version.verify(&s, Prover::Client, &p));
        let stale = Transcript {
            server_nonce: [3; NONCE_LEN],
            ..t
        };
        assert!(
            !stale.verify(&s, Prover::Client, &p),
            "a proof replayed against a fresh server nonce"
        );
        let other_client_nonce = Transcript {
            client_nonce: [4; NONCE_LEN],
            ..t
        };
        assert!(!other_client_nonce.verify(&s, Prover::Client, &p));
    }

    #[test]
    fn secrets_are_never_shown_and_never_empty() {
        assert!(SharedSecret::new(b"").is_none());
        assert_eq!(
            format!("{:?}", secret("hunter2")),
            "SharedSecret(<redacted>)"
        );
    }

    #[test]
    fn tokens_compare_by_value() {
        assert!(same_token(7, 7));
        assert!(!same_token(7, 7 | 1 << 100));
    }
}
