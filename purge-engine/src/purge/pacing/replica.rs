//! A MariaDB/MySQL replica, given by URL (`--replica-url`, nova.conf's
//! `[database]/slave_connection`).
//!
//! On MariaDB the lag is nova-purge's heartbeat: the primary's
//! `gtid_binlog_pos` noted before each batch, against the replica's
//! `gtid_slave_pos`, which its SQL thread advances as it applies. Where the
//! primary has no GTID position (MySQL, or no binary log) it falls back on
//! the replica's `Seconds_Behind_Master`, NULL counting as "not
//! replicating", never as zero.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::time::Duration;

use purge_api::Db;
use sqlx::{MySql, Pool, Row};
use tracing::warn;

use super::heartbeat::Heartbeat;
use super::{seconds, Hold};
use crate::database::server::text;
use crate::database::url::{Access, DatabaseUrl};
use crate::error::Error;

pub(super) struct ReplicaWatch {
    label: String,
    primary: Pool<MySql>,
    replica: Pool<MySql>,
    limit: Duration,
    measure: Measure,
}

enum Measure {
    Gtid(RefCell<Heartbeat<GtidPosition>>),
    SecondsBehind,
}

/// A GTID position: domain → the last sequence number in it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct GtidPosition(BTreeMap<u32, u64>);

impl ReplicaWatch {
    /// Connects to the replica of `primary` at `url`.
    pub async fn connect(primary: &Db, url: &DatabaseUrl, limit: Duration) -> Result<Self, Error> {
        let label = url.redacted();
        let unreachable = |err: Error| {
            Error::Database(format!(
                "cannot watch the replica {label}: {err}; fix it, or pass --ignore-unreachable-replicas to purge without watching it"
            ))
        };
        let (Db::MySql(primary), (Db::MySql(replica), facts)) =
            (primary, url.open(Access::Read).await.map_err(unreachable)?)
        else {
            return Err(Error::Input(format!(
                "the replica {label} is not a MariaDB/MySQL server like the cell database; give the cell's own replicas"
            )));
        };
        if facts.read_only.is_none() {
            warn!(replica = %label, "this replica is writable and lists no source; is it really a replica of the cell database?");
        }
        let measure = match primary_position(primary).await {
            Ok(Some(_)) => Measure::Gtid(RefCell::new(Heartbeat::new())),
            _ => Measure::SecondsBehind,
        };
        Ok(ReplicaWatch {
            label,
            primary: primary.clone(),
            replica,
            limit,
            measure,
        })
    }

    pub async fn note_position(&self) -> Result<(), Error> {
        if let Measure::Gtid(heartbeat) = &self.measure {
            if let Some(position) = primary_position(&self.primary).await? {
                heartbeat.borrow_mut().note(position);
            }
        }
        Ok(())
    }

    pub async fn hold(&self) -> Result<Option<Hold>, Error> {
        let lost = |err: sqlx::Error| {
            Error::database(
                &format!(
                    "lost the replica {}; fix it, or pass --ignore-unreachable-replicas to purge without watching it",
                    self.label
                ),
                err,
            )
        };
        let lag = match &self.measure {
            Measure::Gtid(heartbeat) => {
                let row = sqlx::query("SELECT @@global.gtid_slave_pos")
                    .fetch_one(&self.replica)
                    .await
                    .map_err(lost)?;
                let applied = GtidPosition::parse(&text(&row, 0).unwrap_or_default());
                let mut heartbeat = heartbeat.borrow_mut();
                let lag = heartbeat.lag(|noted| applied.has_applied(noted));
                heartbeat
                    .forget_applied_by_all([|noted: &GtidPosition| applied.has_applied(noted)]);
                Some(lag)
            }
            Measure::SecondsBehind => {
                let rows = sqlx::query("SHOW SLAVE STATUS")
                    .fetch_all(&self.replica)
                    .await
                    .map_err(lost)?;
                let seconds = rows.first().and_then(|row| {
                    let column = ["Seconds_Behind_Master", "Seconds_Behind_Source"]
                        .into_iter()
                        .find(|name| row.try_column(*name).is_ok())?;
                    row.try_get::<Option<u64>, _>(column).ok().flatten()
                });
                seconds.map(Duration::from_secs)
            }
        };
        Ok(match lag {
            Some(lag) if lag > self.limit => Some(Hold(format!(
                "the replica {} is {} behind (limit {})",
                self.label,
                seconds(lag),
                seconds(self.limit)
            ))),
            Some(_) => None,
            None => Some(Hold(format!(
                "the replica {} is not replicating (Seconds_Behind_Master is NULL)",
                self.label
            ))),
        })
    }
}

