//! What the config modules' tests share: the seed README's example configs,
//! verbatim (in `cli/testdata/`), and helpers that parse or fail.

use std::fs;
use std::path::PathBuf;

use super::{parse, ConfigError, FileConfig};

/// The seed README's "Example Client Configuration".
pub const SEED_CLIENT_1: &str = include_str!("../../testdata/seed-client-1.json");

/// The seed README's "Example Second Client Configuration".
pub const SEED_CLIENT_2: &str = include_str!("../../testdata/seed-client-2.json");

/// The seed README's "Example Server Configuration".
pub const SEED_SERVER: &str = include_str!("../../testdata/seed-server.json");

/// The config and warnings of `text`, which must parse.
pub fn ok(text: &str) -> (FileConfig, Vec<String>) {
    match parse(text) {
        Ok(parsed) => parsed,
        Err(e) => panic!("{text} should parse: {e}"),
    }
}

/// The error message for `text`, which must not parse.
pub fn err(text: &str) -> String {
    match parse(text) {
        Ok((config, _)) => panic!("{text} should not parse, got {config:?}"),
        Err(e) => e.to_string(),
    }
}

/// The key path a key error names.
pub fn key_of(e: &ConfigError) -> Option<&str> {
    match e {
        ConfigError::Key { key, .. } => Some(key),
        _ => None,
    }
}

/// An empty directory of this test process under the temp dir.
pub fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tcpws-config-{name}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}
