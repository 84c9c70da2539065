//! What the bench reports and what it aims for: the samples of every run,
//! keyed by row id, turned into [`Row`]s with their raw baselines and
//! targets:
//! * one stream over ws:// at least 75 % of raw loopback, over wss:// 55 %;
//! * the smallest multi-stream count at least the one-stream figure, each
//!   larger count at least 90 % of the one below it ("flat");
//! * the p50 round trip at most 25 us longer than raw loopback's;
//! * each tunnel process at most 64 MB resident with the idle streams open.

use std::collections::BTreeMap;

use crate::options::{Options, Transport};
use crate::processes::Direction;
use crate::report::{Row, Target, Unit};
use crate::stats::median;

/// One-stream throughput over ws:// against raw loopback.
pub const WS_RATIO: f64 = 0.75;
/// One-stream throughput over wss:// against raw loopback.
pub const WSS_RATIO: f64 = 0.55;
/// Each multi-stream count against the next smaller one.
pub const FLAT_RATIO: f64 = 0.90;
/// Added p50 round-trip time, seconds.
pub const ADDED_RTT: f64 = 25e-6;
/// Resident memory per tunnel process with the idle streams open, bytes.
pub const IDLE_RSS: f64 = 64e6;

/// Values per row id, one per run.
#[derive(Debug, Default, Clone)]
pub struct Samples {
    values: BTreeMap<String, Vec<f64>>,
}

impl Samples {
    pub fn add(&mut self, id: &str, value: f64) {
        self.values.entry(id.to_string()).or_default().push(value);
    }

    pub fn get(&self, id: &str) -> &[f64] {
        self.values.get(id).map_or(&[], Vec::as_slice)
    }

    pub fn median(&self, id: &str) -> Option<f64> {
        median(self.get(id))
    }
}

/// Row id of a raw figure (`bulk_1.raw`) or a tunnel one
/// (`bulk_1.ws.server_listen`).
pub fn id(figure: &str, transport: Transport, direction: Direction) -> String {
    match transport {
        Transport::Raw => format!("{figure}.raw"),
        t => format!("{figure}.{t}.{}", direction.id()),
    }
}

/// The table group of a row id: `bulk_8`, `latency`, `setup`, `cpu`, `memory`.
fn group_of(id: &str) -> String {
    let figure = id.split('.').next().unwrap_or(id);
    match figure {
        f if f.starts_with("rtt_") => "latency".into(),
        "rss_peak" => "peak".into(),
        f if f.starts_with("rss_") => "memory".into(),
        f if f.starts_with("cpu_") => "cpu".into(),
        f => f.into(),
    }
}

/// `raw loopback` or `ws srv-listen`.
pub fn path_label(transport: Transport, direction: Direction) -> String {
    match transport {
        Transport::Raw => "raw loopback".into(),
        t => format!("{t} {}", direction.label()),
    }
}

/// The tunnel transports among `set`.
fn tunnels(set: impl IntoIterator<Item = Transport>) -> Vec<Transport> {
    set.into_iter().filter(|&t| t != Transport::Raw).collect()
}

/// The transports with a one-stream bulk case: those named, and those
/// the streams case compares against.
pub fn one_stream_transports(opts: &Options) -> Vec<Transport> {
    let mut set = opts.cases.bulk.clone();
    if opts.cases.streams {
        set.extend(opts.cases.over.iter().copied());
    }
    set.into_iter().collect()
}

