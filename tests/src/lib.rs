//! Test harness: throwaway databases on the three backends, the fixture,
//! running the real binary, and whole-database snapshots to compare.
//!
//! MariaDB and PostgreSQL are reached through `NOVA_PURGE_TEST_MYSQL`
//! (default `mysql://root@127.0.0.1:3306`) and `NOVA_PURGE_TEST_POSTGRES`
//! (default `postgres://postgres@127.0.0.1:5432`), as a user that may create
//! and drop databases. Each test makes its own database, named `np_test_*`,
//! and drops it when done; `scripts/test.sh` also sweeps any a crashed run
//! left behind.

pub mod servers;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::str::FromStr;
use std::sync::atomic::{AtomicU32, Ordering};

use purge_api::{Backend, Db};
use purge_engine::database::schema::Schema;
use purge_fixture::{Fixture, InstanceSpec};
use sqlx::mysql::MySqlConnectOptions;
use sqlx::postgres::PgConnectOptions;
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::ConnectOptions;

pub use purge_fixture::InstanceState;

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
    /// The server URL the database lives on (empty for SQLite).
    server: String,
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

impl TestDb {
    /// A new, empty database.
    pub async fn empty(backend: Backend) -> TestDb {
        match backend {
            Backend::Sqlite => TestDb::empty_on(backend, String::new()).await,
            _ => TestDb::empty_on(backend, server_url(backend)).await,
        }
    }