/// With no replica given to watch, a primary that lists replicas of its
/// own (`SHOW SLAVE HOSTS`, which shows those that report themselves) is
/// an error: their lag cannot be watched.
pub(super) async fn require_none_unwatched(primary: &Db, ignore: bool) -> Result<(), Error> {
    let Db::MySql(pool) = primary else {
        return Ok(());
    };
    let hosts = match sqlx::query("SHOW SLAVE HOSTS").fetch_all(pool).await {
        Ok(rows) => rows.len(),
        Err(err) => {
            warn!(error = %err, "cannot list this server's replicas (SHOW SLAVE HOSTS); only replicas given with --replica-url are watched");
            return Ok(());
        }
    };
    if hosts == 0 || ignore {
        return Ok(());
    }
    Err(Error::Input(format!(
        "--max-replication-lag: this server has {hosts} replica(s) (SHOW SLAVE HOSTS) but none is given to watch; name each with --replica-url (or [database]/slave_connection), or pass --ignore-unreachable-replicas"
    )))
}

/// The primary's GTID position, `None` when it has none (MySQL names it
/// differently; without a binary log it is empty).
async fn primary_position(primary: &Pool<MySql>) -> Result<Option<GtidPosition>, Error> {
    let row = sqlx::query("SELECT @@global.gtid_binlog_pos")
        .fetch_one(primary)
        .await
        .map_err(|e| Error::database("cannot read the primary's GTID position", e))?;
    let position = GtidPosition::parse(&text(&row, 0).unwrap_or_default());
    Ok((!position.0.is_empty()).then_some(position))
}

impl GtidPosition {
    /// `0-1-123,1-2-7`: domain-server-sequence, one per domain. What does
    /// not parse is left out.
    fn parse(text: &str) -> GtidPosition {
        GtidPosition(
            text.split(',')
                .filter_map(|gtid| {
                    let mut parts = gtid.trim().splitn(3, '-');
                    let domain = parts.next()?.parse().ok()?;
                    let _server = parts.next()?;
                    let sequence = parts.next()?.parse().ok()?;
                    Some((domain, sequence))
                })
                .collect(),
        )
    }

    /// Whether a replica at this position has applied `noted`: in every
    /// domain of `noted`, at least as far.
    fn has_applied(&self, noted: &GtidPosition) -> bool {
        noted
            .0
            .iter()
            .all(|(domain, sequence)| self.0.get(domain).is_some_and(|here| here >= sequence))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_replica_has_applied_a_position_when_every_domain_is_as_far() {
        let primary = GtidPosition::parse("0-1-120,1-2-7");
        assert!(GtidPosition::parse("0-1-120,1-2-7").has_applied(&primary));
        assert!(GtidPosition::parse("1-2-9, 0-1-130").has_applied(&primary));
        assert!(!GtidPosition::parse("0-1-119,1-2-7").has_applied(&primary));
        assert!(
            !GtidPosition::parse("0-1-200").has_applied(&primary),
            "domain 1 missing"
        );
        assert!(GtidPosition::parse("").has_applied(&GtidPosition::parse("")));
        assert_eq!(
            GtidPosition::parse("junk,0-1-x,2-1-5").0,
            BTreeMap::from([(2, 5)])
        );
    }
}
