//! The purge: the plan for one database, the batch engine that carries it
//! out, the API database's part, and the run over every selected cell.

pub mod api_database;
pub mod cells;
pub mod engine;
pub mod findings;
pub mod options;
pub mod plan;
pub mod report;

pub use cells::{purge, CellReport, CellSelection, PurgeRequest, RunReport};
pub use options::PurgeOptions;
pub use report::{Report, SkippedInstance, SkippedTargetReport};
