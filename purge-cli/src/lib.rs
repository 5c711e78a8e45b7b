//! nova-purge's command line, as a library: [`main`] parses the arguments
//! and runs the command; [`run`] runs an already parsed one. The binary is
//! a one-line wrapper around [`main`].
//!
//! Layers, top down: [`cli`] (clap types and exit codes), `commands` (one
//! module per subcommand: arguments in, the engine's options out, the
//! result rendered), `render` (text and JSON reports) and `terminal`
//! (confirmation, progress, Ctrl-C). The work itself is `purge-engine`'s.

pub mod cli;
mod commands;
mod failure;
mod logging;
mod metrics;
mod render;
mod terminal;

// The plugins crate is never called by name; without this line the linker
// would drop it and, with it, every registered target.
use purge_plugins as _;

use std::io::{self, Write};
use std::process::ExitCode;

use clap::Parser;
use purge_engine::Cancel;

pub use cli::exit::ExitStatus;
pub use cli::Cli;
pub use failure::Failure;

/// Parses the process's arguments, runs the command and maps the outcome to
/// an exit code. Errors are one line on stderr.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => return usage_error(err, logging::requested_format(std::env::args_os())).into(),
    };
    logging::init(&cli.logging);
    let log_format = cli.logging.log_format;
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            let status = ExitStatus::Error;
            let message = format!("cannot start the async runtime: {err}");
            logging::fatal(log_format, &message, status.code());
            return status.into();
        }
    };
    let mut stdout = terminal::scrub::Scrubbed::new(io::stdout().lock());
    let cancel = Cancel::new();
    let outcome = runtime.block_on(async {
        terminal::interrupt::install(cancel.clone(), log_format);
        run_with(&cli, &cancel, &mut stdout).await
    });
    match outcome {
        Ok(status) => status.into(),
        Err(failure) => {
            let status = failure.status();
            let message = purge_engine::secrets::scrub(&failure.to_string());
            let message = purge_engine::untrusted::escape(&message);
            logging::fatal(log_format, &message, status.code());
            status.into()
        }
    }
}

/// Runs a parsed command, writing its report to `out`.
pub async fn run(cli: Cli, out: &mut dyn Write) -> Result<ExitCode, Failure> {
    run_with(&cli, &Cancel::new(), out)
        .await
        .map(ExitCode::from)
}

async fn run_with(cli: &Cli, cancel: &Cancel, out: &mut dyn Write) -> Result<ExitStatus, Failure> {
    match commands::run(cli, cancel, out).await {
        // A closed pipe (`nova-purge targets | head`) is not a failure.
        Err(Failure::Output(err)) if err.kind() == io::ErrorKind::BrokenPipe => {
            Ok(ExitStatus::Done)
        }
        other => other,
    }
}

/// clap's own errors are several lines long; operators get one line that
/// says what was wrong and where to look (a JSON object with
/// `--log-format json`). `--help` and `--version` print as usual.
fn usage_error(err: clap::Error, log_format: cli::LogFormat) -> ExitStatus {
    use clap::error::ErrorKind;
    let help = matches!(
        err.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    );
    if help && !(err.use_stderr() && log_format == cli::LogFormat::Json) {
        let _ = err.print();
        return if err.use_stderr() {
            ExitStatus::Usage
        } else {
            ExitStatus::Done
        };
    }
    let rendered = err.render().to_string();
    let first = if help {
        "a command is required"
    } else {
        rendered
            .lines()
            .find(|line| !line.trim().is_empty())
            .unwrap_or("error: invalid arguments")
    };
    let first = first.strip_prefix("error: ").unwrap_or(first);
    let status = ExitStatus::Usage;
    logging::fatal(
        log_format,
        &format!("{first} (see nova-purge --help)"),
        status.code(),
    );
    status
}
