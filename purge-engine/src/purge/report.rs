//! The result of a purge, as data: the command line renders it as text for
//! people and serialises it as JSON for scripts.

use std::collections::BTreeMap;

use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};

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
    /// Registered targets that did not run here, with the reason. The JSON
    /// report shows them twice: `skipped_targets` (their tables, for
    /// scripts) and `skipped_target_details`.
    #[serde(flatten, serialize_with = "skipped_targets_json")]
    pub skipped_targets: Vec<SkippedTargetReport>,
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
    /// Time spent pausing between batches (`--sleep`), in milliseconds.
    pub paused_ms: u64,
    /// Tables in the order their rows are deleted, for the text report.
    #[serde(skip)]
    pub table_order: Vec<String>,
}

impl Report {
    /// A report of nothing done yet on `database`.
    pub fn empty(database: String, options: &super::options::PurgeOptions) -> Report {
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
        for skipped in &other.skipped_targets {
            if !self.skipped_targets.contains(skipped) {
                self.skipped_targets.push(skipped.clone());
            }
        }
        self.more_remaining |= other.more_remaining;
        self.interrupted |= other.interrupted;
        self.api_cleaned &= other.api_cleaned;
        self.api_leftovers += other.api_leftovers;
        self.batches += other.batches;
        self.elapsed_ms += other.elapsed_ms;
        self.max_batch_ms = self.max_batch_ms.max(other.max_batch_ms);
        self.paused_ms += other.paused_ms;
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
}

/// `skipped_targets` (the tables) and `skipped_target_details` (the
/// whole entries), flattened into the report.
fn skipped_targets_json<S: Serializer>(
    skipped: &[SkippedTargetReport],
    serializer: S,
) -> Result<S::Ok, S::Error> {
    let mut tables: Vec<&str> = Vec::new();
    for entry in skipped {
        if !tables.contains(&entry.table.as_str()) {
            tables.push(&entry.table);
        }
    }
    let mut map = serializer.serialize_map(Some(2))?;
    map.serialize_entry("skipped_targets", &tables)?;
    map.serialize_entry("skipped_target_details", skipped)?;
    map.end()
}
