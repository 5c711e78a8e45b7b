//! The purge report as text.

use std::io::{self, Write};

use purge_engine::purge::{BatchSizes, Report, RunReport, ScopeReport};
use purge_engine::untrusted::escape;

/// The whole run: one database's report alone, or a section per cell and
/// the totals.
pub fn run_report(out: &mut dyn Write, run: &RunReport) -> io::Result<()> {
    if run.cells.len() == 1 && run.cells[0].error.is_none() {
        return report(out, &run.cells[0].report);
    }
    for cell in &run.cells {
        writeln!(
            out,
            "== cell {} ({}) ==",
            escape(cell.name.as_deref().unwrap_or("-")),
            escape(cell.uuid.as_deref().unwrap_or("-"))
        )?;
        match &cell.error {
            Some(error) => writeln!(out, "FAILED: {}", escape(error))?,
            None => report(out, &cell.report)?,
        }
        writeln!(out)?;
    }
    writeln!(out, "== all cells ==")?;
    report(out, &run.total)
}

/// One database's report (or the totals of several).
pub fn report(out: &mut dyn Write, report: &Report) -> io::Result<()> {
    let verb = if report.dry_run {
        "would be deleted"
    } else {
        "deleted"
    };
    if report.dry_run {
        writeln!(out, "DRY RUN: nothing was deleted.")?;
    }
    writeln!(out, "database:  {}", escape(&report.database))?;
    writeln!(
        out,
        "cutoff:    {} (deleted more than {} days ago)",
        report.cutoff, report.older_than_days
    )?;
    if report.purged_scopes.contains(&"instances") {
        writeln!(
            out,
            "instances: {} {verb}, in {} batches{}",
            report.instances,
            report.batches,
            sizes(&report.batch_sizes)
        )?;
        writeln!(out, "rows {verb}, by table:")?;
        let width = report
            .table_order
            .iter()
            .map(String::len)
            .max()
            .unwrap_or(0);
        for table in &report.table_order {
            let rows = report.tables.get(table).copied().unwrap_or(0);
            writeln!(out, "  {table:<width$}  {rows:>10}")?;
        }
        writeln!(out, "  {:<width$}  {:>10}", "total", report.total_rows())?;
    }
    // In the order the run purged them.
    for scope in &report.purged_scopes {
        if let Some(figures) = report.scopes.get(scope) {
            scope_section(out, scope, figures, verb)?;
        }
    }
    if !report.skipped_instances.is_empty() {
        writeln!(out, "instances skipped: {}", report.skipped_instances.len())?;
        for skipped in &report.skipped_instances {
            writeln!(
                out,
                "  {}  {}",
                escape(&skipped.uuid),
                escape(&skipped.reason)
            )?;
        }
    }
    if !report.skipped_targets.is_empty() {
        writeln!(out, "targets skipped:")?;
        for skipped in &report.skipped_targets {
            writeln!(out, "  {}: {}", skipped.name, escape(&skipped.reason))?;
        }
    }
    if !report.api_cleaned {
        writeln!(
            out,
            "API database: not given, so rows in instance_mappings, request_specs, instance_group_member and build_requests were not cleaned"
        )?;
    } else if report.api_leftovers > 0 {
        writeln!(
            out,
            "API database: also removed the rows of {} instances an earlier run had purged",
            report.api_leftovers
        )?;
    }
    if report.interrupted {
        writeln!(
            out,
            "interrupted: stopped after the last committed batch; run again to continue"
        )?;
    }
    if report.more_remaining {
        writeln!(
            out,
            "more remaining: --max-number was reached; run again to continue"
        )?;
    }
    let paused = if report.paused_ms > 0 {
        format!(", paused {:.3} s", report.paused_ms as f64 / 1000.0)
    } else {
        String::new()
    };
    writeln!(
        out,
        "elapsed:   {:.3} s (longest batch {} ms{paused})",
        report.elapsed_ms as f64 / 1000.0,
        report.max_batch_ms
    )
}

/// One scope other than `instances`: rows per table, and the rows left
/// because a row that stays still references them.
fn scope_section(
    out: &mut dyn Write,
    scope: &str,
    figures: &ScopeReport,
    verb: &str,
) -> io::Result<()> {
    writeln!(
        out,
        "scope {scope}: {} rows {verb}, in {} batches{}",
        figures.rows,
        figures.batches,
        sizes(&figures.batch_sizes)
    )?;
    let width = figures.tables.keys().map(String::len).max().unwrap_or(0);
    for (table, rows) in &figures.tables {
        writeln!(out, "  {:<width$}  {rows:>10}", escape(table))?;
    }
    if figures.skipped_rows > 0 {
        writeln!(
            out,
            "  rows left because a row that stays references them: {}",
            figures.skipped_rows
        )?;
        for skipped in &figures.skipped {
            writeln!(
                out,
                "    {} {}  {}",
                escape(&skipped.table),
                escape(&skipped.key),
                escape(&skipped.reason)
            )?;
        }
    }
    Ok(())
}

/// " of 50 to 800 (median 400)": how big the batches were, when they varied.
fn sizes(sizes: &BatchSizes) -> String {
    match sizes.spread() {
        Some((min, median, max)) if min != max => {
            format!(" of {min} to {max} (median {median})")
        }
        Some((size, _, _)) => format!(" of {size}"),
        None => String::new(),
    }
}
