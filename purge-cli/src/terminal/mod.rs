//! What nova-purge does with the terminal: asks before deleting (or
//! creating indexes), shows progress on stderr, and turns Ctrl-C into a
//! cancellation.

pub mod confirm;
pub mod interrupt;
pub mod progress;
pub mod scrub;

use std::sync::Mutex;

use chrono::NaiveDateTime;
use purge_engine::{Error, Observer};

use progress::{Cells, Progress};

/// The command line's [`Observer`]: confirmation on the terminal (unless
/// `--yes`), progress on stderr (unless quiet or a JSON report).
pub struct TerminalObserver {
    /// `--yes`: confirmed in advance.
    pub assume_yes: bool,
    /// The cutoff, named in the question.
    pub cutoff: NaiveDateTime,
    /// Show progress on stderr.
    pub show_progress: bool,
    /// `--log-format json`: stderr carries only JSON lines, so progress is
    /// a log event and there is no prompt.
    pub json_logs: bool,
    progress: Mutex<Option<Progress>>,
}

impl TerminalObserver {
    pub fn new(
        assume_yes: bool,
        cutoff: NaiveDateTime,
        show_progress: bool,
        json_logs: bool,
    ) -> Self {
        TerminalObserver {
            assume_yes,
            cutoff,
            show_progress,
            json_logs,
            progress: Mutex::new(None),
        }
    }

    fn with_progress(&self, action: impl FnOnce(&mut Progress)) {
        let mut progress = self
            .progress
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(progress) = progress.as_mut() {
            action(progress);
        }
    }
}

impl Observer for TerminalObserver {
    /// Asks on the terminal before deleting; refuses outright when there is
    /// no terminal to ask on, so that a script never deletes without `--yes`.
    fn confirm(&self, what: &str) -> Result<(), Error> {
        let question = format!(
            "This PERMANENTLY deletes every instance in {what} deleted before {} UTC, with all its rows.\n\
             Run with --dry-run first to see what would go.",
            self.cutoff.format("%Y-%m-%d %H:%M:%S"),
        );
        confirm::ask(self.assume_yes, self.json_logs, confirm::DELETE, &question)
    }

    /// A bar with the fraction done is worth a `COUNT` only on a terminal.
    fn wants_total(&self) -> bool {
        self.show_progress && !self.json_logs && Progress::is_interactive()
    }

    fn database_started(&self, total: Option<u64>, dry_run: bool) {
        if self.show_progress {
            *self
                .progress
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner()) =
                Some(Progress::start(total, dry_run, self.json_logs));
        }
    }

    fn batch_done(&self, done: u64) {
        self.with_progress(|progress| progress.update(done));
    }

    fn database_finished(&self, done: u64) {
        self.with_progress(|progress| progress.finish(done));
    }

    fn cells_progress(&self, running: usize, finished: usize, total: usize) {
        self.with_progress(|progress| {
            progress.cells = Some(Cells {
                running,
                finished,
                total,
            })
        });
    }
}
