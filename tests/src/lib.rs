//! Test harness: throwaway databases on the three backends, the fixture,
//! running the real binary, and whole-database snapshots to compare.
//!
//! MariaDB and PostgreSQL are reached through `NOVA_PURGE_TEST_MYSQL`
//! (default `mysql://root@127.0.0.1:3306`) and `NOVA_PURGE_TEST_POSTGRES`
//! (default `postgres://postgres@127.0.0.1:5432`), as a user that may create
//! and drop databases. Each test makes its own database, named `np_test_*`,
//! and drops it when done; `scripts/test.sh` also sweeps any a crashed run
//! left behind.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::str::FromStr;
use std::sync::atomic::{AtomicU32, Ordering};

use purge_api::{Backend, Db};
use purge_cli::fixture::{Fixture, InstanceSpec};
use purge_cli::schema::Schema;
use sqlx::mysql::MySqlConnectOptions;
use sqlx::postgres::PgConnectOptions;
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::ConnectOptions;

pub use purge_cli::fixture::InstanceState;

/// The three backends, for tests that run on each.
pub const BACKENDS: [Backend; 3] = [Backend::Sqlite, Backend::MySql, Backend::Postgres];

fn server_url(backend: Backend) -> String {
    let (var, default) = match backend {
        Backend::MySql => ("NOVA_PURGE_TEST_MYSQL", "mysql://root@127.0.0.1:3306"),
        Backend::Postgres => (
            "NOVA_PURGE_TEST_POSTGRES",
            "postgres://postgres@127.0.0.1:5432",
        ),
        Backend::Sqlite => unreachable!("SQLite needs no server"),
    };
    std::env::var(var).unwrap_or_else(|_| default.to_owned())
}

/// A database created for one test and dropped when it goes out of scope.
pub struct TestDb {
    pub backend: Backend,
    pub name: String,
    /// The URL nova-purge is given.
    pub url: String,
    pub db: Db,
    sqlite_dir: Option<PathBuf>,
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

impl TestDb {
    /// A new, empty database.
    pub async fn empty(backend: Backend) -> TestDb {
        let name = format!(
            "np_test_{}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        );
        match backend {
            Backend::Sqlite => {
                let dir = std::env::temp_dir().join(&name);
                std::fs::create_dir_all(&dir).expect("temp dir");
                let path = dir.join("nova.sqlite");
                let options = SqliteConnectOptions::new()
                    .filename(&path)
                    .create_if_missing(true)
                    .foreign_keys(true);
                let pool = sqlx::SqlitePool::connect_with(options)
                    .await
                    .expect("SQLite");
                TestDb {
                    backend,
                    url: format!("sqlite://{}", path.display()),
                    name,
                    db: Db::Sqlite(pool),
                    sqlite_dir: Some(dir),
                }
            }
            Backend::MySql => {
                let server = server_url(backend);
                let mut admin = MySqlConnectOptions::from_str(&server)
                    .expect("NOVA_PURGE_TEST_MYSQL is a MySQL URL")
                    .connect()
                    .await
                    .unwrap_or_else(|e| panic!("MariaDB at {server} is needed by this test: {e}"));
                sqlx::query(&format!("CREATE DATABASE `{name}` CHARACTER SET utf8"))
                    .execute(&mut admin)
                    .await
                    .expect("CREATE DATABASE");
                let url = format!("{server}/{name}");
                let pool = sqlx::MySqlPool::connect(&url).await.expect("connect");
                TestDb {
                    backend,
                    name,
                    url,
                    db: Db::MySql(pool),
                    sqlite_dir: None,
                }
            }
            Backend::Postgres => {
                let server = server_url(backend);
                let mut admin = PgConnectOptions::from_str(&format!("{server}/postgres"))
                    .expect("NOVA_PURGE_TEST_POSTGRES is a PostgreSQL URL")
                    .connect()
                    .await
                    .unwrap_or_else(|e| {
                        panic!("PostgreSQL at {server} is needed by this test: {e}")
                    });
                sqlx::query(&format!("CREATE DATABASE \"{name}\""))
                    .execute(&mut admin)
                    .await
                    .expect("CREATE DATABASE");
                let url = format!("{server}/{name}");
                let pool = sqlx::PgPool::connect(&url).await.expect("connect");
                TestDb {
                    backend,
                    name,
                    url,
                    db: Db::Postgres(pool),
                    sqlite_dir: None,
                }
            }
        }
    }

    /// A new database with the fixture schema.
    pub async fn with_fixture(backend: Backend, fixture: &Fixture) -> TestDb {
        let test_db = TestDb::empty(backend).await;
        fixture
            .create(&test_db.db)
            .await
            .expect("create fixture schema");
        test_db
    }

    /// Runs SQL statements, one after the other, failing the test on error.
    pub async fn execute(&self, sql: &str) {
        let mut tx = self.db.begin_write().await.expect("begin");
        let mut stmt = tx.stmt();
        stmt.push(sql);
        tx.execute(&stmt)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        tx.commit().await.expect("commit");
    }

    /// Every row of every table, as text, for before/after comparisons.
    pub async fn snapshot(&self) -> Snapshot {
        let schema = Schema::inspect(&self.db).await.expect("inspect schema");
        let mut tx = self.db.begin_read().await.expect("begin");
        let mut tables = BTreeMap::new();
        for table in schema.tables() {
            let columns: Vec<&str> = schema.columns(table).collect();
            let mut stmt = tx.stmt();
            stmt.push("SELECT ");
            for (i, column) in columns.iter().enumerate() {
                if i > 0 {
                    stmt.push(", ");
                }
                stmt.ident(column);
            }
            stmt.push(" FROM ").ident(table);
            let rows = tx.fetch_all(&stmt).await.expect("read table");
            let rows: BTreeSet<Row> = rows
                .into_iter()
                .map(|values| {
                    columns
                        .iter()
                        .zip(values)
                        .map(|(c, v)| ((*c).to_owned(), v.to_text()))
                        .collect()
                })
                .collect();
            tables.insert(table.to_owned(), rows);
        }
        tx.rollback().await.expect("rollback");
        Snapshot { tables }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some(dir) = &self.sqlite_dir {
            let _ = std::fs::remove_dir_all(dir);
            return;
        }
        // Synchronous on purpose: Drop cannot await, and a failed test must
        // still drop its database. The pools are left to die with the
        // process; FORCE ends their sessions on PostgreSQL.
        let sql = match self.backend {
            Backend::MySql => format!("DROP DATABASE IF EXISTS `{}`", self.name),
            _ => format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name),
        };
        let server = server_url(self.backend);
        let _ = std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    let runtime = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .ok()?;
                    runtime.block_on(async {
                        match self.backend {
                            Backend::MySql => {
                                let mut c = MySqlConnectOptions::from_str(&server)
                                    .ok()?
                                    .connect()
                                    .await
                                    .ok()?;
                                sqlx::query(&sql).execute(&mut c).await.ok().map(drop)
                            }
                            _ => {
                                let mut c =
                                    PgConnectOptions::from_str(&format!("{server}/postgres"))
                                        .ok()?
                                        .connect()
                                        .await
                                        .ok()?;
                                sqlx::query(&sql).execute(&mut c).await.ok().map(drop)
                            }
                        }
                    })
                })
                .join()
        });
    }
}

