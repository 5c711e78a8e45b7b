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

on_every_backend!(a_purge_can_be_put_back_exactly);

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
