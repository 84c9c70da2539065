//! The results: rows of figures, each beside its raw loopback baseline and
//! its target (and a comparison with peers, when one ran), printed as a
//! table for people or as JSON for machines.

use serde_json::{json, Value};

/// What a figure measures, and so how it is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    BytesPerSec,
    Secs,
    Bytes,
    PerSec,
    /// CPU seconds per GiB moved.
    SecsPerGib,
    /// How many of something.
    Count,
    /// Yes (1) or no (0).
    Flag,
}

impl Unit {
    /// The unit's name in the JSON.
    pub fn id(self) -> &'static str {
        match self {
            Unit::BytesPerSec => "bytes_per_second",
            Unit::Secs => "seconds",
            Unit::Bytes => "bytes",
            Unit::PerSec => "per_second",
            Unit::SecsPerGib => "cpu_seconds_per_gib",
            Unit::Count => "count",
            Unit::Flag => "flag",
        }
    }

    /// `v` for people: decimal MB, microseconds, and so on.
    pub fn format(self, v: f64) -> String {
        match self {
            Unit::BytesPerSec => format!("{:.0} MB/s", v / 1e6),
            Unit::Secs if v.abs() >= 1.0 => format!("{v:.2} s"),
            Unit::Secs if v.abs() >= 0.01 => format!("{:.2} ms", v * 1e3),
            Unit::Secs => format!("{:.1} us", v * 1e6),
            Unit::Bytes if v.abs() >= 1e6 => format!("{:.1} MB", v / 1e6),
            Unit::Bytes if v.abs() >= 1e3 => format!("{:.2} KB", v / 1e3),
            Unit::Bytes => format!("{v:.0} B"),
            Unit::PerSec => format!("{v:.0} /s"),
            Unit::SecsPerGib => format!("{v:.2} s/GiB"),
            Unit::Count => format!("{v:.0}"),
            Unit::Flag if v != 0.0 => "yes".into(),
            Unit::Flag => "no".into(),
        }
    }
}

/// A goal for a figure and whether it was met (`None` when it cannot be
/// judged, e.g. its reference was not measured).
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    pub text: String,
    pub pass: Option<bool>,
}

/// One figure: the median over the runs of the tunnel's value (or of raw
/// loopback's alone, for a baseline row), beside raw loopback.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// Stable name for machines, e.g. `bulk_1.ws.server_listen`.
    pub id: String,
    /// Name for people, e.g. `1 stream, ws srv-listen`.
    pub label: String,
    /// Rows of one group are printed together, e.g. `latency`.
    pub group: String,
    pub unit: Unit,
    /// The raw loopback figure this one compares with.
    pub raw: Option<f64>,
    /// The figure (median of `samples`); `None` for a baseline row.
    pub value: Option<f64>,
    /// One value per run.
    pub samples: Vec<f64>,
    pub target: Option<Target>,
}

impl Row {
    /// `value / raw`.
    pub fn ratio(&self) -> Option<f64> {
        match (self.value, self.raw) {
            (Some(v), Some(r)) if r > 0.0 => Some(v / r),
            _ => None,
        }
    }

    pub fn pass(&self) -> Option<bool> {
        self.target.as_ref().and_then(|t| t.pass)
    }
}

/// Everything a bench run found.
#[derive(Debug, Clone)]
pub struct Report {
    /// What was run, for the table's heading and the JSON's `options`.
    pub options: Value,
    pub cpus: usize,
    /// CPUs busy with work other than the bench's, on average over the
    /// run: the noise under the figures.
    pub other_cpus: Option<f64>,
    pub wall_secs: f64,
    pub rows: Vec<Row>,
    /// Things seen along the way: the tunnel processes' warnings, checks
    /// that did not hold.
    pub notes: Vec<String>,
    /// The hostile case in detail, for the JSON.
    pub hostile: Option<Value>,
    /// The comparison with peers (`--peer`), printed before the rows.
    pub compared: Option<crate::compare::table::Table>,
}

impl Report {
    /// (passes, misses) against the targets, the comparison's with them.
    pub fn score(&self) -> (usize, usize) {
        let judged: Vec<bool> = self.rows.iter().filter_map(Row::pass).collect();
        let passes = judged.iter().filter(|&&p| p).count();
        let (compared_passes, compared_misses) =
            self.compared.as_ref().map_or((0, 0), |c| c.score());
        (
            passes + compared_passes,
            judged.len() - passes + compared_misses,
        )
    }

    /// The table: one line per row, a blank line between groups of rows;
    /// the hostile case's rows apart, in a table of their own whose
    /// baseline column is the healthy stream without attack.
    pub fn table(&self) -> String {
        let (hostile, main): (Vec<&Row>, Vec<&Row>) = self
            .rows
            .iter()
            .partition(|r| r.group.starts_with(crate::hostile::GROUP));
        let mut out = String::new();
        if let Some(c) = &self.compared {
            out.push_str(&c.render());
        }
        if !main.is_empty() || (hostile.is_empty() && out.is_empty()) {
            if !out.is_empty() {
                out.push('\n');
            }
            out.push_str(&render(
                [
                    "figure",
                    "raw loopback",
                    "tunnel",
                    "ratio",
                    "target",
                    "result",
                ],
                &main,
            ));
        }
        if !hostile.is_empty() {
            if !out.is_empty() {
                out.push('\n');
            }
            out.push_str(&render(
                [
                    "hostile case",
                    "idle",
                    "under attack",
                    "ratio",
                    "target",
                    "result",
                ],
                &hostile,
            ));
        }
        out
    }

