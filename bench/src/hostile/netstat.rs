//! The kernel's count of connections dropped because a listen socket's
//! accept queue was full (`TcpExt: ListenOverflows` of `/proc/net/netstat`).
//! It counts for the whole machine, so other work can add to it; during an
//! attack on the server's port it is mostly that port's. A dropped SYN
//! costs the client a retransmission: a connect a second late.

/// `ListenOverflows` now, if readable.
pub fn listen_overflows() -> Option<u64> {
    parse(
        &std::fs::read_to_string("/proc/net/netstat").ok()?,
        "ListenOverflows",
    )
}

/// The value of `key` in the `TcpExt:` pair of lines (names, then values).
fn parse(text: &str, key: &str) -> Option<u64> {
    let lines: Vec<&str> = text.lines().collect();
    lines.chunks(2).find_map(|pair| {
        let [names, values] = pair else {
            return None;
        };
        if !names.starts_with("TcpExt:") || !values.starts_with("TcpExt:") {
            return None;
        }
        let at = names.split_whitespace().position(|n| n == key)?;
        values.split_whitespace().nth(at)?.parse().ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_counter_among_the_others() {
        let text = "TcpExt: SyncookiesSent ListenOverflows ListenDrops\n\
                    TcpExt: 0 13 14\n\
                    IpExt: InNoRoutes ListenOverflows\n\
                    IpExt: 1 99\n";
        assert_eq!(parse(text, "ListenOverflows"), Some(13));
        assert_eq!(parse(text, "ListenDrops"), Some(14));
        assert_eq!(parse(text, "Nothing"), None);
        assert!(listen_overflows().is_some());
    }
}
