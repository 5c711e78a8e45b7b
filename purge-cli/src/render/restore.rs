//! The `restore` report as text.

use std::io::{self, Write};

use purge_engine::restore::RestoreReport;

pub fn report(out: &mut dyn Write, report: &RestoreReport) -> io::Result<()> {
    let verb = if report.dry_run {
        "would be restored"
    } else {
        "restored"
    };
    writeln!(out, "batches {verb}: {}", report.restored)?;
    for (table, rows) in &report.tables {
        writeln!(out, "  {table:<36}  {rows:>10}")?;
    }
    for skipped in &report.skipped {
        writeln!(out, "skipped: {skipped}")?;
    }
    Ok(())
}
