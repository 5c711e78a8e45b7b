//! Database servers and throwaway databases on them, shared by this harness
//! and the benchmark (`nova-purge-bench`): where the servers are, creating,
//! opening and dropping a database of one's own, and an administrative
//! connection to a server.
//!
//! MariaDB and PostgreSQL are reached through `NOVA_PURGE_TEST_MYSQL`
//! (default `mysql://root@127.0.0.1:3306`) and `NOVA_PURGE_TEST_POSTGRES`
//! (default `postgres://postgres@127.0.0.1:5432`), as a user that may create
//! and drop databases; a test may also pass a private server's URL. A
//! SQLite database is a file in a directory of its own under the temporary
//! directory.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use purge_api::{Backend, Db};
use sqlx::mysql::MySqlConnectOptions;
use sqlx::pool::PoolOptions;
use sqlx::postgres::PgConnectOptions;
use sqlx::sqlite::{SqliteConnectOptions, SqliteSynchronous};
use sqlx::ConnectOptions;

/// The URL (no database, no trailing slash) of the shared server for
/// `backend`, from the environment; empty for SQLite, which has no server.
pub fn server_url(backend: Backend) -> String {
    let (var, default) = match backend {
        Backend::MySql => ("NOVA_PURGE_TEST_MYSQL", "mysql://root@127.0.0.1:3306"),
        Backend::Postgres => (
            "NOVA_PURGE_TEST_POSTGRES",
            "postgres://postgres@127.0.0.1:5432",
        ),
        Backend::Sqlite => return String::new(),
    };
    std::env::var(var)
        .unwrap_or_else(|_| default.to_owned())
        .trim_end_matches('/')
        .to_owned()
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// `{prefix}_{pid}_{n}`: a name that no other process and no earlier call
/// in this one uses.
pub fn unique_name(prefix: &str) -> String {
    format!(
        "{prefix}_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst)
    )
}

/// A database of one's own, created empty. Not dropped by `Drop`: call
/// [`ThrowawayDb::drop_db`] or [`ThrowawayDb::drop_db_blocking`].
#[derive(Debug)]
pub struct ThrowawayDb {
    pub backend: Backend,
    pub name: String,
    /// The URL nova-purge is given (no password is ever involved here).
    pub url: String,
    /// The server it lives on (empty for SQLite).
    server: String,
    /// The directory that holds the SQLite file.
    sqlite_dir: Option<PathBuf>,
}

impl ThrowawayDb {
    /// Creates an empty database named `{prefix}_{pid}_{n}` on `server` (a
    /// URL without a database; ignored for SQLite, whose database is a file
    /// in a new temporary directory).
    pub async fn create(backend: Backend, server: &str, prefix: &str) -> Result<ThrowawayDb> {
        let name = unique_name(prefix);
        let server = server.trim_end_matches('/').to_owned();
        let (url, sqlite_dir) = match backend {
            Backend::Sqlite => {
                let dir = std::env::temp_dir().join(&name);
                std::fs::create_dir_all(&dir)
                    .with_context(|| format!("cannot create {}", dir.display()))?;
                let url = format!("sqlite://{}", dir.join("nova.sqlite").display());
                (url, Some(dir))
            }
            Backend::MySql | Backend::Postgres => {
                let sql = match backend {
                    Backend::MySql => format!("CREATE DATABASE `{name}` CHARACTER SET utf8"),
                    _ => format!("CREATE DATABASE \"{name}\""),
                };
                Admin::connect_to(backend, &server)
                    .await?
                    .execute(&sql)
                    .await?;
                (format!("{server}/{name}"), None)
            }
        };
        Ok(ThrowawayDb {
            backend,
            name,
            url,
            server,
            sqlite_dir,
        })
    }

    /// A new pool on the database.
    pub async fn connect(&self, settings: PoolSettings) -> Result<Db> {
        connect(self.backend, &self.url, settings).await
    }

    /// Drops the database (removes the SQLite directory).
    pub async fn drop_db(&self) -> Result<()> {
        match &self.sqlite_dir {
            Some(dir) => remove_dir(dir),
            None => self.drop_on_server().await,
        }
    }

    /// [`ThrowawayDb::drop_db`] for synchronous code (a `Drop`), inside an
    /// async runtime or not: the server is reached from a thread and a
    /// runtime of its own.
    pub fn drop_db_blocking(&self) -> Result<()> {
        if let Some(dir) = &self.sqlite_dir {
            return remove_dir(dir);
        }
        std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()?
                        .block_on(self.drop_on_server())
                })
                .join()
                .unwrap_or_else(|_| Err(anyhow!("dropping {} panicked", self.name)))
        })
    }

    async fn drop_on_server(&self) -> Result<()> {
        // FORCE ends the sessions still open on it (PostgreSQL).
        let sql = match self.backend {
            Backend::MySql => format!("DROP DATABASE IF EXISTS `{}`", self.name),
            _ => format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name),
        };
        Admin::connect_to(self.backend, &self.server)
            .await?
            .execute(&sql)
            .await
    }
}

