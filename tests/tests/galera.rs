//! A three-node MariaDB Galera cluster (the lab's, on loopback), as most
//! large clouds run Nova's database. One cluster, the scenarios in turn:
//!
//! 1. a node that has left the primary component is refused, in one line;
//! 2. a purge through node 1 while Nova-like writers add late rows for the
//!    instances being purged on nodes 2 and 3 (certification conflicts are
//!    retried): every node ends with the same rows, every instance whole or
//!    gone, no orphan;
//! 3. a cluster that bounds a transaction's write set (`wsrep_max_ws_rows`):
//!    the batches fit, and the run never fails on them;
//! 4. the node nova-purge talks to is SIGKILLed in the middle of a purge:
//!    one error line; a rerun through another node converges, and the
//!    killed node, restarted, holds exactly the same rows.
//!
//! A second cluster shows flow-control pacing: a node that cannot apply
//! pauses the cluster, and the purge waits before its next batch.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use nova_purge_tests::servers::Galera;
use nova_purge_tests::{
    nova_purge, orphans, populate, spawn_nova_purge, InstanceRows, Population, Presence, Rng,
    Snapshot, TestDb,
};
use purge_api::{Backend, Db};
use purge_engine::database::errors::{is_foreign_key_violation, is_transient};
use purge_fixture::{insert, Fixture, Value};

/// Whole-or-gone, no orphan, nothing else changed, on one node.
fn assert_converged(node: &str, before: &Snapshot, after: &Snapshot, population: &Population) {
    let rows = InstanceRows::of(before);
    for uuid in &population.purgeable {
        assert!(
            after.rows_where("instances", "uuid", uuid).is_empty(),
            "{node}: purgeable {uuid} is still there"
        );
    }
    for uuid in population.blocked.iter().chain(&population.untouchable) {
        assert_eq!(
            rows.presence(uuid, after),
            Presence::Whole,
            "{node}: {uuid} lost rows"
        );
    }
    let orphans = orphans(after);
    assert!(orphans.is_empty(), "{node}: orphans {orphans:#?}");
    let lost = rows.lost_permanent_rows(after);
    assert!(lost.is_empty(), "{node}: shared rows lost {lost:#?}");
}

/// Late faults for the instances being purged, written on another node
/// until `stop`: what Nova's computes do. Returns (committed, refused).
async fn late_writer(db: Db, targets: Vec<String>, stop: Arc<AtomicBool>, seed: u64) -> (u64, u64) {
    let mut rng = Rng::new(seed);
    let (mut committed, mut refused) = (0, 0);
    while !stop.load(Ordering::SeqCst) {
        let uuid = rng.pick(&targets).clone();
        let now = Utc::now().naive_utc();
        let outcome = async {
            let mut tx = db.begin_write().await?;
            insert(
                &mut tx,
                "instance_faults",
                &[
                    ("instance_uuid", Value::Text(&uuid)),
                    ("code", Value::Int(500)),
                    ("message", Value::Text("late")),
                    ("created_at", Value::Time(now)),
                    ("deleted", Value::Int(0)),
                ],
            )
            .await?;
            tx.commit().await
        }
        .await;
        match outcome {
            Ok(()) => committed += 1,
            // The instance was purged under it, or its write set lost
            // certification against the purge's: what Nova would meet.
            Err(e) if is_foreign_key_violation(&e) || is_transient(&e) => refused += 1,
            Err(e) => panic!("a late write failed otherwise: {e}"),
        }
        tokio::time::sleep(Duration::from_millis(rng.below(5))).await;
    }
    (committed, refused)
}

async fn snapshot_on(cell: &TestDb, galera: &Galera, n: usize) -> Snapshot {
    TestDb::on_server(cell, &galera.url(n))
        .await
        .snapshot()
        .await
}

