//! `--scope`: besides deleted instances, every other row Nova soft-deleted
//! (`rows`), old `task_log` rows (`task-log`) and old rows of the shadow
//! tables (`shadow`), each taken by its own date, with what must stay
//! staying: young rows, live rows, and a soft-deleted row that a row which
//! stays still references.

use chrono::{Duration, NaiveDateTime, Utc};
use nova_purge_tests::{
    insert_instances, nova_purge, purge_json, uuid, InstanceState, Snapshot, TestDb,
};
use purge_api::Backend;
use purge_fixture::{insert, Fixture, InstanceSpec, Value};
use serde_json::Value as Json;

const OLD: InstanceState = InstanceState::Deleted { days_ago: 200 };

fn days_ago(days: i64) -> NaiveDateTime {
    (Utc::now() - Duration::days(days)).naive_utc()
}

/// A database with, besides an old deleted, a live and a young deleted
/// instance, rows for every scope: the ids below say what must go.
async fn scoped_database(backend: Backend) -> TestDb {
    let fixture = Fixture::full();
    let test_db = TestDb::with_fixture(backend, &fixture).await;
    insert_instances(
        &test_db,
        &fixture,
        &[
            InstanceSpec::new(uuid(1), OLD),
            InstanceSpec::new(uuid(2), InstanceState::Live),
            InstanceSpec::new(uuid(3), InstanceState::Deleted { days_ago: 10 }),
        ],
    )
    .await;
    let (old, young) = (days_ago(200), days_ago(10));
    let mut tx = test_db.db.begin_write().await.unwrap();
    let live = uuid(2);
    // Metadata keys the live instance dropped: an old one goes, a young
    // one stays, and so does the key it still has.
    for (id, deleted, at) in [
        (9001, 9001, Some(old)),
        (9002, 9002, Some(young)),
        (9003, 0, None),
    ] {
        let mut row = vec![
            ("id", Value::Int(id)),
            ("key", Value::Text("k")),
            ("value", Value::Text("v")),
            ("instance_uuid", Value::Text(&live)),
            ("deleted", Value::Int(deleted)),
        ];
        if let Some(at) = at {
            row.push(("deleted_at", Value::Time(at)));
        }
        insert(&mut tx, "instance_metadata", &row).await.unwrap();
    }
    // Services: deleted long ago (goes), lately (stays), live (stays).
    for (id, deleted, at) in [(10, 10, Some(old)), (11, 11, Some(young)), (12, 0, None)] {
        let host = format!("host{id}");
        let mut row = vec![
            ("id", Value::Int(id)),
            ("host", Value::Text(&host)),
            ("binary", Value::Text("nova-compute")),
            ("report_count", Value::Int(0)),
            ("deleted", Value::Int(deleted)),
        ];
        if let Some(at) = at {
            row.push(("deleted_at", Value::Time(at)));
        }
        insert(&mut tx, "services", &row).await.unwrap();
    }
    // Aggregate 20 was deleted long ago but a live host row still names
    // it: both stay, and 20 is reported. Aggregate 21 and its host row were
    // deleted together long ago: both go, the host row first.
    for (id, deleted) in [(20, 20), (21, 21)] {
        let name = format!("agg{id}");
        insert(
            &mut tx,
            "aggregates",
            &[
                ("id", Value::Int(id)),
                ("name", Value::Text(&name)),
                ("deleted", Value::Int(deleted)),
                ("deleted_at", Value::Time(old)),
            ],
        )
        .await
        .unwrap();
    }
    for (id, aggregate, deleted) in [(30, 20, 0), (31, 21, 31)] {
        let mut row = vec![
            ("id", Value::Int(id)),
            ("host", Value::Text("h")),
            ("aggregate_id", Value::Int(aggregate)),
            ("deleted", Value::Int(deleted)),
        ];
        if deleted != 0 {
            row.push(("deleted_at", Value::Time(old)));
        }
        insert(&mut tx, "aggregate_hosts", &row).await.unwrap();
    }
    // task_log: a period that ended long ago (goes) and a recent one.
    for (id, ended) in [(40, days_ago(200)), (41, days_ago(5))] {
        let begun = ended - Duration::days(1);
        insert(
            &mut tx,
            "task_log",
            &[
                ("id", Value::Int(id)),
                ("task_name", Value::Text("instance_usage_audit")),
                ("state", Value::Text("DONE")),
                ("host", Value::Text("h")),
                ("period_beginning", Value::Time(begun)),
                ("period_ending", Value::Time(ended)),
                ("message", Value::Text("done")),
                ("deleted", Value::Int(0)),
            ],
        )
        .await
        .unwrap();
    }
    // Shadow rows archived long ago (go), lately (stay), and undated (stay
    // unless --undated-shadow-rows).
    for (id, at) in [(50, Some(old)), (51, Some(young)), (52, None)] {
        let mut row = vec![
            ("id", Value::Int(id)),
            ("key", Value::Text("k")),
            ("instance_uuid", Value::Text("gone")),
            ("deleted", Value::Int(id)),
        ];
        if let Some(at) = at {
            row.push(("deleted_at", Value::Time(at)));
        }
        insert(&mut tx, "shadow_instance_metadata", &row)
            .await
            .unwrap();
    }
    insert(
        &mut tx,
        "shadow_services",
        &[
            ("id", Value::Int(60)),
            ("host", Value::Text("old")),
            ("report_count", Value::Int(0)),
            ("deleted", Value::Int(60)),
            ("deleted_at", Value::Time(old)),
        ],
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    test_db
}

/// A timestamp as a snapshot shows it (`2026-05-14 16:49:36`, with a
/// `T` or a fraction on some backends).
fn time_of(text: &str) -> NaiveDateTime {
    let text = text.replace('T', " ");
    NaiveDateTime::parse_from_str(&text[..19], "%Y-%m-%d %H:%M:%S").unwrap()
}

/// (table, id) of every row of `before` the three own-row scopes must
/// take by their rule, with a 90-day cutoff: soft-deleted before the cutoff
/// (tables with `deleted`, not `instances`, not shadow tables), task_log
/// periods ended before it, shadow rows deleted before it; less aggregate
/// 20, which a live host row still references.
fn expected_by_rule(before: &Snapshot) -> Vec<(String, String)> {
    let cutoff = days_ago(90);
    let old = |row: &nova_purge_tests::Row, column: &str| {
        row.get(column)
            .cloned()
            .flatten()
            .is_some_and(|at| time_of(&at) < cutoff)
    };
    let mut expected = Vec::new();
    for (table, rows) in &before.tables {
        for row in rows {
            let takes = if table == "task_log" {
                old(row, "period_ending")
            } else if table.starts_with("shadow_") {
                old(row, "deleted_at")
            } else {
                table != "instances"
                    && row
                        .get("deleted")
                        .cloned()
                        .flatten()
                        .is_some_and(|d| d != "0")
                    && old(row, "deleted_at")
                    && !(table == "aggregates" && row["id"].as_deref() == Some("20"))
            };
            if takes {
                let id = row.get("id").cloned().flatten().unwrap_or_default();
                expected.push((table.clone(), id));
            }
        }
    }
    expected.sort();
    expected
}

/// (table, id) of every row that went.
fn removed(before: &Snapshot, after: &Snapshot) -> Vec<(String, String)> {
    let mut removed: Vec<(String, String)> = before
        .removed_in(after)
        .into_iter()
        .flat_map(|(table, rows)| {
            rows.into_iter().map(move |row| {
                let id = row.get("id").cloned().flatten().unwrap_or_default();
                (table.clone(), id)
            })
        })
        .collect();
    removed.sort();
    removed
}

fn ids(pairs: &[(&str, i64)]) -> Vec<(String, String)> {
    let mut ids: Vec<(String, String)> = pairs
        .iter()
        .map(|(table, id)| ((*table).to_owned(), id.to_string()))
        .collect();
    ids.sort();
    ids
}

/// What the three scopes other than `instances` must remove among the rows
/// added here (besides the soft-deleted rows of the old deleted instance,
/// which the rows scope takes too, by their own date).
const OWN_ROWS: [(&str, i64); 7] = [
    ("instance_metadata", 9001),
    ("services", 10),
    ("aggregates", 21),
    ("aggregate_hosts", 31),
    ("task_log", 40),
    ("shadow_instance_metadata", 50),
    ("shadow_services", 60),
];

async fn each_scope_takes_its_rows_and_nothing_else(backend: Backend) {
    let test_db = scoped_database(backend).await;
    let before = test_db.snapshot().await;
    let args = ["--yes", "--scope", "rows,task-log,shadow"];
    let dry = purge_json(&test_db, &[&args[..], &["--dry-run"]].concat());
    assert_eq!(dry.code, 0, "{dry:?}");
    assert_eq!(
        test_db.snapshot().await,
        before,
        "the dry run changed something"
    );
    let run = purge_json(&test_db, &args);
    assert_eq!(run.code, 0, "{run:?}");
    let (dry, report) = (dry.json(), run.json());
    assert_eq!(
        dry["scopes"],
        report["scopes"].clone().tap_batches(&dry),
        "the dry run predicted otherwise"
    );
    let after = test_db.snapshot().await;
    assert_eq!(removed(&before, &after), expected_by_rule(&before));
    for own in ids(&OWN_ROWS) {
        assert!(
            removed(&before, &after).contains(&own),
            "{own:?} did not go"
        );
    }
    // The instances scope was not asked for: the old deleted instance stays.
    assert_eq!(after.rows_where("instances", "uuid", &uuid(1)).len(), 1);
    assert_eq!(report["instances"], 0);
    let rows = &report["scopes"]["rows"];
    assert_eq!(rows["tables"]["aggregate_hosts"], 1);
    assert_eq!(rows["tables"]["aggregates"], 1);
    assert_eq!(rows["tables"]["services"], 1);
    assert_eq!(rows["skipped_rows"], 1, "{report:#}");
    assert_eq!(rows["skipped"][0]["table"], "aggregates");
    assert_eq!(rows["skipped"][0]["key"], "20");
    assert!(
        rows["skipped"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("aggregate_hosts.aggregate_id"),
        "{report:#}"
    );
    assert_eq!(report["scopes"]["task-log"]["rows"], 1);
    assert_eq!(report["scopes"]["shadow"]["rows"], 2);
    // A rerun finds nothing more.
    let again = purge_json(&test_db, &args);
    assert_eq!(again.json()["scopes"]["rows"]["rows"], 0);
    assert_eq!(test_db.snapshot().await, after);
}

/// A dry run counts what each batch would delete; it may take its batches
/// differently, and at another pace, so batch counts, sizes and times are
/// left out of the comparison.
trait TapBatches {
    fn tap_batches(self, dry: &Json) -> Json;
}

impl TapBatches for Json {
    fn tap_batches(mut self, dry: &Json) -> Json {
        for (scope, figures) in self.as_object_mut().unwrap() {
            for field in ["batches", "batch_sizes", "max_batch_ms", "paused_ms"] {
                figures[field] = dry["scopes"][scope][field].clone();
            }
        }
        self
    }
}

async fn undated_shadow_rows_go_only_when_asked(backend: Backend) {
    let test_db = scoped_database(backend).await;
    let before = test_db.snapshot().await;
    let run = purge_json(&test_db, &["--yes", "--scope", "shadow"]);
    assert_eq!(run.code, 0, "{run:?}");
    let after = test_db.snapshot().await;
    assert_eq!(
        removed(&before, &after),
        ids(&[("shadow_instance_metadata", 50), ("shadow_services", 60)])
    );
    let run = purge_json(
        &test_db,
        &["--yes", "--scope", "shadow", "--undated-shadow-rows"],
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        removed(&after, &test_db.snapshot().await),
        ids(&[("shadow_instance_metadata", 52)])
    );
    let misused = purge_json(&test_db, &["--yes", "--undated-shadow-rows"]);
    assert_eq!(misused.code, 2, "{misused:?}");
}

/// `--scope all` with `--export`: everything that went comes back.
async fn every_scope_round_trips_through_the_export(backend: Backend) {
    let test_db = scoped_database(backend).await;
    let before = test_db.snapshot().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("export.jsonl").display().to_string();
    // The dry run of every scope predicts the real run, the rows the
    // instances scope purges first not counted twice.
    let dry = purge_json(&test_db, &["--scope", "all", "--dry-run"]);
    assert_eq!(dry.code, 0, "{dry:?}");
    let run = purge_json(&test_db, &["--yes", "--scope", "all", "--export", &path]);
    assert_eq!(run.code, 0, "{run:?}");
    let (dry, real) = (dry.json(), run.json());
    for field in ["instances", "tables"] {
        assert_eq!(
            dry[field], real[field],
            "the dry run predicted another {field}"
        );
    }
    assert_eq!(
        dry["scopes"],
        real["scopes"].clone().tap_batches(&dry),
        "the dry run predicted other scopes"
    );
    let after = test_db.snapshot().await;
    let gone = removed(&before, &after);
    for own in ids(&OWN_ROWS) {
        assert!(gone.contains(&own), "{own:?} did not go: {gone:?}");
    }
    assert!(after.rows_where("instances", "uuid", &uuid(1)).is_empty());
    let restore = nova_purge(&["--database-url", &test_db.url, "restore", &path], &[]);
    assert_eq!(restore.code, 0, "{restore:?}");
    assert_eq!(test_db.snapshot().await, before);
}

/// `--max-number` caps each scope in its own unit, here rows.
async fn max_number_caps_each_scope(backend: Backend) {
    let test_db = scoped_database(backend).await;
    let run = purge_json(
        &test_db,
        &["--yes", "--scope", "rows,task-log", "--max-number", "2"],
    );
    assert_eq!(run.code, 3, "{run:?}");
    let report = run.json();
    assert_eq!(report["scopes"]["rows"]["rows"], 2, "{report:#}");
    assert_eq!(report["scopes"]["rows"]["more_remaining"], true);
    assert_eq!(report["scopes"]["task-log"]["rows"], 1);
    let rest = purge_json(&test_db, &["--yes", "--scope", "rows,task-log"]);
    assert_eq!(rest.code, 0, "{rest:?}");
    assert_eq!(rest.json()["scopes"]["task-log"]["rows"], 0);
    let again = purge_json(&test_db, &["--yes", "--scope", "rows,task-log"]);
    assert_eq!(again.json()["scopes"]["rows"]["rows"], 0);
}

on_every_backend!(
    each_scope_takes_its_rows_and_nothing_else,
    undated_shadow_rows_go_only_when_asked,
    every_scope_round_trips_through_the_export,
    max_number_caps_each_scope,
);

/// `check` names a table with a `deleted` column that no target of any
/// scope covers.
#[tokio::test]
async fn check_names_soft_deleting_tables_no_target_covers() {
    let test_db = TestDb::with_fixture(Backend::Sqlite, &Fixture::full()).await;
    test_db
        .execute("CREATE TABLE local_notes (id INTEGER PRIMARY KEY, deleted INTEGER, deleted_at DATETIME)")
        .await;
    let run = nova_purge(
        &["--database-url", &test_db.url, "check", "--format", "json"],
        &[],
    );
    let report = run.json();
    let finding = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["kind"] == "uncovered-soft-delete")
        .unwrap_or_else(|| panic!("{report:#}"));
    assert_eq!(finding["table"], "local_notes");
}