fn remove_dir(dir: &Path) -> Result<()> {
    std::fs::remove_dir_all(dir).with_context(|| format!("cannot remove {}", dir.display()))
}

/// How to open a pool on a database.
#[derive(Debug, Clone, Copy)]
pub struct PoolSettings {
    pub max_connections: u32,
    /// SQLite's busy timeout; `None` keeps sqlx's (5 s).
    pub sqlite_busy_timeout: Option<Duration>,
    /// SQLite's `synchronous = OFF`: no durability, for bulk loading only.
    pub sqlite_synchronous_off: bool,
}

impl Default for PoolSettings {
    /// sqlx's own defaults.
    fn default() -> PoolSettings {
        PoolSettings {
            max_connections: 10,
            sqlite_busy_timeout: None,
            sqlite_synchronous_off: false,
        }
    }
}

/// A new pool on the database at `url` (SQLite: `sqlite://PATH`, created if
/// missing), foreign keys enforced on SQLite as Nova's own connections do.
pub async fn connect(backend: Backend, url: &str, settings: PoolSettings) -> Result<Db> {
    let fail = || format!("cannot connect to {url}");
    let max = settings.max_connections;
    Ok(match backend {
        Backend::MySql => {
            let options = MySqlConnectOptions::from_str(url).with_context(fail)?;
            Db::MySql(pool(max).connect_with(options).await.with_context(fail)?)
        }
        Backend::Postgres => {
            let options = PgConnectOptions::from_str(url).with_context(fail)?;
            Db::Postgres(pool(max).connect_with(options).await.with_context(fail)?)
        }
        Backend::Sqlite => {
            let mut options = SqliteConnectOptions::new()
                .filename(url.trim_start_matches("sqlite://"))
                .create_if_missing(true)
                .foreign_keys(true);
            if let Some(timeout) = settings.sqlite_busy_timeout {
                options = options.busy_timeout(timeout);
            }
            if settings.sqlite_synchronous_off {
                options = options.synchronous(SqliteSynchronous::Off);
            }
            Db::Sqlite(pool(max).connect_with(options).await.with_context(fail)?)
        }
    })
}

fn pool<DB: sqlx::Database>(max_connections: u32) -> PoolOptions<DB> {
    PoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(30))
}

/// An administrative connection to a server (not to one of its databases):
/// to create and drop databases, and to find and end other sessions.
pub enum Admin {
    MySql(sqlx::MySqlConnection),
    Postgres(sqlx::PgConnection),
}

impl Admin {
    /// A connection to the shared server for `backend`; panics without one.
    pub async fn connect(backend: Backend) -> Admin {
        Admin::connect_to(backend, &server_url(backend))
            .await
            .unwrap_or_else(|e| panic!("admin connection: {e:#}"))
    }

