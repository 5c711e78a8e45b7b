//! How many units (instances, or rows in the own-row scopes) the next batch
//! takes: `--batch-size` at most, and less when a Galera cluster bounds the
//! size of one transaction's write set (`wsrep_max_ws_rows`). The size
//! follows the rows each unit turned out to cost, and halves when the
//! cluster refuses a write set anyway (the engine then splits the batch in
//! two): a run never fails on a write set that is too large while one unit
//! fits.

use std::cell::Cell;

/// Of a write-set limit, the share a batch aims at: what a unit costs is
/// only known on average.
const WRITE_SET_SHARE: f64 = 0.8;

#[derive(Debug)]
pub struct BatchSizer {
    /// `--batch-size`: never more.
    ceiling: usize,
    /// `wsrep_max_ws_rows`, when a cluster sets one.
    write_set_rows: Option<u64>,
    /// Rows one unit costs, on average, so far (a guess before the first
    /// batch).
    rows_per_unit: Cell<f64>,
    /// Set when the cluster refused a write set: the size that failed.
    refused_at: Cell<Option<usize>>,
}

impl BatchSizer {
    /// `rows_per_unit` is the first guess of the rows one unit costs (an
    /// instance has tens; an own row is itself).
    pub fn new(ceiling: usize, write_set_rows: Option<u64>, rows_per_unit: f64) -> BatchSizer {
        BatchSizer {
            ceiling: ceiling.max(1),
            write_set_rows: write_set_rows.filter(|rows| *rows > 0),
            rows_per_unit: Cell::new(rows_per_unit.max(1.0)),
            refused_at: Cell::new(None),
        }
    }

    /// The size of the next batch.
    pub fn next(&self) -> usize {
        let mut size = self.ceiling;
        if let Some(limit) = self.write_set_rows {
            let fits = (limit as f64 * WRITE_SET_SHARE / self.rows_per_unit.get()).floor();
            size = size.min((fits as usize).max(1));
        }
        if let Some(refused) = self.refused_at.get() {
            size = size.min((refused / 2).max(1));
        }
        size
    }

    /// A batch of `units` committed, deleting `rows` rows in all.
    pub fn observe(&self, units: usize, rows: u64) {
        if units > 0 && rows > 0 {
            let observed = rows as f64 / units as f64;
            // Weighted towards the larger: a write set that is too large
            // costs a retry, one that is small only a little time.
            let estimate = self.rows_per_unit.get().max(observed * 0.5) * 0.5 + observed * 0.5;
            self.rows_per_unit.set(estimate.max(1.0));
        }
    }

    /// The cluster refused a write set of a batch of `units`.
    pub fn refused(&self, units: usize) {
        let before = self.refused_at.get().unwrap_or(usize::MAX);
        self.refused_at.set(Some(before.min(units)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_a_cluster_the_batch_size_is_the_ceiling() {
        let sizer = BatchSizer::new(500, None, 40.0);
        assert_eq!(sizer.next(), 500);
        sizer.observe(500, 100_000);
        assert_eq!(sizer.next(), 500);
    }

    #[test]
    fn a_write_set_limit_bounds_the_rows_of_a_batch() {
        let sizer = BatchSizer::new(500, Some(1_000), 40.0);
        assert_eq!(sizer.next(), 20);
        // Instances turn out to cost 10 rows each.
        for _ in 0..10 {
            sizer.observe(20, 200);
        }
        assert!(sizer.next() >= 60 && sizer.next() <= 80, "{}", sizer.next());
        // Own rows cost one each.
        let rows = BatchSizer::new(5_000, Some(1_000), 1.0);
        assert_eq!(rows.next(), 800);
    }

    #[test]
    fn a_refused_write_set_halves_the_batch_down_to_one() {
        let sizer = BatchSizer::new(500, None, 1.0);
        sizer.refused(500);
        assert_eq!(sizer.next(), 250);
        sizer.refused(2);
        assert_eq!(sizer.next(), 1);
        sizer.refused(1);
        assert_eq!(sizer.next(), 1);
    }
}
