//! The `tcpws` command as a library: the config parser, the logger and the
//! demo, so the binary, the bench (bench/) and the fuzz targets (fuzz/)
//! share one parser.

pub mod args;
pub mod config;
pub mod demo;
pub mod logging;

/// The version of tcpws, as the binary reports it.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
