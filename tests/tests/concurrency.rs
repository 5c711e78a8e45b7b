//! Nova writing while nova-purge deletes, on SQLite, MariaDB and PostgreSQL.
//!
//! Nova keeps writing to the cell database while a purge runs: it records
//! late actions, events and faults for deleted instances, and it creates
//! and deletes live ones. Writers in the test do the same, each on its own
//! connection, while the real binary purges in many small batches.
//!
//! A writer may only wait, or fail the way Nova would when the parent it
//! writes under has just been purged (a foreign-key error, or an action
//! that is no longer there to add an event to); any other error fails the
//! test. Afterwards no row may be an orphan, no instance outside the purge
//! set (nor any of its rows) may have changed, every purgeable instance
//! must be gone with all its rows, late ones included, and the purge must
//! exit 0 (the engine retries deadlocks, lock wait timeouts, serialization
//! failures and a busy SQLite).
//!
//! The purge runs with `--export`: what the export holds must be exactly
//! the rows that disappeared (those of the snapshot before, and the late
//! rows the writers added and the purge then removed), and `restore` must
//! give back every row that was there before.
//!
//! CI mode: one round of 150 candidates per backend. Full mode
//! (`NOVA_PURGE_KILL_POINTS` set, as for tests/tests/faults.rs): three
//! rounds of 300. `NOVA_PURGE_TEST_SEED` replays a run.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use nova_purge_tests::{
    another_pool, nova_purge, orphans, populate, spawn_nova_purge, uuid, InstanceRows,
    InstanceState, Population, Presence, Rng, Run, Snapshot, TestDb,
};
use purge_api::{Backend, Db};
use purge_engine::database::errors::is_foreign_key_violation;
use purge_fixture::{insert, Fixture, InstanceSpec, Value, HARD_DELETED_WITH_INSTANCE};

/// Writers running next to the purge, each with its own connection.
const WRITERS: u64 = 3;

/// Longer than any purge here can take; a child still running then is hung.
const HANG: Duration = Duration::from_secs(180);

struct Mode {
    rounds: usize,
    candidates: u32,
}

impl Mode {
    fn from_env() -> Mode {
        if std::env::var_os("NOVA_PURGE_KILL_POINTS").is_some() {
            Mode {
                rounds: 3,
                candidates: 300,
            }
        } else {
            Mode {
                rounds: 1,
                candidates: 150,
            }
        }
    }
}

// ---------------------------------------------------------------------------
// The writer: what Nova does while a purge runs
// ---------------------------------------------------------------------------

/// Late rows Nova records for a deleted instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Late {
    /// `instance_actions` (one transaction), then its events (another).
    ActionAndEvents,
    Fault,
    Metadata,
}

/// What one writer did. `absorbed` counts late rows that committed (the
/// purge must then delete them with their instance); `refused` counts the
/// expected failures because the parent had just been purged.
#[derive(Debug, Default)]
struct WriterLog {
    absorbed: BTreeMap<&'static str, u64>,
    refused: BTreeMap<&'static str, u64>,
    /// Live instances created, and whether the writer deleted each later.
    created: Vec<(String, bool)>,
    /// Anything else: each fails the test.
    errors: Vec<String>,
}

impl WriterLog {
    fn merge(&mut self, other: WriterLog) {
        for (k, v) in other.absorbed {
            *self.absorbed.entry(k).or_default() += v;
        }
        for (k, v) in other.refused {
            *self.refused.entry(k).or_default() += v;
        }
        self.created.extend(other.created);
        self.errors.extend(other.errors);
    }
}

/// One writer, acting like Nova until `stop` is set.
struct Writer {
    n: u64,
    db: Db,
    fixture: Fixture,
    /// The purgeable instances, in id order (the order the purge takes).
    targets: Arc<Vec<String>>,
    /// Index of the first target not known to be purged: late writes aim
    /// mostly just past it, where the purge is at work.
    frontier: usize,
    rng: Rng,
    next_label: u32,
    log: WriterLog,
    writes: u64,
}

impl Writer {
    async fn run(mut self, stop: Arc<AtomicBool>) -> WriterLog {
        while !stop.load(Ordering::SeqCst) {
            match self.rng.below(20) {
                0..=11 => self.late_write().await,
                12..=15 => self.create_live_instance().await,
                _ => self.delete_live_instance().await,
            }
            // Yield to the others (one thread runs every task).
            tokio::task::yield_now().await;
        }
        self.log
    }