    /// A new, empty database on the server at `server` (a URL without a
    /// database name; ignored for SQLite).
    pub async fn empty_on(backend: Backend, server: String) -> TestDb {
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
                    server,
                }
            }
            Backend::MySql => {
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
                    server,
                }
            }
            Backend::Postgres => {
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
                    server,
                }
            }
        }
    }

    /// A new handle on the same database (after its server restarted, say).
    /// The returned handle does not drop the database; the original does.
    pub async fn reconnect(other: &TestDb) -> TestDb {
        let db = match other.backend {
            Backend::MySql => Db::MySql(
                sqlx::MySqlPool::connect(&other.url)
                    .await
                    .expect("reconnect"),
            ),
            Backend::Postgres => {
                Db::Postgres(sqlx::PgPool::connect(&other.url).await.expect("reconnect"))
            }
            Backend::Sqlite => panic!("SQLite has no server to reconnect to"),
        };
        TestDb {
            backend: other.backend,
            name: other.name.clone(),
            url: other.url.clone(),
            db,
            // Nothing to drop: the original handle owns the database.
            sqlite_dir: None,
            server: String::new(),
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
        if let Some(dir) = &self.sqlite_dir {
            let _ = std::fs::remove_dir_all(dir);
            return;
        }
        if self.server.is_empty() {
            return; // a second handle, see `reconnect`
        }
        // Synchronous on purpose: Drop cannot await, and a failed test must
        // still drop its database. The pools are left to die with the
        // process; FORCE ends their sessions on PostgreSQL.
        let sql = match self.backend {
            Backend::MySql => format!("DROP DATABASE IF EXISTS `{}`", self.name),
            _ => format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name),
        };
        let server = self.server.clone();
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

// ---------------------------------------------------------------------------
// Helpers for the fault and concurrency suites (tests/tests/faults.rs and
// tests/tests/concurrency.rs): randomness that can be replayed, a child
// process that can be killed, a larger population, which rows belong to
// which instance, and server sessions that can be ended.
// ---------------------------------------------------------------------------

/// A small seeded PRNG (SplitMix64): reproducible runs without a crate.
pub struct Rng {
    state: u64,
}

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng { state: seed }
    }

    /// Seeded from `NOVA_PURGE_TEST_SEED` when set, else from the clock. The
    /// seed is printed with `label` so that a failing run can be replayed.
    pub fn from_env(label: &str) -> Rng {
        let seed = std::env::var("NOVA_PURGE_TEST_SEED")
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or_else(|| {
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap_or_default();
                now.as_nanos() as u64 ^ u64::from(std::process::id())
            });
        eprintln!("{label}: seed {seed} (replay with NOVA_PURGE_TEST_SEED={seed})");
        Rng::new(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n` > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        assert!(n > 0, "Rng::below(0)");
        self.next_u64() % n
    }

    /// Uniform in `lo..=hi`.
    pub fn between(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    pub fn chance(&mut self, probability: f64) -> bool {
        self.unit() < probability
    }

    /// Uniform in `[0, max)`.
    pub fn duration_below(&mut self, max: std::time::Duration) -> std::time::Duration {
        max.mul_f64(self.unit())
    }

    /// One element of a non-empty slice.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

/// A count from the environment (`var`), or `default` when unset.
pub fn env_count(var: &str, default: usize) -> usize {
    match std::env::var(var) {
        Ok(value) => value
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{var}={value} is not a count")),
        Err(_) => default,
    }
}

/// The binary under test, running in the background. Its stderr goes to a
/// file, not a pipe: nobody reads a pipe while the test sleeps, and a
/// chatty child (debug logs) would block on a full one and distort timing.
pub struct Spawned {
    child: std::process::Child,
    stderr_path: PathBuf,
    pub started: std::time::Instant,
}

/// Starts nova-purge with `args`, as [`nova_purge`] runs it, without
/// waiting for it.
pub fn spawn_nova_purge(args: &[&str], env: &[(&str, &str)]) -> Spawned {
    let stderr_path = std::env::temp_dir().join(format!(
        "np_test_{}_{}.stderr",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst)
    ));
    let stderr = std::fs::File::create(&stderr_path).expect("stderr file");
    let mut command = Command::new(binary());
    command
        .args(args)
        .env_remove("NOVA_PURGE_DATABASE_URL")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(stderr);
    for (key, value) in env {
        command.env(key, value);
    }
    let started = std::time::Instant::now();
    let child = command.spawn().expect("spawn nova-purge");
    Spawned {
        child,
        stderr_path,
        started,
    }
}

impl Spawned {
    /// Sends a signal (`INT`, `TERM`, ...) with kill(1).
    pub fn signal(&self, signal: &str) {
        let sent = Command::new("kill")
            .args([format!("-{signal}"), self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(sent.success(), "kill -{signal} failed");
    }

    /// True once the process has exited.
    pub fn has_exited(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(Some(_)))
    }

    /// Sends SIGKILL (if it still runs) and collects what it wrote. The
    /// boolean is false when the process had already exited by itself.
    pub fn kill(mut self) -> (Run, bool) {
        let was_running = !self.has_exited();
        if was_running {
            // Fails only if it exited in between, which `wait` then shows.
            let _ = self.child.kill();
        }
        (self.wait(), was_running)
    }

    /// Waits for the process to exit by itself and collects what it wrote.
    pub fn wait(self) -> Run {
        let Output { status, stdout, .. } = self.child.wait_with_output().expect("wait");
        let stderr = std::fs::read(&self.stderr_path).unwrap_or_default();
        let _ = std::fs::remove_file(&self.stderr_path);
        Run {
            code: status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&stdout).into_owned(),
            stderr: String::from_utf8_lossy(&stderr).into_owned(),
        }
    }
}

/// The instances of a larger fixture, by what a purge must do with them.
#[derive(Debug, Clone, Default)]
pub struct Population {
    /// Old deleted, nothing holds them: a purge removes exactly these.
    pub purgeable: Vec<String>,
    /// Old deleted but held by a legacy fixed_ips row: skipped, whole.
    pub blocked: Vec<String>,
    /// Live, young deleted and restorable soft-deleted: never touched.
    pub untouchable: Vec<String>,
}

impl Population {
    pub fn extend(&mut self, other: Population) {
        self.purgeable.extend(other.purgeable);
        self.blocked.extend(other.blocked);
        self.untouchable.extend(other.untouchable);
    }
}

/// Inserts `candidates` old deleted instances with labels from
/// `first_label` on, interleaved (by id) with the instances a purge must
/// leave alone: per ten candidates one live, one deleted 10 days ago and
/// one restorable soft-delete; every 20th candidate is blocked; and a live
/// instance last.
pub async fn populate(
    test_db: &TestDb,
    fixture: &Fixture,
    candidates: u32,
    first_label: u32,
) -> Population {
    let mut population = Population::default();
    let mut label = first_label;
    let mut next = |state, fixed_ip| {
        label += 1;
        InstanceSpec {
            fixed_ip,
            ..InstanceSpec::new(uuid(label), state)
        }
    };
    let mut specs = Vec::new();
    for n in 0..candidates {
        let blocked = n % 20 == 7;
        let spec = next(InstanceState::Deleted { days_ago: 200 }, blocked);
        if blocked {
            population.blocked.push(spec.uuid.clone());
        } else {
            population.purgeable.push(spec.uuid.clone());
        }
        specs.push(spec);
        let other = match n % 10 {
            2 => Some(InstanceState::Live),
            5 => Some(InstanceState::Deleted { days_ago: 10 }),
            8 => Some(InstanceState::SoftDelete),
            _ => None,
        };
        if let Some(state) = other {
            let spec = next(state, false);
            population.untouchable.push(spec.uuid.clone());
            specs.push(spec);
        }
    }
    // Last a live one, which no purge removes: SQLite gives a new row the
    // highest rowid plus one, so without it a later instance could take a
    // purged one's id, and the fixture derives unique PCI addresses (which
    // the purged instance's live inventory still holds) from the id.
    let last = next(InstanceState::Live, false);
    population.untouchable.push(last.uuid.clone());
    specs.push(last);
    insert_instances(test_db, fixture, &specs).await;
    population
}

/// A table name and one of its rows.
pub type TableRow = (String, Row);

/// Which rows of a snapshot belong to which instance, to check that an
/// instance is whole or gone without comparing whole databases.
#[derive(Debug, Default)]
pub struct InstanceRows {
    /// uuid → every row that mentions the uuid (the instance row included)
    /// and the events of its actions. Live PCI inventory is not included.
    pub owned: BTreeMap<String, Vec<TableRow>>,
    /// Live PCI inventory (`deleted = 0`) allocated to some instance: host
    /// data that a purge must never remove.
    pub inventory: Vec<TableRow>,
    /// Rows of no instance (security groups, console pools, compute nodes).
    pub shared: Vec<TableRow>,
}

/// What is left of an instance's rows in a later snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Presence {
    Whole,
    Gone,
    Partial { present: usize, total: usize },
}

impl InstanceRows {
    pub fn of(snapshot: &Snapshot) -> InstanceRows {
        let uuids: BTreeSet<String> = snapshot
            .rows("instances")
            .iter()
            .filter_map(|row| row["uuid"].clone())
            .collect();
        let action_owner: BTreeMap<String, String> = snapshot
            .rows("instance_actions")
            .iter()
            .filter_map(|row| Some((row["id"].clone()?, row["instance_uuid"].clone()?)))
            .collect();
        let mut rows = InstanceRows::default();
        for (table, table_rows) in &snapshot.tables {
            for row in table_rows {
                let owner = row
                    .values()
                    .flatten()
                    .find(|value| uuids.contains(*value))
                    .cloned()
                    .or_else(|| match table.as_str() {
                        "instance_actions_events" => row["action_id"]
                            .as_ref()
                            .and_then(|id| action_owner.get(id).cloned()),
                        _ => None,
                    });
                let entry = (table.clone(), row.clone());
                match owner {
                    Some(_) if is_live_pci(table, row) => rows.inventory.push(entry),
                    Some(uuid) => rows.owned.entry(uuid).or_default().push(entry),
                    None => rows.shared.push(entry),
                }
            }
        }
        rows
    }

    /// How much of `uuid`'s rows (as they were here) `after` still holds.
    pub fn presence(&self, uuid: &str, after: &Snapshot) -> Presence {
        let owned = self.owned.get(uuid).map_or(&[][..], Vec::as_slice);
        let present = owned
            .iter()
            .filter(|(table, row)| {
                after
                    .tables
                    .get(table)
                    .is_some_and(|rows| rows.contains(row))
            })
            .count();
        match present {
            0 => Presence::Gone,
            n if n == owned.len() => Presence::Whole,
            n => Presence::Partial {
                present: n,
                total: owned.len(),
            },
        }
    }

    /// Rows that must outlive every purge (shared parents and live PCI
    /// inventory) but that `after` lacks.
    pub fn lost_permanent_rows(&self, after: &Snapshot) -> Vec<&TableRow> {
        self.shared
            .iter()
            .chain(&self.inventory)
            .filter(|(table, row)| {
                !after
                    .tables
                    .get(table)
                    .is_some_and(|rows| rows.contains(row))
            })
            .collect()
    }
}

fn is_live_pci(table: &str, row: &Row) -> bool {
    table == "pci_devices" && row["deleted"].as_deref() == Some("0")
}

/// Rows that reference an instance or an action that does not exist: every
/// `instance_uuid` column (fixed_ips included), `tags.resource_id`,
/// `instance_id_mappings.uuid`, and `instance_actions_events.action_id`.
/// Live PCI inventory may outlive its instance and is not an orphan.
pub fn orphans(snapshot: &Snapshot) -> Vec<String> {
    let ids = |table: &str, column: &str| -> BTreeSet<String> {
        snapshot
            .rows(table)
            .iter()
            .filter_map(|row| row[column].clone())
            .collect()
    };
    let instances = ids("instances", "uuid");
    let actions = ids("instance_actions", "id");
    let mut found = Vec::new();
    for (table, rows) in &snapshot.tables {
        let (column, parents) = match table.as_str() {
            "instances" => continue,
            "tags" => ("resource_id", &instances),
            "instance_id_mappings" => ("uuid", &instances),
            "instance_actions_events" => ("action_id", &actions),
            _ => ("instance_uuid", &instances),
        };
        for row in rows {
            let Some(Some(value)) = row.get(column) else {
                continue;
            };
            if !parents.contains(value) && !is_live_pci(table, row) {
                found.push(format!("{table}.{column} = {value}: {row:?}"));
            }
        }
    }
    found
}

/// An administrative connection to the test server (not to a test
/// database), to find and end other sessions.
pub enum Admin {
    MySql(sqlx::MySqlConnection),
    Postgres(sqlx::PgConnection),
}

impl Admin {
    pub async fn connect(backend: Backend) -> Admin {
        let server = server_url(backend);
        match backend {
            Backend::MySql => Admin::MySql(
                MySqlConnectOptions::from_str(&server)
                    .expect("MySQL URL")
                    .connect()
                    .await
                    .expect("admin connection"),
            ),
            Backend::Postgres => Admin::Postgres(
                PgConnectOptions::from_str(&format!("{server}/postgres"))
                    .expect("PostgreSQL URL")
                    .connect()
                    .await
                    .expect("admin connection"),
            ),
            Backend::Sqlite => panic!("SQLite has no server sessions"),
        }
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
                started.elapsed() < std::time::Duration::from_secs(60),
                "sessions {others:?} of a killed client are still there after 60 s"
            );
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
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

/// A new pool of up to `max` connections to the test database, apart from
/// the harness's own: for a test that writes while nova-purge runs.
pub async fn another_pool(test_db: &TestDb, max: u32) -> Db {
    use sqlx::pool::PoolOptions;
    match test_db.backend {
        Backend::MySql => Db::MySql(
            PoolOptions::new()
                .max_connections(max)
                .connect(&test_db.url)
                .await
                .expect("connect MariaDB"),
        ),
        Backend::Postgres => Db::Postgres(
            PoolOptions::new()
                .max_connections(max)
                .connect(&test_db.url)
                .await
                .expect("connect PostgreSQL"),
        ),
        Backend::Sqlite => {
            let path = test_db.url.trim_start_matches("sqlite://");
            let connect = SqliteConnectOptions::new()
                .filename(path)
                .foreign_keys(true)
                .busy_timeout(std::time::Duration::from_secs(30));
            Db::Sqlite(
                PoolOptions::new()
                    .max_connections(max)
                    .connect_with(connect)
                    .await
                    .expect("open SQLite"),
            )
        }
    }
}
