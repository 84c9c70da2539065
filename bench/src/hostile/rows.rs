//! The hostile case in the report: rows for the table (the idle figure in
//! the baseline column, so that the ratio is against idle) with the
//! issue's targets, and everything in detail for the JSON.

use serde_json::{json, Value};

use super::{Outcome, Run, Window, P99_RATIO, RSS_LIMIT};
use crate::report::{Row, Target, Unit};

/// The group of every hostile row starts with this; the table prints
/// them apart.
pub const GROUP: &str = "hostile";

fn row(id: String, label: String, unit: Unit, raw: Option<f64>, value: Option<f64>) -> Row {
    let group = id
        .rsplit_once('.')
        .map_or(id.as_str(), |(g, _)| g)
        .to_string();
    Row {
        samples: value.into_iter().collect(),
        group,
        id,
        label,
        unit,
        raw,
        value,
        target: None,
    }
}

fn target(text: impl Into<String>, pass: Option<bool>) -> Option<Target> {
    Some(Target {
        text: text.into(),
        pass,
    })
}

/// Rows in table order: idle, each attack, after.
pub fn rows(o: &Outcome) -> Vec<Row> {
    let mut rows = Vec::new();
    for (p, v) in [
        ("p50", o.idle.p50),
        ("p99", o.idle.p99),
        ("max", o.idle.max),
    ] {
        rows.push(row(
            format!("{GROUP}.idle.rtt_{p}"),
            format!("idle: healthy RTT {p} ({} round trips)", o.idle.samples),
            Unit::Secs,
            v,
            None,
        ));
    }
    rows.push(row(
        format!("{GROUP}.idle.server_cpu"),
        format!("idle: server CPU time ({:.1} s)", o.idle.seconds),
        Unit::Secs,
        None,
        o.idle_server_cpu,
    ));
    for r in &o.runs {
        attack_rows(&mut rows, r, &o.idle);
    }
    if let Some(after) = &o.after {
        for (p, idle, v) in [
            ("p50", o.idle.p50, after.p50),
            ("p99", o.idle.p99, after.p99),
        ] {
            rows.push(row(
                format!("{GROUP}.after.rtt_{p}"),
                format!("after the attacks: healthy RTT {p}"),
                Unit::Secs,
                idle,
                v,
            ));
        }
    }
    rows
}

fn attack_rows(rows: &mut Vec<Row>, r: &Run, idle: &Window) {
    let id = |figure: &str| format!("{GROUP}.{}.{figure}", r.attack.id());
    let label = |what: &str| format!("{}: {what}", r.label);
    let e = &r.effect;
    rows.push(row(
        id("rtt_p50"),
        label(&format!("healthy RTT p50 ({} trips)", r.healthy.samples)),
        Unit::Secs,
        idle.p50,
        r.healthy.p50,
    ));
    let mut p99 = row(
        id("rtt_p99"),
        label("healthy RTT p99"),
        Unit::Secs,
        idle.p99,
        r.healthy.p99,
    );
    p99.target = target(
        format!("<= {:.0} % of idle", P99_RATIO * 100.0),
        p99.ratio().map(|x| x <= P99_RATIO),
    );
    rows.push(p99);
    rows.push(row(
        id("rtt_max"),
        label("healthy RTT max"),
        Unit::Secs,
        idle.max,
        r.healthy.max,
    ));
    let mut errors = row(
        id("healthy_errors"),
        label("healthy stream failures"),
        Unit::Count,
        None,
        Some(r.healthy.errors.len() as f64),
    );
    errors.target = target("0", Some(r.healthy.errors.is_empty()));
    rows.push(errors);
    let mut rss = row(
        id("rss_peak"),
        label(if r.rss_peak_exact {
            "server peak RSS"
        } else {
            "server peak RSS (sampled)"
        }),
        Unit::Bytes,
        None,
        r.rss_peak,
    );
    rss.target = target(
        format!("<= {}", Unit::Bytes.format(RSS_LIMIT)),
        r.rss_peak.map(|v| v <= RSS_LIMIT),
    );
    rows.push(rss);
    rows.push(row(
        id("rss_after"),
        label("server RSS after"),
        Unit::Bytes,
        None,
        r.rss_after,
    ));
    rows.push(row(
        id("server_cpu"),
        label("server CPU time"),
        Unit::Secs,
        None,
        r.server_cpu,
    ));
    rows.push(row(
        id("bench_cpu"),
        label("bench CPU time (attacker and healthy end)"),
        Unit::Secs,
        None,
        r.bench_cpu,
    ));
    for (figure, what, v) in &e.counts {
        rows.push(row(id(figure), label(what), Unit::Count, None, Some(*v)));
    }
    let allowed = e.deadline + super::SLACK.as_secs_f64();
    let mut longest = row(
        id("longest_close"),
        label(&format!("longest until closed, {}", e.deadline_what)),
        Unit::Secs,
        None,
        e.longest,
    );
    longest.target = target(
        format!("<= {}", Unit::Secs.format(allowed)),
        if e.left_open > 0 {
            Some(false)
        } else {
            e.longest.map(|l| l <= allowed)
        },
    );
    rows.push(longest);
    let mut left = row(
        id("left_open"),
        label("left open by the server"),
        Unit::Count,
        None,
        Some(e.left_open as f64),
    );
    left.target = target("0", Some(e.left_open == 0));
    rows.push(left);
    if e.all_closed_after.is_some() {
        rows.push(row(
            id("all_closed"),
            label("all closed, after the last opened"),
            Unit::Secs,
            None,
            e.all_closed_after,
        ));
    }
    let mut alive = row(
        id("alive"),
        label("server and client 1 alive"),
        Unit::Flag,
        None,
        Some(f64::from(u8::from(r.server_alive && r.client_alive))),
    );
    alive.target = target("yes", Some(r.server_alive && r.client_alive));
    rows.push(alive);
}

