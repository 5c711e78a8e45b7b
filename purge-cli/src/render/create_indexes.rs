//! The `create-indexes` report as text: per database, how it builds, the
//! session settings, and each index with its statements and outcome.

use std::io::{self, Write};

use purge_engine::indexes::{DatabaseIndexes, IndexesReport, Outcome};
use purge_engine::untrusted::escape;

use crate::cli::exit::ExitStatus;

pub fn report(out: &mut dyn Write, report: &IndexesReport, status: ExitStatus) -> io::Result<()> {
    if report.dry_run {
        writeln!(out, "DRY RUN: nothing was created.")?;
    }
    let cells = report.databases.iter().any(|d| d.cell_uuid.is_some());
    for database in &report.databases {
        if cells {
            writeln!(
                out,
                "== cell {} ({}) ==",
                escape(database.cell.as_deref().unwrap_or("-")),
                escape(database.cell_uuid.as_deref().unwrap_or("-"))
            )?;
        }
        section(out, database)?;
    }
    if report.interrupted {
        writeln!(
            out,
            "interrupted: the indexes not listed were not attempted"
        )?;
    }
    let count = |outcome| report.indexes().filter(|i| i.outcome == outcome).count();
    writeln!(
        out,
        "{} {}, {} timed out, {} failed (exit code {})",
        count(Outcome::WouldCreate) + count(Outcome::Created),
        if report.dry_run {
            "would be created"
        } else {
            "created"
        },
        count(Outcome::TimedOut),
        count(Outcome::Failed),
        status.code()
    )
}

fn section(out: &mut dyn Write, database: &DatabaseIndexes) -> io::Result<()> {
    writeln!(out, "database:  {}", escape(&database.database))?;
    if let Some(error) = &database.error {
        writeln!(out, "FAILED:    {}", escape(error))?;
    }
    if database.indexes.is_empty() {
        if database.error.is_none() {
            writeln!(out, "nothing to do: no index is missing")?;
        }
        return Ok(());
    }
    if let Some(method) = database.method {
        writeln!(out, "method:    {}", method.describe())?;
    }
    if !database.session.is_empty() {
        writeln!(out, "session:   {};", database.session.join("; "))?;
    }
    for index in &database.indexes {
        let outcome = match index.outcome {
            Outcome::WouldCreate => "would create",
            Outcome::Created => "created",
            Outcome::TimedOut => "TIMED OUT",
            Outcome::Failed => "FAILED",
        };
        let took = index
            .elapsed_ms
            .map(|ms| format!("  ({ms} ms)"))
            .unwrap_or_default();
        writeln!(
            out,
            "{outcome:<12}  {}.{}  {}{took}",
            escape(&index.table),
            escape(&index.column),
            escape(&index.name)
        )?;
        for statement in &index.statements {
            writeln!(out, "              {};", escape(statement))?;
        }
        if let Some(message) = &index.message {
            writeln!(out, "              {}", escape(message))?;
        }
    }
    Ok(())
}
