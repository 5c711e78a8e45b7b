//! The contract between nova-purge and the tables it purges.
//!
//! * [`PurgeTarget`]: one implementation per table that holds rows belonging
//!   to an instance. Most are declared in one line with [`register_target!`]
//!   and a [`Link`]; the trait stays open for tables that need their own SQL.
//! * [`TARGETS`]: the link-time registry every target adds itself to, and
//!   [`Registry`], which validates it once and derives the execution order.
//! * [`Db`], [`Tx`] and [`Stmt`]: a small backend-neutral SQL layer over
//!   sqlx, so a target writes its statement once for MariaDB/MySQL,
//!   PostgreSQL and SQLite; [`Session`] runs what must not be inside a
//!   transaction (schema changes, and the session settings they need).

mod registry;
mod sql;
mod target;

pub use registry::{Location, Registration, Registry, RegistryError, TARGETS};
pub use sql::{Backend, Db, Session, Stmt, Tx, Value};
pub use target::{DatabaseKind, InstanceBatch, Link, PurgeTarget, Scope, TableTarget};

/// Re-exports used by [`register_target!`]; not part of the API.
#[doc(hidden)]
pub mod __private {
    pub use linkme;
}
