//! The purge on the fixture: what must go goes, whole; everything else stays.

use nova_purge_tests::registered::targets_without_their_table;
use nova_purge_tests::{insert_instances, purge_json, uuid, InstanceState, Snapshot, TestDb};
use purge_api::{Backend, DatabaseKind};
use purge_fixture::{Fixture, InstanceSpec};

const OLD: InstanceState = InstanceState::Deleted { days_ago: 200 };

/// Old deleted A and B; young deleted C; live D; restorable soft-delete E
/// (old deleted_at, deleted = 0); old deleted F held by a fixed_ips row.
fn mixed_instances() -> Vec<InstanceSpec> {
    vec![
        InstanceSpec::new(uuid(1), OLD),
        InstanceSpec::new(uuid(2), InstanceState::Deleted { days_ago: 91 }),
        InstanceSpec::new(uuid(3), InstanceState::Deleted { days_ago: 10 }),
        InstanceSpec::new(uuid(4), InstanceState::Live),
        InstanceSpec::new(uuid(5), InstanceState::SoftDelete),
        InstanceSpec {
            fixed_ip: true,
            ..InstanceSpec::new(uuid(6), OLD)
        },
    ]
}

/// Checks that exactly the rows of `purged` went: no row changed or
/// appeared; every removed row belonged to a purged instance (directly, or
/// as an event of a removed action); no row still references a purged
/// instance except live pci_devices inventory; and the per-table counts
/// match the report.
fn assert_purged_exactly(
    before: &Snapshot,
    after: &Snapshot,
    purged: &[String],
    report: &serde_json::Value,
) {
    let added = before.added_in(after);
    assert!(added.is_empty(), "rows changed or appeared: {added:#?}");
    let removed = before.removed_in(after);
    let removed_actions: Vec<String> = removed
        .get("instance_actions")
        .into_iter()
        .flatten()
        .filter_map(|row| row["id"].clone())
        .collect();
    let mentions_purged =
        |row: &nova_purge_tests::Row| row.values().flatten().any(|value| purged.contains(value));
    for (table, rows) in &removed {
        for row in rows {
            let belongs = mentions_purged(row)
                || (table == "instance_actions_events"
                    && row["action_id"]
                        .as_ref()
                        .is_some_and(|id| removed_actions.contains(id)));
            assert!(
                belongs,
                "{table}: removed a row of no purged instance: {row:?}"
            );
            if table == "pci_devices" {
                assert_ne!(
                    row["deleted"].as_deref(),
                    Some("0"),
                    "removed live pci inventory: {row:?}"
                );
            }
        }
        let reported = report["tables"][table].as_u64();
        assert_eq!(
            reported,
            Some(rows.len() as u64),
            "{table}: report says {reported:?}"
        );
    }
    for (table, rows) in &after.tables {
        for row in rows.iter().filter(|row| mentions_purged(row)) {
            assert!(
                table == "pci_devices" && row["deleted"].as_deref() == Some("0"),
                "{table} still holds a row of a purged instance: {row:?}"
            );
        }
    }
    for uuid in purged {
        assert_eq!(
            after.rows_where("pci_devices", "instance_uuid", uuid).len(),
            1,
            "live inventory of {uuid} kept"
        );
    }
}

