//! `tcpws`: TCP over WebSocket between one server and two backup clients.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use argh::FromArgs;
use tcpws::{bench, config, demo, logging};

/// Exit code for a bad config or bad arguments: nothing was started.
const EXIT_CONFIG: u8 = 2;

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
    Bench(bench::BenchArgs),
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
    let cli = match parse_args() {
        Ok(cli) => cli,
        Err(code) => return code,
    };
    match cli.command {
        Command::Run(args) => run(args.path.as_deref()),
        Command::Check(args) => check(&args.path),
        Command::Demo(_) => demo(),
        Command::Bench(args) => bench(&args),
    }
}

/// Parses the command line like `argh::from_env`, but a usage error exits
/// with code 2 (nothing started) and a non-UTF-8 argument cannot panic.
fn parse_args() -> Result<Cli, ExitCode> {
    let args: Vec<String> = std::env::args_os()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let command = args
        .first()
        .and_then(|a| Path::new(a).file_name())
        .map_or("tcpws".into(), |n| n.to_string_lossy());
    let rest: Vec<&str> = args.iter().skip(1).map(String::as_str).collect();
    Cli::from_args(&[&command], &rest).map_err(|exit| {
        if exit.status.is_ok() {
            print!("{}", exit.output);
            ExitCode::SUCCESS
        } else {
            eprint!("{}", exit.output);
            ExitCode::from(EXIT_CONFIG)
        }
    })
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
    log::info!(
        "tcpws {} starting as {} with {}",
        env!("CARGO_PKG_VERSION"),
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

/// `tcpws bench`: the table (or JSON) on stdout, progress on stderr; exit
/// code 2 for bad options, 1 if a case could not be measured. Targets
/// missed are reported, not failed: this is a benchmark, not a test.
fn bench(args: &bench::BenchArgs) -> ExitCode {
    if args.serve_hold {
        return match bench::serve_hold() {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        };
    }
    let report = match bench::run(args) {
        Ok(report) => report,
        Err(e @ bench::BenchError::Usage(_)) => {
            eprintln!("error: {e}");
            return ExitCode::from(EXIT_CONFIG);
        }
        Err(e) => {
            eprintln!("bench failed: {e}");
            return ExitCode::FAILURE;
        }
    };
    for note in &report.notes {
        eprintln!("note: {note}");
    }
    if args.json {
        println!("{:#}", report.json());
    } else {
        let (passed, missed) = report.score();
        println!(
            "tcpws bench {}: median of {} run(s) on {} CPUs, {:.0} s; other work kept {} CPUs busy",
            env!("CARGO_PKG_VERSION"),
            report.options["runs"],
            report.cpus,
            report.wall_secs,
            report
                .other_cpus
                .map_or("?".to_string(), |c| format!("{c:.1}")),
        );
        println!();
        print!("{}", report.table());
        println!();
        println!("targets: {passed} met, {missed} missed");
    }
    ExitCode::SUCCESS
}
