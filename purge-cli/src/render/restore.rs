//! The `restore` report as text.

use std::io::{self, Write};

use purge_engine::restore::RestoreReport;
use purge_engine::untrusted::escape;

pub fn report(out: &mut dyn Write, report: &RestoreReport) -> io::Result<()> {
    let verb = if report.dry_run {
        "would be restored"
    } else {
        "restored"
    };
    writeln!(out, "batches {verb}: {}", report.restored)?;
    for (table, rows) in &report.tables {
        writeln!(out, "  {:<36}  {rows:>10}", escape(table))?;
    }
    for skipped in &report.skipped {
        writeln!(out, "skipped: {}", escape(skipped))?;
    }
    for line in &report.unreadable {
        writeln!(out, "unreadable: {}", escape(line))?;
    }
    for part in &report.incomplete {
        writeln!(out, "not restored: {}", escape(part))?;
    }
    if !report.complete() {
        writeln!(
            out,
            "the export is damaged: every whole committed batch above was restored; the rest could not be"
        )?;
    }
    Ok(())
}