async fn purges_old_deleted_instances_and_nothing_else(backend: Backend) {
    let fixture = Fixture::full();
    let test_db = TestDb::with_fixture(backend, &fixture).await;
    insert_instances(&test_db, &fixture, &mixed_instances()).await;
    let before = test_db.snapshot().await;

    let dry = purge_json(&test_db, &["--dry-run"]);
    assert_eq!(dry.code, 0, "{dry:?}");
    assert_eq!(
        test_db.snapshot().await,
        before,
        "the dry run changed the database"
    );
    let dry = dry.json();
    assert_eq!(dry["dry_run"], true);

    let real = purge_json(&test_db, &["--yes"]);
    assert_eq!(real.code, 0, "{real:?}");
    let report = real.json();
    assert_eq!(report["dry_run"], false);
    assert_eq!(report["instances"], 2);
    assert_eq!(report["older_than_days"], 90);
    assert_eq!(report["more_remaining"], false);
    assert_eq!(
        report["tables"], dry["tables"],
        "the dry run predicted other counts"
    );
    assert_eq!(report["instances"], dry["instances"]);
    assert_eq!(report["skipped_instances"], dry["skipped_instances"]);
    let skipped = report["skipped_instances"].as_array().unwrap();
    assert_eq!(skipped.len(), 1, "{skipped:?}");
    assert_eq!(skipped[0]["uuid"], uuid(6));
    assert!(
        skipped[0]["reason"]
            .as_str()
            .unwrap()
            .contains("fixed_ips.instance_uuid"),
        "{skipped:?}"
    );
    assert_eq!(
        sorted(&report["skipped_targets"]),
        targets_without_their_table(&test_db, DatabaseKind::Cell).await
    );
    assert!(report["cutoff"].as_str().unwrap().ends_with('Z'));

    let after = test_db.snapshot().await;
    assert_purged_exactly(&before, &after, &[uuid(1), uuid(2)], &report);
    // Every table a target covers lost rows: the fixture gives each one.
    for (table, rows) in report["tables"].as_object().unwrap() {
        assert!(rows.as_u64().unwrap() > 0, "{table} had nothing to purge");
    }

    let rerun = purge_json(&test_db, &["--yes"]);
    assert_eq!(rerun.code, 0, "{rerun:?}");
    let rerun = rerun.json();
    assert_eq!(rerun["instances"], 0);
    assert_eq!(test_db.snapshot().await, after, "a rerun changed something");
}