fn window_json(w: &Window) -> Value {
    json!({
        "p50_seconds": w.p50,
        "p99_seconds": w.p99,
        "max_seconds": w.max,
        "round_trips": w.samples,
        "seconds": w.seconds,
        "failures": w.errors,
    })
}

/// The `hostile` object of the JSON report.
pub fn json(o: &Outcome) -> Value {
    let attacks: Vec<Value> = o
        .runs
        .iter()
        .map(|r| {
            let e = &r.effect;
            json!({
                "id": r.attack.id(),
                "label": r.label,
                "healthy": window_json(&r.healthy),
                "healthy_p99_ratio_to_idle": r.healthy.p99.zip(o.idle.p99).map(|(a, i)| a / i),
                "server_rss_bytes": {
                    "before": r.rss_before,
                    "peak": r.rss_peak,
                    "peak_exact": r.rss_peak_exact,
                    "after": r.rss_after,
                    "limit": RSS_LIMIT,
                },
                "cpu_seconds": {
                    "server": r.server_cpu,
                    "client1": r.client_cpu,
                    "bench": r.bench_cpu,
                },
                "kernel_listen_overflows": r.listen_overflows,
                "opened": e.opened,
                "shed": e.shed,
                "deadline_seconds": e.deadline,
                "deadline_from": e.deadline_what,
                "longest_close_seconds": e.longest,
                "left_open": e.left_open,
                "all_closed_after_last_open_seconds": e.all_closed_after,
                "server_alive": r.server_alive,
                "client_alive": r.client_alive,
                "gone": r.gone,
                "server_counters_grew": r.counters,
                "server_gauges_after": r.gauges,
                "details": e.details,
                "findings": e.findings,
            })
        })
        .collect();
    json!({
        "counts": {
            "silent_conns": o.counts.conns,
            "silent_links": o.counts.links,
            "pieces": o.counts.pieces,
            "flood_links": o.counts.floods,
        },
        "handshake_timeout_seconds": super::HANDSHAKE.as_secs_f64(),
        "close_slack_seconds": super::SLACK.as_secs_f64(),
        "ping_interval_seconds": super::pinger::INTERVAL.as_secs_f64(),
        "idle": window_json(&o.idle),
        "idle_server_cpu_seconds": o.idle_server_cpu,
        "attacks": attacks,
        "after": o.after.as_ref().map(window_json),
        "log": {
            "lines": o.log_lines,
            "kinds": o.log_kinds.iter().map(|(n, l)| json!({"count": n, "line": l})).collect::<Vec<_>>(),
        },
        "stops": o.stops,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hostile::{Attack, Counts, Effect};
    use std::collections::BTreeMap;

    fn outcome() -> Outcome {
        let w = |p50, p99| Window {
            p50: Some(p50),
            p99: Some(p99),
            max: Some(p99 * 2.0),
            samples: 100,
            seconds: 1.0,
            errors: vec![],
        };
        let counts = Counts {
            conns: 10,
            links: 2,
            pieces: 3,
            floods: 1,
        };
        let run = |attack: Attack, p99, left_open, longest| Run {
            attack,
            label: attack.label(&counts),
            effect: Effect {
                opened: 10,
                shed: Some(4),
                longest: Some(longest),
                deadline: 5.0,
                deadline_what: "from its connect",
                left_open,
                all_closed_after: Some(5.1),
                counts: vec![("opened", "connections opened".into(), 10.0)],
                ..Effect::default()
            },
            healthy: w(60e-6, p99),
            rss_before: Some(5e6),
            rss_peak: Some(8e6),
            rss_peak_exact: true,
            rss_after: Some(6e6),
            server_cpu: Some(0.5),
            client_cpu: Some(0.1),
            bench_cpu: Some(0.2),
            listen_overflows: Some(0),
            server_alive: true,
            client_alive: true,
            gone: None,
            counters: BTreeMap::new(),
            gauges: BTreeMap::new(),
        };
        Outcome {
            counts,
            idle: w(50e-6, 100e-6),
            idle_server_cpu: Some(0.1),
            runs: vec![
                run(Attack::SilentTcp, 150e-6, 0, 5.2),
                run(Attack::SilentLinks, 250e-6, 1, 5.0),
            ],
            after: Some(w(50e-6, 110e-6)),
            log_lines: 3,
            log_kinds: vec![(3, "server: x".into())],
            stops: vec![],
        }
    }

    #[test]
    fn targets_against_idle_and_deadlines() {
        let rows = rows(&outcome());
        let find = |id: &str| rows.iter().find(|r| r.id == id).unwrap();
        let p99 = find("hostile.silent_tcp.rtt_p99");
        assert_eq!((p99.raw, p99.value), (Some(100e-6), Some(150e-6)));
        assert_eq!(p99.pass(), Some(true));
        assert_eq!(find("hostile.silent_links.rtt_p99").pass(), Some(false));
        assert_eq!(find("hostile.silent_tcp.longest_close").pass(), Some(true));
        assert_eq!(
            find("hostile.silent_links.longest_close").pass(),
            Some(false),
            "one left open"
        );
        assert_eq!(find("hostile.silent_links.left_open").pass(), Some(false));
        assert_eq!(find("hostile.silent_tcp.rss_peak").pass(), Some(true));
        assert_eq!(find("hostile.silent_tcp.alive").pass(), Some(true));
        assert_eq!(find("hostile.silent_tcp.opened").value, Some(10.0));
        assert_eq!(find("hostile.idle.rtt_p99").value, None);
        assert!((find("hostile.after.rtt_p99").ratio().unwrap() - 1.1).abs() < 1e-9);
        assert!(rows.iter().all(|r| r.group.starts_with(GROUP)));
        assert_eq!(find("hostile.silent_tcp.alive").group, "hostile.silent_tcp");
    }

    #[test]
    fn json_per_attack() {
        let j = json(&outcome());
        assert_eq!(j["counts"]["silent_conns"], 10);
        assert_eq!(j["attacks"][0]["id"], "silent_tcp");
        let ratio = j["attacks"][0]["healthy_p99_ratio_to_idle"]
            .as_f64()
            .unwrap();
        assert!((ratio - 1.5).abs() < 1e-9);
        assert_eq!(j["attacks"][1]["left_open"], 1);
        assert_eq!(j["log"]["kinds"][0]["count"], 3);
        assert_eq!(j["idle"]["round_trips"], 100);
    }
}
