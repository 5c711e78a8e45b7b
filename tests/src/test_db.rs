//! A database per test, on the three backends, and what a test does with
//! it: run SQL, insert fixture instances, snapshot every row to compare
//! before and after, open more connections. Each test makes its own
//! database, named `np_test_*` (see [`crate::server`]), and drops it when
//! done; `scripts/test.sh` also sweeps any a crashed run left behind.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use purge_api::{Backend, Db};
use purge_engine::database::schema::Schema;
use purge_fixture::{Fixture, InstanceSpec};

use crate::server::{connect, server_url, PoolSettings, ThrowawayDb};

/// A database created for one test and dropped when it goes out of scope.
pub struct TestDb {
    pub backend: Backend,
    pub name: String,
    /// The URL nova-purge is given.
    pub url: String,
    pub db: Db,
    /// The database this handle drops: `None` for a second handle (see
    /// [`TestDb::reconnect`]).
    owned: Option<ThrowawayDb>,
}

impl TestDb {
    /// A new, empty database.
    pub async fn empty(backend: Backend) -> TestDb {
        TestDb::empty_on(backend, server_url(backend)).await
    }

    /// A new, empty database on the server at `server` (a URL without a
    /// database name; ignored for SQLite).
    pub async fn empty_on(backend: Backend, server: String) -> TestDb {
        let owned = ThrowawayDb::create(backend, &server, "np_test")
            .await
            .unwrap_or_else(|e| panic!("{e:#} (needed by this test)"));
        let db = owned
            .connect(PoolSettings::default())
            .await
            .unwrap_or_else(|e| panic!("{e:#}"));
        TestDb {
            backend,
            name: owned.name.clone(),
            url: owned.url.clone(),
            db,
            owned: Some(owned),
        }
    }

    /// A new handle on the same database (after its server restarted, say).
    /// The returned handle does not drop the database; the original does.
    pub async fn reconnect(other: &TestDb) -> TestDb {
        assert!(
            other.backend != Backend::Sqlite,
            "SQLite has no server to reconnect to"
        );
        let db = connect(other.backend, &other.url, PoolSettings::default())
            .await
            .unwrap_or_else(|e| panic!("reconnect: {e:#}"));
        TestDb {
            backend: other.backend,
            name: other.name.clone(),
            url: other.url.clone(),
            db,
            owned: None,
        }
    }

    /// A handle on the same database on another server that holds it too
    /// (another node of a Galera cluster), at `server` (a URL without a
    /// database name). It does not drop the database; the original does.
    pub async fn on_server(other: &TestDb, server: &str) -> TestDb {
        let url = format!("{}/{}", server.trim_end_matches('/'), other.name);
        let db = connect(other.backend, &url, PoolSettings::default())
            .await
            .unwrap_or_else(|e| panic!("connect to {url}: {e:#}"));
        TestDb {
            backend: other.backend,
            name: other.name.clone(),
            url,
            db,
            owned: None,
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
        if self.backend == Backend::Postgres {
            // One snapshot for every table, as MariaDB and SQLite give.
            let mut stmt = tx.stmt();
            stmt.push("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ");
            tx.execute(&stmt).await.expect("repeatable read");
        }
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
                if self.backend == Backend::Postgres {
                    // Enum and INET columns have no decoding of their own.
                    stmt.push("::text");
                }
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
        // Synchronous on purpose: Drop cannot await, and a failed test must
        // still drop its database. The pools are left to die with the
        // process; FORCE ends their sessions on PostgreSQL.
        if let Some(owned) = &self.owned {
            let _ = owned.drop_db_blocking();
        }
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

/// A new pool of up to `max` connections to the test database, apart from
/// the harness's own: for a test that writes while nova-purge runs.
pub async fn another_pool(test_db: &TestDb, max: u32) -> Db {
    let settings = PoolSettings {
        max_connections: max,
        sqlite_busy_timeout: Some(Duration::from_secs(30)),
        ..PoolSettings::default()
    };
    connect(test_db.backend, &test_db.url, settings)
        .await
        .unwrap_or_else(|e| panic!("another pool: {e:#}"))
}
