//! The limits every layer shares: the command line validates against them,
//! the engine relies on them.

use std::time::Duration;

/// Instances per transaction unless `--batch-size` says otherwise; see
/// docs/benchmarks.md for the measurements behind it.
pub const DEFAULT_BATCH_SIZE: usize = 500;

/// How long one batch transaction should take unless `--batch-time` says
/// otherwise: the size adapts to it, up to `--batch-size`. Half a second
/// holds Nova's writers back no longer than a slow API call; see
/// docs/benchmarks.md for the measurements behind it.
pub const DEFAULT_BATCH_TIME: Duration = Duration::from_millis(500);

/// Longest accepted `--batch-time`.
pub const MAX_BATCH_TIME: Duration = Duration::from_secs(60);

/// Largest accepted `--batch-size`: two lists of this many parameters stay
/// well under SQLite's 32766 bound parameters per statement.
pub const MAX_BATCH_SIZE: usize = 10_000;

/// Default `--older-than`, in days.
pub const DEFAULT_OLDER_THAN_DAYS: u32 = 90;

/// Largest accepted `--older-than`: a cutoff a hundred years back is still
/// a date every backend can store.
pub const MAX_OLDER_THAN_DAYS: u32 = 36_500;

/// Cells purged at once unless `--jobs` says otherwise. Cells on one
/// database server are never purged at once, so the run's concurrency is
/// at most the number of servers the cells live on: a few in most clouds.
/// Four lets a cloud whose cells are spread over several database clusters
/// purge them together, while the API database (cleaned after every batch
/// of every running cell, one transaction at a time), the host running
/// nova-purge and the Ctrl-C wait (one batch in flight per running cell)
/// stay close to a run of one cell at a time. docs/architecture.md,
/// "Cells purged at once".
pub const DEFAULT_JOBS: usize = 4;

/// Largest accepted `--jobs`: each running cell holds its own two
/// connections, and few clouds have more database servers than this.
pub const MAX_JOBS: usize = 64;

/// Longest accepted `--sleep` between batches.
pub const MAX_SLEEP: Duration = Duration::from_secs(3600);

/// Attempts of one batch before a transient conflict becomes an error.
pub const MAX_ATTEMPTS: u32 = 6;

/// The pause before the first retry of a batch; it doubles each time (0.1 s
/// to 1.6 s).
pub const FIRST_RETRY_PAUSE: Duration = Duration::from_millis(100);

/// How long to wait for a server before giving up with a clear error.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How long `create-indexes` lets a statement wait for a lock unless
/// `--lock-timeout` says otherwise. While an index build waits for its
/// brief exclusive lock, Nova's statements on the table queue behind it: a
/// few seconds is what a slow API call already costs.
pub const DEFAULT_LOCK_TIMEOUT: Duration = Duration::from_secs(3);

/// Longest accepted `--lock-timeout`.
pub const MAX_LOCK_TIMEOUT: Duration = Duration::from_secs(60);