    /// The whole report as JSON: options, machine, wall time, every row
    /// (values in base units: bytes, seconds) and the notes; and the
    /// comparison, `compared`, when one ran.
    pub fn json(&self) -> Value {
        let (passed, missed) = self.score();
        let mut j = json!({
            "bench": "tcpws",
            "version": tcpws::VERSION,
            "options": self.options,
            "machine": {
                "cpus": self.cpus,
                "other_work_cpus": self.other_cpus,
            },
            "wall_seconds": self.wall_secs,
            "passed": passed,
            "missed": missed,
            "rows": self.rows.iter().map(|r| json!({
                "id": r.id,
                "label": r.label,
                "group": r.group,
                "unit": r.unit.id(),
                "raw": r.raw,
                "value": r.value,
                "ratio": r.ratio(),
                "target": r.target.as_ref().map(|t| &t.text),
                "pass": r.pass(),
                "samples": r.samples,
            })).collect::<Vec<_>>(),
            "notes": self.notes,
            "hostile": self.hostile,
        });
        if let (Some(c), Some(all)) = (&self.compared, j.as_object_mut()) {
            all.insert("compared".into(), c.json());
        }
        j
    }
}

/// Rows under `head`, columns aligned, a blank line between groups.
fn render(head: [&str; 6], rows: &[&Row]) -> String {
    let mut cells: Vec<Vec<String>> = Vec::new();
    let mut groups: Vec<&str> = Vec::new();
    for r in rows {
        let dash = || "-".to_string();
        cells.push(vec![
            r.label.clone(),
            r.raw.map_or_else(dash, |v| r.unit.format(v)),
            r.value.map_or_else(dash, |v| r.unit.format(v)),
            r.ratio()
                .map_or_else(dash, |x| format!("{:.0} %", x * 100.0)),
            r.target.as_ref().map_or_else(dash, |t| t.text.clone()),
            pass_text(r.pass()),
        ]);
        groups.push(r.group.as_str());
    }
    use Align::{Left, Right};
    columns(
        &head,
        &[Left, Right, Right, Right, Left, Left],
        &cells,
        &groups,
    )
}

/// `PASS`, `MISS` or `-` (not judged).
pub fn pass_text(pass: Option<bool>) -> String {
    match pass {
        Some(true) => "PASS".into(),
        Some(false) => "MISS".into(),
        None => "-".into(),
    }
}

/// How a column's cells line up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    Left,
    Right,
}