/// The original spec's second scenario: vm_state 'soft-delete' with
/// deleted = 0 is restorable and stays, however old its deleted_at.
async fn a_soft_delete_instance_stays(backend: Backend) {
    let fixture = Fixture::full();
    let test_db = TestDb::with_fixture(backend, &fixture).await;
    insert_instances(
        &test_db,
        &fixture,
        &[InstanceSpec::new(uuid(7), InstanceState::SoftDelete)],
    )
    .await;
    let before = test_db.snapshot().await;
    let run = purge_json(&test_db, &["--yes", "--older-than", "0"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.json()["instances"], 0);
    assert_eq!(test_db.snapshot().await, before);
    assert_eq!(before.rows_where("instances", "uuid", &uuid(7)).len(), 1);
}

/// An older Nova without share_mapping, a newer one without the legacy
/// consoles and fixed_ips tables: their targets are skipped and reported.
async fn missing_tables_skip_their_targets(backend: Backend) {
    let fixture = Fixture::without(&["consoles", "console_pools", "fixed_ips", "share_mapping"]);
    let test_db = TestDb::with_fixture(backend, &fixture).await;
    insert_instances(&test_db, &fixture, &mixed_instances()).await;
    let before = test_db.snapshot().await;
    let run = purge_json(&test_db, &["--yes"]);
    assert_eq!(run.code, 0, "{run:?}");
    let report = run.json();
    let skipped = targets_without_their_table(&test_db, DatabaseKind::Cell).await;
    for table in ["consoles", "share_mapping"] {
        assert!(skipped.contains(&table.to_owned()), "{skipped:?}");
    }
    assert_eq!(sorted(&report["skipped_targets"]), skipped);
    // Without fixed_ips nothing holds the sixth instance back.
    assert_eq!(report["instances"], 3);
    assert_eq!(report["skipped_instances"], serde_json::json!([]));
    let after = test_db.snapshot().await;
    assert_purged_exactly(&before, &after, &[uuid(1), uuid(2), uuid(6)], &report);
}

/// `--older-than 0` takes every deleted instance, young ones included, and
/// still never a live or restorable one.
async fn older_than_zero_takes_every_deleted_instance(backend: Backend) {
    let fixture = Fixture::without(&["fixed_ips"]);
    let test_db = TestDb::with_fixture(backend, &fixture).await;
    insert_instances(&test_db, &fixture, &mixed_instances()).await;
    let before = test_db.snapshot().await;
    let run = purge_json(&test_db, &["--yes", "--older-than", "0"]);
    assert_eq!(run.code, 0, "{run:?}");
    let report = run.json();
    assert_eq!(report["instances"], 4);
    let after = test_db.snapshot().await;
    assert_purged_exactly(
        &before,
        &after,
        &[uuid(1), uuid(2), uuid(3), uuid(6)],
        &report,
    );
}

on_every_backend!(
    purges_old_deleted_instances_and_nothing_else,
    a_soft_delete_instance_stays,
    missing_tables_skip_their_targets,
    older_than_zero_takes_every_deleted_instance,
);

/// Logs go to stderr at warning level by default; `-q` silences them, `-v`
/// adds the batches, and RUST_LOG overrides both. stdout holds only the report.
#[tokio::test]
async fn verbosity_flags_and_rust_log_set_what_goes_to_stderr() {
    let fixture = Fixture::full();
    let test_db = TestDb::with_fixture(Backend::Sqlite, &fixture).await;
    insert_instances(&test_db, &fixture, &mixed_instances()).await;
    let run = |flags: &[&str], env: &[(&str, &str)]| {
        let mut args = flags.to_vec();
        args.extend([
            "--database-url",
            &test_db.url,
            "purge",
            "--dry-run",
            "--format",
            "json",
        ]);
        let run = nova_purge_tests::nova_purge(&args, env);
        assert_eq!(run.code, 0, "{run:?}");
        run.json();
        run.stderr
    };
    let default = run(&[], &[]);
    assert!(
        default.contains("WARN") && default.contains("fixed_ips.instance_uuid"),
        "{default}"
    );
    assert!(!default.contains("batch done"), "{default}");
    assert_eq!(run(&["-q"], &[]), "");
    assert!(run(&["-v"], &[]).contains("batch done"));
    assert_eq!(run(&["-v"], &[("RUST_LOG", "off")]), "");
}

/// Ctrl-C stops the run once the batch in flight has committed, prints the
/// report so far, and exits with 130; a rerun carries on.
#[tokio::test]
async fn ctrl_c_stops_after_the_batch_in_flight() {
    let fixture = Fixture::full();
    let test_db = TestDb::with_fixture(Backend::Sqlite, &fixture).await;
    let specs: Vec<InstanceSpec> = (1..=6).map(|n| InstanceSpec::new(uuid(n), OLD)).collect();
    insert_instances(&test_db, &fixture, &specs).await;
    let purge = nova_purge_tests::spawn_nova_purge(
        &[
            "--database-url",
            &test_db.url,
            "purge",
            "--yes",
            "--batch-size",
            "1",
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
    assert_eq!(run.code, 130, "{run:?}");
    let report = run.json();
    assert_eq!(report["interrupted"], true);
    let done = report["instances"].as_u64().unwrap();
    assert!((1..6).contains(&done), "{report}");
    let left = test_db.snapshot().await.rows("instances").len() as u64;
    assert_eq!(left, 6 - done, "the report matches what was committed");
    let rest = purge_json(&test_db, &["--yes"]);
    assert_eq!(rest.code, 0, "{rest:?}");
    assert_eq!(rest.json()["instances"].as_u64(), Some(6 - done));
}

/// A JSON array of strings, sorted.
fn sorted(array: &serde_json::Value) -> Vec<String> {
    let mut strings: Vec<String> = array
        .as_array()
        .expect("an array")
        .iter()
        .map(|v| v.as_str().expect("a string").to_owned())
        .collect();
    strings.sort();
    strings
}
