//! nova-purge as a library: `main` parses the command line, `run` executes
//! a parsed command. The binary is a one-line wrapper around [`main`].

pub mod check;
pub mod cli;
mod commands;
pub mod connect;
pub mod engine;
pub mod error;
pub mod fixture;
pub mod plan;
pub mod report;
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
    match runtime.block_on(run(cli, &mut stdout)) {
        Ok(code) => code,
        Err(failure) => {
            eprintln!("error: {failure}");
            failure.exit_code()
        }
    }
}

/// Runs a parsed command, writing its report to `out`.
pub async fn run(cli: Cli, out: &mut dyn Write) -> Result<ExitCode, Failure> {
    let outcome = match cli.command {
        cli::Command::Purge(args) => commands::purge(cli.database_url.as_deref(), &args, out).await,
        cli::Command::Check(args) => commands::check(cli.database_url.as_deref(), &args, out).await,
        cli::Command::Targets(args) => commands::targets(&args, out),
        cli::Command::Demo(args) => commands::demo(&args, out).await,
    };
    // A closed pipe (`nova-purge targets | head`) is not a failure.
    match outcome {
        Err(Failure::Output(err)) if err.kind() == io::ErrorKind::BrokenPipe => {
            Ok(ExitCode::from(exit_code::DONE))
        }
        other => other,
    }
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
