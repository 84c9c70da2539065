//! Arbitrary bytes as config.json text through the CLI's parser: an error or
//! a valid config, never a panic.
//!
//! Non-UTF-8 input (which the CLI refuses before parsing) is converted
//! lossily, so those bytes still reach the parser. A config that parses is
//! then summarised and turned into runtime settings (which also validate
//! it), as `tcpws check` does; errors are formatted, as they are printed.

#![no_main]

use libfuzzer_sys::fuzz_target;
use tcpws::config;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    match config::parse(&text) {
        Ok((cfg, warnings)) => {
            for w in &warnings {
                assert!(!w.is_empty());
            }
            let summary = cfg.summary();
            assert!(!summary.is_empty());
            match cfg.to_node_settings() {
                Ok(settings) => {
                    settings
                        .protocol
                        .validate()
                        .expect("to_node_settings returns a valid protocol config");
                }
                Err(e) => {
                    let _ = e.to_string();
                }
            }
        }
        Err(e) => {
            let msg = e.to_string();
            assert!(!msg.is_empty());
        }
    }
});
