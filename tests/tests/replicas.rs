//! Replicas: a purge must never be pointed at one by mistake. A MariaDB
//! replica (`read_only`, `SHOW SLAVE STATUS`) and a PostgreSQL hot standby
//! are refused for a real purge with one line, before anything is read or
//! deleted; a dry run may read them. Purging the primary reaches the
//! replica through replication. A replica that falls behind pauses the
//! purge (`--max-replication-lag`); one that cannot be reached stops it,
//! unless ignored. Private servers of the test lab.

use std::time::Duration;

use nova_purge_tests::servers::{claim_port, wait_for, MariaDbReplication, PostgresReplication};
use nova_purge_tests::{
    insert_instances, nova_purge, server::server_url, spawn_nova_purge, uuid, InstanceState,
    Spawned, TestDb,
};
use purge_api::Backend;
use purge_fixture::{Fixture, InstanceSpec};

const OLD: InstanceState = InstanceState::Deleted { days_ago: 200 };

/// A Nova cell database with two purgeable instances and a live one on
/// `primary`, and its name.
async fn cell_on(backend: Backend, primary: String) -> TestDb {
    let fixture = Fixture::full();
    let test_db = TestDb::empty_on(backend, primary).await;
    fixture.create(&test_db.db).await.expect("the fixture");
    insert_instances(
        &test_db,
        &fixture,
        &[
            InstanceSpec::new(uuid(1), OLD),
            InstanceSpec::new(uuid(2), OLD),
            InstanceSpec::new(uuid(3), InstanceState::Live),
        ],
    )
    .await;
    test_db
}

fn purge(url: &str, extra: &[&str]) -> nova_purge_tests::Run {
    let mut args = vec!["--database-url", url, "purge", "--format", "json"];
    args.extend_from_slice(extra);
    nova_purge(&args, &[])
}

#[tokio::test]
async fn a_mariadb_replica_is_refused_and_the_primary_purged() {
    let topology = MariaDbReplication::start();
    let cell = cell_on(Backend::MySql, topology.primary.url()).await;
    topology.wait_caught_up();
    let on_replica = format!("{}/{}", topology.replica.url(), cell.name);

    let refused = purge(&on_replica, &["--yes"]);
    assert_eq!(refused.code, 2, "{refused:?}");
    assert_eq!(refused.stderr.lines().count(), 1, "{refused:?}");
    assert!(
        refused.stderr.contains("replica") || refused.stderr.contains("read_only"),
        "{refused:?}"
    );
    assert!(
        refused.stderr.contains("only on the primary"),
        "{refused:?}"
    );

    let dry = purge(&on_replica, &["--dry-run"]);
    assert_eq!(dry.code, 0, "{dry:?}");
    assert_eq!(dry.json()["instances"], 2);

    let done = purge(&cell.url, &["--yes", "--replica-url", &on_replica]);
    assert_eq!(done.code, 0, "{done:?}");
    assert_eq!(done.json()["instances"], 2);
    topology.wait_caught_up();
    let left = topology
        .replica
        .sql(&format!("SELECT COUNT(*) FROM `{}`.instances", cell.name));
    assert_eq!(
        left.trim(),
        "1",
        "the replica still has the purged instances"
    );
}

#[tokio::test]
async fn a_postgresql_standby_is_refused_and_the_primary_purged() {
    let topology = PostgresReplication::start();
    let cell = cell_on(Backend::Postgres, topology.primary.url()).await;
    topology.wait_caught_up();
    let on_standby = format!("{}/{}", topology.replica.url(), cell.name);

    let refused = purge(&on_standby, &["--yes"]);
    assert_eq!(refused.code, 2, "{refused:?}");
    assert_eq!(refused.stderr.lines().count(), 1, "{refused:?}");
    assert!(refused.stderr.contains("hot standby"), "{refused:?}");

    let dry = purge(&on_standby, &["--dry-run"]);
    assert_eq!(dry.code, 0, "{dry:?}");
    assert_eq!(dry.json()["instances"], 2);

    let done = purge(&cell.url, &["--yes"]);
    assert_eq!(done.code, 0, "{done:?}");
    topology.wait_caught_up();
    let left = topology
        .replica
        .sql_in(&cell.name, "SELECT COUNT(*) FROM instances");
    assert_eq!(
        left.trim(),
        "1",
        "the standby still has the purged instances"
    );
}

/// The arguments of a purge of `cell` that watches replication lag with a
/// limit of a second and purges one instance every 400 ms: the limit is
/// reached after a few batches.
fn paced<'a>(cell: &'a TestDb, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "--database-url",
        &cell.url,
        "purge",
        "--format",
        "json",
        "--yes",
        "--max-replication-lag",
        "1s",
        "--batch-size",
        "1",
        "--batch-time",
        "0",
        "--sleep",
        "400ms",
    ];
    args.extend_from_slice(extra);
    args
}

/// A cell database with `old` purgeable instances and a live one.
async fn cell_with(backend: Backend, primary: String, old: u32) -> TestDb {
    let fixture = Fixture::full();
    let test_db = TestDb::empty_on(backend, primary).await;
    fixture.create(&test_db.db).await.expect("the fixture");
    let mut specs: Vec<InstanceSpec> = (1..=old).map(|n| InstanceSpec::new(uuid(n), OLD)).collect();
    specs.push(InstanceSpec::new(uuid(1000), InstanceState::Live));
    insert_instances(&test_db, &fixture, &specs).await;
    test_db
}

/// Waits until `run` says it is pausing, and returns what it said.
fn wait_for_pause(run: &Spawned) -> String {
    wait_for("the purge to pause", Duration::from_secs(60), || {
        let stderr = run.stderr_so_far();
        match stderr
            .lines()
            .find(|l| l.contains("pausing before the next batch"))
        {
            Some(line) => Ok(line.to_owned()),
            None => Err(stderr),
        }
    })
}