#[tokio::test]
async fn nova_purge_on_a_galera_cluster() {
    let started = Instant::now();
    let mut galera = Galera::start();
    let fixture = Fixture::full();
    let cell = TestDb::empty_on(Backend::MySql, galera.url(1)).await;
    fixture.create(&cell.db).await.expect("the fixture");
    let on_node = |n: usize| format!("{}/{}", galera.url(n), cell.name);
    let (node1, node2, node3) = (on_node(1), on_node(2), on_node(3));

    // 1. A node outside the primary component is refused.
    galera.isolate(3);
    let refused = nova_purge(&["--database-url", &node3, "purge", "--dry-run"], &[]);
    assert_eq!(refused.code, 2, "{refused:?}");
    assert_eq!(refused.stderr.lines().count(), 1, "{refused:?}");
    assert!(
        refused.stderr.contains("not in the primary component"),
        "{refused:?}"
    );
    galera.rejoin(3);
    eprintln!(
        "galera: non-primary node refused ({:.0?})",
        started.elapsed()
    );

    // 2. A purge through node 1, Nova writing on nodes 2 and 3.
    let population = populate(&cell, &fixture, 80, 0).await;
    let before = snapshot_on(&cell, &galera, 1).await;
    let stop = Arc::new(AtomicBool::new(false));
    let mut writers = Vec::new();
    for (i, n) in [2, 3].into_iter().enumerate() {
        let db = TestDb::on_server(&cell, &galera.url(n)).await.db.clone();
        let targets = population.purgeable.clone();
        writers.push(tokio::spawn(late_writer(
            db,
            targets,
            Arc::clone(&stop),
            i as u64 + 7,
        )));
    }
    let run = tokio::task::spawn_blocking({
        let node1 = node1.clone();
        move || {
            nova_purge(
                &[
                    "--database-url",
                    &node1,
                    "purge",
                    "--yes",
                    "--batch-size",
                    "4",
                    "--format",
                    "json",
                ],
                &[],
            )
        }
    })
    .await
    .unwrap();
    stop.store(true, Ordering::SeqCst);
    let mut late = (0, 0);
    for writer in writers {
        let (committed, refused) = writer.await.unwrap();
        late = (late.0 + committed, late.1 + refused);
    }
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        run.json()["instances"].as_u64(),
        Some(population.purgeable.len() as u64)
    );
    galera.wait_synced();
    let after = snapshot_on(&cell, &galera, 1).await;
    for n in 1..=3 {
        let on_n = snapshot_on(&cell, &galera, n).await;
        assert_eq!(on_n, after, "node {n} differs from node 1");
        assert_converged(&format!("node {n}"), &before, &on_n, &population);
    }
    let retries = run
        .stderr
        .lines()
        .filter(|l| l.contains("retrying"))
        .count();
    eprintln!(
        "galera: purge through node 1 with writers on nodes 2 and 3: {} instances, late faults committed {}, refused {}, {retries} batch retries ({:.0?})",
        run.json()["instances"], late.0, late.1, started.elapsed()
    );

    // 3. A write-set limit: the batches fit.
    for n in 1..=3 {
        galera.node(n).sql("SET GLOBAL wsrep_max_ws_rows = 150");
    }
    let population = populate(&cell, &fixture, 40, 10_000).await;
    let run = nova_purge(
        &[
            "--database-url",
            &node1,
            "purge",
            "--yes",
            "--format",
            "json",
        ],
        &[],
    );
    assert_eq!(run.code, 0, "{run:?}");
    let report = run.json();
    assert_eq!(
        report["instances"].as_u64(),
        Some(population.purgeable.len() as u64)
    );
    let rows: u64 = report["tables"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    let batches = report["batches"].as_u64().unwrap();
    assert!(
        rows / batches <= 150,
        "{rows} rows in {batches} batches: a batch exceeded the limit"
    );
    for n in 1..=3 {
        galera.node(n).sql("SET GLOBAL wsrep_max_ws_rows = 0");
    }
    eprintln!(
        "galera: wsrep_max_ws_rows = 150: {rows} rows in {batches} batches, none refused as too large: {} ({:.0?})",
        !run.stderr.contains("too large"),
        started.elapsed()
    );

    // 4. The node nova-purge talks to dies in the middle of a purge.
    let population = populate(&cell, &fixture, 200, 20_000).await;
    galera.wait_synced();
    let before = snapshot_on(&cell, &galera, 2).await;
    let mut child = spawn_nova_purge(
        &[
            "--database-url",
            &node1,
            "purge",
            "--yes",
            "--batch-size",
            "2",
            "--sleep",
            "20ms",
        ],
        &[],
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    galera.kill(1);
    let killed_at = Instant::now();
    while !child.has_exited() {
        assert!(
            killed_at.elapsed() < Duration::from_secs(60),
            "nova-purge hung"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let died = child.wait();
    assert_eq!(died.code, 1, "{died:?}");
    assert_eq!(
        died.stderr
            .lines()
            .filter(|l| l.starts_with("error: "))
            .count(),
        1,
        "{died:?}"
    );
    galera.wait_cluster_size(2, 2);
    let rerun = nova_purge(
        &[
            "--database-url",
            &node2,
            "purge",
            "--yes",
            "--format",
            "json",
        ],
        &[],
    );
    assert_eq!(rerun.code, 0, "{rerun:?}");
    let after = snapshot_on(&cell, &galera, 2).await;
    assert_converged("node 2", &before, &after, &population);
    assert_eq!(
        snapshot_on(&cell, &galera, 3).await,
        after,
        "node 3 differs"
    );
    galera.restart(1);
    assert_eq!(
        snapshot_on(&cell, &galera, 1).await,
        after,
        "the restarted node 1 differs"
    );
    eprintln!(
        "galera: node 1 killed mid-purge ({}); rerun through node 2 purged {} more; node 1 rejoined with the same rows ({:.0?})",
        died.stderr.trim(),
        rerun.json()["instances"],
        started.elapsed()
    );
    let _ = node3;
}

/// Flow control: a node that cannot apply (a `LOCK TABLES` on node 3
/// holds its applier back) makes the cluster pause every writer. The
/// purge through node 1 sees the pause and waits it out before its next
/// batch, says why, counts the wait, and ends with every node the same.
#[tokio::test]
async fn a_flow_control_pause_holds_the_next_batch() {
    let mut galera = Galera::start();
    let fixture = Fixture::full();
    let cell = TestDb::empty_on(Backend::MySql, galera.url(1)).await;
    fixture.create(&cell.db).await.expect("the fixture");
    let population = populate(&cell, &fixture, 30, 0).await;
    galera.wait_synced();
    let before = snapshot_on(&cell, &galera, 1).await;
    // Node 3 asks the cluster to pause once two write sets wait for it.
    galera
        .node(3)
        .sql("SET GLOBAL wsrep_provider_options = 'gcs.fc_limit=2'");
    let lock = format!(
        "--execute=LOCK TABLES `{}`.instances WRITE; SELECT SLEEP(6)",
        cell.name
    );
    let mut holder = galera
        .node(3)
        .client()
        .arg(lock)
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("the lock holder");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let node1 = format!("{}/{}", galera.url(1), cell.name);
    let run = nova_purge(
        &[
            "--database-url",
            &node1,
            "purge",
            "--yes",
            "--format",
            "json",
            "--batch-size",
            "1",
            "--batch-time",
            "0",
        ],
        &[],
    );
    holder.wait().expect("the lock holder ends");
    assert_eq!(run.code, 0, "{run:?}");
    let pause = run
        .stderr
        .lines()
        .find(|l| l.contains("pausing before the next batch"))
        .unwrap_or_else(|| panic!("no pause logged: {run:?}"));
    assert!(pause.contains("flow control"), "{pause}");
    let report = run.json();
    assert!(report["paused_ms"].as_u64().unwrap() >= 1000, "{report}");
    galera.wait_synced();
    let after = snapshot_on(&cell, &galera, 1).await;
    assert_converged("node 1", &before, &after, &population);
    for n in [2, 3] {
        assert_eq!(
            snapshot_on(&cell, &galera, n).await,
            after,
            "node {n} differs"
        );
    }
}
