//! What both engines do with a batch that did not commit: run it again
//! after a transient conflict with a concurrent writer, and turn what is
//! left into one error line.

use std::future::Future;

use tracing::warn;

use crate::database::errors::is_transient;
use crate::error::{describe_sqlx, Error};
use crate::export::writer::CommitError;
use crate::limits::{FIRST_RETRY_PAUSE, MAX_ATTEMPTS};

/// Runs `batch`, again after a transient conflict (deadlock, lock wait
/// timeout, serialization failure, busy SQLite, Galera certification
/// failure), with a doubling pause, at most [`MAX_ATTEMPTS`] times in all.
pub async fn with_retries<T, F, Fut>(mut batch: F) -> Result<T, CommitError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, CommitError>>,
{
    let mut pause = FIRST_RETRY_PAUSE;
    let mut attempt = 1;
    loop {
        match batch().await {
            Err(CommitError::Database(e)) if is_transient(&e) && attempt < MAX_ATTEMPTS => {
                warn!(attempt, error = %describe_sqlx(&e), "batch rolled back by a conflict; retrying");
                tokio::time::sleep(pause).await;
                pause *= 2;
                attempt += 1;
            }
            other => return other,
        }
    }
}

/// The error that ends a run when a batch could not commit.
pub fn batch_failure(err: CommitError) -> Error {
    match err {
        // The connection broke: the batch is wholly undone, unless it broke
        // during the commit, when it may be wholly done.
        CommitError::Database(e @ sqlx::Error::Io(_)) => {
            Error::database("purge batch interrupted", e)
        }
        CommitError::Database(e) => Error::database("purge batch failed and was rolled back", e),
        CommitError::Export(failure) => failure,
    }
}
