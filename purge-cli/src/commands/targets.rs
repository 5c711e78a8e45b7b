//! `nova-purge targets`: the registry in execution order.

use std::io::Write;

use serde::Serialize;

use super::registry;
use crate::cli::exit::ExitStatus;
use crate::cli::{Format, TargetsArgs};
use crate::failure::Failure;
use crate::render;

#[derive(Serialize)]
struct TargetListing {
    name: &'static str,
    scope: &'static str,
    table: &'static str,
    database: &'static str,
    link: String,
    before: &'static [&'static str],
    defined_at: String,
    file: String,
}

pub fn run(args: &TargetsArgs, out: &mut dyn Write) -> Result<ExitStatus, Failure> {
    let registry = registry()?;
    let listing: Vec<TargetListing> = registry
        .iter()
        .map(|r| TargetListing {
            name: r.target.name(),
            scope: r.target.scope().name(),
            table: r.target.table(),
            database: r.target.database().name(),
            link: r.target.link().describe(),
            before: r.before,
            defined_at: format!("{}:{}", r.defined_at.module, r.defined_at.line),
            file: r.defined_at.file.to_owned(),
        })
        .collect();
    match args.format.format {
        Format::Json => render::json_pretty(out, &listing)?,
        Format::Text => {
            let rows: Vec<[String; 7]> = listing
                .iter()
                .enumerate()
                .map(|(i, t)| {
                    [
                        (i + 1).to_string(),
                        t.scope.to_owned(),
                        t.name.to_owned(),
                        t.table.to_owned(),
                        t.database.to_owned(),
                        t.link.clone(),
                        t.defined_at.clone(),
                    ]
                })
                .collect();
            let header =
                ["#", "SCOPE", "NAME", "TABLE", "DB", "LINK", "DEFINED AT"].map(str::to_owned);
            render::columns(out, &header, &rows)?;
        }
    }
    Ok(ExitStatus::Done)
}
