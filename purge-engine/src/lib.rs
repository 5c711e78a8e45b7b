//! The engine of nova-purge, as a library: everything between the command
//! line and the databases. It takes plain option structs, reports progress
//! to an [`Observer`], stops on a [`Cancel`] token and returns its own
//! [`Error`]; it never prints and never reads the terminal.
//!
//! * [`connections`]: where the databases are, from URLs and nova.conf
//!   ([`config`]).
//! * [`database`]: URLs, connecting, the live schema, error meanings.
//! * [`purge`]: the plan, the batch engine, the API database, the run.
//! * [`check`]: what a database has that the registry does not cover.
//! * [`indexes`]: creates the indexes `check` finds missing, on request.
//! * [`export`]: the audit export, written before each commit.
//! * [`restore`]: puts an export's rows back.
//!
//! The purge targets themselves come from the link-time registry of
//! `purge-api`; a binary links the crates that register them (nova-purge
//! links `purge-plugins`).

pub mod check;
pub mod config;
pub mod connections;
pub mod control;
pub mod database;
pub mod error;
pub(crate) mod export;
pub mod indexes;
pub mod limits;
pub mod purge;
pub mod restore;
pub mod secrets;
pub mod untrusted;

pub use connections::{Connections, Sources};
pub use control::{Cancel, Observer, Silent};
pub use error::{Error, Result};
