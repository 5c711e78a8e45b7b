//! The audit trail: `purge --export` writes every deleted row to a JSON
//! Lines file before the delete commits, and `restore` puts them back.

pub mod record;
pub mod restore;
pub mod writer;

pub use restore::{restore, RestoreOptions, RestoreReport};
pub use writer::{Export, Recorder, SharedExport};
