//! The options of `tcpws-bench`: what to measure and how much, checked
//! before anything starts.

use std::collections::BTreeSet;
use std::fmt;

use argh::FromArgs;

use crate::compare::peer::{self, Peer};
use crate::error::BenchError;
use crate::hostile::Counts;

/// Measure the tunnel against raw loopback TCP: throughput, latency, setup
/// rate, memory and CPU, with a real server and client 1 on loopback.
#[derive(FromArgs, Debug, Default, PartialEq)]
pub struct BenchArgs {
    /// bytes moved by each bulk case, split evenly across the streams of a
    /// multi-stream case; K, M and G are binary (512M, 1G; default 1G)
    #[argh(option)]
    pub size: Option<String>,
    /// concurrent stream counts of the aggregate cases (default 8,100)
    #[argh(option)]
    pub streams: Option<String>,
    /// idle streams opened through the tunnel by the memory case (default 10000)
    #[argh(option)]
    pub idle_streams: Option<String>,
    /// 500-byte ping-pong round trips per latency case (default 1000)
    #[argh(option)]
    pub round_trips: Option<String>,
    /// connections per setup-rate case (default 1000)
    #[argh(option)]
    pub setups: Option<String>,
    /// runs of every case; the median is reported (default 3)
    #[argh(option)]
    pub runs: Option<String>,
    /// cases, comma-separated: raw, ws, wss (one-stream bulk over each;
    /// raw is the baseline of every ratio), streams (with the one-stream
    /// figures they are judged against), latency, setup (each over the
    /// transports named, or all three), memory; or all (the default);
    /// and hostile (attacks on a server while a healthy stream is timed,
    /// run once; not part of all: all,hostile runs everything)
    #[argh(option)]
    pub cases: Option<String>,
    /// hostile (a): TCP connections that never send a byte (default 10000)
    #[argh(option)]
    pub hostile_conns: Option<String>,
    /// hostile (b): upgraded links that never send a Hello (default 1000)
    #[argh(option)]
    pub hostile_links: Option<String>,
    /// hostile (c): one-byte out-of-order Data frames (default 100000)
    #[argh(option)]
    pub hostile_pieces: Option<String>,
    /// hostile (d): links flooded with Opens until closed (default 3)
    #[argh(option)]
    pub hostile_floods: Option<String>,
    /// a smoke run of a few seconds: 8M, 1 run, 500 idle streams, 200
    /// round trips and setups, hostile 1000 conns, 300 links, 5000 pieces,
    /// 2 floods (options given explicitly win)
    #[argh(switch)]
    pub quick: bool,
    /// print the results as JSON on stdout instead of the table
    #[argh(switch)]
    pub json: bool,
    /// measure a peer side by side with tcpws instead of the cases above:
    /// NAME=PATH (only wstunnel=PATH is known), repeatable or
    /// comma-separated; with the bare-relay floor and raw loopback, in
    /// alternating rounds (--size, --streams, --round-trips, --setups,
    /// --runs, --idle-streams and --quick apply; --cases does not)
    #[argh(option)]
    pub peer: Vec<String>,
    /// internal: be the bench's hold backend (prints `port N`, serves
    /// until standard input closes)
    #[argh(switch, hidden_help)]
    pub serve_hold: bool,
    /// internal: be a relay of the bare-relay floor (`LISTEN=TARGET,...`
    /// loopback ports; serves until killed)
    #[argh(option, hidden_help)]
    pub serve_relay: Option<String>,
}

/// How the bench reaches the backends: directly or through one of the
/// tunnel's transports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Transport {
    /// Loopback TCP, no tunnel: the physical limit.
    Raw,
    /// The tunnel over ws://.
    Ws,
    /// The tunnel over wss:// (TLS).
    Wss,
}

impl Transport {
    pub const ALL: [Transport; 3] = [Transport::Raw, Transport::Ws, Transport::Wss];

