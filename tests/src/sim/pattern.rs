//! The verifiable byte streams apps send: `[8-byte tag][pattern(tag, offset)…]`.
//! A receiver checks every byte against the pattern at its offset without
//! knowing anything about stream ids; the tag says which app connection the
//! bytes belong to and which client was active when it connected.

use tcpws_protocol::ClientId;

use super::rng::splitmix64;
use super::Node;

/// The backend answers an app whose tag is `t` with the stream of `t ^ ANSWER`.
pub const ANSWER: u64 = 0xA5A5_5A5A_0FF0_F00F;

/// Bytes of the tag in front of every stream.
pub const TAG_LEN: u64 = 8;

/// What a tag says about the app connection that chose it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TagInfo {
    /// The app, as numbered by the world.
    pub app: u32,
    /// The node whose listen socket the app connected to.
    pub origin: Node,
    /// The server's `active()` when the app connected (server apps only).
    pub active_at_connect: Option<ClientId>,
}

/// Builds a tag: app id in the low 32 bits, then origin and active client,
/// then random salt so tags of different runs differ.
pub fn make_tag(info: TagInfo, salt: u64) -> u64 {
    let origin = info.origin.index() as u64;
    let active = match info.active_at_connect {
        None => 0u64,
        Some(c) => u64::from(c.number()),
    };
    u64::from(info.app) | (origin << 32) | (active << 36) | ((salt & 0xFF_FFFF) << 40)
}

/// Reads a tag back; `None` when it cannot be one of ours.
pub fn parse_tag(tag: u64) -> Option<TagInfo> {
    let origin = match (tag >> 32) & 0xF {
        0 => Node::Server,
        1 => Node::C1,
        2 => Node::C2,
        _ => return None,
    };
    let active = match (tag >> 36) & 0xF {
        0 => None,
        n => Some(ClientId::from_number(n)?),
    };
    Some(TagInfo {
        app: tag as u32,
        origin,
        active_at_connect: active,
    })
}

/// The byte at `offset` of the stream of `tag` (the tag itself first).
pub fn byte_at(tag: u64, offset: u64) -> u8 {
    if offset < TAG_LEN {
        return tag.to_be_bytes()[offset as usize];
    }
    let word = splitmix64(tag ^ (offset >> 3).wrapping_mul(0xD6E8_FEB8_6659_FD93));
    (word >> ((offset & 7) * 8)) as u8
}

/// Appends bytes `offset..offset+len` of the stream of `tag` to `out`.
pub fn fill(tag: u64, offset: u64, len: usize, out: &mut Vec<u8>) {
    out.reserve(len);
    let end = offset + len as u64;
    let mut o = offset;
    while o < end {
        if o < TAG_LEN || o & 7 != 0 || end - o < 8 {
            out.push(byte_at(tag, o));
            o += 1;
        } else {
            let word = splitmix64(tag ^ (o >> 3).wrapping_mul(0xD6E8_FEB8_6659_FD93));
            out.extend_from_slice(&word.to_le_bytes());
            o += 8;
        }
    }
}

/// Checks `data` against the stream of `tag` from `offset`; on a mismatch
/// returns the offset of the first wrong byte with what was expected.
pub fn verify(tag: u64, offset: u64, data: &[u8]) -> Result<(), (u64, u8, u8)> {
    let mut scratch = Vec::with_capacity(data.len());
    fill(tag, offset, data.len(), &mut scratch);
    if scratch == data {
        return Ok(());
    }
    let i = scratch
        .iter()
        .zip(data)
        .position(|(a, b)| a != b)
        .unwrap_or(0);
    Err((offset + i as u64, scratch[i], data[i]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fill_matches_byte_at() {
        let tag = 0x1234_5678_9ABC_DEF0;
        for start in 0..20u64 {
            let mut v = Vec::new();
            fill(tag, start, 37, &mut v);
            for (i, b) in v.iter().enumerate() {
                assert_eq!(*b, byte_at(tag, start + i as u64));
            }
        }
    }

    #[test]
    fn verify_finds_the_first_wrong_byte() {
        let tag = 99;
        let mut v = Vec::new();
        fill(tag, 3, 100, &mut v);
        assert!(verify(tag, 3, &v).is_ok());
        v[40] ^= 1;
        assert_eq!(verify(tag, 3, &v).unwrap_err().0, 43);
        assert!(verify(tag ^ ANSWER, 3, &v[..50]).is_err());
    }

    #[test]
    fn tags_round_trip() {
        let info = TagInfo {
            app: 77,
            origin: Node::Server,
            active_at_connect: Some(ClientId::Two),
        };
        assert_eq!(parse_tag(make_tag(info, 0xABCDEF)), Some(info));
        let info = TagInfo {
            app: 3,
            origin: Node::C1,
            active_at_connect: None,
        };
        assert_eq!(parse_tag(make_tag(info, 5)), Some(info));
    }
}
