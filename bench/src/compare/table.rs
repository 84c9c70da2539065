//! What the comparison reports: each tcpws figure beside raw loopback,
//! the floor and each peer, as ratios to the peer and to the floor, with
//! the goal of issue 13 against the peer:
//! * throughput of 1 stream over ws:// and wss://, and of the smallest
//!   multi-stream count over ws://, at least 1.2 × the peer's;
//! * CPU seconds per GiB of both tunnel ends at most 0.8 × the peer's;
//! * setups a second at least 2 × the peer's;
//! * the p50 round trip the tunnel adds to raw loopback's at most the
//!   peer's;
//! * each process's peak resident memory at most ¼ of the peer's.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::figures::Samples;
use crate::options::Transport;
use crate::report::{self, Align, Unit};

/// tcpws's figure against a peer's: at least or at most `factor` times it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Goal {
    AtLeast(f64),
    AtMost(f64),
}

pub const THROUGHPUT: Goal = Goal::AtLeast(1.2);
pub const CPU: Goal = Goal::AtMost(0.8);
pub const SETUPS: Goal = Goal::AtLeast(2.0);
pub const ADDED_RTT: Goal = Goal::AtMost(1.0);
pub const PEAK_RSS: Goal = Goal::AtMost(0.25);

impl Goal {
    /// Whether `tcpws` meets the goal against `peer`.
    pub fn met(self, tcpws: f64, peer: f64) -> bool {
        match self {
            Goal::AtLeast(k) => tcpws >= k * peer,
            Goal::AtMost(k) => tcpws <= k * peer,
        }
    }

    /// `>= 1.2x wstunnel`, `<= wstunnel`.
    pub fn text(self, peer: &str) -> String {
        let (op, k) = match self {
            Goal::AtLeast(k) => (">=", k),
            Goal::AtMost(k) => ("<=", k),
        };
        if k == 1.0 {
            format!("{op} {peer}")
        } else {
            format!("{op} {k}x {peer}")
        }
    }
}

/// One figure over every route.
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    /// Stable name for machines: `bulk_1.ws`, `rss_peak.wss.client`.
    pub id: String,
    pub label: String,
    /// Lines of one group are printed together.
    pub group: String,
    pub unit: Unit,
    /// Medians over the rounds; `None` where not measured.
    pub raw: Option<f64>,
    pub floor: Option<f64>,
    pub tcpws: Option<f64>,
    /// Each peer's, in the order of [`Table::peers`].
    pub peers: Vec<Option<f64>>,
    pub goal: Option<Goal>,
    /// One value per round, by route (`raw`, `floor`, `tcpws`, a peer).
    pub samples: BTreeMap<String, Vec<f64>>,
}

impl Line {
    /// tcpws's figure over `reference`, if that is above zero (an added
    /// round trip can be below, in the noise).
    pub fn ratio(&self, reference: Option<f64>) -> Option<f64> {
        match (self.tcpws, reference) {
            (Some(v), Some(r)) if r > 0.0 => Some(v / r),
            _ => None,
        }
    }

    /// Whether tcpws meets the goal against every peer; `None` without a
    /// goal, a peer, or a figure to judge.
    pub fn pass(&self) -> Option<bool> {
        let goal = self.goal?;
        let tcpws = self.tcpws?;
        if self.peers.is_empty() {
            return None;
        }
        let mut all = true;
        for p in &self.peers {
            all &= goal.met(tcpws, (*p)?);
        }
        Some(all)
    }
}

/// The comparison: its peers' names and its lines, in table order.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    pub peers: Vec<String>,
    pub lines: Vec<Line>,
}

/// The sample id of `figure` over a route: `bulk_1.raw`, `bulk_1.floor`,
/// `bulk_1.tcpws.ws`, `bulk_1.wstunnel.ws` (raw loopback and the floor
/// are the same for every transport).
pub fn key(figure: &str, route: &str, transport: Transport) -> String {
    match transport {
        Transport::Raw => format!("{figure}.{route}"),
        t => format!("{figure}.{route}.{t}"),
    }
}

