//! `purge --jobs N`: cells purged at once give the report, the rows left,
//! the export and the exit code of a run that purges them in turn;
//! `--max-number` caps the whole run; a failing cell fails alone; Ctrl-C
//! stops every running cell; and cells do overlap in time when they live
//! on different servers, never when they share one.
//!
//! "Different servers" on one machine: each SQLite file is its own, and a
//! MariaDB cell and a PostgreSQL cell are on two; the MariaDB (or
//! PostgreSQL) cells of one cloud share the test server.

use std::collections::BTreeMap;

use chrono::{Duration, Utc};
use nova_purge_tests::{insert_instances, nova_purge, uuid, InstanceState, Run, Snapshot, TestDb};
use purge_api::Backend;
use purge_fixture::{insert, ApiFixture, Fixture, InstanceSpec, Value};
use serde_json::Value as Json;

const OLD: InstanceState = InstanceState::Deleted { days_ago: 200 };
/// Exit codes of `purge`.
const MORE_REMAINING: i32 = 3;
const CELL_FAILED: i32 = 6;
const INTERRUPTED: i32 = 130;

/// An API database and cells listed in its cell_mappings as `cell0`,
/// `cell1`, ... (ids 1, 2, ...), each with old deleted instances (mapped
/// in the API database), a live one, and two old soft-deleted `services`
/// rows for the `rows` scope.
struct Cloud {
    api: TestDb,
    cells: Vec<TestDb>,
    old: u32,
}

/// The SQLAlchemy form Nova stores in cell_mappings, for a harness URL.
fn sqlalchemy(url: &str) -> String {
    url.replacen("mysql://", "mysql+pymysql://", 1)
        .replacen("postgres://", "postgresql+psycopg2://", 1)
        .replacen("sqlite://", "sqlite:///", 1)
}

fn cell_uuid(index: usize) -> String {
    format!("c0000000-0000-4000-8000-{index:012}")
}

/// The instance numbers of cell `index`: `old` old deleted ones, then a
/// live one.
fn instances_of(index: usize, old: u32) -> (Vec<u32>, u32) {
    let base = 1000 * (index as u32 + 1);
    ((0..old).map(|n| base + n).collect(), base + 999)
}

impl Cloud {
    async fn new(api: Backend, cells: &[Backend], old: u32) -> Cloud {
        let fixture = Fixture::full();
        let api_db = TestDb::empty(api).await;
        ApiFixture::create(&api_db.db).await.expect("API schema");
        let mut dbs = Vec::new();
        for (index, backend) in cells.iter().enumerate() {
            let cell = TestDb::with_fixture(*backend, &fixture).await;
            let cell_id = index as i64 + 1;
            ApiFixture::add_cell(
                &api_db.db,
                cell_id,
                &cell_uuid(index),
                &format!("cell{index}"),
                &sqlalchemy(&cell.url),
            )
            .await
            .unwrap();
            let (deleted, live) = instances_of(index, old);
            let mut specs: Vec<InstanceSpec> = deleted
                .iter()
                .map(|n| InstanceSpec::new(uuid(*n), OLD))
                .collect();
            specs.push(InstanceSpec::new(uuid(live), InstanceState::Live));
            insert_instances(&cell, &fixture, &specs).await;
            for n in &deleted {
                ApiFixture::add_instance(&api_db.db, &uuid(*n), cell_id, true)
                    .await
                    .unwrap();
            }
            ApiFixture::add_instance(&api_db.db, &uuid(live), cell_id, false)
                .await
                .unwrap();
            old_services(&cell).await;
            dbs.push(cell);
        }
        Cloud {
            api: api_db,
            cells: dbs,
            old,
        }
    }

    /// `nova-purge --api-database-url API purge --all-cells --yes ARGS`.
    fn purge(&self, args: &[&str]) -> Run {
        let mut all = vec![
            "--api-database-url",
            &self.api.url,
            "purge",
            "--all-cells",
            "--yes",
        ];
        all.extend_from_slice(args);
        nova_purge(&all, &[])
    }

    /// The API database's and every cell's.
    async fn snapshots(&self) -> Vec<Snapshot> {
        let mut all = vec![self.api.snapshot().await];
        for cell in &self.cells {
            all.push(cell.snapshot().await);
        }
        all
    }

