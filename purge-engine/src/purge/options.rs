//! What one purge run is asked to do, as plain values.

use std::collections::BTreeSet;
use std::time::Duration;

use chrono::{NaiveDateTime, Timelike, Utc};
use purge_api::Scope;

use crate::error::Error;
use crate::limits::{DEFAULT_BATCH_SIZE, DEFAULT_BATCH_TIME, DEFAULT_OLDER_THAN_DAYS};

#[derive(Debug, Clone)]
pub struct PurgeOptions {
    pub older_than_days: u32,
    /// Instances deleted before this moment (naive UTC, as Nova stores it).
    pub cutoff: NaiveDateTime,
    pub dry_run: bool,
    /// At most this many instances purged in this run.
    pub max_number: Option<u64>,
    /// Units per transaction, at most.
    pub batch_size: usize,
    /// How long a transaction should take: the size adapts to it, up to
    /// `batch_size`. `None` keeps every batch at `batch_size`.
    pub batch_time: Option<Duration>,
    /// Pause between batches, to let replication and a busy cloud breathe.
    pub sleep: Option<Duration>,
    /// Pause before a batch while a replica is further behind than this.
    /// `None`: replicas given by URL are watched with the default limit,
    /// PostgreSQL standbys not at all.
    pub max_replication_lag: Option<Duration>,
    /// Purge without watching a replica that cannot be reached, instead of
    /// stopping.
    pub ignore_unreachable_replicas: bool,
    /// What to purge; `instances` alone unless asked for more.
    pub scopes: BTreeSet<Scope>,
    /// With the `shadow` scope, also rows whose `deleted_at` is NULL (as
    /// `nova-manage db purge --all` takes them).
    pub undated_shadow_rows: bool,
}

impl PurgeOptions {
    /// The defaults for instances deleted more than `older_than_days` ago:
    /// a real run, no cap, the default batch size and time, no pause.
    pub fn older_than(older_than_days: u32) -> Result<PurgeOptions, Error> {
        let cutoff = cutoff_for(older_than_days).ok_or_else(|| {
            Error::Input(format!(
                "--older-than {older_than_days} reaches before the earliest date the database can store; use at most 36500"
            ))
        })?;
        Ok(PurgeOptions {
            older_than_days,
            cutoff,
            dry_run: false,
            max_number: None,
            batch_size: DEFAULT_BATCH_SIZE,
            batch_time: Some(DEFAULT_BATCH_TIME),
            sleep: None,
            max_replication_lag: None,
            ignore_unreachable_replicas: false,
            scopes: BTreeSet::from([Scope::Instances]),
            undated_shadow_rows: false,
        })
    }
}

impl Default for PurgeOptions {
    fn default() -> Self {
        PurgeOptions::older_than(DEFAULT_OLDER_THAN_DAYS).expect("the default cutoff is in range")
    }
}

/// The cutoff for `older_than_days`, whole seconds, naive UTC. `None` when it
/// falls outside what the databases can store.
pub fn cutoff_for(older_than_days: u32) -> Option<NaiveDateTime> {
    let now = Utc::now().naive_utc();
    let cutoff = now.checked_sub_signed(chrono::Duration::try_days(older_than_days.into())?)?;
    cutoff.with_nanosecond(0)
}