/// Every row the options ask for, in table order.
pub fn rows(opts: &Options, s: &Samples) -> Vec<Row> {
    let mut rows = Vec::new();
    let cases = &opts.cases;
    let row = |id: String, label: String, unit: Unit, raw: Option<f64>, baseline: bool| Row {
        value: if baseline { None } else { s.median(&id) },
        samples: s.get(&id).to_vec(),
        group: group_of(&id),
        id,
        label,
        unit,
        raw,
        target: None,
    };
    let one = one_stream_transports(opts);
    let bulk_raw = |n: usize| s.median(&format!("bulk_{n}.raw"));

    // One stream.
    if one.contains(&Transport::Raw) {
        rows.push(row(
            "bulk_1.raw".into(),
            "1 stream, raw loopback".into(),
            Unit::BytesPerSec,
            bulk_raw(1),
            true,
        ));
    }
    for t in tunnels(one.iter().copied()) {
        for d in Direction::BOTH {
            let mut r = row(
                id("bulk_1", t, d),
                format!("1 stream, {}", path_label(t, d)),
                Unit::BytesPerSec,
                bulk_raw(1),
                false,
            );
            let need = if t == Transport::Wss {
                WSS_RATIO
            } else {
                WS_RATIO
            };
            r.target = Some(Target {
                text: format!(">= {:.0} % of raw", need * 100.0),
                pass: r.ratio().map(|x| x >= need),
            });
            rows.push(r);
        }
    }

    // Aggregates.
    if cases.streams {
        for (i, &n) in opts.streams.iter().enumerate() {
            let figure = format!("bulk_{n}");
            if cases.over.contains(&Transport::Raw) {
                rows.push(row(
                    format!("{figure}.raw"),
                    format!("{n} streams, raw loopback"),
                    Unit::BytesPerSec,
                    bulk_raw(n),
                    true,
                ));
            }
            for t in tunnels(cases.over.iter().copied()) {
                for d in Direction::BOTH {
                    let mut r = row(
                        id(&figure, t, d),
                        format!("{n} streams, {}", path_label(t, d)),
                        Unit::BytesPerSec,
                        bulk_raw(n),
                        false,
                    );
                    let (reference, need, text) = if i == 0 {
                        (
                            s.median(&id("bulk_1", t, d)),
                            1.0,
                            ">= 1 stream".to_string(),
                        )
                    } else {
                        let below = opts.streams[i - 1];
                        (
                            s.median(&id(&format!("bulk_{below}"), t, d)),
                            FLAT_RATIO,
                            format!(">= {:.0} % of {below} streams", FLAT_RATIO * 100.0),
                        )
                    };
                    r.target = Some(Target {
                        text,
                        pass: r.value.zip(reference).map(|(v, base)| v >= need * base),
                    });
                    rows.push(r);
                }
            }
        }
    }

    // Ping-pong round trips.
    if cases.latency {
        let raw_p50 = s.median("rtt_p50.raw");
        let raw_p99 = s.median("rtt_p99.raw");
        if cases.over.contains(&Transport::Raw) {
            for (p, raw) in [("p50", raw_p50), ("p99", raw_p99)] {
                rows.push(row(
                    format!("rtt_{p}.raw"),
                    format!("RTT {p}, raw loopback"),
                    Unit::Secs,
                    raw,
                    true,
                ));
            }
        }
        for t in tunnels(cases.over.iter().copied()) {
            for d in Direction::BOTH {
                let label = path_label(t, d);
                rows.push(row(
                    id("rtt_p50", t, d),
                    format!("RTT p50, {label}"),
                    Unit::Secs,
                    raw_p50,
                    false,
                ));
                rows.push(row(
                    id("rtt_p99", t, d),
                    format!("RTT p99, {label}"),
                    Unit::Secs,
                    raw_p99,
                    false,
                ));
                let added = s.median(&id("rtt_p50", t, d)).zip(raw_p50);
                let added = added.map(|(tunnel, raw)| tunnel - raw);
                rows.push(Row {
                    group: group_of("rtt_added_p50"),
                    id: id("rtt_added_p50", t, d),
                    label: format!("added RTT p50, {label}"),
                    unit: Unit::Secs,
                    raw: None,
                    value: added,
                    samples: Vec::new(),
                    target: Some(Target {
                        text: format!("<= {:.0} us", ADDED_RTT * 1e6),
                        pass: added.map(|a| a <= ADDED_RTT),
                    }),
                });
            }
        }
    }

    // Connection setup.
    if cases.setup {
        let raw = s.median("setup.raw");
        if cases.over.contains(&Transport::Raw) {
            rows.push(row(
                "setup.raw".into(),
                "setups (connect, echo, close), raw loopback".into(),
                Unit::PerSec,
                raw,
                true,
            ));
        }
        for t in tunnels(cases.over.iter().copied()) {
            for d in Direction::BOTH {
                rows.push(row(
                    id("setup", t, d),
                    format!("setups (connect, echo, close), {}", path_label(t, d)),
                    Unit::PerSec,
                    raw,
                    false,
                ));
            }
        }
    }

    // CPU per GiB over the one-stream cases; raw loopback's is both ends
    // of the connection (the bench's sender and sink).
    let raw_cpu = s.median("cpu_per_gib.raw");
    if one.contains(&Transport::Raw) {
        rows.push(row(
            "cpu_per_gib.raw".into(),
            "CPU of both ends, 1 stream raw loopback".into(),
            Unit::SecsPerGib,
            raw_cpu,
            true,
        ));
    }
    for t in tunnels(one.iter().copied()) {
        for d in Direction::BOTH {
            for p in ["server", "client"] {
                let name = if p == "server" { "server" } else { "client 1" };
                rows.push(row(
                    format!("{}.{p}", id("cpu_per_gib", t, d)),
                    format!("CPU of {name}, 1 stream {}", path_label(t, d)),
                    Unit::SecsPerGib,
                    raw_cpu,
                    false,
                ));
            }
        }
    }

    // Memory.
    if cases.memory {
        let n = opts.idle_streams;
        for p in ["server", "client"] {
            let name = if p == "server" { "server" } else { "client 1" };
            rows.push(row(
                format!("rss_idle.{p}"),
                format!("RSS idle, {name}"),
                Unit::Bytes,
                None,
                false,
            ));
            let mut r = row(
                format!("rss_streams.{p}"),
                format!("RSS with {n} idle streams, {name}"),
                Unit::Bytes,
                None,
                false,
            );
            r.target = Some(Target {
                text: format!("<= {:.0} MB", IDLE_RSS / 1e6),
                pass: r.value.map(|v| v <= IDLE_RSS),
            });
            rows.push(r);
            rows.push(row(
                format!("rss_per_stream.{p}"),
                format!("RSS per idle stream, {name}"),
                Unit::Bytes,
                None,
                false,
            ));
        }
    }

    // Peak memory of the processes that ran the other cases.
    for t in [Transport::Ws, Transport::Wss] {
        for p in ["server", "client"] {
            let id = format!("rss_peak.{t}.{p}");
            if !s.get(&id).is_empty() {
                let name = if p == "server" { "server" } else { "client 1" };
                rows.push(row(
                    id,
                    format!("peak RSS over the cases, {t} {name}"),
                    Unit::Bytes,
                    None,
                    false,
                ));
            }
        }
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::options::{BenchArgs, Cases};

    fn options(cases: &str) -> Options {
        let args = BenchArgs {
            cases: Some(cases.into()),
            ..BenchArgs::default()
        };
        Options::from_args(&args).unwrap()
    }

    fn find<'a>(rows: &'a [Row], id: &str) -> &'a Row {
        rows.iter()
            .find(|r| r.id == id)
            .unwrap_or_else(|| panic!("no row {id}"))
    }

    #[test]
    fn throughput_targets() {
        let opts = options("all");
        let mut s = Samples::default();
        for v in [4e9, 5e9, 3e9] {
            s.add("bulk_1.raw", v);
        }
        s.add("bulk_1.ws.server_listen", 3.1e9); // 77.5 %
        s.add("bulk_1.ws.client_listen", 2.9e9); // 72.5 %
        s.add("bulk_1.wss.server_listen", 2.2e9); // 55 %
        s.add("bulk_8.ws.server_listen", 3.1e9);
        s.add("bulk_8.ws.client_listen", 2.8e9);
        s.add("bulk_100.ws.server_listen", 2.8e9); // 90.3 % of 8
        s.add("bulk_100.ws.client_listen", 2.0e9);
        let rows = rows(&opts, &s);
        let raw = find(&rows, "bulk_1.raw");
        assert_eq!(
            (raw.raw, raw.value, raw.samples.len()),
            (Some(4e9), None, 3)
        );
        let pass = |id| find(&rows, id).pass();
        assert_eq!(pass("bulk_1.ws.server_listen"), Some(true));
        assert_eq!(pass("bulk_1.ws.client_listen"), Some(false));
        assert_eq!(pass("bulk_1.wss.server_listen"), Some(true));
        assert_eq!(pass("bulk_1.wss.client_listen"), None, "not measured");
        assert_eq!(pass("bulk_8.ws.server_listen"), Some(true), "equal counts");
        assert_eq!(pass("bulk_8.ws.client_listen"), Some(false));
        assert_eq!(pass("bulk_100.ws.server_listen"), Some(true));
        assert_eq!(pass("bulk_100.ws.client_listen"), Some(false));
        assert_eq!(
            find(&rows, "bulk_100.ws.server_listen")
                .target
                .as_ref()
                .unwrap()
                .text,
            ">= 90 % of 8 streams"
        );
    }

    #[test]
    fn latency_and_memory_targets() {
        let opts = options("all");
        let mut s = Samples::default();
        s.add("rtt_p50.raw", 20e-6);
        s.add("rtt_p50.ws.server_listen", 40e-6);
        s.add("rtt_p50.ws.client_listen", 50e-6);
        s.add("rss_streams.server", 30e6);
        s.add("rss_streams.client", 70e6);
        let rows = rows(&opts, &s);
        let added = find(&rows, "rtt_added_p50.ws.server_listen");
        assert!((added.value.unwrap() - 20e-6).abs() < 1e-12);
        assert_eq!(added.pass(), Some(true));
        assert_eq!(
            find(&rows, "rtt_added_p50.ws.client_listen").pass(),
            Some(false)
        );
        assert_eq!(find(&rows, "rss_streams.server").pass(), Some(true));
        assert_eq!(find(&rows, "rss_streams.client").pass(), Some(false));
        assert_eq!(
            find(&rows, "rss_streams.client").label,
            "RSS with 10000 idle streams, client 1"
        );
    }

    #[test]
    fn only_the_cases_asked_for_have_rows() {
        let ws_rows = rows(&options("ws"), &Samples::default());
        let ids: Vec<&str> = ws_rows.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "bulk_1.ws.server_listen",
                "bulk_1.ws.client_listen",
                "cpu_per_gib.ws.server_listen.server",
                "cpu_per_gib.ws.server_listen.client",
                "cpu_per_gib.ws.client_listen.server",
                "cpu_per_gib.ws.client_listen.client",
            ]
        );
        let opts = options("streams");
        assert_eq!(opts.cases.bulk.len(), 0);
        assert_eq!(one_stream_transports(&opts), Transport::ALL.to_vec());
        let streams_rows = rows(&opts, &Samples::default());
        let has = |id: &str| streams_rows.iter().any(|r| r.id.starts_with(id));
        assert!(has("bulk_100.wss.client_listen"));
        assert!(has("bulk_1.raw"));
        assert!(!has("rtt"));
        let all = rows_for_all();
        assert!(all.iter().all(|r| r.value.is_none() && r.raw.is_none()));
        assert_eq!(Cases::all(), options("all").cases);
    }

    fn rows_for_all() -> Vec<Row> {
        rows(&options("all"), &Samples::default())
    }
}
