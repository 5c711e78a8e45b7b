//! Progress of cells purged at once. The engine tells its observer about
//! one database at a time (started, batch done with the count so far,
//! finished); with several cells running, those calls would interleave and
//! a display would jump from one cell's count to another's. [`RunProgress`]
//! turns them into one run: started once, the instances of every cell
//! added up, finished once, and [`Observer::cells_progress`] for how many
//! cells run and are done.

use std::sync::Mutex;

use crate::control::Observer;
use crate::error::Result;

/// The run, as the caller's observer sees it.
pub struct RunProgress<'a> {
    observer: &'a dyn Observer,
    /// Instances done so far in each cell, by its place in the selection.
    done: Mutex<Vec<u64>>,
}

impl<'a> RunProgress<'a> {
    /// Tells `observer` a run over `cells` cells starts.
    pub fn start(observer: &'a dyn Observer, cells: usize, dry_run: bool) -> RunProgress<'a> {
        // No total: a run-wide one would need every cell counted before the
        // first could start.
        observer.database_started(None, dry_run);
        RunProgress {
            observer,
            done: Mutex::new(vec![0; cells]),
        }
    }

    /// The observer the engine is given for the cell at `index`.
    pub fn cell(&self, index: usize) -> CellProgress<'_, 'a> {
        CellProgress { run: self, index }
    }

    pub fn cells(&self, running: usize, finished: usize, total: usize) {
        self.observer.cells_progress(running, finished, total);
    }

    pub fn finish(&self) {
        self.observer.database_finished(self.total());
    }

    fn record(&self, index: usize, done: u64) -> u64 {
        let mut cells = self.done.lock().unwrap_or_else(|p| p.into_inner());
        cells[index] = done;
        cells.iter().sum()
    }

    fn total(&self) -> u64 {
        self.done
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .sum()
    }
}

/// One cell's view of a [`RunProgress`].
pub struct CellProgress<'r, 'a> {
    run: &'r RunProgress<'a>,
    index: usize,
}

impl Observer for CellProgress<'_, '_> {
    fn confirm(&self, what: &str) -> Result<()> {
        self.run.observer.confirm(what)
    }

    fn batch_done(&self, done: u64) {
        let total = self.run.record(self.index, done);
        self.run.observer.batch_done(total);
    }

    fn database_finished(&self, done: u64) {
        self.run.record(self.index, done);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default)]
    struct Seen(Mutex<Vec<String>>);

    impl Observer for Seen {
        fn database_started(&self, total: Option<u64>, _: bool) {
            self.0.lock().unwrap().push(format!("start {total:?}"));
        }
        fn batch_done(&self, done: u64) {
            self.0.lock().unwrap().push(format!("done {done}"));
        }
        fn database_finished(&self, done: u64) {
            self.0.lock().unwrap().push(format!("finished {done}"));
        }
    }

    #[test]
    fn cells_add_up_into_one_run() {
        let seen = Seen::default();
        let run = RunProgress::start(&seen, 2, false);
        let (a, b) = (run.cell(0), run.cell(1));
        a.database_started(Some(10), false);
        a.batch_done(5);
        b.batch_done(3);
        a.batch_done(8);
        a.database_finished(8);
        b.database_finished(4);
        run.finish();
        assert_eq!(
            *seen.0.lock().unwrap(),
            ["start None", "done 5", "done 8", "done 11", "finished 12"]
        );
    }
}
