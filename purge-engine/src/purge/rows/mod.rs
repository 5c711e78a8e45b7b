//! The scopes other than `instances` (`rows`, `task-log`, `shadow`): rows
//! chosen by their own columns (`deleted <> 0` and `deleted_at`, or
//! `period_ending`, before the cutoff) rather than through an instance.
//! [`plan`] expands and orders the registered targets for one database;
//! [`engine`] deletes their rows in keyset batches, one transaction each,
//! leaving (and reporting) a row that a row which stays still references.

pub(crate) mod engine;
pub(crate) mod plan;
