//! How many units (instances, or rows in the own-row scopes) the next batch
//! takes.
//!
//! - `--batch-time` (pt-online-schema-change's `--chunk-time`): the size
//!   follows the rate the last batches ran at, so that a transaction, and
//!   every lock it holds, lasts about that long: bigger on a quiet server,
//!   smaller on a busy one. It starts small and at most doubles from one
//!   batch to the next, so that a slow server is found out before a batch
//!   holds its locks for long.
//! - `--batch-size` is the ceiling, whatever the rate.
//! - A Galera cluster bounds one transaction's write set
//!   (`wsrep_max_ws_rows`): the size follows the rows each unit turned out
//!   to cost, and halves when the cluster refuses a write set anyway (the
//!   engine then splits the batch in two): a run never fails on a write set
//!   that is too large while one unit fits.

use std::cell::Cell;
use std::time::Duration;

/// Of a write-set limit, the share a batch aims at: what a unit costs is
/// only known on average.
const WRITE_SET_SHARE: f64 = 0.8;

/// The first batch of a time-bounded run: small, so that a slow server is
/// found out by a short transaction.
const FIRST_TIMED_BATCH: usize = 50;

/// How much a faster batch counts against the earlier ones' rate. A slower
/// one counts whole: a server that got busy is believed at once, one that
/// got quiet only gradually.
const FASTER_RATE_WEIGHT: f64 = 0.5;

#[derive(Debug)]
pub struct BatchSizer {
    /// `--batch-size`: never more.
    ceiling: usize,
    /// `--batch-time`: how long a batch should take, when sizes adapt.
    target: Option<Duration>,
    /// Units per second the last batches ran at (moving average).
    rate: Cell<Option<f64>>,
    /// The size of the last batch, which the next at most doubles.
    last: Cell<Option<usize>>,
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
            target: None,
            rate: Cell::new(None),
            last: Cell::new(None),
            write_set_rows: write_set_rows.filter(|rows| *rows > 0),
            rows_per_unit: Cell::new(rows_per_unit.max(1.0)),
            refused_at: Cell::new(None),
        }
    }

    /// Adapts the size so that each batch takes about `target`.
    pub fn with_target(mut self, target: Option<Duration>) -> Self {
        self.target = target.filter(|t| !t.is_zero());
        self
    }

    /// The size of the next batch.
    pub fn next(&self) -> usize {
        let mut size = self.ceiling;
        if let Some(target) = self.target {
            let timed = match (self.rate.get(), self.last.get()) {
                (Some(rate), Some(last)) => {
                    let fits = (rate * target.as_secs_f64()).round() as usize;
                    fits.clamp(1, last.saturating_mul(2).max(1))
                }
                _ => FIRST_TIMED_BATCH,
            };
            size = size.min(timed.max(1));
        }
        if let Some(limit) = self.write_set_rows {
            let fits = (limit as f64 * WRITE_SET_SHARE / self.rows_per_unit.get()).floor();
            size = size.min((fits as usize).max(1));
        }
        if let Some(refused) = self.refused_at.get() {
            size = size.min((refused / 2).max(1));
        }
        size
    }

    /// A batch that took `units` candidates ran in `elapsed`, and purged
    /// `purged` of them with `rows` rows in all.
    pub fn observe(&self, units: usize, purged: usize, rows: u64, elapsed: Duration) {
        if units > 0 {
            self.last.set(Some(units));
            let seconds = elapsed.as_secs_f64().max(0.001);
            let rate = units as f64 / seconds;
            let believed = match self.rate.get() {
                Some(before) if rate > before => {
                    before * (1.0 - FASTER_RATE_WEIGHT) + rate * FASTER_RATE_WEIGHT
                }
                _ => rate,
            };
            self.rate.set(Some(believed));
        }
        self.observe_rows(purged, rows);
    }

    fn observe_rows(&self, units: usize, rows: u64) {
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
        sizer.observe(500, 500, 100_000, Duration::from_secs(9));
        assert_eq!(sizer.next(), 500);
    }

    #[test]
    fn a_write_set_limit_bounds_the_rows_of_a_batch() {
        let sizer = BatchSizer::new(500, Some(1_000), 40.0);
        assert_eq!(sizer.next(), 20);
        // Instances turn out to cost 10 rows each.
        for _ in 0..10 {
            sizer.observe(20, 20, 200, Duration::from_millis(10));
        }
        assert!(sizer.next() >= 60 && sizer.next() <= 80, "{}", sizer.next());
        // Own rows cost one each.
        let rows = BatchSizer::new(5_000, Some(1_000), 1.0);
        assert_eq!(rows.next(), 800);
    }

    #[test]
    fn a_time_target_follows_the_rate_and_grows_at_most_twofold() {
        let sizer =
            BatchSizer::new(5_000, None, 40.0).with_target(Some(Duration::from_millis(500)));
        assert_eq!(sizer.next(), FIRST_TIMED_BATCH);
        // A quiet server: 50 instances in 10 ms. The next doubles, no more.
        sizer.observe(50, 50, 2_000, Duration::from_millis(10));
        assert_eq!(sizer.next(), 100);
        sizer.observe(100, 100, 4_000, Duration::from_millis(20));
        assert_eq!(sizer.next(), 200);
        // Then the server gets busy: 200 in 2 s. The size drops at once to
        // what fits in the target.
        sizer.observe(200, 200, 8_000, Duration::from_secs(2));
        assert_eq!(sizer.next(), 50);
        // And grows back gradually when it is quiet again.
        sizer.observe(50, 50, 2_000, Duration::from_millis(10));
        assert_eq!(sizer.next(), 100);
        // The ceiling holds however fast it goes.
        let fast = BatchSizer::new(300, None, 40.0).with_target(Some(Duration::from_secs(1)));
        for _ in 0..10 {
            let size = fast.next();
            fast.observe(size, size, 0, Duration::from_millis(1));
        }
        assert_eq!(fast.next(), 300);
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
