//! `purge --export` and `restore`: every deleted row recorded before its
//! commit, and put back so that the database is as it was, row for row.

use std::path::PathBuf;

use nova_purge_tests::{insert_instances, nova_purge, purge_json, uuid, InstanceState, TestDb};
use purge_api::Backend;
use purge_fixture::{Fixture, InstanceSpec};

use super::cells::Deployment;

const OLD: InstanceState = InstanceState::Deleted { days_ago: 200 };

fn export_path(label: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!("np-export-{}-{label}.jsonl", std::process::id()));
    let _ = std::fs::remove_file(&path);
    path
}

fn lines(path: &PathBuf) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

async fn a_purge_can_be_put_back_exactly(backend: Backend) {
    let fixture = Fixture::full();
    let test_db = TestDb::with_fixture(backend, &fixture).await;
    let mut specs: Vec<InstanceSpec> = (1..=5).map(|n| InstanceSpec::new(uuid(n), OLD)).collect();
    specs.push(InstanceSpec::new(uuid(9), InstanceState::Live));
    insert_instances(&test_db, &fixture, &specs).await;
    let before = test_db.snapshot().await;
    let path = export_path(&format!("{backend:?}"));
    let path_arg = path.display().to_string();

    let run = purge_json(
        &test_db,
        &["--yes", "--batch-size", "2", "--export", &path_arg],
    );
    assert_eq!(run.code, 0, "{run:?}");
    let report = run.json();
    assert_eq!(report["instances"], 5);
    let exported = lines(&path);
    assert_eq!(exported[0]["nova_purge_export"], 2);
    let rows = exported.iter().filter(|l| l.get("row").is_some()).count() as u64;
    let reported: u64 = report["tables"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(rows, reported, "every deleted row is in the export");
    assert_eq!(
        exported
            .iter()
            .filter(|l| l.get("committed").is_some())
            .count(),
        3,
        "three committed batches"
    );
    let purged = test_db.snapshot().await;
    assert_ne!(purged, before);

    // An export never overwrites a file.
    let again = purge_json(&test_db, &["--yes", "--export", &path_arg]);
    assert_eq!(again.code, 2, "{again:?}");
    assert!(again.stderr.contains("already exists"), "{again:?}");

    let dry = nova_purge(
        &[
            "--database-url",
            &test_db.url,
            "restore",
            &path_arg,
            "--dry-run",
            "--format",
            "json",
        ],
        &[],
    );
    assert_eq!(dry.code, 0, "{dry:?}");
    assert_eq!(dry.json()["restored"], 3);
    assert_eq!(
        test_db.snapshot().await,
        purged,
        "the dry run restored something"
    );

    let restore = nova_purge(
        &[
            "--database-url",
            &test_db.url,
            "restore",
            &path_arg,
            "--format",
            "json",
        ],
        &[],
    );
    assert_eq!(restore.code, 0, "{restore:?}");
    assert_eq!(restore.json()["tables"], dry.json()["tables"]);
    assert_eq!(
        test_db.snapshot().await,
        before,
        "the restored database differs from the original"
    );

    // Restoring twice conflicts with what is there now, and changes nothing.
    let twice = nova_purge(&["--database-url", &test_db.url, "restore", &path_arg], &[]);
    assert_eq!(twice.code, 1, "{twice:?}");
    assert!(twice.stderr.contains("cannot be put back"), "{twice:?}");
    assert_eq!(test_db.snapshot().await, before);
    let _ = std::fs::remove_file(&path);
}

/// The API rows go in the export too, and come back to the API database.
async fn api_rows_are_exported_and_restored(backend: Backend) {
    let deployment = Deployment::new(backend).await;
    let (api_before, cell0_before, cell1_before) = (
        deployment.api.snapshot().await,
        deployment.cell0.snapshot().await,
        deployment.cell1.snapshot().await,
    );
    let path = export_path(&format!("{backend:?}-api"));
    let path_arg = path.display().to_string();
    let base = [
        "--api-database-url",
        deployment.api.url.as_str(),
        "--database-url",
        deployment.cell1.url.as_str(),
    ];
    let purge = nova_purge(
        &[
            &base[..],
            &["purge", "--all-cells", "--yes", "--export", &path_arg],
        ]
        .concat(),
        &[],
    );
    assert_eq!(purge.code, 0, "{purge:?}");
    assert_ne!(deployment.api.snapshot().await, api_before);
    let restore = nova_purge(&[&base[..], &["restore", &path_arg]].concat(), &[]);
    assert_eq!(restore.code, 0, "{restore:?}");
    assert_eq!(deployment.api.snapshot().await, api_before);
    assert_eq!(deployment.cell0.snapshot().await, cell0_before);
    assert_eq!(deployment.cell1.snapshot().await, cell1_before);
    let _ = std::fs::remove_file(&path);
}

mod api {
    #[tokio::test]
    async fn mariadb() {
        super::api_rows_are_exported_and_restored(purge_api::Backend::MySql).await
    }

    #[tokio::test]
    async fn postgresql() {
        super::api_rows_are_exported_and_restored(purge_api::Backend::Postgres).await
    }
}

#[test]
fn a_missing_or_foreign_file_is_refused() {
    let run = nova_purge(
        &[
            "--database-url",
            "sqlite:///nonexistent.sqlite",
            "restore",
            "/nonexistent/export.jsonl",
        ],
        &[],
    );
    assert_eq!(run.code, 2, "{run:?}");
    let path = export_path("foreign");
    std::fs::write(&path, "{\"hello\": 1}\n").unwrap();
    let run = nova_purge(&["restore", &path.display().to_string()], &[]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("no export header"), "{run:?}");
    let _ = std::fs::remove_file(&path);
}

/// A column whose name holds a backslash and a quote (an operator's own, or
/// a hostile one) is exported and restored like any other: names are
/// quoted as identifiers and bound as parameters, never spliced into a
/// string literal.
async fn hostile_column_names_survive_the_round_trip(backend: Backend) {
    let fixture = Fixture::full();
    let test_db = TestDb::with_fixture(backend, &fixture).await;
    let column = match backend {
        Backend::MySql => r"`we\ir'd ``col`",
        _ => r#""we\ir'd ""col""#,
    };
    test_db
        .execute(&format!(
            "ALTER TABLE instance_metadata ADD COLUMN {column} VARCHAR(20)"
        ))
        .await;
    test_db
        .execute(&format!(
            "UPDATE instance_metadata SET {column} = 'x\\y''z'"
        ))
        .await;
    insert_instances(&test_db, &fixture, &[InstanceSpec::new(uuid(1), OLD)]).await;
    test_db
        .execute(&format!(
            "UPDATE instance_metadata SET {column} = 'x\\y''z'"
        ))
        .await;
    let before = test_db.snapshot().await;
    let scratch = tempfile::tempdir().unwrap();
    let path = scratch.path().join("export.jsonl").display().to_string();
    let run = purge_json(&test_db, &["--yes", "--export", &path]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.json()["tables"]["instance_metadata"].as_u64() > Some(0));
    let exported = std::fs::read_to_string(&path).unwrap();
    // The name as the database knows it, backslash and quote included.
    let name = match backend {
        Backend::MySql => r#""we\\ir'd `col":"#,
        _ => r#""we\\ir'd \"col":"#,
    };
    assert!(exported.contains(name), "{name} not in {exported}");
    let restore = nova_purge(&["--database-url", &test_db.url, "restore", &path], &[]);
    assert_eq!(restore.code, 0, "{restore:?}");
    assert_eq!(test_db.snapshot().await, before);
}

/// The export holds deleted user data: it is created readable by its owner
/// only, and only once there is a batch to record, so that a refused or
/// failed run leaves no file and the same command can run again.
async fn the_export_is_private_and_never_a_stub(backend: Backend) {
    use std::os::unix::fs::PermissionsExt;
    let fixture = Fixture::full();
    let test_db = TestDb::with_fixture(backend, &fixture).await;
    insert_instances(&test_db, &fixture, &[InstanceSpec::new(uuid(1), OLD)]).await;
    let scratch = tempfile::tempdir().unwrap();
    let path = scratch.path().join("export.jsonl");
    let path_arg = path.display().to_string();

    // Refused: no terminal to confirm on, no --yes.
    let refused = nova_purge(
        &[
            "--database-url",
            &test_db.url,
            "purge",
            "--export",
            &path_arg,
        ],
        &[],
    );
    assert_eq!(refused.code, 2, "{refused:?}");
    assert!(!path.exists(), "a refused run left {}", path.display());
    // Nothing to purge: no file either.
    let nothing = purge_json(
        &test_db,
        &["--yes", "--older-than", "36500", "--export", &path_arg],
    );
    assert_eq!(nothing.code, 0, "{nothing:?}");
    assert_eq!(nothing.json()["instances"], 0);
    assert!(
        !path.exists(),
        "a run that deleted nothing left {}",
        path.display()
    );

    let run = purge_json(&test_db, &["--yes", "--export", &path_arg]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.json()["instances"], 1);
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "the export is mode {mode:o}");
}

