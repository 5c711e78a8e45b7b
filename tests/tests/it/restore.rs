//! `restore` on damaged and hostile exports: every whole committed batch
//! comes back, what could not be read is named, and nothing is written
//! where it does not belong.

use std::path::{Path, PathBuf};

use nova_purge_tests::{
    insert_instances, nova_purge, purge_json, uuid, InstanceState, Run, TestDb,
};
use purge_api::Backend;
use purge_fixture::{Fixture, InstanceSpec};

use super::cells::Deployment;

const OLD: InstanceState = InstanceState::Deleted { days_ago: 200 };
/// `restore`: the export is damaged; what could be read was restored.
const INCOMPLETE: i32 = 7;

/// A database with five purgeable instances and a live one, purged in
/// three batches with `--export`: the database before, the export.
async fn purged_with_export(
    backend: Backend,
    dir: &Path,
) -> (TestDb, nova_purge_tests::Snapshot, PathBuf) {
    let fixture = Fixture::full();
    let test_db = TestDb::with_fixture(backend, &fixture).await;
    let mut specs: Vec<InstanceSpec> = (1..=5).map(|n| InstanceSpec::new(uuid(n), OLD)).collect();
    specs.push(InstanceSpec::new(uuid(9), InstanceState::Live));
    insert_instances(&test_db, &fixture, &specs).await;
    let before = test_db.snapshot().await;
    let path = dir.join("export.jsonl");
    let run = purge_json(
        &test_db,
        &[
            "--yes",
            "--batch-size",
            "2",
            "--export",
            &path.display().to_string(),
        ],
    );
    assert_eq!(run.code, 0, "{run:?}");
    (test_db, before, path)
}

fn restore(test_db: &TestDb, path: &Path, extra: &[&str]) -> Run {
    let path = path.display().to_string();
    let mut args = vec![
        "--database-url",
        test_db.url.as_str(),
        "restore",
        path.as_str(),
    ];
    args.extend_from_slice(extra);
    nova_purge(&args, &[])
}

