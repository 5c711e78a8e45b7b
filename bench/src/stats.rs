//! Server-side work counters, read before and after a measured step, to
//! show where the time goes (full scans in particular).
//!
//! PostgreSQL: `pg_stat_user_tables` of the benchmark database only (exact).
//! MariaDB: the server-wide `Handler_*` and `Innodb_*` status counters
//! (they include whatever else the shared server did meanwhile).
//! SQLite: none.

use std::collections::BTreeMap;

use anyhow::Result;
use purge_api::{Backend, Db, Value};

use crate::db::{execute_raw, fetch};

/// counter name → value.
pub type Counters = BTreeMap<String, i64>;

pub async fn snapshot(db: &Db) -> Result<Counters> {
    let mut out = Counters::new();
    match db.backend() {
        Backend::MySql => {
            let rows = fetch(
                db,
                "SHOW GLOBAL STATUS WHERE Variable_name IN ('Handler_read_rnd_next', \
                 'Handler_read_key', 'Handler_read_next', 'Handler_read_first', \
                 'Handler_delete', 'Innodb_buffer_pool_reads', 'Innodb_data_fsyncs', \
                 'Com_delete', 'Com_select', 'Com_commit', 'Innodb_row_lock_waits', \
                 'Innodb_row_lock_time', 'Innodb_buffer_pool_wait_free')",
            )
            .await?;
            for row in rows {
                if let (Some(name), Some(value)) = (
                    row.first().and_then(Value::to_text),
                    row.get(1).and_then(Value::as_i64),
                ) {
                    out.insert(name, value);
                }
            }
        }
        Backend::Postgres => {
            // Other backends' counters reach shared memory when they exit
            // (the child) or at most once a second (this session, which ran
            // the floor): force this session's out, let an exiting child
            // finish, then forget this session's cached snapshot.
            execute_raw(db, "SELECT pg_stat_force_next_flush()").await?;
            execute_raw(db, "SELECT 1").await?;
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
            execute_raw(db, "SELECT pg_stat_clear_snapshot()").await?;
            let rows = fetch(
                db,
                "SELECT relname, COALESCE(seq_scan, 0), COALESCE(seq_tup_read, 0), \
                 COALESCE(idx_scan, 0), COALESCE(idx_tup_fetch, 0), COALESCE(n_tup_del, 0) \
                 FROM pg_stat_user_tables",
            )
            .await?;
            for row in rows {
                let name = row.first().and_then(Value::to_text).unwrap_or_default();
                let int = |i: usize| row.get(i).and_then(Value::as_i64).unwrap_or(0);
                for (i, what) in [
                    (1, "seq_scan"),
                    (2, "seq_tup_read"),
                    (3, "idx_scan"),
                    (4, "idx_tup_fetch"),
                    (5, "n_tup_del"),
                ] {
                    out.insert(format!("{name}.{what}"), int(i));
                    *out.entry(format!("total.{what}")).or_default() += int(i);
                }
            }
        }
        Backend::Sqlite => {}
    }
    Ok(out)
}

/// after - before, zero deltas left out.
pub fn delta(before: &Counters, after: &Counters) -> Counters {
    after
        .iter()
        .map(|(k, v)| (k.clone(), v - before.get(k).copied().unwrap_or(0)))
        .filter(|(_, v)| *v != 0)
        .collect()
}

/// A one-line summary for the human report.
pub fn summary(backend: Backend, delta: &Counters) -> String {
    let get = |k: &str| delta.get(k).copied().unwrap_or(0);
    match backend {
        Backend::MySql => format!(
            "full-scan rows {}, index lookups {}, index-order rows {}, rows deleted {}, \
             buffer pool misses {}, waits for a free page {}, fsyncs {}, row lock waits {} \
             ({} ms), statements: delete {} select {} (server-wide)",
            get("Handler_read_rnd_next"),
            get("Handler_read_key"),
            get("Handler_read_next"),
            get("Handler_delete"),
            get("Innodb_buffer_pool_reads"),
            get("Innodb_buffer_pool_wait_free"),
            get("Innodb_data_fsyncs"),
            get("Innodb_row_lock_waits"),
            get("Innodb_row_lock_time"),
            get("Com_delete"),
            get("Com_select"),
        ),
        Backend::Postgres => {
            let mut scanned: Vec<(String, i64, i64)> = delta
                .iter()
                .filter_map(|(k, v)| {
                    let table = k.strip_suffix(".seq_tup_read")?;
                    (table != "total")
                        .then(|| (table.to_owned(), *v, get(&format!("{table}.seq_scan"))))
                })
                .collect();
            scanned.sort_by_key(|entry| std::cmp::Reverse(entry.1));
            let top: Vec<String> = scanned
                .iter()
                .take(3)
                .map(|(t, rows, scans)| format!("{t} {scans} scans/{rows} rows"))
                .collect();
            format!(
                "seq scans {} reading {} rows (top: {}), index scans {}",
                get("total.seq_scan"),
                get("total.seq_tup_read"),
                if top.is_empty() {
                    "-".to_owned()
                } else {
                    top.join(", ")
                },
                get("total.idx_scan"),
            )
        }
        Backend::Sqlite => String::new(),
    }
}
