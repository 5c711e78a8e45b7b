//! docs/adding-a-target.md, end to end: a local table `instance_notes` with
//! a foreign key to `instances.uuid` holds instances back until a target is
//! registered for it, here, in this test crate, with one declaration and no
//! edit anywhere else.
//!
//! The spawned `nova-purge-under-test` binary does not link this file, so it
//! plays nova-purge before the target exists; `purge_cli::run` in this
//! process sees the registration below and plays nova-purge after.

use std::process::ExitCode;

use clap::Parser;
use nova_purge_tests::registered::targets_without_their_table;
use nova_purge_tests::{insert_instances, nova_purge, uuid, InstanceState, TestDb};
use purge_api::{register_target, Backend, DatabaseKind, Link};
use purge_fixture::{Fixture, InstanceSpec};
use serde_json::Value;

register_target! { table: "instance_notes", link: Link::Column("instance_uuid") }

const OLD: InstanceState = InstanceState::Deleted { days_ago: 200 };

/// Runs nova-purge in this process, where the target above is registered.
async fn nova_purge_here(args: &[&str]) -> (ExitCode, Value) {
    let cli =
        purge_cli::Cli::try_parse_from(std::iter::once("nova-purge").chain(args.iter().copied()))
            .expect("valid arguments");
    let mut out = Vec::new();
    let code = purge_cli::run(cli, &mut out)
        .await
        .expect("the command runs");
    let json = serde_json::from_slice(&out).expect("JSON on stdout");
    (code, json)
}

async fn notes_hold_instances_back_until_a_target_is_registered(backend: Backend) {
    let fixture = Fixture::without(&["fixed_ips"]);
    let test_db = TestDb::with_fixture(backend, &fixture).await;
    test_db
        .execute(
            "CREATE TABLE instance_notes (id INTEGER PRIMARY KEY, instance_uuid VARCHAR(36) NOT NULL, \
             note VARCHAR(255), CONSTRAINT instance_notes_instance_fk FOREIGN KEY (instance_uuid) \
             REFERENCES instances (uuid))",
        )
        .await;
    if backend != Backend::MySql {
        // MariaDB indexes foreign keys by itself; the others need asking.
        test_db
            .execute("CREATE INDEX instance_notes_instance_uuid ON instance_notes (instance_uuid)")
            .await;
    }
    let (noted, plain, live) = (uuid(1), uuid(2), uuid(3));
    insert_instances(
        &test_db,
        &fixture,
        &[
            InstanceSpec::new(noted.clone(), OLD),
            InstanceSpec::new(plain.clone(), OLD),
            InstanceSpec::new(live.clone(), InstanceState::Live),
        ],
    )
    .await;
    for (id, instance) in [(1, &noted), (2, &noted), (3, &live)] {
        test_db
            .execute(&format!("INSERT INTO instance_notes (id, instance_uuid, note) VALUES ({id}, '{instance}', 'hello')"))
            .await;
    }
    let url = test_db.url.as_str();

    // Before: check names the table; purge skips exactly the noted instance.
    let check = nova_purge(&["--database-url", url, "check", "--format", "json"], &[]);
    assert_eq!(check.code, 5, "{check:?}");
    let report = check.json();
    let uncovered: Vec<&Value> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["kind"] == "uncovered-table")
        .collect();
    assert_eq!(uncovered.len(), 1, "{report:#}");
    assert_eq!(uncovered[0]["table"], "instance_notes");
    assert_eq!(uncovered[0]["blocked_candidates"], 1);
    let purge = nova_purge(
        &["--database-url", url, "purge", "--yes", "--format", "json"],
        &[],
    );
    assert_eq!(purge.code, 0, "{purge:?}");
    let report = purge.json();
    assert_eq!(report["instances"], 1);
    assert_eq!(report["skipped_instances"][0]["uuid"], noted.as_str());
    assert_eq!(
        report["skipped_instances"][0]["blocked_by"],
        serde_json::json!(["instance_notes.instance_uuid"])
    );
    let snapshot = test_db.snapshot().await;
    assert!(snapshot.rows_where("instances", "uuid", &plain).is_empty());
    assert_eq!(snapshot.rows_where("instances", "uuid", &noted).len(), 1);
    assert_eq!(snapshot.rows("instance_notes").len(), 3);

    // After: the registration above is in this binary.
    let (_, targets) = nova_purge_here(&["targets", "--format", "json"]).await;
    let notes = targets
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "instance_notes")
        .expect("listed");
    assert!(
        notes["defined_at"]
            .as_str()
            .unwrap()
            .starts_with("adding_a_target:"),
        "{notes}"
    );
    let (code, report) =
        nova_purge_here(&["--database-url", url, "check", "--format", "json"]).await;
    let targets_skipped = !targets_without_their_table(&test_db, DatabaseKind::Cell)
        .await
        .is_empty();
    let expected = if backend == Backend::MySql && !targets_skipped {
        0
    } else {
        4
    };
    assert_eq!(code, ExitCode::from(expected), "{report:#}");
    assert!(
        report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["kind"] != "uncovered-table"),
        "{report:#}"
    );
    let (code, report) =
        nova_purge_here(&["--database-url", url, "purge", "--yes", "--format", "json"]).await;
    assert_eq!(code, ExitCode::from(0));
    assert_eq!(report["instances"], 1);
    assert_eq!(report["tables"]["instance_notes"], 2);
    assert_eq!(report["skipped_instances"], serde_json::json!([]));
    let snapshot = test_db.snapshot().await;
    assert!(snapshot.rows_where("instances", "uuid", &noted).is_empty());
    let notes_left: Vec<_> = snapshot.rows("instance_notes").iter().collect();
    assert_eq!(notes_left.len(), 1);
    assert_eq!(
        notes_left[0]["instance_uuid"].as_deref(),
        Some(live.as_str())
    );
}

#[tokio::test]
async fn sqlite() {
    notes_hold_instances_back_until_a_target_is_registered(Backend::Sqlite).await;
}

#[tokio::test]
async fn mariadb() {
    notes_hold_instances_back_until_a_target_is_registered(Backend::MySql).await;
}

#[tokio::test]
async fn postgresql() {
    notes_hold_instances_back_until_a_target_is_registered(Backend::Postgres).await;
}