/// The export with its last `keep` bytes of the final line kept and the
/// rest of the file from there cut off, as `kill -9` or a full disk leaves.
fn cut(path: &Path, what: Cut) -> PathBuf {
    let text = std::fs::read_to_string(path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let damaged = match what {
        Cut::InLastCommit => {
            let last = lines.last().unwrap();
            assert!(last.contains("committed"), "{last}");
            format!(
                "{}\n{}",
                lines[..lines.len() - 1].join("\n"),
                &last[..last.len() / 2]
            )
        }
        Cut::InLastRows => {
            // Drop the last batch's committed line and half of its last row.
            let row = lines[lines.len() - 2];
            assert!(row.contains("\"row\""), "{row}");
            format!(
                "{}\n{}",
                lines[..lines.len() - 2].join("\n"),
                &row[..row.len() / 2]
            )
        }
        Cut::CommitIsFalse => {
            let last = lines.last().unwrap();
            let batch = last.split(',').next().unwrap();
            let falsified = format!("{batch},\"source\":1,\"committed\":false}}");
            format!("{}\n{falsified}\n", lines[..lines.len() - 1].join("\n"))
        }
    };
    let damaged_path = path.with_extension("damaged.jsonl");
    std::fs::write(&damaged_path, damaged).unwrap();
    damaged_path
}

#[derive(Debug, Clone, Copy)]
enum Cut {
    InLastCommit,
    InLastRows,
    CommitIsFalse,
}

/// Cut short inside the last `committed` record: that batch did commit
/// (its rows were synced before), so every batch comes back; the report
/// names the line it could not read, and the exit code says so.
async fn a_cut_commit_record_still_restores_everything(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let (test_db, before, path) = purged_with_export(backend, dir.path()).await;
    let damaged = cut(&path, Cut::InLastCommit);
    let run = restore(&test_db, &damaged, &["--format", "json"]);
    assert_eq!(run.code, INCOMPLETE, "{run:?}");
    let report = run.json();
    assert_eq!(report["restored"], 3, "{report:#}");
    assert_eq!(
        report["unreadable"].as_array().unwrap().len(),
        1,
        "{report:#}"
    );
    assert_eq!(test_db.snapshot().await, before);
}

/// Cut short inside the last batch's rows: the whole batches before it come
/// back; that one cannot, and is named.
async fn a_batch_cut_in_its_rows_is_named_and_the_others_come_back(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let (test_db, before, path) = purged_with_export(backend, dir.path()).await;
    let damaged = cut(&path, Cut::InLastRows);
    let run = restore(&test_db, &damaged, &[]);
    assert_eq!(run.code, INCOMPLETE, "{run:?}");
    assert!(run.stdout.contains("not restored: batch 3"), "{run:?}");
    assert!(run.stdout.contains("unreadable: line"), "{run:?}");
    let after = test_db.snapshot().await;
    // Batches 1 and 2 (instances 1 to 4) are back, whole; 5 is not.
    for n in 1..=4 {
        assert_eq!(
            after.rows_where("instances", "uuid", &uuid(n)).len(),
            1,
            "instance {n}"
        );
    }
    assert!(after.rows_where("instances", "uuid", &uuid(5)).is_empty());
    let missing: usize = before
        .removed_in(&after)
        .values()
        .flatten()
        .filter(|row| row.values().flatten().all(|v| !v.contains(&uuid(5)[..8])))
        .filter(|row| {
            row.get("instance_uuid")
                .is_some_and(|u| u.as_deref() != Some(&uuid(5)))
        })
        .count();
    assert_eq!(missing, 0, "rows of the whole batches are missing");
}

/// `"committed": false` is not a commit: that batch is not restored on the
/// strength of it, and the line is named.
async fn committed_false_is_not_a_commit(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let (test_db, _before, path) = purged_with_export(backend, dir.path()).await;
    let damaged = cut(&path, Cut::CommitIsFalse);
    let run = restore(&test_db, &damaged, &["--format", "json"]);
    assert_eq!(run.code, INCOMPLETE, "{run:?}");
    let report = run.json();
    assert_eq!(report["restored"], 2, "{report:#}");
    assert!(
        report["incomplete"].to_string().contains("batch 3"),
        "{report:#}"
    );
}

/// A file that is not an export, or no file at all, restores nothing and
/// says why: an empty file, a directory, a FIFO.
async fn files_that_are_not_exports_restore_nothing(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let (test_db, _before, _path) = purged_with_export(backend, dir.path()).await;
    let purged = test_db.snapshot().await;
    let empty = dir.path().join("empty.jsonl");
    std::fs::write(&empty, "").unwrap();
    let run = restore(&test_db, &empty, &[]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("empty"), "{run:?}");
    let run = restore(&test_db, dir.path(), &[]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("not a regular file"), "{run:?}");
    let fifo = dir.path().join("fifo.jsonl");
    assert!(std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let run = restore(&test_db, &fifo, &[]);
    assert_eq!(run.code, 2, "{run:?}");
    assert_eq!(test_db.snapshot().await, purged);
}

/// A hand-made line that names a table nova-purge does not purge (a cell's
/// `alembic_version`) is refused before anything is written, whole batches
/// included.
async fn rows_of_tables_no_target_purges_are_refused(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let (test_db, _before, path) = purged_with_export(backend, dir.path()).await;
    let purged = test_db.snapshot().await;
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.push_str(
        "{\"batch\":99,\"source\":1,\"table\":\"alembic_version\",\"row\":{\"version_num\":\"evil\"}}\n\
         {\"batch\":99,\"source\":1,\"committed\":[]}\n",
    );
    let hostile = dir.path().join("hostile.jsonl");
    std::fs::write(&hostile, text).unwrap();
    let run = restore(&test_db, &hostile, &[]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("`alembic_version`"), "{run:?}");
    assert_eq!(test_db.snapshot().await, purged, "something was written");
}

/// The export says which database its rows came from: restoring into
/// another (another backend, another database name) is refused before
/// anything is written, unless `--allow-other-source` says so.
async fn rows_go_back_only_where_they_came_from(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let (_original, before, path) = purged_with_export(backend, dir.path()).await;
    let fixture = Fixture::full();
    let copy = TestDb::with_fixture(backend, &fixture).await;
    let empty_copy = copy.snapshot().await;
    let run = restore(&copy, &path, &[]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("--allow-other-source"), "{run:?}");
    assert_eq!(copy.snapshot().await, empty_copy);
    let run = restore(&copy, &path, &["--allow-other-source"]);
    assert_eq!(run.code, 0, "{run:?}");
    // The five purged instances are in the copy now, and nothing else.
    assert_eq!(
        copy.snapshot().await.rows("instances").len(),
        before.rows("instances").len() - 1
    );
}

on_every_backend!(
    a_cut_commit_record_still_restores_everything,
    a_batch_cut_in_its_rows_is_named_and_the_others_come_back,
    committed_false_is_not_a_commit,
    files_that_are_not_exports_restore_nothing,
    rows_of_tables_no_target_purges_are_refused,
    rows_go_back_only_where_they_came_from,
);

/// A multi-cell export given one cell database and no API database would
/// put every cell's rows into that one: refused before anything is written.
/// With the API database, each part goes back to its own cell.
async fn a_multi_cell_export_needs_the_api_database(backend: Backend) {
    let deployment = Deployment::new(backend).await;
    let snapshots = || async {
        (
            deployment.api.snapshot().await,
            deployment.cell0.snapshot().await,
            deployment.cell1.snapshot().await,
        )
    };
    let before = snapshots().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("export.jsonl").display().to_string();
    let purge = deployment.run(&["purge", "--all-cells", "--yes", "--export", &path]);
    assert_eq!(purge.code, 0, "{purge:?}");
    let purged = snapshots().await;
    let alone = nova_purge(
        &["--database-url", &deployment.cell1.url, "restore", &path],
        &[],
    );
    assert_eq!(alone.code, 2, "{alone:?}");
    assert!(alone.stderr.contains("API database"), "{alone:?}");
    assert_eq!(snapshots().await, purged, "something was written");
    let restore = deployment.run(&["restore", &path]);
    assert_eq!(restore.code, 0, "{restore:?}");
    assert_eq!(snapshots().await, before);
}

mod multi_cell {
    #[tokio::test]
    async fn mariadb() {
        super::a_multi_cell_export_needs_the_api_database(purge_api::Backend::MySql).await
    }

    #[tokio::test]
    async fn postgresql() {
        super::a_multi_cell_export_needs_the_api_database(purge_api::Backend::Postgres).await
    }
}

/// `restore` streams the file a part at a time: a large export (here about
/// 160 MB, in 80 batches of 2 MB) is put back with memory bounded by a
/// batch, not by the file.
#[tokio::test]
async fn a_large_export_is_restored_in_bounded_memory() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let (test_db, _before, path) = purged_with_export(Backend::Sqlite, dir.path()).await;
    // One instance row as the export wrote it: the template of the rest.
    let text = std::fs::read_to_string(&path).unwrap();
    let mut lines = text.lines();
    let header = lines.next().unwrap();
    let source = lines.next().unwrap();
    let template: serde_json::Value = lines
        .map(|line| serde_json::from_str::<serde_json::Value>(line).unwrap())
        .find(|record| record["table"] == "instances")
        .unwrap();
    let big = dir.path().join("big.jsonl");
    let mut out = std::io::BufWriter::new(std::fs::File::create(&big).unwrap());
    writeln!(out, "{header}\n{source}").unwrap();
    let user_data = "x".repeat(40_000);
    let (batches, per_batch) = (80u64, 50u64);
    for batch in 1..=batches {
        let mut uuids = Vec::new();
        for i in 0..per_batch {
            let n = 1_000 + batch * per_batch + i;
            let uuid = format!("{n:08}-0000-4000-8000-{n:012}");
            let mut record = template.clone();
            record["batch"] = batch.into();
            record["row"]["id"] = n.into();
            record["row"]["uuid"] = uuid.clone().into();
            record["row"]["user_data"] = user_data.clone().into();
            writeln!(out, "{record}").unwrap();
            uuids.push(uuid);
        }
        writeln!(
            out,
            "{}",
            serde_json::json!({"batch": batch, "source": 1, "committed": uuids})
        )
        .unwrap();
    }
    drop(out);
    let size_mib = std::fs::metadata(&big).unwrap().len() >> 20;
    assert!(size_mib > 150, "{size_mib} MiB");
    let run = nova_purge_tests::measured::run(
        &nova_purge_tests::binary(),
        &[
            "--database-url".to_owned(),
            test_db.url.clone(),
            "restore".to_owned(),
            big.display().to_string(),
        ],
    )
    .unwrap();
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stdout.contains(&format!("batches restored: {batches}")),
        "{run:?}"
    );
    let peak_mib = run.max_rss_kib >> 10;
    eprintln!("restored a {size_mib} MiB export with a peak RSS of {peak_mib} MiB");
    assert!(
        peak_mib < 64,
        "a {size_mib} MiB export took {peak_mib} MiB of memory to restore"
    );
}
