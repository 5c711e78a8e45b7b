//! What `create-indexes` did, or would do, per database and per index.

use serde::Serialize;

use super::method::Method;

#[derive(Debug, Clone, Serialize)]
pub struct IndexesReport {
    pub dry_run: bool,
    /// True when Ctrl-C stopped the run between two indexes.
    pub interrupted: bool,
    pub databases: Vec<DatabaseIndexes>,
}

/// One cell database.
#[derive(Debug, Clone, Serialize)]
pub struct DatabaseIndexes {
    /// The URL, password redacted.
    pub database: String,
    /// Its `cell_mappings` name and uuid, with `--all-cells` or `--cell`.
    pub cell: Option<String>,
    pub cell_uuid: Option<String>,
    /// How its indexes are built (absent when it could not be read).
    pub method: Option<Method>,
    /// Session settings run before the first index, each a statement.
    pub session: Vec<String>,
    pub indexes: Vec<IndexReport>,
    /// Why this database could not be looked at (null when it was).
    pub error: Option<String>,
}

/// One index.
#[derive(Debug, Clone, Serialize)]
pub struct IndexReport {
    pub table: String,
    pub column: String,
    pub name: String,
    /// The statements that create it, in order, exactly as run.
    pub statements: Vec<String>,
    pub outcome: Outcome,
    /// Why it was not created, and what is left and what to do.
    pub message: Option<String>,
    /// How long its statements took.
    pub elapsed_ms: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// `--dry-run`: this is what a real run would do.
    WouldCreate,
    Created,
    /// A lock wait outlasted `--lock-timeout`; not created.
    TimedOut,
    /// The server refused, or the name is taken; not created.
    Failed,
}

impl IndexesReport {
    /// True when a database could not be looked at or an index failed.
    pub fn failed(&self) -> bool {
        self.databases
            .iter()
            .any(|d| d.error.is_some() || d.indexes.iter().any(|i| i.outcome == Outcome::Failed))
    }

    /// True when an index was not created for a lock wait that timed out.
    pub fn timed_out(&self) -> bool {
        self.indexes().any(|i| i.outcome == Outcome::TimedOut)
    }

    /// Every index of every database.
    pub fn indexes(&self) -> impl Iterator<Item = &IndexReport> {
        self.databases.iter().flat_map(|d| &d.indexes)
    }
}