impl Table {
    /// The lines of a comparison with `peers` over `streams` concurrent
    /// streams, from the samples keyed by [`key`].
    pub fn new(peers: Vec<String>, streams: usize, s: &Samples) -> Table {
        let mut t = Table {
            peers,
            lines: Vec::new(),
        };
        let ws_wss = [Transport::Ws, Transport::Wss];
        for tr in ws_wss {
            t.push(
                "bulk_1",
                "",
                format!("1 stream, {tr}"),
                Unit::BytesPerSec,
                tr,
                s,
            )
            .goal = Some(THROUGHPUT);
        }
        for tr in ws_wss {
            let figure = format!("bulk_{streams}");
            let label = format!("{streams} streams, {tr}");
            let line = t.push(&figure, "", label, Unit::BytesPerSec, tr, s);
            if tr == Transport::Ws {
                line.goal = Some(THROUGHPUT);
            }
        }
        let ws = Transport::Ws;
        t.push(
            "setup",
            "",
            "setups (connect, echo, close), ws".into(),
            Unit::PerSec,
            ws,
            s,
        )
        .goal = Some(SETUPS);
        for p in ["p50", "p99"] {
            let figure = format!("rtt_{p}");
            t.push(&figure, "", format!("RTT {p}, ws"), Unit::Secs, ws, s)
                .group = "latency".into();
        }
        let added = t.added_rtt();
        t.lines.push(added);
        for tr in ws_wss {
            let label = format!("CPU of both tunnel ends, 1 stream {tr}");
            t.push("cpu_per_gib", "", label, Unit::SecsPerGib, tr, s)
                .goal = Some(CPU);
        }
        for tr in ws_wss {
            for side in ["client", "server"] {
                let label = format!("peak RSS, {side} side, {tr}");
                let line = t.push("rss_peak", side, label, Unit::Bytes, tr, s);
                line.goal = Some(PEAK_RSS);
                line.group = "rss_peak".into();
            }
        }
        t
    }

    /// Adds the line of `figure` (of one process, `side`, if not empty)
    /// over `transport`, and returns it for its goal and group.
    fn push(
        &mut self,
        figure: &str,
        side: &str,
        label: String,
        unit: Unit,
        transport: Transport,
        s: &Samples,
    ) -> &mut Line {
        let with_side = |k: String| {
            if side.is_empty() {
                k
            } else {
                format!("{k}.{side}")
            }
        };
        let mut samples = BTreeMap::new();
        let mut get = |route: &str, tr: Transport| {
            let id = with_side(key(figure, route, tr));
            samples.insert(route.to_string(), s.get(&id).to_vec());
            s.median(&id)
        };
        let raw = get("raw", Transport::Raw);
        let floor = get("floor", Transport::Raw);
        let tcpws = get("tcpws", transport);
        let peers = self.peers.iter().map(|p| get(p, transport)).collect();
        samples.retain(|_, v| !v.is_empty());
        self.lines.push(Line {
            id: with_side(format!("{figure}.{transport}")),
            label,
            group: figure.into(),
            unit,
            raw,
            floor,
            tcpws,
            peers,
            goal: None,
            samples,
        });
        let last = self.lines.len() - 1;
        &mut self.lines[last]
    }

    /// The p50 round trip each route adds to raw loopback's, from the
    /// `rtt_p50.ws` line.
    fn added_rtt(&self) -> Line {
        let p50 = self.lines.iter().find(|l| l.id == "rtt_p50.ws");
        let raw = p50.and_then(|l| l.raw);
        let added = |v: Option<f64>| v.zip(raw).map(|(v, r)| v - r);
        Line {
            id: "rtt_added_p50.ws".into(),
            label: "added RTT p50, ws".into(),
            group: "latency".into(),
            unit: Unit::Secs,
            raw: None,
            floor: added(p50.and_then(|l| l.floor)),
            tcpws: added(p50.and_then(|l| l.tcpws)),
            peers: match p50 {
                Some(l) => l.peers.iter().map(|&p| added(p)).collect(),
                None => vec![None; self.peers.len()],
            },
            goal: Some(ADDED_RTT),
            samples: BTreeMap::new(),
        }
    }

    /// (met, missed) goals.
    pub fn score(&self) -> (usize, usize) {
        let judged: Vec<bool> = self.lines.iter().filter_map(Line::pass).collect();
        let met = judged.iter().filter(|&&p| p).count();
        (met, judged.len() - met)
    }

    /// The goal's text against the peers.
    fn goal_text(&self, goal: Option<Goal>) -> String {
        goal.map_or("-".into(), |g| g.text(&self.peers.join(", ")))
    }