    async fn instances_left(&self) -> Vec<usize> {
        let mut left = Vec::new();
        for cell in &self.cells {
            left.push(cell.snapshot().await.rows("instances").len());
        }
        left
    }
}

/// Two services deleted long ago: the `rows` scope's.
async fn old_services(cell: &TestDb) {
    let at = (Utc::now() - Duration::days(200)).naive_utc();
    let mut tx = cell.db.begin_write().await.unwrap();
    for id in [10, 11] {
        let host = format!("host{id}");
        let row = [
            ("id", Value::Int(id)),
            ("host", Value::Text(&host)),
            ("binary", Value::Text("nova-compute")),
            ("report_count", Value::Int(0)),
            ("deleted", Value::Int(id)),
            ("deleted_at", Value::Time(at)),
        ];
        insert(&mut tx, "services", &row).await.unwrap();
    }
    tx.commit().await.unwrap();
}

/// What depends on when a run ran: its cutoff (now minus 90 days) and
/// times.
const TIMINGS: [&str; 4] = ["cutoff", "elapsed_ms", "max_batch_ms", "paused_ms"];

/// A report without what depends on when it ran.
fn without_timings(report: &Json) -> Json {
    match report {
        Json::Object(map) => Json::Object(
            map.iter()
                .filter(|(k, _)| !TIMINGS.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), without_timings(v)))
                .collect(),
        ),
        Json::Array(items) => Json::Array(items.iter().map(without_timings).collect()),
        other => other.clone(),
    }
}

fn cell_names(report: &Json) -> Vec<String> {
    report["cells"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap().to_owned())
        .collect()
}

fn names(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("cell{i}")).collect()
}

