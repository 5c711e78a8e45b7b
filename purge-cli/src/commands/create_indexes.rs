//! `nova-purge create-indexes`.

use std::io::Write;

use purge_engine::indexes::{self, IndexRequest, IndexesReport};
use purge_engine::{Cancel, Connections};

use super::{cell_selection, registry};
use crate::cli::exit::ExitStatus;
use crate::cli::{CreateIndexesArgs, Format, LogArgs, LogFormat};
use crate::failure::Failure;
use crate::render;
use crate::terminal::confirm::IndexConfirmation;

pub async fn run(
    connections: &Connections,
    args: &CreateIndexesArgs,
    logging: &LogArgs,
    cancel: &Cancel,
    out: &mut dyn Write,
) -> Result<ExitStatus, Failure> {
    let registry = registry()?;
    let request = IndexRequest {
        cells: cell_selection(&args.cells),
        dry_run: args.dry_run.dry_run,
        lock_timeout: args.lock_timeout,
        galera_rsu: args.galera_rsu,
    };
    let observer = IndexConfirmation {
        assume_yes: args.yes,
        json_logs: logging.log_format == LogFormat::Json,
    };
    let report =
        indexes::create_indexes(connections, &registry, &request, &observer, cancel).await?;
    let status = status(&report);
    match args.format.format {
        Format::Json => render::json_line(out, &report)?,
        Format::Text => render::create_indexes::report(out, &report, status)?,
    }
    Ok(status)
}

/// Interrupted beats a failure, which beats a lock wait that timed out.
fn status(report: &IndexesReport) -> ExitStatus {
    if report.interrupted {
        ExitStatus::Interrupted
    } else if report.failed() {
        ExitStatus::Error
    } else if report.timed_out() {
        ExitStatus::LockTimedOut
    } else {
        ExitStatus::Done
    }
}
