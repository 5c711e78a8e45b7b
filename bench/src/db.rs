//! The benchmark's databases: throwaway copies (`np_bench_*`) made, opened
//! and dropped by the test harness's `nova_purge_tests::server` on the
//! servers the test suite uses, one connection each; the server's version;
//! and two query helpers.

use anyhow::{Context, Result};
use nova_purge_tests::server::{server_url, PoolSettings, ThrowawayDb};
use purge_api::{Backend, Db};

/// A new, empty database on the server for `backend` (`NOVA_PURGE_TEST_*`).
pub async fn create(backend: Backend) -> Result<ThrowawayDb> {
    ThrowawayDb::create(backend, &server_url(backend), "np_bench").await
}

/// A one-connection pool to the database. `bulk` relaxes durability for
/// the fill where that is a per-connection setting (SQLite's
/// `synchronous`); measured work always uses `bulk = false`, the defaults
/// nova-purge itself runs with.
pub async fn connect(copy: &ThrowawayDb, bulk: bool) -> Result<Db> {
    copy.connect(PoolSettings {
        max_connections: 1,
        sqlite_synchronous_off: bulk,
        ..PoolSettings::default()
    })
    .await
}

/// The server's name and version, read from a database made for the purpose
/// and dropped at once.
pub async fn server_version(backend: Backend) -> Result<String> {
    let copy = create(backend).await?;
    let result = async {
        let db = connect(&copy, false).await?;
        let sql = match backend {
            Backend::MySql => "SELECT VERSION()",
            Backend::Postgres => "SHOW server_version",
            Backend::Sqlite => "SELECT 'SQLite ' || sqlite_version()",
        };
        let rows = fetch(&db, sql).await?;
        db.close().await;
        let version = rows
            .first()
            .and_then(|r| r.first())
            .and_then(purge_api::Value::to_text)
            .unwrap_or_default();
        Ok::<_, anyhow::Error>(match backend {
            Backend::MySql => format!("MariaDB/MySQL {version}"),
            Backend::Postgres => format!("PostgreSQL {version}"),
            Backend::Sqlite => version,
        })
    }
    .await;
    copy.drop_db().await?;
    result
}

/// Runs one statement outside any transaction (`VACUUM`, `ANALYZE`).
pub async fn execute_raw(db: &Db, sql: &str) -> Result<()> {
    match db {
        Db::MySql(pool) => sqlx::query(sql).execute(pool).await.map(drop),
        Db::Postgres(pool) => sqlx::query(sql).execute(pool).await.map(drop),
        Db::Sqlite(pool) => sqlx::query(sql).execute(pool).await.map(drop),
    }
    .with_context(|| sql.to_owned())
}

/// Runs a query and returns its rows.
pub async fn fetch(db: &Db, sql: &str) -> Result<Vec<Vec<purge_api::Value>>> {
    let mut tx = db.begin_read().await?;
    let mut stmt = tx.stmt();
    stmt.push(sql);
    let rows = tx.fetch_all(&stmt).await.with_context(|| sql.to_owned())?;
    tx.rollback().await?;
    Ok(rows)
}