/// A run that fails before its first commit leaves no export behind.
#[tokio::test]
async fn a_failed_run_leaves_no_export() {
    let fixture = Fixture::full();
    let test_db = TestDb::with_fixture(Backend::Sqlite, &fixture).await;
    insert_instances(&test_db, &fixture, &[InstanceSpec::new(uuid(1), OLD)]).await;
    let scratch = tempfile::tempdir().unwrap();
    let path = scratch.path().join("export.jsonl");
    let path_arg = path.display().to_string();
    // The cell database cannot be reached.
    let failed = nova_purge(
        &[
            "--database-url",
            "mysql://nova@127.0.0.1:1/nova",
            "purge",
            "--yes",
            "--export",
            &path_arg,
        ],
        &[],
    );
    assert_eq!(failed.code, 1, "{failed:?}");
    assert!(!path.exists());
    // The first batch fails: its table is read-only to the purge.
    test_db
        .execute(
            "CREATE TRIGGER no_fault_delete BEFORE DELETE ON instance_faults \
             BEGIN SELECT RAISE(ABORT, 'refused by trigger'); END",
        )
        .await;
    let failed = purge_json(&test_db, &["--yes", "--export", &path_arg]);
    assert_eq!(failed.code, 1, "{failed:?}");
    assert!(!path.exists(), "a failed run left {}", path.display());
    // Once the cause is gone, the same command works.
    test_db.execute("DROP TRIGGER no_fault_delete").await;
    let rerun = purge_json(&test_db, &["--yes", "--export", &path_arg]);
    assert_eq!(rerun.code, 0, "{rerun:?}");
    assert!(path.exists());
}