    /// The name used in `--cases`, row ids and labels.
    pub fn name(self) -> &'static str {
        match self {
            Transport::Raw => "raw",
            Transport::Ws => "ws",
            Transport::Wss => "wss",
        }
    }
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The cases selected by `--cases`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cases {
    /// Transports with a one-stream bulk case.
    pub bulk: BTreeSet<Transport>,
    /// Transports the streams, latency and setup cases run over.
    pub over: BTreeSet<Transport>,
    pub streams: bool,
    pub latency: bool,
    pub setup: bool,
    pub memory: bool,
    pub hostile: bool,
}

impl Cases {
    /// Every timed case (`all`, the default); the hostile case is asked
    /// for by name.
    pub fn all() -> Cases {
        Cases {
            bulk: Transport::ALL.into_iter().collect(),
            over: Transport::ALL.into_iter().collect(),
            streams: true,
            latency: true,
            setup: true,
            memory: true,
            hostile: false,
        }
    }

    /// Parses `raw,ws,streams,...`. Transports named get a one-stream
    /// bulk case and carry the streams, latency and setup cases; when none
    /// is named those cases run over all three.
    pub fn parse(text: &str) -> Result<Cases, BenchError> {
        const VALID: &str = "raw, ws, wss, streams, latency, setup, memory, hostile, all";
        let mut named = BTreeSet::new();
        let mut all = false;
        let mut cases = Cases {
            bulk: BTreeSet::new(),
            over: BTreeSet::new(),
            streams: false,
            latency: false,
            setup: false,
            memory: false,
            hostile: false,
        };
        for token in text.split(',') {
            match token.trim().to_ascii_lowercase().as_str() {
                "all" => all = true,
                "raw" => drop(named.insert(Transport::Raw)),
                "ws" => drop(named.insert(Transport::Ws)),
                "wss" => drop(named.insert(Transport::Wss)),
                "streams" => cases.streams = true,
                "latency" => cases.latency = true,
                "setup" => cases.setup = true,
                "memory" => cases.memory = true,
                "hostile" => cases.hostile = true,
                "" => {
                    return Err(BenchError::Usage(format!(
                        "--cases: expected a comma-separated list of {VALID}, got {text:?}"
                    )))
                }
                other => {
                    return Err(BenchError::Usage(format!(
                        "--cases: unknown case {other:?}; expected some of {VALID}"
                    )))
                }
            }
        }
        if all {
            return Ok(Cases {
                hostile: cases.hostile,
                ..Cases::all()
            });
        }
        cases.over = if named.is_empty() {
            Transport::ALL.into_iter().collect()
        } else {
            named.clone()
        };
        cases.bulk = named;
        Ok(cases)
    }

    /// Whether any case runs over `transport`.
    pub fn uses(&self, transport: Transport) -> bool {
        self.bulk.contains(&transport)
            || ((self.streams || self.latency || self.setup) && self.over.contains(&transport))
    }

    /// The list in `--cases` syntax.
    pub fn describe(&self) -> String {
        let mut names: Vec<&str> = self.bulk.iter().map(|t| t.name()).collect();
        for (on, name) in [
            (self.streams, "streams"),
            (self.latency, "latency"),
            (self.setup, "setup"),
            (self.memory, "memory"),
            (self.hostile, "hostile"),
        ] {
            if on {
                names.push(name);
            }
        }
        names.join(",")
    }
}

/// Everything the bench needs to know, with defaults filled in.
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    /// Bytes per bulk case.
    pub size: u64,
    /// Concurrent stream counts, ascending, no duplicates.
    pub streams: Vec<usize>,
    pub idle_streams: usize,
    pub round_trips: usize,
    pub setups: usize,
    pub runs: usize,
    pub cases: Cases,
    /// How much of each attack of the hostile case.
    pub hostile: Counts,
    pub json: bool,
    pub quick: bool,
    /// The peers to compare with; none for the bench of tcpws alone.
    pub peers: Vec<Peer>,
}

/// Bytes of each ping-pong message.
pub const MESSAGE_BYTES: usize = 500;

const SIZE_RANGE: (u64, u64) = (64 << 10, 1 << 40);
const MAX_STREAMS: usize = 1000;
const MAX_IDLE_STREAMS: usize = 200_000;
/// Silent connections at once: loopback has about 28,000 ephemeral ports.
const MAX_HOSTILE_CONNS: usize = 25_000;

