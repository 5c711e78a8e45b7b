//! nova-purge as a library: `main` parses the command line, `run` executes
//! a parsed command. The binary is a one-line wrapper around [`main`].

pub mod api;
pub mod check;
pub mod cli;
mod commands;
pub mod config;
pub mod connect;
pub mod engine;
pub mod error;
pub mod export;
pub mod fixture;
pub mod generate;
mod interrupt;
pub mod plan;
mod progress;
pub mod purge;
pub mod report;
pub mod restore;
pub mod schema;

// The plugins crate is never called by name; without this line the linker
// would drop it and, with it, every registered target.
use purge_plugins as _;

use std::io::{self, IsTerminal, Write};
use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::EnvFilter;

pub use cli::Cli;
pub use error::{exit_code, Failure};

/// Parses the process's arguments, runs the command and maps the outcome to
/// an exit code. Errors are one line on stderr.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => return usage_error(err),
    };
    init_tracing(cli.verbose, cli.quiet);
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return ExitCode::from(exit_code::DATABASE_ERROR);
        }
    };
    let mut stdout = io::stdout().lock();
    let outcome = runtime.block_on(async {
        interrupt::install();
        run(cli, &mut stdout).await
    });
    match outcome {
        Ok(code) => code,
        Err(failure) => {
            eprintln!("error: {failure}");
            failure.exit_code()
        }
    }
}

/// Runs a parsed command, writing its report to `out`.
pub async fn run(cli: Cli, out: &mut dyn Write) -> Result<ExitCode, Failure> {
    let outcome = match &cli.command {
        cli::Command::Purge(args) => {
            let pacing = engine::Pacing {
                sleep: args.sleep,
                progress: cli.quiet == 0 && args.format == cli::Format::Text,
            };
            commands::purge(&connections(&cli)?, args, pacing, out).await
        }
        cli::Command::Check(args) => commands::check(&connections(&cli)?, args, out).await,
        cli::Command::Restore(args) => {
            let registry = commands::load_registry()?;
            restore::restore(&connections(&cli)?, &registry, args, out).await
        }
        cli::Command::Targets(args) => commands::targets(args, out),
        cli::Command::Demo(args) => commands::demo(args, out).await,
        cli::Command::Completions(args) => generate::run_completions(args, out),
        cli::Command::Man(args) => generate::run_man(args, out),
    };
    // A closed pipe (`nova-purge targets | head`) is not a failure.
    match outcome {
        Err(Failure::Output(err)) if err.kind() == io::ErrorKind::BrokenPipe => {
            Ok(ExitCode::from(exit_code::DONE))
        }
        other => other,
    }
}

/// The databases named on the command line, in the environment or in
/// nova.conf (`--config-file`, `--config-dir`, else /etc/nova/nova.conf
/// when no `--database-url` is given). The command line wins.
fn connections(cli: &Cli) -> Result<purge::Connections, Failure> {
    let mut sources: Vec<config::ConfigSource> = cli
        .config_file
        .iter()
        .cloned()
        .map(config::ConfigSource::File)
        .chain(
            cli.config_dir
                .iter()
                .cloned()
                .map(config::ConfigSource::Dir),
        )
        .collect();
    if sources.is_empty() && cli.database_url.is_none() {
        sources.extend(config::default_config_file().map(config::ConfigSource::File));
    }
    let nova_conf = if sources.is_empty() {
        None
    } else {
        Some(config::load(&sources)?)
    };
    let from_conf =
        |url: Result<config::ConvertedUrl, Failure>| -> Result<connect::DatabaseUrl, Failure> {
            let url = url?;
            url.log_adjustments();
            url.database_url()
        };
    // The SQLAlchemy forms of nova.conf (`mysql+pymysql://...`) are
    // accepted on the command line too; plain schemes keep nova-purge's
    // meaning (`sqlite:///x` is the absolute path /x).
    let parse_flag = |raw: &str| -> Result<connect::DatabaseUrl, Failure> {
        let scheme = raw.split_once("://").map_or("", |(scheme, _)| scheme);
        if scheme.contains('+') {
            from_conf(
                config::sqlalchemy_to_database_url(raw)
                    .map_err(|reason| Failure::Usage(format!("the database URL: {reason}"))),
            )
        } else {
            connect::DatabaseUrl::parse(raw)
        }
    };
    let mut connections = purge::Connections::default();
    if let Some(flag) = &cli.database_url {
        connections.cell = Some(parse_flag(flag)?);
        connections.template_base = Some((flag.clone(), "--database-url".to_owned()));
    } else if let Some(conf) = &nova_conf {
        if let Some(value) = conf.database_connection()? {
            connections.cell = Some(from_conf(conf.database_url())?);
            connections.template_base = Some((value.value().to_owned(), value.location()));
        }
    }
    if let Some(conf) = &nova_conf {
        connections.connection_parameters = conf.connection_parameters()?;
    }
    if let Some(flag) = &cli.api_database_url {
        connections.api = Some(parse_flag(flag)?);
    } else if let Some(conf) = &nova_conf {
        if conf.api_database_connection()?.is_some() {
            connections.api = Some(from_conf(conf.api_database_url())?);
        }
    }
    Ok(connections)
}

/// clap's own errors are several lines long; operators get one line that
/// says what was wrong and where to look. `--help` and `--version` print as
/// usual.
fn usage_error(err: clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    if matches!(
        err.kind(),
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion
    ) || err.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    {
        let _ = err.print();
        return ExitCode::from(if err.use_stderr() {
            exit_code::USAGE
        } else {
            exit_code::DONE
        });
    }
    let rendered = err.render().to_string();
    let first = rendered
        .lines()
        .find(|line| !line.trim().is_empty())
        .unwrap_or("error: invalid arguments");
    let first = first.strip_prefix("error: ").unwrap_or(first);
    eprintln!("error: {first} (see nova-purge --help)");
    ExitCode::from(exit_code::USAGE)
}

/// Logs go to stderr so that stdout holds only the report. `-v`/`-q` set
/// the default level; RUST_LOG, when set, wins.
fn init_tracing(verbose: u8, quiet: u8) {
    let level = match (verbose, quiet) {
        (_, 2..) => "off",
        (_, 1) => "error",
        (0, 0) => "warn",
        (1, 0) => "info",
        (2, 0) => "debug",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(io::stderr)
        .with_ansi(io::stderr().is_terminal())
        .with_target(false)
        .init();
}