    /// The table: figure, raw loopback, floor, each peer, tcpws, tcpws
    /// over each peer and over the floor, the goal and whether it was met.
    pub fn render(&self) -> String {
        let mut head: Vec<String> = vec!["figure".into(), "raw loopback".into(), "floor".into()];
        head.extend(self.peers.iter().cloned());
        head.push("tcpws".into());
        head.extend(self.peers.iter().map(|p| format!("vs {p}")));
        head.push("vs floor".into());
        head.push("target".into());
        head.push("result".into());
        let mut align = vec![Align::Right; head.len()];
        align[0] = Align::Left;
        let n = head.len();
        align[n - 2] = Align::Left;
        align[n - 1] = Align::Left;
        let dash = || "-".to_string();
        let ratio = |x: Option<f64>| x.map_or_else(dash, |x| format!("{x:.2}x"));
        let mut cells = Vec::new();
        let mut groups = Vec::new();
        for l in &self.lines {
            let value = |v: Option<f64>| v.map_or_else(dash, |v| l.unit.format(v));
            let mut row = vec![l.label.clone(), value(l.raw), value(l.floor)];
            row.extend(l.peers.iter().map(|&p| value(p)));
            row.push(value(l.tcpws));
            row.extend(l.peers.iter().map(|&p| ratio(l.ratio(p))));
            row.push(ratio(l.ratio(l.floor)));
            row.push(self.goal_text(l.goal));
            row.push(report::pass_text(l.pass()));
            cells.push(row);
            groups.push(l.group.as_str());
        }
        let head: Vec<&str> = head.iter().map(String::as_str).collect();
        report::columns(&head, &align, &cells, &groups)
    }

