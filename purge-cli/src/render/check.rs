//! The `check` report as text.

use std::io::{self, Write};

use purge_engine::check::{CheckReport, Severity};
use purge_engine::untrusted::escape;

use crate::cli::exit::ExitStatus;

/// The exit status a check report calls for.
pub fn status(report: &CheckReport) -> ExitStatus {
    match report.worst() {
        None => ExitStatus::Done,
        Some(Severity::Warning) => ExitStatus::CheckWarnings,
        Some(Severity::Blocking) => ExitStatus::CheckBlocking,
    }
}

pub fn report(out: &mut dyn Write, report: &CheckReport) -> io::Result<()> {
    writeln!(out, "database:   {}", escape(&report.database))?;
    if let Some(c) = &report.candidates {
        writeln!(
            out,
            "candidates: {} instances deleted before {} ({} days): {} purgeable, {} would be skipped",
            c.total, report.cutoff, report.older_than_days, c.purgeable, c.skipped
        )?;
        writeln!(out, "rows a purge would delete, by table:")?;
        let width = report.tables.keys().map(String::len).max().unwrap_or(0);
        for (table, rows) in &report.tables {
            writeln!(out, "  {:<width$}  {rows:>10}", escape(table))?;
        }
    }
    if report.findings.is_empty() {
        writeln!(out, "no problems found")?;
    }
    for finding in &report.findings {
        let label = match finding.severity {
            Severity::Blocking => "BLOCKING",
            Severity::Warning => "warning ",
        };
        writeln!(out, "{label}  {}", escape(&finding.message))?;
        if let Some(suggestion) = &finding.suggestion {
            writeln!(out, "          {}", escape(suggestion))?;
        }
    }
    let count = |s| report.findings.iter().filter(|f| f.severity == s).count();
    writeln!(
        out,
        "{} blocking, {} warnings (exit code {})",
        count(Severity::Blocking),
        count(Severity::Warning),
        status(report).code()
    )
}