/// A text report without its `cutoff:` and `elapsed:` lines.
fn text_without_timings(text: &str) -> String {
    text.lines()
        .filter(|line| !line.starts_with("cutoff:") && !line.starts_with("elapsed:"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// `--jobs 3` and `--jobs 1` on the same cloud: the same dry-run text, the
/// same report and the same rows left; and the `--jobs 3` export puts every
/// database back exactly as it was.
async fn cells_at_once_purge_as_cells_in_turn(api: Backend, cells: &[Backend]) {
    let cloud = Cloud::new(api, cells, 3).await;
    let before = cloud.snapshots().await;
    let fixed = [
        "--batch-size",
        "2",
        "--batch-time",
        "0",
        "--scope",
        "instances,rows",
    ];

    let dry = |jobs: &str| {
        let run = cloud.purge(&[&fixed[..], &["--dry-run", "--jobs", jobs]].concat());
        assert_eq!(run.code, 0, "{run:?}");
        text_without_timings(&run.stdout)
    };
    let (dry_together, dry_in_turn) = (dry("3"), dry("1"));
    assert_eq!(dry_together, dry_in_turn);
    let sections: Vec<usize> = names(cells.len())
        .iter()
        .map(|name| dry_together.find(&format!("== cell {name} (")).unwrap())
        .collect();
    assert!(
        sections.is_sorted(),
        "cells in cell_mappings order:\n{dry_together}"
    );

    let dir = tempfile::tempdir().unwrap();
    let export = dir.path().join("jobs.jsonl").display().to_string();
    let together = cloud.purge(
        &[
            &fixed[..],
            &["--jobs", "3", "--format", "json", "--export", &export],
        ]
        .concat(),
    );
    assert_eq!(together.code, 0, "{together:?}");
    let after_together = cloud.snapshots().await;
    assert_ne!(after_together, before);
    let report = together.json();
    assert_eq!(cell_names(&report), names(cells.len()));
    assert_eq!(report["instances"], 3 * cells.len());
    assert_eq!(report["scopes"]["rows"]["rows"], 2 * cells.len());

    let restore = nova_purge(
        &["--api-database-url", &cloud.api.url, "restore", &export],
        &[],
    );
    assert_eq!(restore.code, 0, "{restore:?}");
    assert!(
        cloud.snapshots().await == before,
        "the --jobs export did not put every database back as it was"
    );

    let in_turn = cloud.purge(&[&fixed[..], &["--jobs", "1", "--format", "json"]].concat());
    assert_eq!(in_turn.code, together.code, "{in_turn:?}");
    assert_eq!(without_timings(&in_turn.json()), without_timings(&report));
    assert!(
        cloud.snapshots().await == after_together,
        "--jobs 1 and --jobs 3 left different rows"
    );
}

/// `--max-number 5` over cells with 3 candidates each, 3 at once: exactly
/// 5 instances in all, and 5 rows of the `rows` scope (each scope counts
/// its own unit, across cells), exit code 3.
async fn max_number_caps_the_cells_together(api: Backend, cells: &[Backend]) {
    let cloud = Cloud::new(api, cells, 3).await;
    let run = cloud.purge(&[
        "--jobs",
        "3",
        "--max-number",
        "5",
        "--batch-size",
        "2",
        "--batch-time",
        "0",
        "--scope",
        "instances,rows",
        "--format",
        "json",
    ]);
    assert_eq!(run.code, MORE_REMAINING, "{run:?}");
    let report = run.json();
    assert_eq!(report["instances"], 5, "{report:#}");
    assert_eq!(report["more_remaining"], true);
    assert_eq!(report["scopes"]["rows"]["rows"], 5, "{report:#}");
    let by_cell: u64 = report["cells"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["instances"].as_u64().unwrap())
        .sum();
    assert_eq!(by_cell, 5);
    let left: usize = cloud.instances_left().await.iter().sum();
    let had = cells.len() * (cloud.old as usize + 1);
    assert_eq!(left, had - 5, "exactly five instances went");
}

/// A cell whose server refuses connections fails alone, with the exit
/// code a run of one cell at a time gives.
async fn an_unreachable_cell_fails_alone(api: Backend, cells: &[Backend]) {
    let cloud = Cloud::new(api, cells, 2).await;
    let gone = cells.len();
    ApiFixture::add_cell(
        &cloud.api.db,
        gone as i64 + 1,
        &cell_uuid(gone),
        &format!("cell{gone}"),
        "mysql+pymysql://nova:s3cret@127.0.0.1:1/nova_gone",
    )
    .await
    .unwrap();
    let run = cloud.purge(&["--jobs", "3", "--format", "json"]);
    assert_eq!(run.code, CELL_FAILED, "{run:?}");
    let report = run.json();
    assert_eq!(cell_names(&report), names(cells.len() + 1));
    let sections = report["cells"].as_array().unwrap();
    for section in &sections[..gone] {
        assert_eq!(section["error"], Json::Null, "{section}");
        assert_eq!(section["instances"], 2);
    }
    let error = sections[gone]["error"].as_str().unwrap();
    assert!(error.contains("cannot connect"), "{error}");
    assert_eq!(report["instances"], 2 * cells.len());
    assert_eq!(cloud.instances_left().await, vec![1; cells.len()]);
    assert!(!run.stdout.contains("s3cret") && !run.stderr.contains("s3cret"));

    let in_turn = cloud.purge(&["--jobs", "1", "--format", "json"]);
    assert_eq!(in_turn.code, CELL_FAILED, "{in_turn:?}");
}

const SQLITE_CELLS: [Backend; 3] = [Backend::Sqlite; 3];
const MARIADB_CELLS: [Backend; 3] = [Backend::MySql; 3];
const POSTGRES_CELLS: [Backend; 3] = [Backend::Postgres; 3];
/// Cells on three kinds of server, two of them SQLite files.
const MIXED_CELLS: [Backend; 4] = [
    Backend::MySql,
    Backend::Sqlite,
    Backend::Postgres,
    Backend::Sqlite,
];

macro_rules! on_every_cloud {
    ($($scenario:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test] async fn $scenario() {
                super::$scenario(purge_api::Backend::Sqlite, &super::SQLITE_CELLS).await
            })*
        }
        mod mariadb {
            $(#[tokio::test] async fn $scenario() {
                super::$scenario(purge_api::Backend::MySql, &super::MARIADB_CELLS).await
            })*
        }
        mod postgresql {
            $(#[tokio::test] async fn $scenario() {
                super::$scenario(purge_api::Backend::Postgres, &super::POSTGRES_CELLS).await
            })*
        }
        mod mixed {
            $(#[tokio::test] async fn $scenario() {
                super::$scenario(purge_api::Backend::Postgres, &super::MIXED_CELLS).await
            })*
        }
    };
}

