//! `tcpws`: TCP over WebSocket between one server and two backup clients.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use argh::FromArgs;
use tcpws::args::EXIT_CONFIG;
use tcpws::{config, demo, logging};

/// TCP over WebSocket between one server and two backup clients.
#[derive(FromArgs, Debug)]
struct Cli {
    #[argh(subcommand)]
    command: Command,
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
        Command::Run(args) => run(args.path.as_deref()),
        Command::Check(args) => check(&args.path),
        Command::Demo(_) => demo(),
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
fn run(path: Option<&Path>) -> ExitCode {
    let loaded = match config::load(path) {
        Ok(loaded) => loaded,
        Err(e) => return config_error(&e),
    };
    let settings = match loaded.config.to_node_settings() {
        Ok(settings) => settings,
        Err(e) => return config_error(&e.in_file(&loaded.path)),
    };
    if let Err(e) = logging::init(&loaded.config.logging, &loaded.home) {
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
    let node = match tcpws_runtime_mio::Node::new(settings) {
        Ok(node) => node,
        Err(e) => {
            log::error!("{e}");
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Err(e) = tcpws_runtime_mio::install_signal_handlers(node.handle()) {
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
