//! Replicas: a purge must never be pointed at one by mistake. A MariaDB
//! replica (`read_only`, `SHOW SLAVE STATUS`) and a PostgreSQL hot standby
//! are refused for a real purge with one line, before anything is read or
//! deleted; a dry run may read them. Purging the primary reaches the
//! replica through replication. Private servers of the test lab.

use nova_purge_tests::servers::{MariaDbReplication, PostgresReplication};
use nova_purge_tests::{insert_instances, nova_purge, uuid, InstanceState, TestDb};
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
