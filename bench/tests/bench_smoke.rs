//! `tcpws-bench --quick --json` runs every case end to end with the real
//! `tcpws` binary in a few seconds and prints every figure, positive.
//! Targets are not checked here: a benchmark reports them, a test on a
//! shared CI machine cannot hold them.

use std::process::Command;

use serde_json::Value;

#[test]
fn quick_bench_prints_every_figure() {
    let out = Command::new(env!("CARGO_BIN_EXE_tcpws-bench"))
        .args(["--quick", "--json"])
        .env_remove("RUST_LOG")
        .output()
        .expect("run tcpws-bench");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "tcpws-bench failed:\n{stderr}");
    let json: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}):\n{}",
            String::from_utf8_lossy(&out.stdout)
        )
    });
    assert_eq!(json["bench"], "tcpws");
    assert_eq!(json["options"]["runs"], 1);
    // The bench's own time, without the build of tcpws that precedes it
    // under cargo.
    let wall = json["wall_seconds"].as_f64().unwrap();
    assert!(wall > 0.0 && wall < 30.0, "the quick bench took {wall} s");
    let rows = json["rows"].as_array().expect("rows");
    let row = |id: &str| -> &Value {
        rows.iter()
            .find(|r| r["id"] == id)
            .unwrap_or_else(|| panic!("no row {id} in {json:#}"))
    };
    let positive = |v: &Value, what: &str| {
        let x = v.as_f64().unwrap_or_else(|| panic!("{what} is {v}"));
        assert!(x > 0.0 && x.is_finite(), "{what} is {x}");
    };

    for figure in [
        "bulk_1", "bulk_8", "bulk_100", "rtt_p50", "rtt_p99", "setup",
    ] {
        positive(&row(&format!("{figure}.raw"))["raw"], figure);
        for transport in ["ws", "wss"] {
            for direction in ["server_listen", "client_listen"] {
                let id = format!("{figure}.{transport}.{direction}");
                let r = row(&id);
                positive(&r["value"], &id);
                positive(&r["raw"], &format!("{id} raw"));
                positive(&r["ratio"], &format!("{id} ratio"));
                assert_eq!(r["samples"].as_array().map(Vec::len), Some(1), "{id}");
            }
        }
    }
    for transport in ["ws", "wss"] {
        for direction in ["server_listen", "client_listen"] {
            let id = format!("rtt_added_p50.{transport}.{direction}");
            assert!(row(&id)["value"].is_f64(), "{id}");
            assert!(row(&id)["pass"].is_boolean(), "{id}");
            for p in ["server", "client"] {
                // CPU time counts in clock ticks: a quick run may see none.
                let id = format!("cpu_per_gib.{transport}.{direction}.{p}");
                assert!(row(&id)["value"].as_f64().unwrap() >= 0.0, "{id}");
            }
        }
    }
    assert!(row("cpu_per_gib.raw")["raw"].as_f64().unwrap() >= 0.0);
    for p in ["server", "client"] {
        positive(&row(&format!("rss_idle.{p}"))["value"], "idle RSS");
        let with = row(&format!("rss_streams.{p}"));
        positive(&with["value"], "RSS with idle streams");
        assert!(with["pass"].is_boolean());
        assert!(row(&format!("rss_per_stream.{p}"))["value"].is_f64());
    }
    for r in rows {
        if let Some(pass) = r.get("pass").filter(|p| !p.is_null()) {
            assert!(pass.is_boolean(), "{r}");
            assert!(r["target"].is_string(), "{r}");
        }
    }
}

#[test]
fn bad_options_exit_2_naming_the_option() {
    for (args, says) in [
        (&["--size", "lots"][..], "--size"),
        (&["--cases", "ws,tls"][..], "unknown case \"tls\""),
        (&["--runs", "0"][..], "--runs"),
        (&["--streams", "1"][..], "--streams"),
        (&["--bogus"][..], "--bogus"),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_tcpws-bench"))
            .args(args)
            .output()
            .expect("run tcpws-bench");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
        assert!(out.stdout.is_empty(), "{args:?}");
    }
}
