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

/// A row of a scope other than `instances` left in place, and why.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct SkippedRow {
    pub table: String,
    /// Its primary key, as text.
    pub key: String,
    /// `table.column` of each reference that held it back, or the database's
    /// refusal.
    pub reason: String,
}

/// The sizes of the batches a run took (instances, or rows in the other
/// scopes), shown as their smallest, median and largest: with
/// `--batch-time` they follow the server's pace.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BatchSizes(Vec<usize>);

impl BatchSizes {
    pub fn push(&mut self, size: usize) {
        self.0.push(size);
    }

    pub fn merge(&mut self, other: &BatchSizes) {
        self.0.extend_from_slice(&other.0);
    }

    /// (smallest, median, largest), or `None` before the first batch.
    pub fn spread(&self) -> Option<(usize, usize, usize)> {
        let mut sizes = self.0.clone();
        sizes.sort_unstable();
        Some((*sizes.first()?, sizes[sizes.len() / 2], *sizes.last()?))
    }
}

impl Serialize for BatchSizes {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let Some((min, median, max)) = self.spread() else {
            return serializer.serialize_none();
        };
        let mut map = serializer.serialize_map(Some(3))?;
        map.serialize_entry("min", &min)?;
        map.serialize_entry("median", &median)?;
        map.serialize_entry("max", &max)?;
        map.end()
    }
}

/// What one scope other than `instances` did (`rows`, `task-log`,
/// `shadow`). Its unit is rows: `--max-number` caps them and
/// `--batch-size` is rows per transaction.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ScopeReport {
    /// Rows deleted (or, in a dry run, that would be).
    pub rows: u64,
    /// Table → rows deleted (or that would be).
    pub tables: BTreeMap<String, u64>,
    /// Rows left because a row that stays still references them.
    pub skipped_rows: u64,
    /// The first of them, with the reason (at most [`SKIPPED_SHOWN`] a table).
    pub skipped: Vec<SkippedRow>,
    /// Transactions run.
    pub batches: u64,
    /// The longest single batch transaction, in milliseconds.
    pub max_batch_ms: u64,
    /// Rows each batch took.
    pub batch_sizes: BatchSizes,
    /// Time spent pausing before batches (`--sleep`, replication lag,
    /// flow control), in milliseconds; also counted in the run's total.
    pub paused_ms: u64,
    /// True when `--max-number` ended the scope with rows left.
    pub more_remaining: bool,
}

/// How many skipped rows of one table a report lists one by one.
pub const SKIPPED_SHOWN: usize = 20;

impl ScopeReport {
    /// Adds another database's figures to these totals.
    pub fn merge(&mut self, other: &ScopeReport) {
        self.rows += other.rows;
        for (table, rows) in &other.tables {
            *self.tables.entry(table.clone()).or_default() += rows;
        }
        self.skipped_rows += other.skipped_rows;
        self.skipped.extend(other.skipped.iter().cloned());
        self.batches += other.batches;
        self.max_batch_ms = self.max_batch_ms.max(other.max_batch_ms);
        self.batch_sizes.merge(&other.batch_sizes);
        self.paused_ms += other.paused_ms;
        self.more_remaining |= other.more_remaining;
    }
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
    /// Instances each batch took.
    pub batch_sizes: BatchSizes,
    /// The scopes purged (`instances` first; the others are in `scopes`).
    pub purged_scopes: Vec<&'static str>,
    /// What each scope other than `instances` did, by scope name.
    pub scopes: BTreeMap<&'static str, ScopeReport>,
    /// Time spent pausing before batches (`--sleep`, replication lag,
    /// flow control), in milliseconds, every scope's included.
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
            purged_scopes: options.scopes.iter().map(|s| s.name()).collect(),
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
        for (scope, figures) in &other.scopes {
            self.scopes.entry(scope).or_default().merge(figures);
        }
        for name in &other.purged_scopes {
            if !self.purged_scopes.contains(name) {
                self.purged_scopes.push(name);
            }
        }
        self.interrupted |= other.interrupted;
        self.api_cleaned &= other.api_cleaned;
        self.api_leftovers += other.api_leftovers;
        self.batches += other.batches;
        self.elapsed_ms += other.elapsed_ms;
        self.max_batch_ms = self.max_batch_ms.max(other.max_batch_ms);
        self.batch_sizes.merge(&other.batch_sizes);
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
