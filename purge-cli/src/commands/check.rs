//! `nova-purge check`.

use std::io::Write;

use purge_engine::{check, Connections};

use super::registry;
use crate::cli::exit::ExitStatus;
use crate::cli::{CheckArgs, Format};
use crate::failure::Failure;
use crate::render;

pub async fn run(
    connections: &Connections,
    args: &CheckArgs,
    out: &mut dyn Write,
) -> Result<ExitStatus, Failure> {
    let registry = registry()?;
    let report = check::run(connections, &registry, args.cutoff.older_than).await?;
    match args.format.format {
        Format::Json => render::json_pretty(out, &report)?,
        Format::Text => render::check::report(out, &report)?,
    }
    Ok(render::check::status(&report))
}
