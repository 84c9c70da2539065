//! The command-line conventions `tcpws` and `tcpws-bench` share.

use std::path::Path;
use std::process::ExitCode;

use argh::TopLevelCommand;

/// Exit code for a bad config or bad arguments: nothing was started.
pub const EXIT_CONFIG: u8 = 2;

/// Parses the command line like `argh::from_env`, but a usage error exits
/// with [`EXIT_CONFIG`] and a non-UTF-8 argument cannot panic. `Err` is
/// the code to exit with once `--help` or the error has been printed.
pub fn parse<T: TopLevelCommand>(default_name: &str) -> Result<T, ExitCode> {
    let args: Vec<String> = std::env::args_os()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let command = args
        .first()
        .and_then(|a| Path::new(a).file_name())
        .map_or(default_name.into(), |n| n.to_string_lossy());
    let rest: Vec<&str> = args.iter().skip(1).map(String::as_str).collect();
    T::from_args(&[&command], &rest).map_err(|exit| {
        if exit.status.is_ok() {
            print!("{}", exit.output);
            ExitCode::SUCCESS
        } else {
            eprint!("{}", exit.output);
            ExitCode::from(EXIT_CONFIG)
        }
    })
}
