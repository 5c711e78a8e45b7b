//! PostgreSQL standbys, seen from the primary: no standby connection is
//! needed. The lag is nova-purge's heartbeat: the primary's WAL position
//! (`pg_current_wal_lsn()`) noted before each batch, against each
//! standby's `replay_lsn` in `pg_stat_replication`.
//!
//! A standby reports its positions every `wal_receiver_status_interval`
//! (10 s by default), so a limit below that interval makes the purge wait
//! for the next report.
//!
//! A standby the primary no longer sees is "unreachable": one that was
//! streaming when the purge started and is gone, or a physical replication
//! slot that no standby uses.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::time::Duration;

use purge_api::Db;
use sqlx::{PgPool, Row};
use tracing::warn;

use super::heartbeat::Heartbeat;
use super::{seconds, Hold};
use crate::error::Error;

pub(super) struct StandbyWatch {
    pool: Option<PgPool>,
    limit: Duration,
    ignore_unreachable: bool,
    heartbeat: RefCell<Heartbeat<u64>>,
    /// The standbys streaming at the first look, by `application_name`.
    known: RefCell<Option<BTreeSet<String>>>,
    /// Standbys already reported gone (with `--ignore-unreachable-replicas`).
    forgotten: RefCell<BTreeSet<String>>,
}

/// One row of `pg_stat_replication`.
#[derive(Debug)]
struct Standby {
    name: String,
    state: Option<String>,
    replay: Option<u64>,
}

impl StandbyWatch {
    pub fn new(primary: Db, limit: Duration, ignore_unreachable: bool) -> StandbyWatch {
        StandbyWatch {
            pool: match primary {
                Db::Postgres(pool) => Some(pool),
                _ => None,
            },
            limit,
            ignore_unreachable,
            heartbeat: RefCell::new(Heartbeat::new()),
            known: RefCell::default(),
            forgotten: RefCell::default(),
        }
    }

    pub async fn note_position(&self) -> Result<(), Error> {
        let Some(pool) = &self.pool else {
            return Ok(());
        };
        let row = sqlx::query("SELECT pg_current_wal_lsn()::text")
            .fetch_one(pool)
            .await
            .map_err(|e| Error::database("cannot read the primary's WAL position", e))?;
        if let Some(lsn) = parse_lsn(&row.try_get::<String, _>(0).unwrap_or_default()) {
            self.heartbeat.borrow_mut().note(lsn);
        }
        Ok(())
    }

    pub async fn hold(&self) -> Result<Option<Hold>, Error> {
        let Some(pool) = &self.pool else {
            return Ok(None);
        };
        let standbys = standbys(pool).await?;
        let idle_slots = idle_slots(pool).await?;
        let streaming: BTreeSet<String> = standbys.iter().map(|s| s.name.clone()).collect();
        if self.known.borrow().is_none() && streaming.is_empty() && idle_slots.is_empty() {
            warn!("--max-replication-lag: no standby is connected to this primary (pg_stat_replication), so there is no lag to watch");
        }
        let mut gone: Vec<String> = self
            .known
            .borrow_mut()
            .get_or_insert_with(|| streaming.clone())
            .difference(&streaming)
            .cloned()
            .collect();
        gone.extend(idle_slots.into_iter().map(|slot| format!("slot {slot}")));
        gone.retain(|name| !self.forgotten.borrow().contains(name));
        if let Some(first) = gone.first() {
            if !self.ignore_unreachable {
                return Err(Error::Database(format!(
                    "the standby {first} is no longer connected to the primary (pg_stat_replication, pg_replication_slots); fix it, or pass --ignore-unreachable-replicas to purge without watching it"
                )));
            }
            for name in gone {
                warn!(standby = %name, "standby not connected; no longer watched (--ignore-unreachable-replicas)");
                self.forgotten.borrow_mut().insert(name);
            }
        }
        let mut heartbeat = self.heartbeat.borrow_mut();
        let mut holds = Vec::new();
        for standby in &standbys {
            if standby.state.is_none() {
                return Err(Error::Input(
                    "cannot read the standbys' positions in pg_stat_replication: grant the pg_monitor role to this database user, or drop --max-replication-lag"
                        .to_owned(),
                ));
            }
            let lag = match standby.replay {
                Some(replay) => heartbeat.lag(|noted| replay >= *noted),
                None => Duration::MAX,
            };
            if lag > self.limit {
                let behind = match standby.replay {
                    Some(_) => format!("is {} behind", seconds(lag)),
                    None => "has replayed nothing yet".to_owned(),
                };
                holds.push(format!(
                    "the standby {} {behind} (limit {}, state {})",
                    standby.name,
                    seconds(self.limit),
                    standby.state.as_deref().unwrap_or("?")
                ));
            }
        }
        let replays: Vec<u64> = standbys.iter().filter_map(|s| s.replay).collect();
        heartbeat.forget_applied_by_all(
            replays
                .iter()
                .map(|replay| move |noted: &u64| *replay >= *noted),
        );
        Ok((!holds.is_empty()).then(|| Hold(holds.join("; "))))
    }
}

/// The standbys streaming from this primary (base backups left out).
async fn standbys(pool: &PgPool) -> Result<Vec<Standby>, Error> {
    let rows = sqlx::query(
        "SELECT coalesce(nullif(application_name, ''), client_addr::text, 'local'), state, replay_lsn::text \
         FROM pg_stat_replication WHERE state IS DISTINCT FROM 'backup' ORDER BY 1",
    )
    .fetch_all(pool)
    .await
    .map_err(|e| Error::database("cannot read pg_stat_replication", e))?;
    Ok(rows
        .iter()
        .map(|row| Standby {
            name: row
                .try_get::<Option<String>, _>(0)
                .ok()
                .flatten()
                .unwrap_or_default(),
            state: row.try_get(1).ok().flatten(),
            replay: row
                .try_get::<Option<String>, _>(2)
                .ok()
                .flatten()
                .and_then(|lsn| parse_lsn(&lsn)),
        })
        .collect())
}

/// Physical replication slots that no standby is using: a standby that
/// should be there and is not.
async fn idle_slots(pool: &PgPool) -> Result<Vec<String>, Error> {
    let rows = sqlx::query(
        "SELECT slot_name::text FROM pg_replication_slots WHERE slot_type = 'physical' AND NOT active ORDER BY 1",
    )
    .fetch_all(pool)
    .await
    .map_err(|e| Error::database("cannot read pg_replication_slots", e))?;
    Ok(rows
        .iter()
        .filter_map(|row| row.try_get::<String, _>(0).ok())
        .collect())
}

/// `16/B374D848` → its byte position.
fn parse_lsn(text: &str) -> Option<u64> {
    let (high, low) = text.split_once('/')?;
    let high = u64::from_str_radix(high, 16).ok()?;
    let low = u64::from_str_radix(low, 16).ok()?;
    (high <= u64::from(u32::MAX) && low <= u64::from(u32::MAX)).then_some(high << 32 | low)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wal_positions_parse_as_two_hex_halves() {
        assert_eq!(parse_lsn("0/0"), Some(0));
        assert_eq!(parse_lsn("16/B374D848"), Some(0x16_B374_D848));
        assert!(parse_lsn("1/2") < parse_lsn("2/0"));
        for bad in ["", "16", "x/1", "1/100000000", "/"] {
            assert_eq!(parse_lsn(bad), None, "{bad}");
        }
    }
}
