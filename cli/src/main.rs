//! `tcpws`: TCP over WebSocket between one server and two backup clients.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use argh::FromArgs;
use tcpws::args::EXIT_CONFIG;
use tcpws::{config, demo, logging};

/// TCP over WebSocket between one server and two backup clients.
#[derive(FromArgs, Debug)]
#[argh(
    note = "Signals:\nSIGTERM, SIGINT: stop cleanly: links say goodbye, streams are flushed briefly, exit 0\nSIGHUP: reload the TLS files and logging.level; links and streams stay up, a broken file keeps the old one"
)]
#[argh(error_code(0, "clean stop (SIGTERM or SIGINT), or check passed"))]
#[argh(error_code(
    1,
    "could not start or keep running (a port in use or below 1024 without the capability, a poller failure)"
))]
#[argh(error_code(
    2,
    "bad config or bad arguments, a TLS file that does not load included: nothing was started (the message names the key and the file)"
))]
struct Cli {
    /// print the version and exit
    #[argh(switch, short = 'V')]
    version: bool,

    #[argh(subcommand)]
    command: Option<Command>,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand)]
enum Command {
    Run(RunArgs),
    Check(CheckArgs),
    Demo(DemoArgs),
}

/// Run as the server or a client, as the config file says.
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "run")]
struct RunArgs {
    /// the home directory holding config.json, or a config file
    /// (default ~/tcp-over-websocket.home; a missing config.json is written with defaults)
    #[argh(positional)]
    path: Option<PathBuf>,

    /// where the daily log files go (default: the home directory, next to
    /// config.json); the packaged systemd unit points it at the state directory
    #[argh(option)]
    log_dir: Option<PathBuf>,
}

/// Check a config file and print what it sets up; exit code 2 if it is invalid.
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "check")]
struct CheckArgs {
    /// the home directory holding config.json, or a config file
    #[argh(positional)]
    path: PathBuf,
}

/// Run a server and both clients in this process, on loopback.
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "demo")]
struct DemoArgs {}

fn main() -> ExitCode {
    let cli: Cli = match tcpws::args::parse("tcpws") {
        Ok(cli) => cli,
        Err(code) => return code,
    };
    match cli.command {
        _ if cli.version => {
            println!("tcpws {}", tcpws::VERSION);
            ExitCode::SUCCESS
        }
        Some(Command::Run(args)) => run(args.path.as_deref(), args.log_dir.as_deref()),
        Some(Command::Check(args)) => check(&args.path),
        Some(Command::Demo(_)) => demo(),
        None => {
            eprintln!("One of the following subcommands must be present:\n  help\n  run\n  check\n  demo\n\nRun tcpws --help for more information.");
            ExitCode::from(EXIT_CONFIG)
        }
    }
}

/// `tcpws check PATH`: warnings then the summary on stdout, exit 0; or
/// `error: ...` on stderr, exit 2.
fn check(path: &Path) -> ExitCode {
    let loaded = match config::load_existing(path) {
        Ok(loaded) => loaded,
        Err(e) => return config_error(&e),
    };
    for warning in &loaded.warnings {
        println!("warning: {warning}");
    }
    let settings = match loaded.config.to_node_settings() {
        Ok(settings) => settings,
        Err(e) => return config_error(&e.in_file(&loaded.path)),
    };
    for warning in loaded.config.security_warnings() {
        println!("warning: {warning}");
    }
    if let Some(note) = loaded.config.proxy_environment_note() {
        println!("note: {note}");
    }
    // Loads the TLS files and builds the TLS configs the node would use, so
    // a bad key, certificate or bundle fails here rather than at start.
    if let Err(e) = tcpws_runtime_mio::check_tls(&settings) {
        eprintln!("error: {}: {e}", loaded.path.display());
        return ExitCode::from(EXIT_CONFIG);
    }
    println!("config: {}", loaded.path.display());
    print!("{}", loaded.config.summary());
    ExitCode::SUCCESS
}

fn config_error(e: &config::ConfigError) -> ExitCode {
    eprintln!("error: {e}");
    ExitCode::from(EXIT_CONFIG)
}

