//! The purge: the plan for one database, the batch engine that carries it
//! out, the API database's part, and the run over every selected cell.
//! [`purge`] is the entry point; the rest is how it works.

pub(crate) mod api_database;
mod budget;
mod cells;
pub(crate) mod engine;
pub(crate) mod findings;
mod options;
pub(crate) mod pacing;
pub(crate) mod plan;
mod progress;
mod report;
mod retry;
pub(crate) mod rows;
mod schedule;
mod sizing;

pub use cells::{purge, CellReport, CellSelection, PurgeRequest, RunReport};
pub use findings::{Finding, FindingKind, Severity};
pub use options::{cutoff_for, PurgeOptions};
pub use report::{
    BatchSizes, Report, ScopeReport, SkippedInstance, SkippedRow, SkippedTargetReport,
};