/// Candidates left in the cell, as the primary counts them.
async fn instances_left(cell: &TestDb) -> usize {
    cell.snapshot().await.rows("instances").len()
}

#[tokio::test]
async fn a_stopped_mariadb_replica_pauses_the_purge_until_it_catches_up() {
    let topology = MariaDbReplication::start();
    let cell = cell_with(Backend::MySql, topology.primary.url(), 8).await;
    topology.wait_caught_up();
    let on_replica = format!("{}/{}", topology.replica.url(), cell.name);
    topology.stop_sql_thread();

    // The replica stops applying: the purge goes on until it is a second
    // behind, then waits; Ctrl-C while it waits exits as it always does.
    let run = spawn_nova_purge(&paced(&cell, &["--replica-url", &on_replica]), &[]);
    let pause = wait_for_pause(&run);
    assert!(
        pause.contains(&on_replica) && pause.contains("behind"),
        "{pause}"
    );
    let left = instances_left(&cell).await;
    assert!((2..9).contains(&left), "some purged, some left: {left}");
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        instances_left(&cell).await,
        left,
        "nothing deleted while paused"
    );
    run.signal("INT");
    let interrupted = run.wait();
    assert_eq!(interrupted.code, 130, "{interrupted:?}");
    let report = interrupted.json();
    assert_eq!(report["interrupted"], true);
    assert!(report["paused_ms"].as_u64().unwrap() >= 1000, "{report}");
    assert_eq!(
        instances_left(&cell).await,
        left,
        "nothing deleted after Ctrl-C"
    );

    // Run again: it waits from the start, and goes on once the replica
    // applies again.
    let run = spawn_nova_purge(&paced(&cell, &["--replica-url", &on_replica]), &[]);
    wait_for_pause(&run);
    topology.start_sql_thread();
    let done = run.wait();
    assert_eq!(done.code, 0, "{done:?}");
    let report = done.json();
    assert_eq!(report["instances"].as_u64().unwrap() as usize, left - 1);
    assert!(report["paused_ms"].as_u64().unwrap() > 0, "{report}");
    topology.wait_caught_up();
    let on_the_replica = topology
        .replica
        .sql(&format!("SELECT uuid FROM `{}`.instances", cell.name));
    assert_eq!(on_the_replica.trim(), uuid(1000), "only the live instance");
}

#[tokio::test]
async fn an_unreachable_replica_stops_the_purge_unless_ignored() {
    let cell = cell_with(Backend::MySql, server_url(Backend::MySql), 3).await;
    let port = claim_port();
    let nowhere = format!("mysql://root@127.0.0.1:{}/nova", port.number());
    let watched = purge(&cell.url, &["--yes", "--replica-url", &nowhere]);
    assert_eq!(watched.code, 1, "{watched:?}");
    assert_eq!(watched.stderr.lines().count(), 1, "{watched:?}");
    assert!(
        watched.stderr.contains(&nowhere)
            && watched.stderr.contains("--ignore-unreachable-replicas"),
        "{watched:?}"
    );
    assert_eq!(instances_left(&cell).await, 4, "nothing deleted");

    let ignored = purge(
        &cell.url,
        &[
            "--yes",
            "--replica-url",
            &nowhere,
            "--ignore-unreachable-replicas",
        ],
    );
    assert_eq!(ignored.code, 0, "{ignored:?}");
    assert!(ignored.stderr.contains("not watched"), "{ignored:?}");
    assert_eq!(ignored.json()["instances"], 3);
}

#[tokio::test]
async fn a_paused_postgresql_standby_pauses_the_purge_and_a_lost_one_stops_it() {
    let mut topology = PostgresReplication::start();
    let cell = cell_with(Backend::Postgres, topology.primary.url(), 12).await;
    topology.wait_caught_up();
    topology.pause_replay();

    // The standby stops replaying: the primary sees its replay position
    // stand still, and the purge waits; resumed, it goes on.
    let run = spawn_nova_purge(&paced(&cell, &[]), &[]);
    let pause = wait_for_pause(&run);
    assert!(
        pause.contains("standby replica") && pause.contains("behind"),
        "{pause}"
    );
    let left = instances_left(&cell).await;
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        instances_left(&cell).await,
        left,
        "nothing deleted while paused"
    );
    topology.resume_replay();
    let done = run.wait();
    assert_eq!(done.code, 0, "{done:?}");
    let report = done.json();
    assert_eq!(report["instances"], 12);
    assert!(report["paused_ms"].as_u64().unwrap() > 0, "{report}");

    // A standby that disconnects while the purge waits stops it, unless
    // told to ignore it.
    let more = cell_with(Backend::Postgres, topology.primary.url(), 8).await;
    topology.wait_caught_up();
    topology.pause_replay();
    let run = spawn_nova_purge(&paced(&more, &[]), &[]);
    wait_for_pause(&run);
    let left = instances_left(&more).await;
    topology.replica.stop();
    let stopped = run.wait();
    assert_eq!(stopped.code, 1, "{stopped:?}");
    let last = stopped.stderr.lines().last().unwrap_or_default().to_owned();
    assert!(
        last.contains("standby replica is no longer connected")
            && last.contains("--ignore-unreachable-replicas"),
        "{stopped:?}"
    );
    assert_eq!(instances_left(&more).await, left, "nothing more deleted");
    let ignored = nova_purge(&paced(&more, &["--ignore-unreachable-replicas"]), &[]);
    assert_eq!(ignored.code, 0, "{ignored:?}");
    assert_eq!(
        ignored.json()["instances"].as_u64().unwrap() as usize,
        left - 1
    );
}