/// `tcpws run [PATH]`: loads the config, starts logging and runs the node
/// until SIGINT or SIGTERM.
fn run(path: Option<&Path>, log_dir: Option<&Path>) -> ExitCode {
    let loaded = match config::load(path) {
        Ok(loaded) => loaded,
        Err(e) => return config_error(&e),
    };
    let settings = match loaded.config.to_node_settings() {
        Ok(settings) => settings,
        Err(e) => return config_error(&e.in_file(&loaded.path)),
    };
    if let Err(e) = logging::init(&loaded.config.logging, log_dir.unwrap_or(&loaded.home)) {
        return config_error(&e);
    }
    if loaded.created {
        log::info!("wrote a default config to {}", loaded.path.display());
    }
    for warning in &loaded.warnings {
        log::warn!("{}: {warning}", loaded.path.display());
    }
    for warning in loaded.config.security_warnings() {
        log::warn!("{warning}");
    }
    if let Some(note) = loaded.config.proxy_environment_note() {
        log::info!("{note}");
    }
    log::info!(
        "tcpws {} starting as {} with {}",
        tcpws::VERSION,
        settings.protocol.role,
        loaded.path.display()
    );
    match tcpws_runtime_mio::raise_fd_limit() {
        Ok(limit) => log::debug!("open files limit: {} (hard {})", limit.soft, limit.hard),
        Err(e) => log::warn!("cannot raise the open files limit: {e}"),
    }
    let mut node = match tcpws_runtime_mio::Node::new(settings) {
        Ok(node) => node,
        Err(e) => {
            log::error!("{e}");
            eprintln!("error: {e}");
            return start_failure(&e);
        }
    };
    if let Some(addr) = loaded.config.data_exchange.metrics_bind {
        if let Err(e) = node.serve_http_on(&addr.ip().to_string(), addr.port()) {
            log::error!("{e}");
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    }
    let config_path = loaded.path.clone();
    let reload = move || reload_log_level(&config_path);
    if let Err(e) = tcpws_runtime_mio::install_signal_handlers_with_reload(node.handle(), reload) {
        log::error!("{e}");
        return ExitCode::FAILURE;
    }
    match node.run() {
        Ok(()) => {
            log::info!("stopped");
            ExitCode::SUCCESS
        }
        Err(e) => {
            log::error!("{e}");
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The exit code of a node that could not start: [`EXIT_CONFIG`] when the
/// config is at fault (a TLS file that does not load, settings the runtime
/// or the protocol refuse), which no restart fixes; 1 otherwise (a port in
/// use, the poller).
fn start_failure(e: &tcpws_runtime_mio::RuntimeError) -> ExitCode {
    use tcpws_runtime_mio::RuntimeError;
    match e {
        RuntimeError::Tls { .. } | RuntimeError::Settings(_) | RuntimeError::Protocol(_) => {
            ExitCode::from(EXIT_CONFIG)
        }
        _ => ExitCode::FAILURE,
    }
}

/// SIGHUP: reads `logging.level` from the config file again and applies
/// it; a file that no longer parses keeps the level in use. The node then
/// reloads its TLS files itself.
fn reload_log_level(path: &Path) {
    match config::load_existing(path) {
        Ok(loaded) => {
            let level = loaded.config.logging.level;
            let say = || {
                log::info!(
                    "reload: logging.level is now {level} (from {})",
                    path.display()
                );
            };
            // Said at the louder of the two levels, so it is always seen.
            if level > log::max_level() {
                logging::set_level(level);
                say();
            } else {
                say();
                logging::set_level(level);
            }
        }
        Err(e) => log::error!("reload: {e}; keeping the log level in use"),
    }
}

/// `tcpws demo`: the built-in demonstration on loopback.
fn demo() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    println!("tcpws demo: a server, client 1 and client 2 in this process, on free loopback ports");
    match demo::run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("demo failed: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The exit codes and signals in `tcpws --help` are the README's table,
    /// row for row.
    #[test]
    fn help_shows_the_readme_table_of_exit_codes_and_signals() {
        let help = Cli::from_args(&["tcpws"], &["--help"]).unwrap_err().output;
        let readme = include_str!("../../README.md");
        let codes = help.split("Error codes:").nth(1).expect("error codes");
        let signals = help
            .split("Signals:")
            .nth(1)
            .and_then(|s| s.split("Error codes:").next())
            .expect("signals");
        let mut rows = 0;
        for line in codes.lines().chain(signals.lines()) {
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            let (key, text) = match line.split_once(": ") {
                Some((key, text)) if key.starts_with("SIG") => (key, text),
                _ => line.split_once(' ').expect("code and text"),
            };
            let row = format!("| {key} | {text} |");
            assert!(readme.contains(&row), "README lacks the row {row:?}");
            rows += 1;
        }
        assert_eq!(rows, 5);
    }

    #[test]
    fn version_is_a_switch() {
        let cli = Cli::from_args(&["tcpws"], &["--version"]).unwrap();
        assert!(cli.version && cli.command.is_none());
        assert!(Cli::from_args(&["tcpws"], &["-V"]).unwrap().version);
    }
}
