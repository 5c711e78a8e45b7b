//! The result of a purge, as text for people and JSON for scripts.

use std::collections::BTreeMap;
use std::io::{self, Write};

use serde::Serialize;

/// An instance left in place, and why.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct SkippedInstance {
    pub uuid: String,
    pub reason: String,
    /// `table.column` of each reference that held it back, when known.
    pub blocked_by: Vec<String>,
}

/// A registered target that did not run here.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct SkippedTargetReport {
    pub name: String,
    pub table: String,
    pub reason: String,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    pub dry_run: bool,
    /// The database purged, password redacted.
    pub database: String,
    pub older_than_days: u32,
    /// RFC 3339, UTC: instances deleted before this moment are candidates.
    pub cutoff: String,
    /// Instances purged (or, in a dry run, that would be).
    pub instances: u64,
    /// Table → rows deleted (or that would be), every table that was looked at.
    pub tables: BTreeMap<String, u64>,
    pub skipped_instances: Vec<SkippedInstance>,
    /// Tables of registered targets absent from this database.
    pub skipped_targets: Vec<String>,
    /// The same, with the reason, for people.
    pub skipped_target_details: Vec<SkippedTargetReport>,
    /// True when `--max-number` ended the run with candidates left.
    pub more_remaining: bool,
    /// True when Ctrl-C stopped the run after a committed batch.
    pub interrupted: bool,
    /// True when the API database rows of purged instances were removed
    /// too; false when no API database was given.
    pub api_cleaned: bool,
    /// Instances whose API rows an earlier, interrupted run left and this
    /// run removed.
    pub api_leftovers: u64,
    /// Transactions run.
    pub batches: u64,
    pub elapsed_ms: u64,
    /// The longest single batch transaction, in milliseconds.
    pub max_batch_ms: u64,
    /// Tables in the order their rows are deleted, for the text report.
    #[serde(skip)]
    pub table_order: Vec<String>,
}

impl Report {
    /// A report of nothing done yet on `database`.
    pub fn empty(database: String, options: &crate::engine::PurgeOptions) -> Report {
        Report {
            dry_run: options.dry_run,
            database,
            older_than_days: options.older_than_days,
            cutoff: options
                .cutoff
                .and_utc()
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            api_cleaned: true,
            ..Report::default()
        }
    }

    /// Adds another database's report to these totals.
    pub fn merge(&mut self, other: &Report) {
        self.instances += other.instances;
        for (table, rows) in &other.tables {
            *self.tables.entry(table.clone()).or_default() += rows;
            if !self.table_order.contains(table) {
                self.table_order.push(table.clone());
            }
        }
        self.skipped_instances
            .extend(other.skipped_instances.iter().cloned());
        for table in &other.skipped_targets {
            if !self.skipped_targets.contains(table) {
                self.skipped_targets.push(table.clone());
            }
        }
        for detail in &other.skipped_target_details {
            if !self.skipped_target_details.contains(detail) {
                self.skipped_target_details.push(detail.clone());
            }
        }
        self.more_remaining |= other.more_remaining;
        self.interrupted |= other.interrupted;
        self.api_cleaned &= other.api_cleaned;
        self.api_leftovers += other.api_leftovers;
        self.batches += other.batches;
        self.elapsed_ms += other.elapsed_ms;
        self.max_batch_ms = self.max_batch_ms.max(other.max_batch_ms);
    }

    /// Adds rows deleted (or counted) per table.
    pub fn add_rows(&mut self, rows: impl IntoIterator<Item = (&'static str, u64)>) {
        for (table, n) in rows {
            *self.tables.entry(table.to_owned()).or_default() += n;
        }
    }

    pub fn total_rows(&self) -> u64 {
        self.tables.values().sum()
    }

    pub fn write_json(&self, out: &mut dyn Write) -> io::Result<()> {
        serde_json::to_writer(&mut *out, self)?;
        writeln!(out)
    }

    pub fn write_text(&self, out: &mut dyn Write) -> io::Result<()> {
        let verb = if self.dry_run {
            "would be deleted"
        } else {
            "deleted"
        };
        if self.dry_run {
            writeln!(out, "DRY RUN: nothing was deleted.")?;
        }
        writeln!(out, "database:  {}", self.database)?;
        writeln!(
            out,
            "cutoff:    {} (deleted more than {} days ago)",
            self.cutoff, self.older_than_days
        )?;
        writeln!(
            out,
            "instances: {} {verb}, in {} batches",
            self.instances, self.batches
        )?;
        writeln!(out, "rows {verb}, by table:")?;
        let width = self.table_order.iter().map(String::len).max().unwrap_or(0);
        for table in &self.table_order {
            let rows = self.tables.get(table).copied().unwrap_or(0);
            writeln!(out, "  {table:<width$}  {rows:>10}")?;
        }
        writeln!(out, "  {:<width$}  {:>10}", "total", self.total_rows())?;
        if !self.skipped_instances.is_empty() {
            writeln!(out, "instances skipped: {}", self.skipped_instances.len())?;
            for skipped in &self.skipped_instances {
                writeln!(out, "  {}  {}", skipped.uuid, skipped.reason)?;
            }
        }
        if !self.skipped_target_details.is_empty() {
            writeln!(out, "targets skipped:")?;
            for skipped in &self.skipped_target_details {
                writeln!(out, "  {}: {}", skipped.name, skipped.reason)?;
            }
        }
        if !self.api_cleaned {
            writeln!(
                out,
                "API database: not given, so rows in instance_mappings, request_specs, instance_group_member and build_requests were not cleaned"
            )?;
        } else if self.api_leftovers > 0 {
            writeln!(
                out,
                "API database: also removed the rows of {} instances an earlier run had purged",
                self.api_leftovers
            )?;
        }
        if self.interrupted {
            writeln!(
                out,
                "interrupted: stopped after the last committed batch; run again to continue"
            )?;
        }
        if self.more_remaining {
            writeln!(
                out,
                "more remaining: --max-number was reached; run again to continue"
            )?;
        }
        writeln!(
            out,
            "elapsed:   {:.3} s (longest batch {} ms)",
            self.elapsed_ms as f64 / 1000.0,
            self.max_batch_ms
        )
    }
}
