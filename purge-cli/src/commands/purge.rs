//! `nova-purge purge`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime};

use purge_engine::purge::{self, PurgeOptions, PurgeRequest, RunReport};
use purge_engine::{Cancel, Connections};

use super::{cell_selection, registry};
use crate::cli::exit::ExitStatus;
use crate::cli::{Format, LogArgs, LogFormat, PurgeArgs};
use crate::failure::Failure;
use crate::metrics::{self, RunFacts};
use crate::render;
use crate::terminal::TerminalObserver;

pub async fn run(
    connections: &Connections,
    args: &PurgeArgs,
    logging: &LogArgs,
    cancel: &Cancel,
    out: &mut dyn Write,
) -> Result<ExitStatus, Failure> {
    if let Some(path) = &args.metrics_file {
        metrics::check_writable(path).map_err(Failure::Usage)?;
    }
    let started = Instant::now();
    let outcome = purge_with(connections, args, logging, cancel).await;
    let status = match &outcome {
        Ok(report) => status(report),
        Err(failure) => failure.status(),
    };
    // Bad usage or input (exit code 2) deleted nothing and records nothing:
    // the file of the last run that did something stays as it is.
    let recorded = match &args.metrics_file {
        Some(path) if status != ExitStatus::Usage => {
            let facts = RunFacts {
                report: outcome.as_ref().ok(),
                exit: status,
                finished: SystemTime::now(),
                duration: started.elapsed(),
            };
            metrics::record(path, &facts).map_err(|err| metrics_failure(path, err))
        }
        _ => Ok(()),
    };
    let report = outcome?;
    match args.format.format {
        Format::Json => render::json_line(out, &report)?,
        Format::Text => render::purge::run_report(out, &report)?,
    }
    recorded?;
    Ok(status)
}

/// The run itself, from the registry to the engine's report.
async fn purge_with(
    connections: &Connections,
    args: &PurgeArgs,
    logging: &LogArgs,
    cancel: &Cancel,
) -> Result<RunReport, Failure> {
    let registry = registry()?;
    let mut request = request(args)?;
    if let Some(path) = &request.export {
        request.export = Some(export_file(path));
    }
    let observer = TerminalObserver::new(
        args.yes,
        request.options.cutoff,
        logging.quiet == 0 && args.format.format == Format::Text,
        logging.log_format == LogFormat::Json,
    );
    Ok(purge::purge(connections, &registry, &request, &observer, cancel).await?)
}

fn metrics_failure(path: &Path, err: std::io::Error) -> Failure {
    Failure::Metrics(format!(
        "cannot write the metrics file {}: {err}",
        path.display()
    ))
}

/// `--export DIR` names a new file in DIR, with the time in its name, so
/// that a timer can give the same option every day.
fn export_file(path: &Path) -> PathBuf {
    if !path.is_dir() {
        return path.to_owned();
    }
    let now = chrono::Utc::now().format("%Y%m%dT%H%M%SZ");
    path.join(format!("nova-purge-{now}.jsonl"))
}

/// The engine's request for these arguments.
fn request(args: &PurgeArgs) -> Result<PurgeRequest, Failure> {
    let options = PurgeOptions {
        dry_run: args.dry_run.dry_run,
        max_number: args.max_number,
        batch_size: usize::try_from(args.batch_size).expect("clap bounds --batch-size"),
        batch_time: Some(args.batch_time).filter(|time| !time.is_zero()),
        sleep: args.sleep,
        max_replication_lag: args.max_replication_lag,
        ignore_unreachable_replicas: args.ignore_unreachable_replicas,
        scopes: args
            .scope
            .iter()
            .flat_map(|s| s.scopes())
            .copied()
            .collect(),
        undated_shadow_rows: args.undated_shadow_rows,
        ..PurgeOptions::older_than(args.cutoff.older_than)?
    };
    if options.undated_shadow_rows && !options.scopes.contains(&purge_api::Scope::Shadow) {
        return Err(Failure::Usage(
            "--undated-shadow-rows only means something with --scope shadow (or all)".to_owned(),
        ));
    }
    Ok(PurgeRequest {
        options,
        cells: cell_selection(&args.cells),
        export: args.export.clone(),
        jobs: usize::try_from(args.jobs).expect("clap bounds --jobs"),
    })
}

/// Interrupted beats a failed cell, which beats candidates left.
fn status(report: &RunReport) -> ExitStatus {
    if report.total.interrupted {
        ExitStatus::Interrupted
    } else if report.cells.iter().any(|c| c.error.is_some()) {
        ExitStatus::CellFailed
    } else if report.total.more_remaining {
        ExitStatus::MoreRemaining
    } else {
        ExitStatus::Done
    }
}
