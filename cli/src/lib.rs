//! The `tcpws` command as a library: the config parser, the logger, the
//! demo and the bench, so the binary and the fuzz targets (fuzz/) share one
//! parser.

pub mod bench;
pub mod config;
pub mod demo;
pub mod logging;