on_every_cloud!(
    cells_at_once_purge_as_cells_in_turn,
    max_number_caps_the_cells_together,
    an_unreachable_cell_fails_alone,
);

/// The order of the `batch done` events of each cell in a JSON log, as
/// (first, last) positions among all of them.
fn batch_spans(stderr: &str) -> BTreeMap<String, (usize, usize)> {
    let mut spans: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let events = stderr
        .lines()
        .filter_map(|line| serde_json::from_str::<Json>(line).ok())
        .filter(|event| event["message"] == "batch done");
    for (position, event) in events.enumerate() {
        let cell = event["span"]["cell"]
            .as_str()
            .unwrap_or_else(|| panic!("a batch outside a cell span: {event}"))
            .to_owned();
        spans
            .entry(cell)
            .and_modify(|(_, last)| *last = position)
            .or_insert((position, position));
    }
    spans
}

/// Cells on different servers overlap in time: one's batches come between
/// another's first and last in the log. Cells on one server never do.
#[tokio::test]
async fn cells_on_different_servers_overlap_and_cells_on_one_server_do_not() {
    // cell0, cell1: SQLite files; cell2, cell3: the MariaDB server;
    // cell4: the PostgreSQL server.
    let cells = [
        Backend::Sqlite,
        Backend::Sqlite,
        Backend::MySql,
        Backend::MySql,
        Backend::Postgres,
    ];
    let cloud = Cloud::new(Backend::Sqlite, &cells, 5).await;
    let run = cloud.purge(&[
        "--jobs",
        "5",
        "--batch-size",
        "1",
        "--batch-time",
        "0",
        "--sleep",
        "150ms",
        "-v",
        "--log-format",
        "json",
        "--format",
        "json",
    ]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.json()["instances"], 25);
    let spans = batch_spans(&run.stderr);
    assert_eq!(spans.len(), 5, "{spans:?}");
    let overlap = |a: &str, b: &str| {
        let ((a_first, a_last), (b_first, b_last)) = (spans[a], spans[b]);
        a_first < b_last && b_first < a_last
    };
    assert!(overlap("cell0", "cell1"), "two SQLite files: {spans:?}");
    assert!(
        overlap("cell2", "cell4"),
        "MariaDB and PostgreSQL: {spans:?}"
    );
    assert!(
        !overlap("cell2", "cell3"),
        "two cells of one MariaDB server: {spans:?}"
    );
}

/// Ctrl-C stops every running cell after its batch in flight; a cell not
/// started yet does not start. The report says so and matches the rows.
#[tokio::test]
async fn ctrl_c_stops_every_running_cell() {
    let cloud = Cloud::new(Backend::Sqlite, &SQLITE_CELLS, 4).await;
    let purge = nova_purge_tests::spawn_nova_purge(
        &[
            "--api-database-url",
            &cloud.api.url,
            "purge",
            "--all-cells",
            "--yes",
            "--jobs",
            "2",
            "--batch-size",
            "1",
            "--batch-time",
            "0",
            "--sleep",
            "1s",
            "--format",
            "json",
        ],
        &[],
    );
    std::thread::sleep(std::time::Duration::from_millis(1500));
    purge.signal("INT");
    let run = purge.wait();
    assert_eq!(run.code, INTERRUPTED, "{run:?}");
    let report = run.json();
    assert_eq!(report["interrupted"], true);
    assert_eq!(
        cell_names(&report),
        ["cell0", "cell1"],
        "cell2 never started"
    );
    let left = cloud.instances_left().await;
    for (index, section) in report["cells"].as_array().unwrap().iter().enumerate() {
        assert_eq!(section["interrupted"], true, "{section}");
        let done = section["instances"].as_u64().unwrap() as usize;
        assert!((1..4).contains(&done), "{section}");
        assert_eq!(left[index], 5 - done, "the report matches what committed");
    }
    assert_eq!(left[2], 5, "cell2 untouched");
}