/// `cells` (a row each, as many cells as `head`) under `head` and a rule,
/// each column as wide as its widest cell and aligned as `align` says,
/// two spaces apart, no trailing blanks, and a blank line wherever the
/// group (`groups`, one a row) changes.
pub fn columns(head: &[&str], align: &[Align], cells: &[Vec<String>], groups: &[&str]) -> String {
    let mut width: Vec<usize> = head.iter().map(|h| h.chars().count()).collect();
    for row in cells {
        for (w, c) in width.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cols: &[&str]| {
        let mut text = String::new();
        for (i, c) in cols.iter().enumerate() {
            if i > 0 {
                text.push_str("  ");
            }
            let w = width[i];
            match align.get(i) {
                Some(Align::Right) => text.push_str(&format!("{c:>w$}")),
                _ => text.push_str(&format!("{c:<w$}")),
            }
        }
        format!("{}\n", text.trim_end())
    };
    let mut out = line(head);
    let rule: Vec<String> = width.iter().map(|&w| "-".repeat(w)).collect();
    out.push_str(&line(&rule.iter().map(String::as_str).collect::<Vec<_>>()));
    for (i, row) in cells.iter().enumerate() {
        if i > 0 && groups[i] != groups[i - 1] {
            out.push('\n');
        }
        out.push_str(&line(&row.iter().map(String::as_str).collect::<Vec<_>>()));
    }
    out
}

/// The line above the table: version, runs, machine, wall time, noise.
pub fn heading(runs: &Value, cpus: usize, wall_secs: f64, other_cpus: Option<f64>) -> String {
    format!(
        "tcpws bench {}: median of {runs} run(s) on {cpus} CPUs, {wall_secs:.0} s; \
         other work kept {} CPUs busy",
        tcpws::VERSION,
        other_cpus.map_or("?".to_string(), |c| format!("{c:.1}")),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report() -> Report {
        Report {
            options: json!({"runs": 3}),
            cpus: 2,
            other_cpus: Some(0.5),
            wall_secs: 1.5,
            rows: vec![
                Row {
                    id: "bulk_1.raw".into(),
                    label: "1 stream, raw loopback".into(),
                    group: "bulk_1".into(),
                    unit: Unit::BytesPerSec,
                    raw: Some(4e9),
                    value: None,
                    samples: vec![4e9],
                    target: None,
                },
                Row {
                    id: "bulk_1.ws.server_listen".into(),
                    label: "1 stream, ws srv-listen".into(),
                    group: "bulk_1".into(),
                    unit: Unit::BytesPerSec,
                    raw: Some(4e9),
                    value: Some(3.2e9),
                    samples: vec![3.1e9, 3.2e9, 3.3e9],
                    target: Some(Target {
                        text: ">= 75 % of raw".into(),
                        pass: Some(true),
                    }),
                },
                Row {
                    id: "rtt_added_p50.ws.server_listen".into(),
                    label: "added RTT p50, ws srv-listen".into(),
                    group: "latency".into(),
                    unit: Unit::Secs,
                    raw: None,
                    value: Some(31.25e-6),
                    samples: vec![],
                    target: Some(Target {
                        text: "<= 25 us".into(),
                        pass: Some(false),
                    }),
                },
            ],
            notes: vec!["a note".into()],
            hostile: None,
            compared: None,
        }
    }

    #[test]
    fn units_read_naturally() {
        assert_eq!(Unit::BytesPerSec.format(2_345_600_000.0), "2346 MB/s");
        assert_eq!(Unit::Secs.format(31.25e-6), "31.2 us");
        assert_eq!(Unit::Secs.format(-3e-6), "-3.0 us");
        assert_eq!(Unit::Secs.format(0.0123), "12.30 ms");
        assert_eq!(Unit::Bytes.format(40_500_000.0), "40.5 MB");
        assert_eq!(Unit::Bytes.format(2_048.0), "2.05 KB");
        assert_eq!(Unit::Bytes.format(12.0), "12 B");
        assert_eq!(Unit::PerSec.format(4321.4), "4321 /s");
        assert_eq!(Unit::SecsPerGib.format(0.456), "0.46 s/GiB");
        assert_eq!(Unit::Secs.format(5.004), "5.00 s");
        assert_eq!(Unit::Count.format(10_000.0), "10000");
        assert_eq!(
            (Unit::Flag.format(1.0), Unit::Flag.format(0.0)),
            ("yes".into(), "no".into())
        );
    }

    #[test]
    fn table_aligns_columns_and_separates_groups() {
        let t = report().table();
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(
            lines[0],
            "figure                        raw loopback     tunnel  ratio  target          result"
        );
        assert!(lines[1].starts_with("----------------------------  ------------"));
        assert_eq!(
            lines[2],
            "1 stream, raw loopback           4000 MB/s          -      -  -               -"
        );
        assert_eq!(
            lines[3],
            "1 stream, ws srv-listen          4000 MB/s  3200 MB/s   80 %  >= 75 % of raw  PASS"
        );
        assert_eq!(lines[4], "");
        assert_eq!(
            lines[5],
            "added RTT p50, ws srv-listen             -    31.2 us      -  <= 25 us        MISS"
        );
        assert_eq!(lines.len(), 6);
    }

    #[test]
    fn hostile_rows_get_a_table_of_their_own() {
        let mut r = report();
        r.rows.push(Row {
            id: "hostile.silent_tcp.rtt_p99".into(),
            label: "(a) healthy RTT p99".into(),
            group: "hostile.silent_tcp".into(),
            unit: Unit::Secs,
            raw: Some(100e-6),
            value: Some(150e-6),
            samples: vec![150e-6],
            target: Some(Target {
                text: "<= 200 % of idle".into(),
                pass: Some(true),
            }),
        });
        let t = r.table();
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 10);
        assert_eq!(lines[6], "");
        assert_eq!(
            lines[7],
            "hostile case             idle  under attack  ratio  target            result"
        );
        assert!(
            lines[9].ends_with("150 %  <= 200 % of idle  PASS"),
            "{}",
            lines[9]
        );
        // The first table is as it was.
        assert_eq!(lines[..6], report().table().lines().collect::<Vec<_>>()[..]);
        r.rows.drain(..3);
        assert!(r.table().starts_with("hostile case"));
        assert_eq!(r.score(), (1, 0));
    }

    #[test]
    fn json_has_every_row_in_base_units() {
        let r = report();
        assert_eq!(r.score(), (1, 1));
        let j = r.json();
        assert_eq!(j["passed"], 1);
        assert_eq!(j["missed"], 1);
        assert_eq!(j["machine"]["cpus"], 2);
        assert_eq!(j["machine"]["other_work_cpus"], 0.5);
        let rows = j["rows"].as_array().unwrap();
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[1]["id"], "bulk_1.ws.server_listen");
        assert_eq!(rows[1]["unit"], "bytes_per_second");
        assert_eq!(rows[1]["ratio"], 0.8);
        assert_eq!(rows[1]["pass"], true);
        assert_eq!(rows[0]["value"], Value::Null);
        assert_eq!(rows[0]["target"], Value::Null);
        assert_eq!(rows[2]["samples"], json!([]));
        assert_eq!(j["notes"][0], "a note");
        assert!(j.get("compared").is_none(), "no comparison ran");
    }
}
