//! The peers `--peer NAME=PATH` names: other tunnels measured beside tcpws
//! on the same paths. Only wstunnel is known.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::error::BenchError;

/// A tunnel program the bench knows how to drive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum PeerKind {
    /// erebe/wstunnel: `wstunnel server` and `wstunnel client -L`.
    Wstunnel,
}

impl PeerKind {
    pub const ALL: [PeerKind; 1] = [PeerKind::Wstunnel];

    /// The name in `--peer`, row ids and column heads.
    pub fn name(self) -> &'static str {
        match self {
            PeerKind::Wstunnel => "wstunnel",
        }
    }
}

/// A peer to measure: which program, and where its binary is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peer {
    pub kind: PeerKind,
    pub path: PathBuf,
}

/// The `--peer` values, each `NAME=PATH` or a comma-separated list of
/// them: each name known and given once, each path an executable file.
pub fn parse_peers(values: &[String]) -> Result<Vec<Peer>, BenchError> {
    let mut peers: Vec<Peer> = Vec::new();
    for item in values.iter().flat_map(|v| v.split(',')) {
        let peer = parse_one(item)?;
        if peers.iter().any(|p| p.kind == peer.kind) {
            return Err(BenchError::Usage(format!(
                "--peer: {} is given twice",
                peer.kind.name()
            )));
        }
        check_executable(&peer.path)?;
        peers.push(peer);
    }
    Ok(peers)
}

/// `NAME=PATH` with a known name and a non-empty path (not checked on disk).
fn parse_one(item: &str) -> Result<Peer, BenchError> {
    let known: Vec<&str> = PeerKind::ALL.iter().map(|k| k.name()).collect();
    let Some((name, path)) = item.trim().split_once('=') else {
        return Err(BenchError::Usage(format!(
            "--peer: expected NAME=PATH such as wstunnel=/usr/bin/wstunnel, got {item:?}"
        )));
    };
    let name = name.trim().to_ascii_lowercase();
    let kind = PeerKind::ALL
        .into_iter()
        .find(|k| k.name() == name)
        .ok_or_else(|| {
            BenchError::Usage(format!(
                "--peer: unknown peer {name:?}; known: {}",
                known.join(", ")
            ))
        })?;
    if path.trim().is_empty() {
        return Err(BenchError::Usage(format!("--peer: {name} has no path")));
    }
    Ok(Peer {
        kind,
        path: PathBuf::from(path.trim()),
    })
}

/// An error unless `path` is a file someone may execute.
fn check_executable(path: &Path) -> Result<(), BenchError> {
    let bad = |why: &str| BenchError::Usage(format!("--peer: {}: {why}", path.display()));
    let meta = std::fs::metadata(path).map_err(|e| bad(&e.to_string()))?;
    if !meta.is_file() {
        return Err(bad("not a file"));
    }
    if meta.permissions().mode() & 0o111 == 0 {
        return Err(bad("not executable"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usage(r: Result<Vec<Peer>, BenchError>) -> String {
        match r {
            Err(BenchError::Usage(why)) => why,
            other => panic!("expected a usage error, got {other:?}"),
        }
    }

    fn strings(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn names_and_paths() {
        assert_eq!(parse_peers(&[]).unwrap(), []);
        let peers = parse_peers(&strings(&[" WSTUNNEL=/bin/sh "])).unwrap();
        assert_eq!(
            peers,
            [Peer {
                kind: PeerKind::Wstunnel,
                path: "/bin/sh".into()
            }]
        );
        let why = usage(parse_peers(&strings(&[
            "wstunnel=/bin/sh,wstunnel=/bin/sh",
        ])));
        assert!(why.contains("given twice"), "{why}");
        let why = usage(parse_peers(&strings(&[
            "wstunnel=/bin/sh",
            "wstunnel=/bin/sh",
        ])));
        assert!(why.contains("given twice"), "{why}");
        let why = usage(parse_peers(&strings(&["chisel=/bin/sh"])));
        assert!(
            why.contains("unknown peer \"chisel\"; known: wstunnel"),
            "{why}"
        );
        assert!(usage(parse_peers(&strings(&["wstunnel"]))).contains("NAME=PATH"));
        assert!(usage(parse_peers(&strings(&["wstunnel="]))).contains("has no path"));
    }

    #[test]
    fn the_path_must_be_an_executable_file() {
        let why = usage(parse_peers(&strings(&["wstunnel=/no/such/wstunnel"])));
        assert!(why.starts_with("--peer: /no/such/wstunnel: "), "{why}");
        let why = usage(parse_peers(&strings(&["wstunnel=/tmp"])));
        assert!(why.ends_with("not a file"), "{why}");
        let file = std::env::temp_dir().join(format!("tcpws-bench-peer-{}", std::process::id()));
        std::fs::write(&file, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        let why = usage(parse_peers(&[format!("wstunnel={}", file.display())]));
        assert!(why.ends_with("not executable"), "{why}");
        std::fs::remove_file(&file).unwrap();
    }
}
