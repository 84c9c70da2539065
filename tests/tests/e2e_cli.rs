//! The command line people expect: `--version`, a typo'd key that names
//! the key it likely meant, and exit code 2 for a config the node cannot
//! start with, a TLS file that does not load included (so systemd's
//! `RestartPreventExitStatus=2` does not restart it in a loop).

mod support;

use std::process::Command;

use serde_json::json;
use support::*;

#[test]
fn version_prints_the_package_version() {
    let out = Command::new(tcpws_bin()).arg("--version").output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let version = stdout.strip_prefix("tcpws ").expect("tcpws VERSION").trim();
    assert!(
        version.split('.').count() == 3 && version.split('.').all(|p| p.parse::<u32>().is_ok()),
        "{stdout:?}"
    );
}

#[test]
fn a_typo_suggests_the_key_and_a_broken_tls_file_exits_2() {
    let dir = scratch_dir("cli");
    let bundle = dir.join("bundle.pem");
    std::fs::write(&bundle, "not a PEM file\n").unwrap();
    write_config(
        &dir,
        &json!({
            "weAreServer": true,
            "tcpTunelListens": [],
            "dataExchange": {
                "serverUrl": format!("https://127.0.0.1:{}", free_port()),
                "serverBindAddress": "127.0.0.1",
                "tlsBundleFilePath": bundle,
            },
            "logging": {"logToStdout": true, "daysToKeep": 1},
        }),
    );
    let check = Command::new(tcpws_bin())
        .arg("check")
        .arg(&dir)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&check.stdout);
    assert!(
        stdout.contains("tcpTunelListens: unknown key, ignored; did you mean tcpTunnelListens?"),
        "{stdout}"
    );
    for sub in ["check", "run"] {
        let out = Command::new(tcpws_bin())
            .arg(sub)
            .arg(&dir)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{sub}: {stderr}");
        let named = format!(
            "dataExchange.tlsBundleFilePath: cannot use {}",
            bundle.display()
        );
        assert!(stderr.contains(&named), "{sub}: {stderr}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
