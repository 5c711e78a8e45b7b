//! `create-indexes` on the lab's three-node MariaDB Galera cluster, where an
//! ALTER under the default method (TOI) holds every node's writes:
//!
//! 1. without `--galera-rsu` it is refused in one line, and no node has
//!    the index;
//! 2. with it, the index is built on the node given only (RSU is local),
//!    then on each other node in turn; the cluster stays synced and a rerun
//!    on any node has nothing to do.

use std::time::Instant;

use nova_purge_tests::servers::Galera;
use nova_purge_tests::{nova_purge, TestDb};
use purge_api::Backend;
use purge_fixture::Fixture;

const INDEX: &str = "nova_purge_migrations_instance_uuid";

/// Whether node `n` has the index, from its own catalogue.
fn has_index(galera: &Galera, n: usize, database: &str) -> bool {
    let found = galera.node(n).sql(&format!(
        "SELECT COUNT(*) FROM information_schema.statistics WHERE table_schema = '{database}' \
         AND table_name = 'migrations' AND index_name = '{INDEX}' AND seq_in_index = 1 \
         AND column_name = 'instance_uuid'"
    ));
    found.trim() == "1"
}

#[tokio::test]
async fn create_indexes_on_a_galera_cluster() {
    let started = Instant::now();
    let mut galera = Galera::start();
    let cell = TestDb::empty_on(Backend::MySql, galera.url(1)).await;
    Fixture::full().create(&cell.db).await.expect("the fixture");
    // migrations.instance_uuid unindexed, as Nova leaves it on PostgreSQL
    // (MariaDB indexes the foreign key by itself): on every node, by TOI.
    cell.execute("ALTER TABLE migrations DROP FOREIGN KEY migrations_instance_uuid_fkey")
        .await;
    cell.execute("ALTER TABLE migrations DROP INDEX migrations_instance_uuid_fkey")
        .await;
    galera.wait_synced();
    let nodes: Vec<String> = (1..=3)
        .map(|n| format!("{}/{}", galera.url(n), cell.name))
        .collect();
    let on_node = |n: usize| nodes[n - 1].as_str();

    // 1. Refused without --galera-rsu, dry run included; nothing created.
    for args in [&["--yes"][..], &["--dry-run"][..]] {
        let mut all = vec!["--database-url", on_node(1), "create-indexes"];
        all.extend_from_slice(args);
        let refused = nova_purge(&all, &[]);
        assert_eq!(refused.code, 2, "{refused:?}");
        assert_eq!(refused.stderr.lines().count(), 1, "{refused:?}");
        for needle in [
            "3-node Galera cluster",
            "--galera-rsu",
            "pt-online-schema-change",
            "nothing was created",
        ] {
            assert!(refused.stderr.contains(needle), "{needle}: {refused:?}");
        }
    }
    for n in 1..=3 {
        assert!(!has_index(&galera, n, &cell.name), "node {n} has the index");
    }

    // 2. --galera-rsu: the dry run shows the session method, then node by
    // node; RSU does not replicate the ALTER.
    let dry = nova_purge(
        &[
            "--database-url",
            on_node(1),
            "create-indexes",
            "--galera-rsu",
            "--dry-run",
        ],
        &[],
    );
    assert_eq!(dry.code, 0, "{dry:?}");
    assert!(
        dry.stdout.contains("SET SESSION wsrep_OSU_method = 'RSU';"),
        "{}",
        dry.stdout
    );
    assert!(
        dry.stdout.contains("ALGORITHM=INPLACE, LOCK=NONE;"),
        "{}",
        dry.stdout
    );
    for n in 1..=3 {
        let run = nova_purge(
            &[
                "--database-url",
                on_node(n),
                "create-indexes",
                "--galera-rsu",
                "--yes",
                "--format",
                "json",
            ],
            &[],
        );
        assert_eq!(run.code, 0, "node {n}: {run:?}");
        assert_eq!(run.json()["databases"][0]["method"], "galera-rsu");
        assert_eq!(
            run.json()["databases"][0]["indexes"][0]["outcome"],
            "created",
            "node {n}: {run:?}"
        );
        galera.wait_synced();
        for m in 1..=3 {
            assert_eq!(
                has_index(&galera, m, &cell.name),
                m <= n,
                "node {m} after node {n}"
            );
        }
    }
    for n in 1..=3 {
        let rerun = nova_purge(
            &["--database-url", on_node(n), "create-indexes", "--yes"],
            &[],
        );
        assert_eq!(rerun.code, 0, "node {n}: {rerun:?}");
        assert!(
            rerun.stdout.contains("nothing to do"),
            "node {n}: {rerun:?}"
        );
    }
    eprintln!(
        "galera: create-indexes refused under TOI, built node by node under RSU ({:.0?})",
        started.elapsed()
    );
}
