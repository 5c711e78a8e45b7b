//! A database server that restarts in the middle of a purge. The servers
//! the rest of the suite shares cannot be restarted, so each test starts a
//! private MariaDB or PostgreSQL server of its own (the test lab,
//! `nova_purge_tests::servers`: the installed binaries, a data directory
//! under /tmp, a free port on 127.0.0.1), stops it hard
//! (SIGKILL for MariaDB, `pg_ctl stop -m immediate` for PostgreSQL: a crash,
//! not a clean shutdown) while a purge runs, and starts it again.
//!
//! Expected: the purge ends with one `error:` line and exit code 1; every
//! instance is whole or gone, nothing else changed, no orphan; and a rerun
//! converges to exactly the expected state.

use std::time::Duration;

use nova_purge_tests::servers::PrivateServer;
use nova_purge_tests::{orphans, populate, spawn_nova_purge, InstanceRows, Presence, TestDb};
use purge_api::Backend;
use purge_fixture::Fixture;

async fn a_restart_mid_purge_leaves_every_instance_whole_or_gone(backend: Backend) {
    let mut server = PrivateServer::start(backend);
    let fixture = Fixture::full();
    let test_db = TestDb::empty_on(backend, server.url()).await;
    fixture.create(&test_db.db).await.expect("fixture schema");
    let population = populate(&test_db, &fixture, 150, 0).await;
    let before = test_db.snapshot().await;
    let rows = InstanceRows::of(&before);
    test_db.db.close().await;

    let mut purge = spawn_nova_purge(
        &[
            "-q",
            "--database-url",
            &test_db.url,
            "purge",
            "--yes",
            "--batch-size",
            "1",
            "--sleep",
            "20ms",
        ],
        &[],
    );
    std::thread::sleep(Duration::from_millis(400));
    assert!(
        !purge.has_exited(),
        "the purge ended before the restart; give it more work"
    );
    server.crash();
    server.start_again();
    let run = purge.wait();
    // A restart that hits a batch ends the run with one error line and
    // exit code 1; one that falls between two batches is absorbed (the next
    // batch reconnects) and the run completes. Either way, the invariants.
    match run.code {
        1 => {
            let lines: Vec<&str> = run.stderr.lines().collect();
            assert_eq!(lines.len(), 1, "one line: {run:?}");
            assert!(lines[0].starts_with("error: "), "{run:?}");
            eprintln!("the restart hit a batch: {}", lines[0]);
        }
        0 => eprintln!("the restart fell between two batches; the run completed"),
        _ => panic!("unexpected exit code: {run:?}"),
    }

    let db = TestDb::reconnect(&test_db).await;
    let after = db.snapshot().await;
    let mut gone = 0;
    for uuid in rows.owned.keys() {
        match rows.presence(uuid, &after) {
            Presence::Whole => {}
            Presence::Gone => {
                assert!(
                    population.purgeable.contains(uuid),
                    "{uuid} is gone but was not purgeable"
                );
                gone += 1;
            }
            partial => panic!("{uuid} is half purged after the restart: {partial:?}"),
        }
    }
    assert!(gone > 0, "the restart came before any batch committed");
    assert!(orphans(&after).is_empty(), "{:?}", orphans(&after));
    assert!(rows.lost_permanent_rows(&after).is_empty());

    let rerun = nova_purge_tests::purge_json(&test_db, &["--yes"]);
    assert_eq!(rerun.code, 0, "{rerun:?}");
    let last = db.snapshot().await;
    for uuid in rows.owned.keys() {
        let expected = if population.purgeable.contains(uuid) {
            Presence::Gone
        } else {
            Presence::Whole
        };
        assert_eq!(rows.presence(uuid, &last), expected, "{uuid}");
    }
    assert!(orphans(&last).is_empty());
}

#[tokio::test]
async fn mariadb_restarts() {
    a_restart_mid_purge_leaves_every_instance_whole_or_gone(Backend::MySql).await;
}

#[tokio::test]
async fn postgresql_restarts() {
    a_restart_mid_purge_leaves_every_instance_whole_or_gone(Backend::Postgres).await;
}
