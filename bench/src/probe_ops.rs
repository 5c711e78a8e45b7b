//! The probe's workload: what Nova's API and computes do to live instances
//! all day, each operation a transaction of its own on one connection, and
//! the clean-up that removes its traces afterwards.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use anyhow::{Context, Result};
use chrono::Utc;
use nova_purge_tests::server::{self, PoolSettings};
use purge_api::{Backend, Db, Stmt};

use crate::fill::Spec;

/// Probe actions and events have ids from here on: far above the generated
/// ones (one per instance) and within a 32-bit INT, so that they never
/// collide and are found again.
pub const FIRST_PROBE_ID: i64 = 2_000_000_000;

/// The probe's actions are marked by this request id.
const REQUEST_ID: &str = "req-np-bench-probe";

/// One kind of operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `instance_get_by_uuid` with metadata, system metadata and info cache.
    Read,
    /// `action_start` then `event_start`, in one transaction.
    Action,
    /// `UPDATE instances SET updated_at = now` (an instance save).
    Touch,
}

impl Op {
    pub const ALL: [Op; 3] = [Op::Read, Op::Action, Op::Touch];

    pub fn name(self) -> &'static str {
        match self {
            Op::Read => "read",
            Op::Action => "action",
            Op::Touch => "touch",
        }
    }
}

/// Where and how one client works.
pub struct Target {
    pub backend: Backend,
    pub url: String,
    pub spec: Spec,
    /// The one kind of operation this client runs.
    pub op: Op,
    pub seed: u64,
    pub pause: Duration,
}

/// One probe client: its connection and its random live instances.
pub struct Client {
    db: Db,
    spec: Spec,
    /// xorshift64 state: a reproducible spread of instances without a
    /// dependency.
    state: u64,
}

impl Client {
    pub async fn connect(target: &Target) -> Result<Client> {
        let settings = PoolSettings {
            max_connections: 1,
            ..PoolSettings::default()
        };
        let db = server::connect(target.backend, &target.url, settings).await?;
        Ok(Client {
            db,
            spec: target.spec,
            state: target.seed.max(1),
        })
    }

    pub async fn close(self) {
        self.db.close().await;
    }

    /// Runs `op` on a random live instance; `next_id` hands out the ids of
    /// new actions and events.
    pub async fn run(&mut self, op: Op, next_id: &AtomicI64) -> Result<()> {
        let uuid = uuid_of(self.random_live());
        match op {
            Op::Read => self.read(&uuid).await,
            Op::Action => {
                self.action(&uuid, next_id.fetch_add(1, Ordering::Relaxed))
                    .await
            }
            Op::Touch => self.touch(&uuid).await,
        }
        .with_context(|| format!("{} {uuid}", op.name()))
    }

    /// A live instance's number (the fill's deleted ones are spread evenly,
    /// so a few draws find one).
    fn random_live(&mut self) -> u64 {
        loop {
            self.state ^= self.state << 13;
            self.state ^= self.state >> 7;
            self.state ^= self.state << 17;
            let n = self.state % self.spec.total() + 1;
            if !self.spec.is_deleted(n) {
                return n;
            }
        }
    }

    /// The instance joined to its info cache, then its metadata and system
    /// metadata, as Nova loads them.
    async fn read(&self, uuid: &str) -> Result<()> {
        let mut tx = self.db.begin_read().await?;
        let mut stmt = tx.stmt();
        stmt.push(
            "SELECT i.id, i.uuid, i.vm_state, i.hostname, i.host, c.network_info \
             FROM instances i LEFT JOIN instance_info_caches c \
             ON c.instance_uuid = i.uuid AND c.deleted = 0 WHERE i.uuid = ",
        )
        .bind_text(uuid)
        .push(" AND i.deleted = 0");
        tx.fetch_all(&stmt).await?;
        for table in ["instance_metadata", "instance_system_metadata"] {
            let mut stmt = tx.stmt();
            stmt.push("SELECT id, ")
                .ident("key")
                .push(", value FROM ")
                .push(table)
                .push(" WHERE instance_uuid = ")
                .bind_text(uuid)
                .push(" AND deleted = 0");
            tx.fetch_all(&stmt).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// A new action, found again by its request id, and its first event.
    async fn action(&self, uuid: &str, id: i64) -> Result<()> {
        let now = Utc::now().naive_utc();
        let mut tx = self.db.begin_write().await?;
        let mut stmt = tx.stmt();
        stmt.push(
            "INSERT INTO instance_actions (id, instance_uuid, action, request_id, \
             user_id, project_id, start_time, created_at, deleted) VALUES (",
        )
        .bind_int(id)
        .push(", ")
        .bind_text(uuid)
        .push(", 'reboot', ")
        .bind_text(REQUEST_ID)
        .push(", 'u1', 'p1', ")
        .bind_time(now)
        .push(", ")
        .bind_time(now)
        .push(", 0)");
        tx.execute(&stmt).await?;
        let mut stmt = tx.stmt();
        stmt.push("SELECT id FROM instance_actions WHERE instance_uuid = ")
            .bind_text(uuid)
            .push(" AND request_id = ")
            .bind_text(REQUEST_ID)
            .push(" ORDER BY id DESC LIMIT 1");
        let action_id = tx
            .fetch_all(&stmt)
            .await?
            .first()
            .and_then(|row| row.first())
            .and_then(purge_api::Value::as_i64)
            .context("the new action is not found")?;
        let mut stmt = tx.stmt();
        stmt.push(
            "INSERT INTO instance_actions_events (id, event, action_id, start_time, \
             host, created_at, deleted) VALUES (",
        )
        .bind_int(id)
        .push(", 'compute_reboot_instance', ")
        .bind_int(action_id)
        .push(", ")
        .bind_time(now)
        .push(", 'compute1', ")
        .bind_time(now)
        .push(", 0)");
        tx.execute(&stmt).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn touch(&self, uuid: &str) -> Result<()> {
        let mut tx = self.db.begin_write().await?;
        let mut stmt = tx.stmt();
        stmt.push("UPDATE instances SET updated_at = ")
            .bind_time(Utc::now().naive_utc())
            .push(" WHERE uuid = ")
            .bind_text(uuid);
        tx.execute(&stmt).await?;
        tx.commit().await?;
        Ok(())
    }
}

/// Instance `n`'s uuid, as the fill makes it.
fn uuid_of(n: u64) -> String {
    format!("{n:08}-0000-4000-8000-{n:012}")
}

/// Removes the probe's actions and events and sets `instances.updated_at`
/// back to NULL, as the fill leaves it (neither purge sets it), so that a
/// probed copy leaves exactly what an unprobed one does.
pub async fn clean_up(db: &Db) -> Result<()> {
    let mut tx = db.begin_write().await?;
    for sql in [
        "DELETE FROM instance_actions_events WHERE id >= ",
        "DELETE FROM instance_actions WHERE id >= ",
    ] {
        let mut stmt = Stmt::new(db.backend());
        stmt.push(sql).bind_int(FIRST_PROBE_ID);
        tx.execute(&stmt).await.context(sql)?;
    }
    let mut stmt = Stmt::new(db.backend());
    stmt.push("UPDATE instances SET updated_at = NULL WHERE updated_at IS NOT NULL");
    tx.execute(&stmt).await?;
    tx.commit().await.context("the probe's clean-up")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids_are_the_fills() {
        assert_eq!(uuid_of(42), "00000042-0000-4000-8000-000000000042");
    }
}
