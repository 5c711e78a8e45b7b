//! `--max-number`, `--batch-size` and `--batch-time`: caps, boundaries and
//! keyset order.

use nova_purge_tests::{insert_instances, purge_json, uuid, InstanceState, TestDb};
use purge_api::Backend;
use purge_fixture::{Fixture, InstanceSpec};

const OLD: InstanceState = InstanceState::Deleted { days_ago: 200 };

/// Five old deleted instances between live ones.
async fn five_candidates(backend: Backend) -> TestDb {
    let fixture = Fixture::full();
    let test_db = TestDb::with_fixture(backend, &fixture).await;
    let mut specs = vec![InstanceSpec::new(uuid(100), InstanceState::Live)];
    specs.extend((1..=5).map(|n| InstanceSpec::new(uuid(n), OLD)));
    specs.push(InstanceSpec::new(uuid(101), InstanceState::Live));
    insert_instances(&test_db, &fixture, &specs).await;
    test_db
}

async fn max_number_caps_the_run_and_a_rerun_carries_on(backend: Backend) {
    let test_db = five_candidates(backend).await;

    let dry = purge_json(&test_db, &["--dry-run", "--max-number", "2"]);
    assert_eq!(
        dry.code, 3,
        "a capped dry run with more left exits 3: {dry:?}"
    );
    assert_eq!(dry.json()["more_remaining"], true);

    let first = purge_json(
        &test_db,
        &["--yes", "--max-number", "2", "--batch-size", "1"],
    );
    assert_eq!(first.code, 3, "{first:?}");
    let report = first.json();
    assert_eq!(report["instances"], 2);
    assert_eq!(report["batches"], 2);
    assert_eq!(report["more_remaining"], true);
    assert_eq!(report["tables"]["instances"], 2);
    // Keyset order: the lowest ids go first.
    let snapshot = test_db.snapshot().await;
    for (n, present) in [(1, false), (2, false), (3, true), (4, true), (5, true)] {
        assert_eq!(
            !snapshot
                .rows_where("instances", "uuid", &uuid(n))
                .is_empty(),
            present,
            "instance {n}"
        );
    }

    // Exactly the rest: the cap is reached and nothing remains, so exit 0.
    let second = purge_json(
        &test_db,
        &["--yes", "--max-number", "3", "--batch-size", "2"],
    );
    assert_eq!(second.code, 0, "{second:?}");
    let report = second.json();
    assert_eq!(report["instances"], 3);
    assert_eq!(report["batches"], 2);
    assert_eq!(report["more_remaining"], false);

    let third = purge_json(&test_db, &["--yes", "--max-number", "1"]);
    assert_eq!(third.code, 0, "{third:?}");
    assert_eq!(third.json()["instances"], 0);
    let snapshot = test_db.snapshot().await;
    assert_eq!(
        snapshot.rows("instances").len(),
        2,
        "the two live instances remain"
    );
}

async fn batch_size_splits_the_work_into_transactions(backend: Backend) {
    let test_db = five_candidates(backend).await;
    let one_batch = purge_json(&test_db, &["--dry-run", "--batch-size", "5"]);
    assert_eq!(one_batch.json()["batches"], 1);
    let big_batch = purge_json(&test_db, &["--dry-run", "--batch-size", "10000"]);
    assert_eq!(big_batch.json()["batches"], 1);
    let run = purge_json(&test_db, &["--yes", "--batch-size", "2"]);
    assert_eq!(run.code, 0, "{run:?}");
    let report = run.json();
    assert_eq!(report["batches"], 3);
    assert_eq!(report["instances"], 5);
    assert_eq!(report["tables"]["instance_metadata"], 10);
    assert!(report["max_batch_ms"].as_u64().unwrap() <= report["elapsed_ms"].as_u64().unwrap());
}

/// A time target starts with a small batch and at most doubles it, up to
/// `--batch-size`; the report shows the sizes it took.
async fn batch_time_starts_small_and_grows_up_to_the_batch_size(backend: Backend) {
    let fixture = Fixture::full();
    let test_db = TestDb::with_fixture(backend, &fixture).await;
    let mut specs = vec![InstanceSpec::new(uuid(10_000), InstanceState::Live)];
    specs.extend((1..=300).map(|n| InstanceSpec::new(uuid(n), OLD)));
    specs.push(InstanceSpec::new(
        uuid(10_001),
        InstanceState::Deleted { days_ago: 10 },
    ));
    insert_instances(&test_db, &fixture, &specs).await;

    // A generous target on an idle server: the sizes grow 50, 100, then
    // stay at the ceiling.
    let run = purge_json(
        &test_db,
        &["--yes", "--batch-time", "20s", "--batch-size", "100"],
    );
    assert_eq!(run.code, 0, "{run:?}");
    let report = run.json();
    assert_eq!(report["instances"], 300);
    assert_eq!(report["batches"], 4, "50 + 100 + 100 + 50: {report}");
    assert_eq!(
        report["batch_sizes"],
        serde_json::json!({"min": 50, "median": 100, "max": 100})
    );
    let snapshot = test_db.snapshot().await;
    let mut left: Vec<Option<String>> = snapshot
        .rows("instances")
        .iter()
        .map(|row| row["uuid"].clone())
        .collect();
    left.sort();
    assert_eq!(
        left,
        vec![Some(uuid(10_000)), Some(uuid(10_001))],
        "the live and the young deleted instance stay"
    );

    // Without a target every batch is --batch-size.
    let fixed = five_candidates(backend).await;
    let run = purge_json(&fixed, &["--yes", "--batch-time", "0", "--batch-size", "2"]);
    assert_eq!(
        run.json()["batch_sizes"],
        serde_json::json!({"min": 1, "median": 2, "max": 2})
    );
}

on_every_backend!(
    max_number_caps_the_run_and_a_rerun_carries_on,
    batch_size_splits_the_work_into_transactions,
    batch_time_starts_small_and_grows_up_to_the_batch_size,
);
