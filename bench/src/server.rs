//! Throwaway benchmark databases (`np_bench_*`) on the three backends, and
//! the connections the benchmark itself uses.
//!
//! MariaDB and PostgreSQL are reached as the test suite reaches them:
//! `NOVA_PURGE_TEST_MYSQL` (default `mysql://root@127.0.0.1:3306`) and
//! `NOVA_PURGE_TEST_POSTGRES` (default `postgres://postgres@127.0.0.1:5432`),
//! as a user that may create and drop databases. SQLite files go to a
//! temporary directory.

use std::path::PathBuf;
use std::str::FromStr;
use std::sync::atomic::{AtomicU32, Ordering};

use anyhow::{Context, Result};
use purge_api::{Backend, Db};
use sqlx::mysql::MySqlConnectOptions;
use sqlx::pool::PoolOptions;
use sqlx::postgres::PgConnectOptions;
use sqlx::sqlite::{SqliteConnectOptions, SqliteSynchronous};
use sqlx::ConnectOptions;

/// The server URL (no database) for `backend`, from the environment.
pub fn server_url(backend: Backend) -> String {
    let (var, default) = match backend {
        Backend::MySql => ("NOVA_PURGE_TEST_MYSQL", "mysql://root@127.0.0.1:3306"),
        Backend::Postgres => (
            "NOVA_PURGE_TEST_POSTGRES",
            "postgres://postgres@127.0.0.1:5432",
        ),
        Backend::Sqlite => return "sqlite".to_owned(),
    };
    std::env::var(var)
        .unwrap_or_else(|_| default.to_owned())
        .trim_end_matches('/')
        .to_owned()
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// One benchmark database. Not dropped by `Drop`: call [`BenchDb::drop_db`]
/// (the benchmark does so on success and on error, unless `--keep`).
#[derive(Debug)]
pub struct BenchDb {
    pub backend: Backend,
    pub name: String,
    /// The URL nova-purge is given (no password is ever involved here).
    pub url: String,
    sqlite_dir: Option<PathBuf>,
}

impl BenchDb {
    /// Creates a new, empty database.
    pub async fn create(backend: Backend) -> Result<BenchDb> {
        let name = format!(
            "np_bench_{}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        );
        let server = server_url(backend);
        match backend {
            Backend::Sqlite => {
                let dir = std::env::temp_dir().join(&name);
                std::fs::create_dir_all(&dir)
                    .with_context(|| format!("cannot create {}", dir.display()))?;
                let path = dir.join("nova.sqlite");
                Ok(BenchDb {
                    backend,
                    url: format!("sqlite://{}", path.display()),
                    name,
                    sqlite_dir: Some(dir),
                })
            }
            Backend::MySql => {
                let mut admin = MySqlConnectOptions::from_str(&server)
                    .context("NOVA_PURGE_TEST_MYSQL is not a MySQL URL")?
                    .connect()
                    .await
                    .with_context(|| format!("cannot connect to MariaDB at {server}"))?;
                sqlx::query(&format!("CREATE DATABASE `{name}` CHARACTER SET utf8"))
                    .execute(&mut admin)
                    .await
                    .context("CREATE DATABASE")?;
                Ok(BenchDb {
                    backend,
                    url: format!("{server}/{name}"),
                    name,
                    sqlite_dir: None,
                })
            }
            Backend::Postgres => {
                let mut admin = PgConnectOptions::from_str(&format!("{server}/postgres"))
                    .context("NOVA_PURGE_TEST_POSTGRES is not a PostgreSQL URL")?
                    .connect()
                    .await
                    .with_context(|| format!("cannot connect to PostgreSQL at {server}"))?;
                sqlx::query(&format!("CREATE DATABASE \"{name}\""))
                    .execute(&mut admin)
                    .await
                    .context("CREATE DATABASE")?;
                Ok(BenchDb {
                    backend,
                    url: format!("{server}/{name}"),
                    name,
                    sqlite_dir: None,
                })
            }
        }
    }

    /// A one-connection pool to the database. `bulk` relaxes durability for
    /// the fill where that is a per-connection setting (SQLite's
    /// `synchronous`); measured work always uses `bulk = false`, the
    /// defaults nova-purge itself runs with.
    pub async fn connect(&self, bulk: bool) -> Result<Db> {
        let fail = || format!("cannot connect to {}", self.url);
        Ok(match self.backend {
            Backend::MySql => {
                let options = MySqlConnectOptions::from_str(&self.url).with_context(fail)?;
                Db::MySql(pool().connect_with(options).await.with_context(fail)?)
            }
            Backend::Postgres => {
                let options = PgConnectOptions::from_str(&self.url).with_context(fail)?;
                Db::Postgres(pool().connect_with(options).await.with_context(fail)?)
            }
            Backend::Sqlite => {
                let dir = self
                    .sqlite_dir
                    .as_ref()
                    .expect("SQLite databases have a dir");
                let mut options = SqliteConnectOptions::new()
                    .filename(dir.join("nova.sqlite"))
                    .create_if_missing(true)
                    .foreign_keys(true);
                if bulk {
                    options = options.synchronous(SqliteSynchronous::Off);
                }
                Db::Sqlite(pool().connect_with(options).await.with_context(fail)?)
            }
        })
    }

    /// Drops the database (removes the SQLite directory).
    pub async fn drop_db(self) -> Result<()> {
        if let Some(dir) = &self.sqlite_dir {
            return std::fs::remove_dir_all(dir)
                .with_context(|| format!("cannot remove {}", dir.display()));
        }
        let server = server_url(self.backend);
        match self.backend {
            Backend::MySql => {
                let mut admin = MySqlConnectOptions::from_str(&server)?.connect().await?;
                sqlx::query(&format!("DROP DATABASE IF EXISTS `{}`", self.name))
                    .execute(&mut admin)
                    .await?;
            }
            _ => {
                let mut admin = PgConnectOptions::from_str(&format!("{server}/postgres"))?
                    .connect()
                    .await?;
                sqlx::query(&format!(
                    "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
                    self.name
                ))
                .execute(&mut admin)
                .await?;
            }
        }
        Ok(())
    }
}

fn pool<DB: sqlx::Database>() -> PoolOptions<DB> {
    PoolOptions::new()
        .max_connections(1)
        .acquire_timeout(std::time::Duration::from_secs(30))
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
