//! The `tcpws` command as a library: the config parser, the logger and the
//! demo, so the binary and the fuzz targets (fuzz/) share one parser.

pub mod config;
pub mod demo;
pub mod logging;
