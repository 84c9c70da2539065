//! External programs the end-to-end tests start (tinyproxy, nginx): found
//! on PATH or in the sbin directories Debian puts them in. A missing one
//! fails the test under CI (`CI` or `TCPWS_REQUIRE_TOOLS` set: `.ci/run`
//! installs them) and is reported loudly otherwise, past the test
//! harness's output capture, before the test returns early.

use std::io::Write;
use std::path::{Path, PathBuf};

/// Whether a missing tool fails the test: CI must have installed it.
pub fn tools_required() -> bool {
    ["CI", "TCPWS_REQUIRE_TOOLS"]
        .iter()
        .any(|v| std::env::var_os(v).is_some_and(|s| !s.is_empty() && s != "0" && s != "false"))
}

/// The path of `program`, or `None` (after a loud note) when it is not
/// installed outside CI; `package` is the Debian package that has it.
pub fn find_tool(program: &str, package: &str, test: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let found = std::env::split_paths(&path)
        .chain(["/usr/sbin", "/usr/local/sbin", "/sbin"].map(PathBuf::from))
        .map(|dir| dir.join(program))
        .find(|p| is_executable(p));
    if found.is_none() {
        let note =
            format!("{program} is not installed (apt-get install {package}): {test} cannot run");
        if tools_required() {
            panic!("{note}; CI must install it (.ci/run does so with apt-get)");
        }
        // Straight to the process's stderr: the harness captures eprintln!
        // of a passing test, and this must not pass unseen.
        let _ = writeln!(
            std::io::stderr(),
            "\n!!!!! SKIPPED: {note}. Set TCPWS_REQUIRE_TOOLS=1 to make this a failure. !!!!!\n"
        );
    }
    found
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}