    /// A purgeable instance, most often one of the next few the purge will
    /// take, so that the writes meet the purge's locks.
    fn pick_target(&mut self) -> usize {
        let left = self.targets.len().saturating_sub(self.frontier).max(1);
        let span = if self.rng.chance(0.7) {
            left.min(6)
        } else {
            left
        };
        (self.frontier + self.rng.below(span as u64) as usize).min(self.targets.len() - 1)
    }

    async fn late_write(&mut self) {
        let index = self.pick_target();
        let uuid = self.targets[index].clone();
        let kind = match self.rng.below(3) {
            0 => Late::ActionAndEvents,
            1 => Late::Fault,
            _ => Late::Metadata,
        };
        self.writes += 1;
        let outcome = match kind {
            Late::ActionAndEvents => self.action_and_events(&uuid).await,
            Late::Fault => self.fault(&uuid).await.map(|()| "instance_faults"),
            Late::Metadata => self.metadata(&uuid).await.map(|()| "instance_metadata"),
        };
        match outcome {
            Ok(table) => *self.log.absorbed.entry(table).or_default() += 1,
            Err(Refusal::ParentGone(table)) => {
                *self.log.refused.entry(table).or_default() += 1;
                // It is gone, so the purge is past it.
                self.frontier = self.frontier.max(index + 1);
            }
            Err(Refusal::Other(error)) => self
                .log
                .errors
                .push(format!("late {kind:?} for {uuid}: {error}")),
        }
    }

    /// Nova's action_start, then event_start in its own transaction: the
    /// event looks its action up by request id first, as Nova does.
    async fn action_and_events(&mut self, uuid: &str) -> Result<&'static str, Refusal> {
        let request_id = format!("req-late-{}-{}", self.n, self.writes);
        let now = Utc::now().naive_utc();
        let mut tx = self.db.begin_write().await.map_err(other)?;
        insert(
            &mut tx,
            "instance_actions",
            &[
                ("instance_uuid", Value::Text(uuid)),
                ("action", Value::Text("reboot")),
                ("request_id", Value::Text(&request_id)),
                ("start_time", Value::Time(now)),
                ("created_at", Value::Time(now)),
                ("deleted", Value::Int(0)),
            ],
        )
        .await
        .map_err(refusal("instance_actions"))?;
        tx.commit().await.map_err(refusal("instance_actions"))?;
        // The action is in, whatever becomes of its event.
        *self.log.absorbed.entry("instance_actions").or_default() += 1;