    /// A connection to the server at `server` (a URL without a database).
    pub async fn connect_to(backend: Backend, server: &str) -> Result<Admin> {
        Ok(match backend {
            Backend::MySql => Admin::MySql(
                MySqlConnectOptions::from_str(server)
                    .with_context(|| format!("{server} is not a MariaDB/MySQL URL"))?
                    .connect()
                    .await
                    .with_context(|| format!("cannot connect to MariaDB at {server}"))?,
            ),
            Backend::Postgres => Admin::Postgres(
                PgConnectOptions::from_str(&format!("{server}/postgres"))
                    .with_context(|| format!("{server} is not a PostgreSQL URL"))?
                    .connect()
                    .await
                    .with_context(|| format!("cannot connect to PostgreSQL at {server}"))?,
            ),
            Backend::Sqlite => bail!("SQLite has no server"),
        })
    }

    /// Runs one statement.
    pub async fn execute(&mut self, sql: &str) -> Result<()> {
        match self {
            Admin::MySql(c) => sqlx::query(sql).execute(c).await.map(drop),
            Admin::Postgres(c) => sqlx::query(sql).execute(c).await.map(drop),
        }
        .with_context(|| sql.to_owned())
    }

    /// Ids of the client sessions connected to `database`, this one
    /// excluded (MariaDB processlist ids, PostgreSQL backend pids).
    pub async fn sessions(&mut self, database: &str) -> Vec<i64> {
        use sqlx::Row as _;
        let rows = match self {
            Admin::MySql(c) => sqlx::query(
                "SELECT CAST(ID AS SIGNED) FROM information_schema.PROCESSLIST \
                 WHERE DB = ? AND ID <> CONNECTION_ID() AND COMMAND <> 'Killed'",
            )
            .bind(database)
            .fetch_all(c)
            .await
            .expect("processlist")
            .iter()
            .map(|row| row.get::<i64, _>(0))
            .collect(),
            Admin::Postgres(c) => sqlx::query(
                "SELECT pid::bigint FROM pg_stat_activity WHERE datname = $1 \
                 AND pid <> pg_backend_pid() AND backend_type = 'client backend'",
            )
            .bind(database)
            .fetch_all(c)
            .await
            .expect("pg_stat_activity")
            .iter()
            .map(|row| row.get::<i64, _>(0))
            .collect(),
        };
        rows
    }

    /// Waits until no session on `database` but `keep` is left: after a
    /// client is killed, its server session may still be finishing a
    /// statement or a COMMIT it had sent, and a snapshot taken meanwhile
    /// (statement by statement on PostgreSQL, READ COMMITTED) could see that
    /// transaction half applied.
    pub async fn wait_for_others_to_leave(&mut self, database: &str, keep: &[i64]) {
        let started = std::time::Instant::now();
        loop {
            let others: Vec<i64> = self
                .sessions(database)
                .await
                .into_iter()
                .filter(|id| !keep.contains(id))
                .collect();
            if others.is_empty() {
                return;
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "sessions {others:?} of a killed client are still there after 60 s"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Ends a session from the server side (`KILL CONNECTION` on MariaDB,
    /// `pg_terminate_backend` on PostgreSQL). A session that is already
    /// gone is not an error.
    pub async fn end_session(&mut self, id: i64) {
        match self {
            Admin::MySql(c) => {
                // 1094: unknown thread id, it ended by itself meanwhile.
                if let Err(e) = sqlx::query(&format!("KILL CONNECTION {id}"))
                    .execute(c)
                    .await
                {
                    assert!(e.to_string().contains("1094"), "KILL CONNECTION {id}: {e}");
                }
            }
            Admin::Postgres(c) => {
                sqlx::query("SELECT pg_terminate_backend($1::int)")
                    .bind(id)
                    .execute(c)
                    .await
                    .expect("pg_terminate_backend");
            }
        }
    }
}
