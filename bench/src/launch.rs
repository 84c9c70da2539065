//! The programs the bench starts: the `tcpws` binary under test and this
//! program again (the hold backend). Every command made here is tied to
//! the bench by the parent-death signal, so no process of the bench
//! outlives a bench killed by a signal (`Drop` covers every other way out).

use std::ffi::OsStr;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::error::BenchError;

/// A command running `program` that the kernel kills when the bench dies.
pub fn tied(program: &Path) -> Command {
    let mut command = Command::new(program);
    // SAFETY: prctl is async-signal-safe and touches no memory of ours.
    unsafe {
        command.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    command
}

/// This program (`tcpws-bench`) again, tied to the bench.
pub fn this_program() -> Result<Command, BenchError> {
    let exe =
        std::env::current_exe().map_err(BenchError::io("find this program to start it again"))?;
    Ok(tied(&exe))
}

/// The `tcpws` binary to measure: the one beside this program, where cargo
/// puts both. When cargo runs the bench (`cargo run -p tcpws-bench`,
/// `cargo test`) it is built first, with the bench's profile, so that it
/// is never missing nor older than its sources.
pub fn tcpws_binary() -> Result<PathBuf, BenchError> {
    let exe = std::env::current_exe().map_err(BenchError::io("find this program"))?;
    let dir = exe
        .parent()
        .ok_or_else(|| BenchError::Build(format!("{} has no directory", exe.display())))?;
    if let Some(cargo) = std::env::var_os("CARGO") {
        build(&cargo, dir)?;
    }
    let tcpws = dir.join("tcpws");
    if !tcpws.is_file() {
        return Err(BenchError::Build(format!(
            "no tcpws binary beside this program ({}): build it with \
             `cargo build --release -p tcpws`, or run the bench with \
             `cargo run --release -p tcpws-bench`",
            tcpws.display()
        )));
    }
    Ok(tcpws)
}

/// `cargo build -p tcpws` into `dir`, a profile directory of a target
/// directory (`target/release`).
fn build(cargo: &OsStr, dir: &Path) -> Result<(), BenchError> {
    let mut command = Command::new(cargo);
    // From the bench's own sources, so that cargo finds the workspace
    // wherever the bench was started.
    command
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["build", "-p", "tcpws"])
        .stdout(std::io::stderr());
    if let Some(target) = dir.parent() {
        command.arg("--target-dir").arg(target);
    }
    match dir.file_name().and_then(OsStr::to_str) {
        Some("release") => {
            command.arg("--release");
        }
        Some("debug") | None => {}
        Some(profile) => {
            command.args(["--profile", profile]);
        }
    }
    // cargo gives the bench the variables of its own package. Build scripts
    // (ring's) rerun when those change, so passing them on would rebuild
    // ring here and again at the next cargo command.
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy();
        let per_package = ["CARGO_PKG_", "CARGO_MANIFEST_", "CARGO_CFG_", "CARGO_BIN_"]
            .iter()
            .any(|p| key.starts_with(p))
            || [
                "CARGO_CRATE_NAME",
                "CARGO_PRIMARY_PACKAGE",
                "CARGO_TARGET_TMPDIR",
                "OUT_DIR",
            ]
            .contains(&key.as_ref());
        if per_package {
            command.env_remove(key.as_ref());
        }
    }
    let status = command
        .status()
        .map_err(BenchError::io("run cargo build -p tcpws"))?;
    if !status.success() {
        return Err(BenchError::Build(format!(
            "cargo build -p tcpws failed ({status})"
        )));
    }
    Ok(())
}
