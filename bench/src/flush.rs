//! Before each measured step, the fill's dirty pages are written out, so
//! that a run does not pay for the writes of the fill before it (InnoDB
//! flushes them in the background, for minutes, on a small buffer pool;
//! PostgreSQL at its next checkpoint).

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use purge_api::{Backend, Db, Value};

use crate::db::{execute_raw, fetch};

/// Dirty pages counted as "near 0": the shared server's other sessions
/// keep dirtying a few.
const NEAR_ZERO: i64 = 100;

/// How long to wait for InnoDB before going on anyway.
const LONGEST_WAIT: Duration = Duration::from_secs(60);

/// Flushes; returns what it did, for the progress line.
pub async fn dirty_pages(db: &Db) -> Result<String> {
    match db.backend() {
        Backend::MySql => flush_innodb(db).await,
        Backend::Postgres => {
            let started = Instant::now();
            execute_raw(db, "CHECKPOINT").await?;
            Ok(format!(
                "CHECKPOINT in {:.1} s",
                started.elapsed().as_secs_f64()
            ))
        }
        Backend::Sqlite => Ok("nothing to flush (SQLite)".to_owned()),
    }
}

/// MariaDB: `innodb_max_dirty_pages_pct = 0` until the buffer pool is
/// clean, then the old value back (also on error). The setting is global:
/// it is changed for the shortest time possible.
async fn flush_innodb(db: &Db) -> Result<String> {
    let old = fetch(db, "SELECT @@GLOBAL.innodb_max_dirty_pages_pct")
        .await?
        .first()
        .and_then(|r| r.first())
        .and_then(Value::to_text)
        .context("no innodb_max_dirty_pages_pct")?;
    // Another benchmark may be flushing at this very moment, with the
    // setting at 0: restore MariaDB's default then, never leave it at 0.
    let restore = if old.parse::<f64>().unwrap_or(0.0) == 0.0 {
        "90".to_owned()
    } else {
        old
    };
    execute_raw(db, "SET GLOBAL innodb_max_dirty_pages_pct = 0").await?;
    let waited = wait_clean(db).await;
    let restored = execute_raw(
        db,
        &format!("SET GLOBAL innodb_max_dirty_pages_pct = {restore}"),
    )
    .await;
    let (pages, elapsed) = waited?;
    restored?;
    Ok(format!(
        "flushed dirty pages in {:.1} s ({pages} left)",
        elapsed.as_secs_f64()
    ))
}

async fn wait_clean(db: &Db) -> Result<(i64, Duration)> {
    let started = Instant::now();
    loop {
        let pages = fetch(
            db,
            "SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS \
             WHERE VARIABLE_NAME = 'INNODB_BUFFER_POOL_PAGES_DIRTY'",
        )
        .await?
        .first()
        .and_then(|r| r.first())
        .and_then(Value::to_text)
        .and_then(|t| t.parse::<i64>().ok())
        .unwrap_or(0);
        if pages <= NEAR_ZERO || started.elapsed() > LONGEST_WAIT {
            return Ok((pages, started.elapsed()));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