impl Options {
    /// Checks the command line and fills in the defaults (or the `--quick`
    /// ones); every bad value is a [`BenchError::Usage`] naming its option.
    pub fn from_args(args: &BenchArgs) -> Result<Options, BenchError> {
        let quick = args.quick;
        let size = match &args.size {
            Some(text) => parse_size(text)?,
            None if quick => 8 << 20,
            None => 1 << 30,
        };
        let peers = peer::parse_peers(&args.peer)?;
        if !peers.is_empty() && args.cases.is_some() {
            return Err(BenchError::Usage(
                "--cases: the comparison with --peer runs a fixed set of cases; \
                 leave --cases out"
                    .into(),
            ));
        }
        let streams = match &args.streams {
            Some(text) => parse_streams(text)?,
            None => vec![8, 100],
        };
        let count = |name: &str, text: &Option<String>, normal, smoke, max| match text {
            Some(text) => parse_count(name, text, max),
            None if quick => Ok(smoke),
            None => Ok(normal),
        };
        Ok(Options {
            size,
            streams,
            idle_streams: count(
                "--idle-streams",
                &args.idle_streams,
                10_000,
                500,
                MAX_IDLE_STREAMS,
            )?,
            round_trips: count("--round-trips", &args.round_trips, 1000, 200, 10_000_000)?,
            setups: count("--setups", &args.setups, 1000, 200, 1_000_000)?,
            runs: count("--runs", &args.runs, 3, 1, 100)?,
            cases: match &args.cases {
                Some(text) => Cases::parse(text)?,
                None => Cases::all(),
            },
            hostile: Counts {
                conns: count(
                    "--hostile-conns",
                    &args.hostile_conns,
                    10_000,
                    1000,
                    MAX_HOSTILE_CONNS,
                )?,
                links: count(
                    "--hostile-links",
                    &args.hostile_links,
                    1000,
                    300,
                    MAX_HOSTILE_CONNS,
                )?,
                pieces: count(
                    "--hostile-pieces",
                    &args.hostile_pieces,
                    100_000,
                    5000,
                    100_000_000,
                )?,
                floods: count("--hostile-floods", &args.hostile_floods, 3, 2, 100)?,
            },
            json: args.json,
            quick,
            peers,
        })
    }

    /// The options every report shows, as JSON, with the fields of
    /// `extra` (an object) added.
    pub fn json(&self, extra: serde_json::Value) -> serde_json::Value {
        let mut all = serde_json::json!({
            "size_bytes": self.size,
            "idle_streams": self.idle_streams,
            "round_trips": self.round_trips,
            "message_bytes": MESSAGE_BYTES,
            "setups": self.setups,
            "runs": self.runs,
            "quick": self.quick,
        });
        if let (Some(all), serde_json::Value::Object(extra)) = (all.as_object_mut(), extra) {
            all.extend(extra);
        }
        all
    }

    /// File descriptors a process of the bench needs at its peak: the
    /// bench holds one end of every idle stream (the hold backend, a
    /// process of its own, and each tunnel process about as many), or both
    /// ends of every stream of the largest aggregate case, or every silent
    /// connection of the hostile case; plus room for everything else.
    pub fn descriptors_needed(&self) -> u64 {
        let idle = if self.cases.memory {
            self.idle_streams
        } else {
            0
        };
        let streams = self.streams.iter().copied().max().unwrap_or(0);
        let hostile = if self.cases.hostile {
            self.hostile.conns.max(self.hostile.links)
        } else {
            0
        };
        idle.max(2 * streams).max(hostile) as u64 + 256
    }
}

