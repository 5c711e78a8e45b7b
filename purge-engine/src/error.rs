//! The errors the engine returns. Each variant says who must act: the
//! operator's input ([`Error::Input`]), the database ([`Error::Database`]),
//! the audit export's disk ([`Error::Export`]) or the build
//! ([`Error::Registry`]). The command line maps them to exit codes.

use std::path::PathBuf;

use purge_api::RegistryError;

use crate::database::errors::describe_sqlx;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad input (a URL, nova.conf, an export file, a refused confirmation):
    /// the operator must change the command. Nothing was deleted.
    #[error("{0}")]
    Input(String),
    /// The database refused or failed; the message says what was attempted.
    #[error("{0}")]
    Database(String),
    /// The audit export could not be written; the batch in flight was rolled
    /// back.
    #[error("cannot write the export file {}: {source}", path.display())]
    Export {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The targets linked into this binary do not form a valid registry.
    #[error("the purge target registry is invalid: {0}")]
    Registry(#[from] RegistryError),
}

impl Error {
    /// Wraps a database error met while doing `what`, with a hint where the
    /// cause is one an operator can fix.
    pub fn database(what: &str, err: sqlx::Error) -> Error {
        Error::Database(format!("{what}: {}", describe_sqlx(&err)))
    }

    /// True when the operator's input was at fault and nothing was deleted.
    pub fn is_input(&self) -> bool {
        matches!(self, Error::Input(_))
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