/// One row: column → value as text (None for NULL).
pub type Row = BTreeMap<String, Option<String>>;

/// The whole content of a database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    pub tables: BTreeMap<String, BTreeSet<Row>>,
}

impl Snapshot {
    pub fn rows(&self, table: &str) -> &BTreeSet<Row> {
        self.tables
            .get(table)
            .unwrap_or_else(|| panic!("no table {table} in snapshot"))
    }

    /// Rows of `table` whose `column` equals `value`.
    pub fn rows_where(&self, table: &str, column: &str, value: &str) -> Vec<&Row> {
        self.rows(table)
            .iter()
            .filter(|row| row.get(column).and_then(Option::as_deref) == Some(value))
            .collect()
    }

    /// Rows present here and gone from `after`, per table (empty tables left out).
    pub fn removed_in(&self, after: &Snapshot) -> BTreeMap<String, Vec<Row>> {
        self.tables
            .iter()
            .map(|(table, rows)| {
                let kept = after.tables.get(table);
                let removed: Vec<Row> = rows
                    .iter()
                    .filter(|row| kept.is_none_or(|kept| !kept.contains(*row)))
                    .cloned()
                    .collect();
                (table.clone(), removed)
            })
            .filter(|(_, removed)| !removed.is_empty())
            .collect()
    }

    /// Rows in `after` that were not here: changed or added rows.
    pub fn added_in(&self, after: &Snapshot) -> BTreeMap<String, Vec<Row>> {
        after.removed_in(self)
    }
}

/// Inserts fixture instances.
pub async fn insert_instances(test_db: &TestDb, fixture: &Fixture, specs: &[InstanceSpec]) {
    for spec in specs {
        fixture
            .insert_instance(&test_db.db, spec)
            .await
            .unwrap_or_else(|e| panic!("insert {}: {e}", spec.uuid));
    }
}

/// A deterministic instance uuid for a test label.
pub fn uuid(n: u32) -> String {
    format!("{n:08x}-0000-4000-8000-{n:012x}")
}

/// What a run of the binary produced.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// stdout parsed as one JSON value.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}):\n{}\nstderr:\n{}",
                self.stdout, self.stderr
            )
        })
    }
}

/// The binary under test. Cargo builds a package's binaries before its
/// integration tests, into the directory above the tests' own `deps/`.
pub fn binary() -> PathBuf {
    let test_exe = std::env::current_exe().expect("current exe");
    let profile_dir = test_exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("tests run from target/<profile>/deps");
    let binary = profile_dir.join(format!(
        "nova-purge-under-test{}",
        std::env::consts::EXE_SUFFIX
    ));
    assert!(
        binary.is_file(),
        "{} is missing: build the nova-purge-tests package first",
        binary.display()
    );
    binary
}

/// Runs the real binary with `args`, no terminal on stdin, a clean
/// environment for nova-purge's own variables, and the given extra env.
pub fn nova_purge(args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut command = Command::new(binary());
    command
        .args(args)
        .env_remove("NOVA_PURGE_DATABASE_URL")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null());
    for (key, value) in env {
        command.env(key, value);
    }
    let Output {
        status,
        stdout,
        stderr,
    } = command.output().expect("run nova-purge");
    Run {
        code: status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    }
}

/// `nova-purge --database-url URL purge ARGS... --format json`.
pub fn purge_json(test_db: &TestDb, args: &[&str]) -> Run {
    let mut all = vec!["--database-url", &test_db.url, "purge", "--format", "json"];
    all.extend_from_slice(args);
    nova_purge(&all, &[])
}