/// `1G`, `512M`, `64K`, `1GiB`, `1048576`: binary multiples.
pub fn parse_size(text: &str) -> Result<u64, BenchError> {
    let bad = |why: &str| {
        BenchError::Usage(format!(
            "--size: expected a byte count such as 1G, 512M or 1048576 \
             (from 64K to 1024G), got {text:?}{why}"
        ))
    };
    let t = text.trim();
    let digits = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (number, suffix) = t.split_at(digits);
    let number: u64 = number.parse().map_err(|_| bad(""))?;
    let shift = match suffix.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kib" | "kb" => 10,
        "m" | "mib" | "mb" => 20,
        "g" | "gib" | "gb" => 30,
        _ => return Err(bad(": unknown unit")),
    };
    let size = number
        .checked_mul(1u64 << shift)
        .ok_or_else(|| bad(": too large"))?;
    if size < SIZE_RANGE.0 {
        return Err(bad(": too small"));
    }
    if size > SIZE_RANGE.1 {
        return Err(bad(": too large"));
    }
    Ok(size)
}

/// `8,100`: ascending, duplicates dropped, each from 2 to 1000.
pub fn parse_streams(text: &str) -> Result<Vec<usize>, BenchError> {
    let mut counts = BTreeSet::new();
    for token in text.split(',') {
        match token.trim().parse::<usize>() {
            Ok(n) if (2..=MAX_STREAMS).contains(&n) => {
                counts.insert(n);
            }
            _ => {
                return Err(BenchError::Usage(format!(
                    "--streams: expected comma-separated stream counts from 2 to {MAX_STREAMS} \
                     such as 8,100, got {text:?}"
                )))
            }
        }
    }
    Ok(counts.into_iter().collect())
}