    /// Every line in base units (bytes, seconds), with its ratios.
    pub fn json(&self) -> Value {
        let by_peer = |values: Vec<Option<f64>>| -> Value {
            self.peers
                .iter()
                .zip(values)
                .map(|(p, v)| (p.clone(), json!(v)))
                .collect::<serde_json::Map<_, _>>()
                .into()
        };
        let (met, missed) = self.score();
        json!({
            "peers": self.peers,
            "passed": met,
            "missed": missed,
            "lines": self.lines.iter().map(|l| json!({
                "id": l.id,
                "label": l.label,
                "group": l.group,
                "unit": l.unit.id(),
                "raw": l.raw,
                "floor": l.floor,
                "tcpws": l.tcpws,
                "peers": by_peer(l.peers.clone()),
                "ratio_to_peer": by_peer(l.peers.iter().map(|&p| l.ratio(p)).collect()),
                "ratio_to_floor": l.ratio(l.floor),
                "target": l.goal.map(|g| self.goal_text(Some(g))),
                "pass": l.pass(),
                "samples": l.samples,
            })).collect::<Vec<_>>(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn find<'a>(t: &'a Table, id: &str) -> &'a Line {
        t.lines
            .iter()
            .find(|l| l.id == id)
            .unwrap_or_else(|| panic!("no line {id}"))
    }

    #[test]
    fn goals() {
        assert!(THROUGHPUT.met(1.2, 1.0) && !THROUGHPUT.met(1.19, 1.0));
        assert!(CPU.met(0.8, 1.0) && !CPU.met(0.81, 1.0));
        assert!(SETUPS.met(2000.0, 1000.0) && !SETUPS.met(1999.0, 1000.0));
        assert!(ADDED_RTT.met(-1e-6, 5e-6) && !ADDED_RTT.met(6e-6, 5e-6));
        assert!(PEAK_RSS.met(25.0, 100.0) && !PEAK_RSS.met(26.0, 100.0));
        assert_eq!(THROUGHPUT.text("wstunnel"), ">= 1.2x wstunnel");
        assert_eq!(PEAK_RSS.text("wstunnel"), "<= 0.25x wstunnel");
        assert_eq!(ADDED_RTT.text("wstunnel"), "<= wstunnel");
    }

    #[test]
    fn keys() {
        assert_eq!(key("bulk_1", "raw", Transport::Raw), "bulk_1.raw");
        assert_eq!(key("bulk_8", "tcpws", Transport::Wss), "bulk_8.tcpws.wss");
        assert_eq!(key("setup", "wstunnel", Transport::Ws), "setup.wstunnel.ws");
    }

    fn table() -> Table {
        let mut s = Samples::default();
        for (id, v) in [
            ("bulk_1.raw", 4000.0),
            ("bulk_1.floor", 3000.0),
            ("bulk_1.tcpws.ws", 1300.0),
            ("bulk_1.wstunnel.ws", 1000.0),
            ("bulk_1.tcpws.wss", 1100.0),
            ("bulk_1.wstunnel.wss", 1000.0),
            ("rtt_p50.raw", 50e-6),
            ("rtt_p50.floor", 70e-6),
            ("rtt_p50.tcpws.ws", 90e-6),
            ("rtt_p50.wstunnel.ws", 100e-6),
            ("cpu_per_gib.tcpws.ws", 0.8),
            ("cpu_per_gib.wstunnel.ws", 1.0),
            ("rss_peak.tcpws.ws.client", 30e6),
            ("rss_peak.wstunnel.ws.client", 100e6),
            ("rss_peak.floor.client", 3e6),
        ] {
            s.add(id, v);
        }
        s.add("bulk_1.tcpws.ws", 1200.0);
        s.add("bulk_1.tcpws.ws", 1250.0);
        Table::new(vec!["wstunnel".into()], 8, &s)
    }

    #[test]
    fn lines_judge_tcpws_against_the_peer() {
        let t = table();
        let ids: Vec<&str> = t.lines.iter().map(|l| l.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "bulk_1.ws",
                "bulk_1.wss",
                "bulk_8.ws",
                "bulk_8.wss",
                "setup.ws",
                "rtt_p50.ws",
                "rtt_p99.ws",
                "rtt_added_p50.ws",
                "cpu_per_gib.ws",
                "cpu_per_gib.wss",
                "rss_peak.ws.client",
                "rss_peak.ws.server",
                "rss_peak.wss.client",
                "rss_peak.wss.server",
            ]
        );
        let l = find(&t, "bulk_1.ws");
        assert_eq!(
            (l.raw, l.floor, l.tcpws),
            (Some(4000.0), Some(3000.0), Some(1250.0))
        );
        assert_eq!(l.samples["tcpws"], [1300.0, 1200.0, 1250.0]);
        assert_eq!(l.ratio(l.peers[0]), Some(1.25));
        assert_eq!(l.pass(), Some(true));
        assert_eq!(find(&t, "bulk_1.wss").pass(), Some(false), "1.1x");
        assert_eq!(find(&t, "bulk_8.ws").pass(), None, "not measured");
        assert_eq!(find(&t, "bulk_8.wss").goal, None);
        let added = find(&t, "rtt_added_p50.ws");
        assert!((added.tcpws.unwrap() - 40e-6).abs() < 1e-12);
        assert!((added.peers[0].unwrap() - 50e-6).abs() < 1e-12);
        assert!((added.floor.unwrap() - 20e-6).abs() < 1e-12);
        assert_eq!(added.pass(), Some(true));
        assert_eq!(find(&t, "cpu_per_gib.ws").pass(), Some(true), "0.8x");
        let rss = find(&t, "rss_peak.ws.client");
        assert_eq!((rss.floor, rss.pass()), (Some(3e6), Some(false)));
        assert_eq!(t.score(), (3, 2));
    }

    #[test]
    fn the_table_has_a_column_per_route_and_ratio() {
        let text = table().render();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0].split_whitespace().collect::<Vec<_>>(),
            [
                "figure", "raw", "loopback", "floor", "wstunnel", "tcpws", "vs", "wstunnel", "vs",
                "floor", "target", "result"
            ]
        );
        let one = lines[2];
        assert!(one.starts_with("1 stream, ws "), "{one}");
        for cell in ["0 MB/s", "1.25x", "0.42x", ">= 1.2x wstunnel", "PASS"] {
            assert!(one.contains(cell), "{cell} in {one}");
        }
        assert!(lines[4].is_empty(), "a blank line between groups");
    }

    #[test]
    fn json_has_every_line_with_its_ratios() {
        let j = table().json();
        assert_eq!(j["peers"], json!(["wstunnel"]));
        assert_eq!(
            (j["passed"].as_u64(), j["missed"].as_u64()),
            (Some(3), Some(2))
        );
        let l = &j["lines"][0];
        assert_eq!(l["id"], "bulk_1.ws");
        assert_eq!(l["peers"]["wstunnel"], 1000.0);
        assert_eq!(l["ratio_to_peer"]["wstunnel"], 1.25);
        assert_eq!(l["target"], ">= 1.2x wstunnel");
        assert_eq!(l["pass"], true);
        assert_eq!(l["samples"]["tcpws"], json!([1300.0, 1200.0, 1250.0]));
        assert_eq!(j["lines"][3]["target"], Value::Null);
    }
}
