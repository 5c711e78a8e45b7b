//! `nova-purge restore`.

use std::io::Write;

use purge_engine::restore::{self, RestoreOptions};
use purge_engine::Connections;

use super::registry;
use crate::cli::exit::ExitStatus;
use crate::cli::{Format, RestoreArgs};
use crate::failure::Failure;
use crate::render;

pub async fn run(
    connections: &Connections,
    args: &RestoreArgs,
    out: &mut dyn Write,
) -> Result<ExitStatus, Failure> {
    let registry = registry()?;
    let options = RestoreOptions {
        path: args.path.clone(),
        dry_run: args.dry_run.dry_run,
        allow_other_source: args.allow_other_source,
    };
    let report = restore::restore(connections, &registry, &options).await?;
    match args.format.format {
        Format::Json => render::json_line(out, &report)?,
        Format::Text => render::restore::report(out, &report)?,
    }
    Ok(if report.complete() {
        ExitStatus::Done
    } else {
        ExitStatus::RestoreIncomplete
    })
}
