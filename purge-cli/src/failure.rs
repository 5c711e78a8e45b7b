//! Why a command ended early, and the exit status that says so.

use std::io;

use crate::cli::exit::ExitStatus;

#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// The engine refused the input or met an error.
    #[error(transparent)]
    Engine(#[from] purge_engine::Error),
    /// Bad usage that the command line itself found.
    #[error("{0}")]
    Usage(String),
    /// The report could not be written.
    #[error("cannot write the report: {0}")]
    Output(#[from] io::Error),
    /// `--metrics-file` could not be written (after the run).
    #[error("{0}")]
    Metrics(String),
}

impl Failure {
    pub fn status(&self) -> ExitStatus {
        match self {
            Failure::Engine(err) if err.is_input() => ExitStatus::Usage,
            Failure::Usage(_) => ExitStatus::Usage,
            Failure::Engine(_) | Failure::Output(_) | Failure::Metrics(_) => ExitStatus::Error,
        }
    }
}

impl From<purge_api::RegistryError> for Failure {
    fn from(err: purge_api::RegistryError) -> Self {
        Failure::Engine(err.into())
    }
}