on_every_backend!(
    a_purge_can_be_put_back_exactly,
    hostile_column_names_survive_the_round_trip,
    the_export_is_private_and_never_a_stub,
);

/// A foreign key the catalogue does not show (from another MariaDB
/// database, or another PostgreSQL schema) makes a batch retry its
/// instances one by one; the API rows of those purged that way are in the
/// export all the same, under their own batches, and come back.
async fn api_rows_of_instances_purged_one_by_one_are_exported(backend: Backend) {
    let deployment = Deployment::new(backend).await;
    let elsewhere = TestDb::empty(backend).await;
    let holder = match backend {
        Backend::MySql => format!("`{}`.`notes`", elsewhere.name),
        _ => "other.notes".to_owned(),
    };
    let instances = match backend {
        Backend::MySql => format!("`{}`.`instances`", deployment.cell1.name),
        _ => "public.instances".to_owned(),
    };
    if backend == Backend::Postgres {
        deployment.cell1.execute("CREATE SCHEMA other").await;
    }
    deployment
        .cell1
        .execute(&format!(
            "CREATE TABLE {holder} (id INTEGER PRIMARY KEY, instance_uuid VARCHAR(36) NOT NULL \
             REFERENCES {instances} (uuid))"
        ))
        .await;
    deployment
        .cell1
        .execute(&format!(
            "INSERT INTO {holder} (id, instance_uuid) VALUES (1, '{}')",
            uuid(20)
        ))
        .await;
    let snapshots = || async {
        (
            deployment.api.snapshot().await,
            deployment.cell0.snapshot().await,
            deployment.cell1.snapshot().await,
        )
    };
    let before = snapshots().await;
    let scratch = tempfile::tempdir().unwrap();
    let path = scratch.path().join("export.jsonl").display().to_string();
    let purge = deployment.run(&[
        "purge",
        "--all-cells",
        "--yes",
        "--format",
        "json",
        "--export",
        &path,
    ]);
    assert_eq!(purge.code, 0, "{purge:?}");
    assert!(purge.stderr.contains("one by one"), "{purge:?}");
    let report = purge.json();
    let skipped: Vec<&str> = report["skipped_instances"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["uuid"].as_str().unwrap())
        .collect();
    assert_eq!(skipped, [uuid(20)], "{report:#}");
    // Instance 21 went one by one; its API rows went with it, and are in
    // the export, in an API part of their own batch.
    let exported = lines(&std::path::PathBuf::from(&path));
    let api_source = exported
        .iter()
        .find(|l| l["database"] == "api" && l.get("source").is_some() && l.get("batch").is_none())
        .expect("an API source line")["source"]
        .clone();
    let api_rows: Vec<&serde_json::Value> = exported
        .iter()
        .filter(|l| l["source"] == api_source && l.get("row").is_some())
        .filter(|l| l["row"]["instance_uuid"] == uuid(21))
        .collect();
    assert_eq!(
        api_rows.len(),
        4,
        "instance 21's four API rows: {exported:#?}"
    );

    let restore = deployment.run(&["restore", &path]);
    assert_eq!(restore.code, 0, "{restore:?}");
    assert_eq!(
        snapshots().await,
        before,
        "the restore did not give back every row"
    );
    deployment
        .cell1
        .execute(&format!("DROP TABLE {holder}"))
        .await;
}

mod one_by_one {
    #[tokio::test]
    async fn mariadb() {
        super::api_rows_of_instances_purged_one_by_one_are_exported(purge_api::Backend::MySql).await
    }

    #[tokio::test]
    async fn postgresql() {
        super::api_rows_of_instances_purged_one_by_one_are_exported(purge_api::Backend::Postgres)
            .await
    }
}
