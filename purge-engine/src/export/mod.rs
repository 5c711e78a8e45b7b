//! The audit export: `purge --export` writes every deleted row to a JSON
//! Lines file before the delete commits. [`record`] defines the file's
//! lines, [`writer`] writes them; `restore` reads them back.

pub mod capture;
pub mod record;
pub mod writer;
