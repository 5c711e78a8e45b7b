//! `nova-purge purge`.

use std::io::Write;

use purge_engine::purge::{self, CellSelection, PurgeOptions, PurgeRequest, RunReport};
use purge_engine::{Cancel, Connections};

use super::registry;
use crate::cli::exit::ExitStatus;
use crate::cli::{Format, PurgeArgs};
use crate::failure::Failure;
use crate::render;
use crate::terminal::TerminalObserver;

pub async fn run(
    connections: &Connections,
    args: &PurgeArgs,
    quiet: bool,
    cancel: &Cancel,
    out: &mut dyn Write,
) -> Result<ExitStatus, Failure> {
    let registry = registry()?;
    let request = request(args)?;
    let observer = TerminalObserver::new(
        args.yes,
        request.options.cutoff,
        !quiet && args.format.format == Format::Text,
    );
    let report = purge::purge(connections, &registry, &request, &observer, cancel).await?;
    match args.format.format {
        Format::Json => render::json_line(out, &report)?,
        Format::Text => render::purge::run_report(out, &report)?,
    }
    Ok(status(&report))
}

/// The engine's request for these arguments.
fn request(args: &PurgeArgs) -> Result<PurgeRequest, Failure> {
    let options = PurgeOptions {
        dry_run: args.dry_run.dry_run,
        max_number: args.max_number,
        batch_size: usize::try_from(args.batch_size).expect("clap bounds --batch-size"),
        sleep: args.sleep,
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
    let cells = if args.all_cells {
        CellSelection::All
    } else if !args.cell.is_empty() {
        CellSelection::Named(args.cell.clone())
    } else {
        CellSelection::Local
    };
    Ok(PurgeRequest {
        options,
        cells,
        export: args.export.clone(),
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
