//! How a caller follows and steers a run without the engine knowing about
//! terminals or signals: an [`Observer`] that is told of progress and asked
//! for confirmation, and a [`Cancel`] token that stops the run after the
//! batch in flight commits.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::error::Result;

/// Asks to stop a run; cheap to clone, shared by everything that checks it.
#[derive(Debug, Clone, Default)]
pub struct Cancel(Arc<AtomicBool>);

impl Cancel {
    pub fn new() -> Cancel {
        Cancel::default()
    }

    /// Asks every holder of this token to stop at the next safe point.
    pub fn cancel(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }

    /// Sleeps for `duration`, waking early when the run is cancelled.
    pub async fn sleep(&self, duration: Duration) {
        let step = Duration::from_millis(100);
        let mut left = duration;
        while !left.is_zero() && !self.is_cancelled() {
            let nap = left.min(step);
            tokio::time::sleep(nap).await;
            left -= nap;
        }
    }
}

/// What the caller hears of a run as it goes. Every method has a default
/// that does nothing, so a library user implements only what it shows.
pub trait Observer: Send + Sync {
    /// Called once before anything is deleted from `what` (a database, or a
    /// list of cells), never in a dry run. An error stops the run with
    /// nothing deleted.
    fn confirm(&self, _what: &str) -> Result<()> {
        Ok(())
    }

    /// Called once before `create-indexes` changes the schema of `what` (a
    /// database, or a list of cells), with every statement it will run,
    /// never in a dry run. An error stops the run with nothing created.
    fn confirm_indexes(&self, _what: &str, _statements: &[String]) -> Result<()> {
        Ok(())
    }

    /// True when the caller wants the number of candidates before a
    /// database's purge starts (it costs one `COUNT`).
    fn wants_total(&self) -> bool {
        false
    }

    /// A database's purge starts, with its candidates when asked for.
    fn database_started(&self, _total: Option<u64>, _dry_run: bool) {}

    /// A batch committed (or, in a dry run, was counted): `done` instances
    /// so far in this database.
    fn batch_done(&self, _done: u64) {}

    /// A database's purge ended, with `done` instances.
    fn database_finished(&self, _done: u64) {}

    /// Several cells are purged at once (`--jobs`): the calls above then
    /// describe the whole run, not one database (started once, `done`
    /// counting every cell's instances, finished once), and this says how
    /// many cells are `running` and `finished`, of the `total` selected.
    fn cells_progress(&self, _running: usize, _finished: usize, _total: usize) {}
}

/// An observer that shows nothing and confirms everything.
#[derive(Debug, Clone, Copy, Default)]
pub struct Silent;

impl Observer for Silent {}
