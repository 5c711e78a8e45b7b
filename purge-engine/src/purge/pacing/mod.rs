//! Pacing: before each batch, and while waiting, ask the topology whether
//! the cloud can take another one, and pause while it cannot.
//!
//! - Replication lag (`--max-replication-lag`, or a replica configured): a
//!   MariaDB/MySQL replica given by URL ([`replica`]); PostgreSQL standbys,
//!   seen from the primary ([`standby`]).
//! - Galera flow control, always on a cluster node ([`cluster`]): while a
//!   node cannot keep up, the whole cluster stalls its writers, Nova's
//!   included; another batch would only make it longer.
//!
//! Lag is measured by nova-purge's own heartbeat where it can, as gh-ost
//! does, rather than by what the replica says of itself
//! (`Seconds_Behind_Master` is NULL when replication stops, and stale with
//! a stopped SQL thread): before each batch the primary's position (GTID,
//! WAL LSN) is noted with the time; a replica's lag is the age of the
//! oldest noted position it has not applied yet.
//!
//! A replica that cannot be reached is an error, unless the operator asked
//! to ignore it (`--ignore-unreachable-replicas`): a watch that silently
//! passes would be worse than none.

mod cluster;
mod heartbeat;
mod replica;
mod standby;

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use purge_api::Db;
use tracing::{info, warn};

use crate::control::Cancel;
use crate::database::server::ServerFacts;
use crate::database::url::DatabaseUrl;
use crate::error::Error;

use super::options::PurgeOptions;
use cluster::ClusterWatch;
use replica::ReplicaWatch;
use standby::StandbyWatch;

/// How often a paused run looks again (pt-archiver's `--check-interval`).
const CHECK_INTERVAL: Duration = Duration::from_secs(1);

/// How often a long pause says it is still pausing.
const STILL_PAUSING_EVERY: Duration = Duration::from_secs(30);

/// The lag allowed when a replica is configured but no
/// `--max-replication-lag` given.
pub const DEFAULT_MAX_REPLICATION_LAG: Duration = Duration::from_secs(10);

/// Everything watched before each batch of one database's purge.
pub struct Pacer {
    watches: Vec<Watch>,
    ignore_unreachable: bool,
    /// Watches of replicas that failed, with `--ignore-unreachable-replicas`.
    dropped: RefCell<BTreeSet<usize>>,
}

enum Watch {
    Replica(ReplicaWatch),
    Standbys(StandbyWatch),
    Cluster(ClusterWatch),
}

/// Why the next batch must wait.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Hold(pub String);

impl Pacer {
    /// The watches for a purge of `db` (whose server is `facts`), with the
    /// replicas of this database `replicas`. Connects to each replica; one
    /// that cannot be reached is an error unless told to ignore it. A dry
    /// run deletes nothing and is never paced.
    pub async fn prepare(
        db: &Db,
        facts: &ServerFacts,
        options: &PurgeOptions,
        replicas: &[DatabaseUrl],
    ) -> Result<Pacer, Error> {
        let mut pacer = Pacer {
            watches: Vec::new(),
            ignore_unreachable: options.ignore_unreachable_replicas,
            dropped: RefCell::default(),
        };
        if options.dry_run {
            return Ok(pacer);
        }
        if facts.galera.is_some() {
            pacer
                .watches
                .push(Watch::Cluster(ClusterWatch::new(db.clone())));
        }
        let limit = match options.max_replication_lag {
            Some(limit) => limit,
            None if !replicas.is_empty() => DEFAULT_MAX_REPLICATION_LAG,
            None => return Ok(pacer),
        };
        match db {
            Db::Postgres(_) => {
                // Standbys report to the primary; the URLs are not needed.
                pacer.watches.push(Watch::Standbys(StandbyWatch::new(
                    db.clone(),
                    limit,
                    pacer.ignore_unreachable,
                )));
            }
            Db::MySql(_) => {
                if replicas.is_empty() {
                    replica::require_none_unwatched(db, pacer.ignore_unreachable).await?;
                }
                for url in replicas {
                    match ReplicaWatch::connect(db, url, limit).await {
                        Ok(watch) => pacer.watches.push(Watch::Replica(watch)),
                        Err(err) if pacer.ignore_unreachable => {
                            warn!(replica = %url.redacted(), error = %err, "replica not watched (--ignore-unreachable-replicas)");
                        }
                        Err(err) => return Err(err),
                    }
                }
            }
            Db::Sqlite(_) => {
                info!("SQLite has no replicas; --max-replication-lag has nothing to watch");
            }
        }
        Ok(pacer)
    }

    /// Waits until no watch holds the next batch back, or the run is
    /// cancelled; returns how long it waited.
    pub async fn before_batch(&self, cancel: &Cancel) -> Result<Duration, Error> {
        if self.watches.is_empty() {
            return Ok(Duration::ZERO);
        }
        for watch in &self.watches {
            watch.note_position().await?;
        }
        let started = Instant::now();
        let mut said = None::<Instant>;
        loop {
            let holds = self.holds().await?;
            if holds.is_empty() {
                if said.is_some() {
                    info!(
                        paused_ms = started.elapsed().as_millis() as u64,
                        "pause over: going on"
                    );
                }
                return Ok(started.elapsed());
            }
            let reasons = holds
                .iter()
                .map(|h| h.0.as_str())
                .collect::<Vec<_>>()
                .join("; ");
            match said {
                None => warn!(reason = %reasons, "pausing before the next batch"),
                Some(at) if at.elapsed() >= STILL_PAUSING_EVERY => {
                    warn!(
                        reason = %reasons,
                        paused_ms = started.elapsed().as_millis() as u64,
                        "still pausing"
                    );
                }
                Some(_) => {}
            }
            if said.is_none_or(|at| at.elapsed() >= STILL_PAUSING_EVERY) {
                said = Some(Instant::now());
            }
            cancel.sleep(CHECK_INTERVAL).await;
            if cancel.is_cancelled() {
                return Ok(started.elapsed());
            }
        }
    }

    /// Every watch's reason to wait, now. A watch that fails is an error,
    /// or, when told to ignore unreachable replicas, dropped with a warning.
    async fn holds(&self) -> Result<Vec<Hold>, Error> {
        let mut holds = Vec::new();
        for (index, watch) in self.watches.iter().enumerate() {
            if self.dropped.borrow().contains(&index) {
                continue;
            }
            match watch.hold().await {
                Ok(hold) => holds.extend(hold),
                Err(err) if self.ignore_unreachable && watch.is_replica() => {
                    warn!(error = %err, "replica no longer watched (--ignore-unreachable-replicas)");
                    self.dropped.borrow_mut().insert(index);
                }
                Err(err) => return Err(err),
            }
        }
        Ok(holds)
    }
}

impl Watch {
    async fn note_position(&self) -> Result<(), Error> {
        match self {
            Watch::Replica(watch) => watch.note_position().await,
            Watch::Standbys(watch) => watch.note_position().await,
            Watch::Cluster(_) => Ok(()),
        }
    }

    async fn hold(&self) -> Result<Option<Hold>, Error> {
        match self {
            Watch::Replica(watch) => watch.hold().await,
            Watch::Standbys(watch) => watch.hold().await,
            Watch::Cluster(watch) => watch.hold().await,
        }
    }

    fn is_replica(&self) -> bool {
        // Standbys are read on the primary: an error there is the
        // primary's, never ignored; a standby that is gone is handled by
        // its watch.
        matches!(self, Watch::Replica(_))
    }
}

/// "12.3 s".
fn seconds(duration: Duration) -> String {
    format!("{:.1} s", duration.as_secs_f64())
}
