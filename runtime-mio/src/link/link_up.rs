//! What the protocol learns about a new link: the peer's address, the
//! client id its certificate may claim, and fresh values from the OS's
//! CSPRNG for the handshake nonce and a session token.

use std::net::SocketAddr;

use ring::rand::{SecureRandom, SystemRandom};
use tcpws_protocol::{Certified, LinkUp, NONCE_LEN};

/// A [`LinkUp`] with fresh random values, or why the OS gave none.
pub(crate) fn fresh(
    random: &SystemRandom,
    peer: SocketAddr,
    certified: Certified,
) -> Result<LinkUp, String> {
    let mut bytes = [0u8; NONCE_LEN + 16];
    random
        .fill(&mut bytes)
        .map_err(|_| "the OS's random number generator failed".to_string())?;
    let (nonce_bytes, token_bytes) = bytes.split_at(NONCE_LEN);
    let mut nonce = [0u8; NONCE_LEN];
    nonce.copy_from_slice(nonce_bytes);
    let mut token = [0u8; 16];
    token.copy_from_slice(token_bytes);
    Ok(LinkUp {
        peer,
        certified,
        nonce,
        token: u128::from_be_bytes(token),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_link_gets_new_values() {
        let random = SystemRandom::new();
        let peer: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let a = fresh(&random, peer, Certified::Unbound).unwrap();
        let b = fresh(&random, peer, Certified::Unbound).unwrap();
        assert_ne!(a.nonce, b.nonce);
        assert_ne!(a.token, b.token);
        assert_ne!(a.nonce, [0; NONCE_LEN]);
    }
}