        let mut tx = self.db.begin_write().await.map_err(other)?;
        let mut stmt = tx.stmt();
        stmt.push("SELECT ")
            .ident("id")
            .push(" FROM ")
            .ident("instance_actions")
            .push(" WHERE ")
            .ident("instance_uuid")
            .push(" = ")
            .bind_text(uuid)
            .push(" AND ")
            .ident("request_id")
            .push(" = ")
            .bind_text(&request_id);
        let found = tx.fetch_all(&stmt).await.map_err(other)?;
        let Some(action_id) = found.first().and_then(|row| row[0].as_i64()) else {
            // Purged between the two transactions: Nova's
            // InstanceActionNotFound, the same story as a foreign key.
            return Err(Refusal::ParentGone("instance_actions_events"));
        };
        insert(
            &mut tx,
            "instance_actions_events",
            &[
                ("action_id", Value::Int(action_id)),
                ("event", Value::Text("compute_reboot_instance")),
                ("start_time", Value::Time(now)),
                ("created_at", Value::Time(now)),
                ("deleted", Value::Int(0)),
            ],
        )
        .await
        .map_err(refusal("instance_actions_events"))?;
        tx.commit()
            .await
            .map_err(refusal("instance_actions_events"))?;
        Ok("instance_actions_events")
    }

    async fn fault(&mut self, uuid: &str) -> Result<(), Refusal> {
        let now = Utc::now().naive_utc();
        self.one_row(
            "instance_faults",
            &[
                ("instance_uuid", Value::Text(uuid)),
                ("code", Value::Int(500)),
                ("message", Value::Text("late fault")),
                ("details", Value::Text("trace")),
                ("created_at", Value::Time(now)),
                ("deleted", Value::Int(0)),
            ],
        )
        .await
    }

    async fn metadata(&mut self, uuid: &str) -> Result<(), Refusal> {
        let key = format!("late-{}-{}", self.n, self.writes);
        let now = Utc::now().naive_utc();
        self.one_row(
            "instance_metadata",
            &[
                ("instance_uuid", Value::Text(uuid)),
                ("key", Value::Text(&key)),
                ("value", Value::Text("x")),
                ("created_at", Value::Time(now)),
                ("deleted", Value::Int(0)),
            ],
        )
        .await
    }

    async fn one_row(
        &mut self,
        table: &'static str,
        values: &[(&str, Value<'_>)],
    ) -> Result<(), Refusal> {
        let mut tx = self.db.begin_write().await.map_err(other)?;
        insert(&mut tx, table, values)
            .await
            .map_err(refusal(table))?;
        tx.commit().await.map_err(refusal(table))
    }

    /// A new live instance with a row in every table (the fixture's).
    async fn create_live_instance(&mut self) {
        self.next_label += 1;
        let spec = InstanceSpec::new(uuid(self.next_label), InstanceState::Live);
        match self.fixture.insert_instance(&self.db, &spec).await {
            Ok(_) => self.log.created.push((spec.uuid, false)),
            Err(e) => self
                .log
                .errors
                .push(format!("create live instance {}: {e}", spec.uuid)),
        }
    }

    /// Nova's instance_destroy on one of this writer's live instances: the
    /// instance is now deleted, but young, so no purge candidate.
    async fn delete_live_instance(&mut self) {
        let Some(index) = self.log.created.iter().position(|(_, deleted)| !deleted) else {
            return;
        };
        let uuid = self.log.created[index].0.clone();
        match self.fixture.destroy_instance(&self.db, &uuid).await {
            Ok(()) => self.log.created[index].1 = true,
            Err(e) => self
                .log
                .errors
                .push(format!("delete live instance {uuid}: {e}")),
        }
    }
}

/// Why a write did not commit.
enum Refusal {
    /// The parent was purged under it: what Nova would meet too.
    ParentGone(&'static str),
    Other(String),
}

fn other(e: sqlx::Error) -> Refusal {
    Refusal::Other(e.to_string())
}

/// A foreign-key error on `table` is the expected refusal; anything else
/// (a deadlock, a timeout, a busy database) is not.
fn refusal(table: &'static str) -> impl Fn(sqlx::Error) -> Refusal {
    move |e| {
        if is_foreign_key_violation(&e) {
            Refusal::ParentGone(table)
        } else {
            Refusal::Other(format!("{table}: {e}"))
        }
    }
}

// ---------------------------------------------------------------------------
// One round: fill, purge while writing, check
// ---------------------------------------------------------------------------

/// What a round found, for the summary.
struct RoundResult {
    log: WriterLog,
    purge: Run,
    elapsed: Duration,
    /// The purge's `--export` file.
    export: tempfile::TempDir,
}

async fn purge_while_nova_writes(
    env: &[(&str, &str)],
    test_db: &TestDb,
    fixture: &Fixture,
    population: &Population,
    rng: &mut Rng,
    first_writer_label: u32,
) -> RoundResult {
    let batch_size = rng.between(1, 3).to_string();
    let targets = Arc::new(population.purgeable.clone());
    let stop = Arc::new(AtomicBool::new(false));
    let mut writers = Vec::new();
    for n in 0..WRITERS {
        let writer = Writer {
            n,
            db: another_pool(test_db, 1).await,
            fixture: fixture.clone(),
            targets: Arc::clone(&targets),
            frontier: 0,
            rng: Rng::new(rng.next_u64()),
            next_label: first_writer_label + n as u32 * 100_000,
            log: WriterLog::default(),
            writes: 0,
        };
        writers.push(tokio::spawn(writer.run(Arc::clone(&stop))));
    }
    let export = tempfile::tempdir().expect("a scratch directory");
    let export_path = export.path().join("export.jsonl").display().to_string();
    let started = Instant::now();
    let mut child = spawn_nova_purge(
        &[
            "--database-url",
            &test_db.url,
            "purge",
            "--yes",
            "--format",
            "json",
            "--batch-size",
            &batch_size,
            "--export",
            &export_path,
        ],
        env,
    );
    while !child.has_exited() {
        assert!(started.elapsed() < HANG, "nova-purge hung");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let elapsed = started.elapsed();
    stop.store(true, Ordering::SeqCst);
    let mut log = WriterLog::default();
    for writer in writers {
        log.merge(writer.await.expect("writer task"));
    }
    RoundResult {
        log,
        purge: child.wait(),
        elapsed,
        export,
    }
}

/// Rows per table of a live instance as the fixture writes it.
fn live_template(before: &Snapshot, rows: &InstanceRows) -> BTreeMap<String, usize> {
    let live = before
        .rows("instances")
        .iter()
        .find(|row| {
            row["vm_state"].as_deref() == Some("active") && row["deleted"].as_deref() == Some("0")
        })
        .and_then(|row| row["uuid"].clone())
        .expect("a live instance");
    per_table(&rows.owned[&live])
}

fn per_table(rows: &[(String, nova_purge_tests::Row)]) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for (table, _) in rows {
        *counts.entry(table.clone()).or_default() += 1;
    }
    counts
}

/// Everything that must hold after a round. `population` is what the
/// round added (its purgeable instances must go); `blocked` is every blocked
/// instance so far (each round skips them all again).
fn check_round(
    backend: Backend,
    before: &Snapshot,
    after: &Snapshot,
    population: &Population,
    blocked: &[String],
    result: &RoundResult,
) {
    let name = backend.name();
    assert!(
        result.log.errors.is_empty(),
        "{name}: writers met errors other than a vanished parent:\n{}",
        result.log.errors.join("\n")
    );
    let purge = &result.purge;
    assert_eq!(purge.code, 0, "{name}: nova-purge failed: {purge:?}");
    let report = purge.json();
    let skipped: BTreeSet<&str> = report["skipped_instances"]
        .as_array()
        .expect("skipped_instances")
        .iter()
        .map(|s| s["uuid"].as_str().expect("uuid"))
        .collect();
    let blocked: BTreeSet<&str> = blocked.iter().map(String::as_str).collect();
    assert_eq!(
        skipped, blocked,
        "{name}: skipped other than the blocked instances: {report}"
    );

    let orphans = orphans(after);
    assert!(orphans.is_empty(), "{name}: orphans: {orphans:#?}");

    let rows_before = InstanceRows::of(before);
    let rows_after = InstanceRows::of(after);
    let lost = rows_before.lost_permanent_rows(after);
    assert!(
        lost.is_empty(),
        "{name}: shared rows or inventory lost: {lost:#?}"
    );
    let purgeable: BTreeSet<&String> = population.purgeable.iter().collect();
    for uuid in rows_before.owned.keys() {
        if purgeable.contains(uuid) {
            assert!(
                after.rows_where("instances", "uuid", uuid).is_empty(),
                "{name}: purgeable instance {uuid} is still there"
            );
        } else {
            // Untouched: exactly its rows, none more, none less.
            assert_eq!(
                rows_before.presence(uuid, after),
                Presence::Whole,
                "{name}: instance {uuid} outside the purge set lost rows"
            );
            assert_eq!(
                rows_after.owned[uuid].len(),
                rows_before.owned[uuid].len(),
                "{name}: instance {uuid} outside the purge set gained rows"
            );
        }
    }

    let template = live_template(before, &rows_before);
    for (uuid, deleted) in &result.log.created {
        let mut expected = template.clone();
        if *deleted {
            for (table, _) in HARD_DELETED_WITH_INSTANCE {
                expected.remove(*table);
            }
        }
        let rows = rows_after.owned.get(uuid).map(Vec::as_slice).unwrap_or(&[]);
        assert_eq!(
            per_table(rows),
            expected,
            "{name}: the writer's instance {uuid} (deleted: {deleted}) lost rows"
        );
        let instance = after.rows_where("instances", "uuid", uuid);
        assert_eq!(
            instance[0]["deleted"].as_deref() != Some("0"),
            *deleted,
            "{name}: the writer's instance {uuid}: {instance:?}"
        );
    }
}

/// A row's identity: its table and primary key (`id`, or `resource_id` and
/// `tag` for `tags`). SQLite gives a deleted row's id to the next row
/// inserted, so there a row is its whole content.
type RowKey = (String, String);

fn row_key(backend: Backend, table: &str, row: &BTreeMap<String, Option<String>>) -> RowKey {
    let value = |column: &str| row.get(column).cloned().flatten().unwrap_or_default();
    let id = if backend == Backend::Sqlite {
        row.iter()
            .map(|(column, value)| format!("{column}={value:?}"))
            .collect::<Vec<_>>()
            .join(",")
    } else if row.contains_key("id") {
        value("id")
    } else {
        format!("{}/{}", value("resource_id"), value("tag"))
    };
    (table.to_owned(), id)
}

/// The rows an export holds, by key, with how often each appears.
fn exported_keys(backend: Backend, path: &std::path::Path) -> BTreeMap<RowKey, usize> {
    let text = std::fs::read_to_string(path).expect("the export");
    let mut keys = BTreeMap::new();
    for line in text.lines() {
        let record: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
        let (Some(table), Some(serde_json::Value::Object(row))) =
            (record["table"].as_str(), record.get("row"))
        else {
            continue;
        };
        let row: BTreeMap<String, Option<String>> = row
            .iter()
            .map(|(column, value)| {
                let text = match value {
                    serde_json::Value::Null => None,
                    serde_json::Value::String(s) => Some(s.clone()),
                    other => Some(other.to_string()),
                };
                (column.clone(), text)
            })
            .collect();
        *keys.entry(row_key(backend, table, &row)).or_default() += 1;
    }
    keys
}

fn keys(backend: Backend, snapshot: &Snapshot) -> BTreeSet<RowKey> {
    snapshot
        .tables
        .iter()
        .flat_map(|(table, rows)| rows.iter().map(move |row| row_key(backend, table, row)))
        .collect()
}

/// The export holds each row that disappeared, once, and nothing else:
/// every row of `before` missing `after`, plus exactly the late rows the
/// writers committed (`absorbed`) that the purge then removed.
fn check_export(backend: Backend, before: &Snapshot, after: &Snapshot, result: &RoundResult) {
    let name = backend.name();
    let exported = exported_keys(backend, &result.export.path().join("export.jsonl"));
    let twice: Vec<&RowKey> = exported
        .iter()
        .filter(|(_, n)| **n > 1)
        .map(|(k, _)| k)
        .collect();
    assert!(twice.is_empty(), "{name}: rows exported twice: {twice:?}");
    let (before, after) = (keys(backend, before), keys(backend, after));
    let still_there: Vec<&RowKey> = exported.keys().filter(|k| after.contains(*k)).collect();
    assert!(
        still_there.is_empty(),
        "{name}: exported rows still in the database: {still_there:?}"
    );
    let vanished: BTreeSet<&RowKey> = before.difference(&after).collect();
    let missing: Vec<&&RowKey> = vanished
        .iter()
        .filter(|k| !exported.contains_key(**k))
        .collect();
    assert!(
        missing.is_empty(),
        "{name}: rows deleted but not exported: {missing:?}"
    );
    let mut late: BTreeMap<String, u64> = BTreeMap::new();
    for (table, _) in exported.keys().filter(|k| !before.contains(*k)) {
        *late.entry(table.clone()).or_default() += 1;
    }
    let absorbed: BTreeMap<String, u64> = result
        .log
        .absorbed
        .iter()
        .map(|(table, n)| ((*table).to_owned(), *n))
        .filter(|(_, n)| *n > 0)
        .collect();
    assert_eq!(
        late, absorbed,
        "{name}: the export's rows that were not there before are not the late rows the writers committed"
    );
}

/// `restore` gives back every row that was there before: afterwards the
/// database holds `before`, plus what the writers added (the rows they
/// left, and their late rows the purge removed and the restore put back).
fn check_restored(
    backend: Backend,
    before: &Snapshot,
    after: &Snapshot,
    restored: &Snapshot,
    export: &std::path::Path,
) {
    let name = backend.name();
    for (table, rows) in &before.tables {
        let missing: Vec<&nova_purge_tests::Row> = rows.difference(restored.rows(table)).collect();
        assert!(
            missing.is_empty(),
            "{name}: {table}: rows not restored: {missing:#?}"
        );
    }
    let exported = exported_keys(backend, export);
    let (before_keys, after_keys, restored_keys) = (
        keys(backend, before),
        keys(backend, after),
        keys(backend, restored),
    );
    let expected: BTreeSet<&RowKey> = after_keys
        .iter()
        .chain(exported.keys())
        .filter(|k| !before_keys.contains(*k))
        .collect();
    let added: BTreeSet<&RowKey> = restored_keys.difference(&before_keys).collect();
    assert_eq!(
        added, expected,
        "{name}: the restore added other rows than the writers' own"
    );
}

/// True when a row now in the database has the `id` of a row in the
/// export (only SQLite reuses ids).
fn ids_taken_again(after: &Snapshot, export: &std::path::Path) -> bool {
    let exported = exported_keys(Backend::MySql, export);
    keys(Backend::MySql, after)
        .iter()
        .any(|key| exported.contains_key(key))
}

async fn nova_writes_while_the_purge_runs(backend: Backend) {
    nova_writes_while_the_purge_runs_with(backend, &[]).await
}

async fn nova_writes_while_the_purge_runs_with(backend: Backend, env: &[(&str, &str)]) {
    let mode = Mode::from_env();
    let mut rng = Rng::from_env(&format!(
        "concurrency::nova_writes_while_the_purge_runs {}",
        backend.name()
    ));
    let fixture = Fixture::full();
    let test_db = TestDb::with_fixture(backend, &fixture).await;
    let started = Instant::now();
    let mut label = 0;
    let mut blocked = Vec::new();
    for round in 1..=mode.rounds {
        let population = populate(&test_db, &fixture, mode.candidates, label).await;
        label += mode.candidates * 2;
        blocked.extend(population.blocked.iter().cloned());
        let before = test_db.snapshot().await;
        let result = purge_while_nova_writes(
            env,
            &test_db,
            &fixture,
            &population,
            &mut rng,
            1_000_000 * round as u32,
        )
        .await;
        let after = test_db.snapshot().await;
        check_round(backend, &before, &after, &population, &blocked, &result);
        check_export(backend, &before, &after, &result);
        let export = result.export.path().join("export.jsonl");
        let restore = nova_purge(
            &[
                "--database-url",
                &test_db.url,
                "restore",
                &export.display().to_string(),
            ],
            &[],
        );
        if ids_taken_again(&after, &export) {
            // SQLite gives a deleted row's id to the next row inserted: a
            // writer's new row holds an id the export needs. Restore must
            // refuse that batch rather than overwrite the writer's row.
            assert_eq!(restore.code, 1, "{}: {restore:?}", backend.name());
            assert!(restore.stderr.contains("UNIQUE"), "{restore:?}");
            eprintln!(
                "{}: a writer took an exported row's id; restore refused, as it must",
                backend.name()
            );
        } else {
            assert_eq!(
                restore.code,
                0,
                "{}: restore failed: {restore:?}",
                backend.name()
            );
            let restored = test_db.snapshot().await;
            check_restored(backend, &before, &after, &restored, &export);
        }
        // Purge again, so that the next round starts where this one ended.
        let again = nova_purge(&["--database-url", &test_db.url, "purge", "--yes"], &[]);
        assert_eq!(
            again.code,
            0,
            "{}: the purge after the restore: {again:?}",
            backend.name()
        );
        let report = result.purge.json();
        let conflicts = result
            .purge
            .stderr
            .lines()
            .filter(|line| line.contains("retrying"))
            .count();
        eprintln!(
            "{} round {round}: purge of {} instances in {} batches took {:?}, with {conflicts} \
             retries logged; writes absorbed (committed, then purged with their instance): \
             {:?}; refused because the parent had just been purged: {:?}; live instances \
             created {}, of which deleted {}",
            backend.name(),
            report["instances"],
            report["batches"],
            result.elapsed,
            result.log.absorbed,
            result.log.refused,
            result.log.created.len(),
            result.log.created.iter().filter(|(_, d)| *d).count(),
        );
    }
    eprintln!("{}: {:?} in all", backend.name(), started.elapsed());
}

#[tokio::test]
async fn nova_writes_while_the_purge_runs_sqlite() {
    nova_writes_while_the_purge_runs(Backend::Sqlite).await;
}

#[tokio::test]
async fn nova_writes_while_the_purge_runs_mariadb() {
    nova_writes_while_the_purge_runs(Backend::MySql).await;
}

#[tokio::test]
async fn nova_writes_while_the_purge_runs_postgresql() {
    nova_writes_while_the_purge_runs(Backend::Postgres).await;
}

/// MySQL 8 has no `DELETE ... RETURNING`: the export takes the rows with a
/// locking read first. The same test, with that method forced on MariaDB.
#[tokio::test]
async fn nova_writes_while_the_purge_runs_mariadb_locking_read() {
    nova_writes_while_the_purge_runs_with(
        Backend::MySql,
        &[("NOVA_PURGE_EXPORT_CAPTURE", "locking-read")],
    )
    .await;
}
