//! The command-line conventions `tcpws` and `tcpws-bench` share.

use std::path::Path;
use std::process::ExitCode;

use argh::TopLevelCommand;

/// Exit code for a bad config or bad arguments: nothing was started.
pub const EXIT_CONFIG: u8 = 2;

/// The command line parsed as `argh::from_env` does, but returned instead
/// of exiting: `Err` is the code to exit with once the help (0) or the
/// usage error ([`EXIT_CONFIG`]) is printed. A non-UTF-8 argument is read
/// lossily rather than panicking; `default_name` stands in for a missing
/// program name.
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