/// A whole number from 1 to `max` for option `name`.
fn parse_count(name: &str, text: &str, max: usize) -> Result<usize, BenchError> {
    match text.trim().parse::<usize>() {
        Ok(n) if (1..=max).contains(&n) => Ok(n),
        _ => Err(BenchError::Usage(format!(
            "{name}: expected a whole number from 1 to {max}, got {text:?}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Result<BenchArgs, String> {
        BenchArgs::from_args(&["bench"], list).map_err(|e| e.output)
    }

    fn usage(r: Result<impl fmt::Debug, BenchError>) -> String {
        match r {
            Err(BenchError::Usage(why)) => why,
            other => panic!("expected a usage error, got {other:?}"),
        }
    }

    #[test]
    fn defaults_fill_every_option() {
        let o = Options::from_args(&args(&[]).unwrap()).unwrap();
        assert_eq!(o.size, 1 << 30);
        assert_eq!(o.streams, vec![8, 100]);
        assert_eq!(o.idle_streams, 10_000);
        assert_eq!(o.round_trips, 1000);
        assert_eq!(o.setups, 1000);
        assert_eq!(o.runs, 3);
        assert_eq!(o.cases, Cases::all());
        assert_eq!(
            o.hostile,
            Counts {
                conns: 10_000,
                links: 1000,
                pieces: 100_000,
                floods: 3,
            }
        );
        assert!(!o.json && !o.quick);
        assert_eq!(o.descriptors_needed(), 10_256);
        let o =
            Options::from_args(&args(&["--cases", "hostile", "--hostile-conns", "20000"]).unwrap())
                .unwrap();
        assert_eq!(o.descriptors_needed(), 20_256);
    }

    #[test]
    fn quick_shrinks_everything_but_explicit_options_win() {
        let o = Options::from_args(&args(&["--quick", "--json"]).unwrap()).unwrap();
        assert_eq!(
            (o.size, o.runs, o.idle_streams, o.round_trips, o.setups),
            (8 << 20, 1, 500, 200, 200)
        );
        assert_eq!(
            (
                o.hostile.conns,
                o.hostile.links,
                o.hostile.pieces,
                o.hostile.floods
            ),
            (1000, 300, 5000, 2)
        );
        assert!(o.json);
        let o = Options::from_args(&args(&["--quick", "--size", "1M", "--runs", "2"]).unwrap())
            .unwrap();
        assert_eq!((o.size, o.runs), (1 << 20, 2));
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("1G").unwrap(), 1 << 30);
        assert_eq!(parse_size("512m").unwrap(), 512 << 20);
        assert_eq!(parse_size(" 64KiB ").unwrap(), 64 << 10);
        assert_eq!(parse_size("2 GiB").unwrap(), 2 << 30);
        assert_eq!(parse_size("1048576").unwrap(), 1 << 20);
        for bad in [
            "",
            "G",
            "1T",
            "-1G",
            "1.5G",
            "63K",
            "2000G",
            "99999999999999999999",
        ] {
            let why = usage(parse_size(bad));
            assert!(why.starts_with("--size: "), "{why}");
        }
    }

    #[test]
    fn stream_counts() {
        assert_eq!(parse_streams("100,8, 8").unwrap(), vec![8, 100]);
        for bad in ["", "1", "8,", "x", "1001", "8;100"] {
            assert!(usage(parse_streams(bad)).contains("--streams"), "{bad}");
        }
    }

    #[test]
    fn counts_name_their_option() {
        for (opt, bad) in [
            ("--runs", "0"),
            ("--runs", "101"),
            ("--round-trips", "many"),
            ("--setups", "-3"),
            ("--idle-streams", "1000000"),
            ("--hostile-conns", "30000"),
            ("--hostile-floods", "0"),
        ] {
            let why = usage(Options::from_args(&args(&[opt, bad]).unwrap()));
            assert!(why.starts_with(opt), "{why}");
        }
    }

    #[test]
    fn cases_select_transports_and_measurements() {
        let c = Cases::parse("raw,ws,wss,streams,latency,memory,setup").unwrap();
        assert_eq!(c, Cases::all());
        assert!(!c.hostile, "hostile is not part of all");
        let c = Cases::parse("all,hostile").unwrap();
        assert_eq!(
            c,
            Cases {
                hostile: true,
                ..Cases::all()
            }
        );
        assert_eq!(
            c.describe(),
            "raw,ws,wss,streams,latency,setup,memory,hostile"
        );
        assert_eq!(Cases::parse("hostile,ws,all").unwrap(), c);
        let c = Cases::parse("hostile").unwrap();
        assert!(c.hostile && !c.memory && !c.uses(Transport::Ws));
        assert_eq!(c.describe(), "hostile");
        let c = Cases::parse("ws").unwrap();
        assert_eq!(c.bulk, [Transport::Ws].into());
        assert!(!c.streams && !c.latency && !c.setup && !c.memory);
        assert!(c.uses(Transport::Ws) && !c.uses(Transport::Raw));
        let c = Cases::parse("Latency").unwrap();
        assert!(c.bulk.is_empty() && c.latency);
        assert_eq!(c.over.len(), 3);
        assert!(c.uses(Transport::Wss));
        let c = Cases::parse("memory").unwrap();
        assert!(c.memory && !c.uses(Transport::Ws));
        assert_eq!(c.describe(), "memory");
        assert_eq!(
            Cases::parse("raw,ws,latency").unwrap().describe(),
            "raw,ws,latency"
        );
        assert!(usage(Cases::parse("ws,tls")).contains("unknown case \"tls\""));
        assert!(usage(Cases::parse("ws,,raw")).contains("--cases"));
    }

    #[test]
    fn peers_are_repeatable_and_exclude_cases() {
        let o = Options::from_args(&args(&[]).unwrap()).unwrap();
        assert!(o.peers.is_empty());
        let o =
            Options::from_args(&args(&["--peer", "wstunnel=/bin/sh", "--quick"]).unwrap()).unwrap();
        assert_eq!(o.peers.len(), 1);
        assert_eq!(o.peers[0].path, std::path::Path::new("/bin/sh"));
        let two = args(&["--peer", "wstunnel=/bin/sh", "--peer", "wstunnel=/bin/sh"]).unwrap();
        assert!(usage(Options::from_args(&two)).contains("twice"));
        let with_cases = args(&["--peer", "wstunnel=/bin/sh", "--cases", "ws"]).unwrap();
        assert!(usage(Options::from_args(&with_cases)).starts_with("--cases: "));
        let bad = args(&["--peer", "iperf=/bin/sh"]).unwrap();
        assert!(usage(Options::from_args(&bad)).starts_with("--peer: unknown peer"));
    }

    #[test]
    fn unknown_flags_are_argh_errors_not_panics() {
        assert!(args(&["--bogus"]).is_err());
        assert!(args(&["--size"]).is_err());
    }
}
