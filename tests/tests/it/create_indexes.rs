//! `nova-purge create-indexes`: the indexes `check` reports missing,
//! created online and proven in the catalogue; a dry run that changes
//! nothing; a rerun with nothing to do; a lock wait that times out and
//! leaves nothing half-done (or, on PostgreSQL, an INVALID index the next
//! run rebuilds); a name someone else took; every cell of a deployment.

use std::collections::{BTreeMap, BTreeSet};

use nova_purge_tests::{
    another_pool, insert_instances, nova_purge, spawn_nova_purge, uuid, InstanceState, Run, TestDb,
};
use purge_api::Backend;
use purge_engine::database::schema::Schema;
use purge_fixture::{Fixture, InstanceSpec};
use serde_json::Value;

use super::cells::Deployment;

const DONE: i32 = 0;
const ERROR: i32 = 1;
const USAGE: i32 = 2;
const WARNINGS: i32 = 4;
const LOCK_TIMED_OUT: i32 = 8;
const INTERRUPTED: i32 = 130;
const MIGRATIONS_INDEX: &str = "nova_purge_migrations_instance_uuid";

/// One index in the catalogue: its table, name, first column, and whether
/// PostgreSQL may use it (always true elsewhere).
type Index = (String, String, String, bool);

/// Every index of every table, read from the catalogue.
async fn catalogue(test_db: &TestDb) -> BTreeSet<Index> {
    let schema = Schema::inspect(&test_db.db).await.expect("schema");
    let mut tx = test_db.db.begin_read().await.expect("begin");
    let mut indexes = BTreeSet::new();
    for table in schema.tables() {
        let mut stmt = tx.stmt();
        match test_db.backend {
            Backend::Postgres => stmt.push(
                "SELECT c.relname::text, a.attname::text, i.indisvalid FROM pg_index i \
                 JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_class t ON t.oid = i.indrelid \
                 JOIN pg_namespace n ON n.oid = t.relnamespace \
                 JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = i.indkey[0] \
                 WHERE n.nspname = current_schema() AND t.relname = ",
            ),
            Backend::MySql => stmt.push(
                "SELECT index_name, column_name, 1 FROM information_schema.statistics \
                 WHERE table_schema = DATABASE() AND seq_in_index = 1 AND table_name = ",
            ),
            Backend::Sqlite => stmt.push("SELECT il.name, ii.name, 1 FROM pragma_index_list("),
        };
        stmt.bind_text(table);
        if test_db.backend == Backend::Sqlite {
            stmt.push(") il JOIN pragma_index_info(il.name) ii WHERE ii.seqno = 0");
        }
        for row in tx.fetch_all(&stmt).await.expect("catalogue") {
            let text = |i: usize| row[i].to_text().unwrap_or_default();
            indexes.insert((
                table.to_owned(),
                text(0),
                text(1),
                row[2].as_i64() == Some(1),
            ));
        }
    }
    tx.rollback().await.expect("rollback");
    indexes
}

/// The index named `name`, if the catalogue has it.
fn find<'a>(indexes: &'a BTreeSet<Index>, name: &str) -> Option<&'a Index> {
    indexes.iter().find(|(_, n, _, _)| n == name)
}

/// Drops every index that starts with `table.column` (and, on MariaDB,
/// the foreign key that needs one): Nova's schema as PostgreSQL and SQLite
/// have it, on MariaDB too, which indexes every foreign key by itself.
async fn unindex(test_db: &TestDb, table: &str, column: &str) {
    if test_db.backend == Backend::MySql {
        test_db
            .execute(&format!(
                "ALTER TABLE {table} DROP FOREIGN KEY {table}_{column}_fkey"
            ))
            .await;
    }
    for (_, name, _, _) in catalogue(test_db)
        .await
        .iter()
        .filter(|(t, _, c, _)| t == table && c == column)
    {
        let drop = match test_db.backend {
            Backend::MySql => format!("ALTER TABLE {table} DROP INDEX `{name}`"),
            _ => format!("DROP INDEX \"{name}\""),
        };
        test_db.execute(&drop).await;
    }
}

/// The fixture with old deleted, young deleted and live instances, and
/// `migrations.instance_uuid` unindexed on every backend.
async fn unindexed_cell(backend: Backend) -> TestDb {
    let fixture = Fixture::full();
    let test_db = TestDb::with_fixture(backend, &fixture).await;
    unindex(&test_db, "migrations", "instance_uuid").await;
    let old = InstanceState::Deleted { days_ago: 200 };
    insert_instances(
        &test_db,
        &fixture,
        &[
            InstanceSpec::new(uuid(1), old),
            InstanceSpec::new(uuid(2), old),
            InstanceSpec::new(uuid(3), InstanceState::Deleted { days_ago: 5 }),
            InstanceSpec::new(uuid(4), InstanceState::Live),
        ],
    )
    .await;
    test_db
}

/// What `check` reports missing, as `table.column`.
fn missing_in_check(test_db: &TestDb) -> Vec<String> {
    let run = nova_purge(
        &["--database-url", &test_db.url, "check", "--format", "json"],
        &[],
    );
    let mut missing: Vec<String> = run.json()["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["kind"] == "missing-index")
        .map(|f| {
            format!(
                "{}.{}",
                f["table"].as_str().unwrap(),
                f["column"].as_str().unwrap()
            )
        })
        .collect();
    missing.sort();
    missing
}

/// The indexes Nova leaves out on this backend, plus the one the test
/// dropped.
fn expected_missing(backend: Backend) -> Vec<String> {
    let mut missing = vec!["migrations.instance_uuid".to_owned()];
    if backend != Backend::MySql {
        missing.insert(0, "instance_actions_events.action_id".to_owned());
    }
    missing
}

fn create_indexes(test_db: &TestDb, args: &[&str]) -> Run {
    let mut all = vec!["--database-url", &test_db.url, "create-indexes"];
    all.extend_from_slice(args);
    nova_purge(&all, &[])
}

/// The one database's indexes in a JSON report, by `table.column`.
fn reported(run: &Run) -> BTreeMap<String, Value> {
    let report = run.json();
    let databases = report["databases"].as_array().expect("databases");
    assert_eq!(databases.len(), 1, "{report:#}");
    databases[0]["indexes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            let key = format!(
                "{}.{}",
                i["table"].as_str().unwrap(),
                i["column"].as_str().unwrap()
            );
            (key, i.clone())
        })
        .collect()
}

/// The statement that creates the migrations index, exactly.
fn migrations_statement(backend: Backend) -> &'static str {
    match backend {
        Backend::Postgres => {
            r#"CREATE INDEX CONCURRENTLY "nova_purge_migrations_instance_uuid" ON "migrations" ("instance_uuid")"#
        }
        Backend::MySql => {
            "ALTER TABLE `migrations` ADD INDEX `nova_purge_migrations_instance_uuid` (`instance_uuid`), ALGORITHM=INPLACE, LOCK=NONE"
        }
        Backend::Sqlite => {
            r#"CREATE INDEX "nova_purge_migrations_instance_uuid" ON "migrations" ("instance_uuid")"#
        }
    }
}

async fn missing_indexes_are_created_online_and_a_rerun_has_nothing_to_do(backend: Backend) {
    let test_db = unindexed_cell(backend).await;
    assert_eq!(missing_in_check(&test_db), expected_missing(backend));
    let would_purge = nova_purge(
        &[
            "--database-url",
            &test_db.url,
            "purge",
            "--dry-run",
            "--format",
            "json",
        ],
        &[],
    )
    .json();
    let rows_before = test_db.snapshot().await;
    let indexes_before = catalogue(&test_db).await;

    // A dry run prints the exact statements and changes nothing.
    let dry = create_indexes(&test_db, &["--dry-run", "--format", "json"]);
    assert_eq!(dry.code, DONE, "{dry:?}");
    let planned = reported(&dry);
    assert_eq!(
        planned.keys().cloned().collect::<Vec<_>>(),
        expected_missing(backend),
        "{dry:?}"
    );
    let migrations = &planned["migrations.instance_uuid"];
    assert_eq!(migrations["name"], MIGRATIONS_INDEX);
    assert_eq!(migrations["outcome"], "would-create");
    assert_eq!(
        migrations["statements"],
        serde_json::json!([migrations_statement(backend)])
    );
    let text = create_indexes(&test_db, &["--dry-run"]);
    assert_eq!(text.code, DONE, "{text:?}");
    assert!(text.stdout.contains("DRY RUN"), "{}", text.stdout);
    assert!(
        text.stdout
            .contains(&format!("{};", migrations_statement(backend))),
        "{}",
        text.stdout
    );
    assert_eq!(
        catalogue(&test_db).await,
        indexes_before,
        "the dry run created an index"
    );

    // Without --yes and without a terminal: refused, nothing created.
    let refused = create_indexes(&test_db, &[]);
    assert_eq!(refused.code, USAGE, "{refused:?}");
    assert_eq!(refused.stderr.lines().count(), 1, "{refused:?}");
    assert!(
        refused.stderr.starts_with(
            "error: refusing to create indexes without confirmation: standard input is not a terminal; pass --yes"
        ),
        "{refused:?}"
    );
    assert!(refused.stdout.is_empty(), "{refused:?}");
    assert_eq!(
        catalogue(&test_db).await,
        indexes_before,
        "the refusal created an index"
    );

    // With --yes: created, as the catalogue shows, and check is content.
    let run = create_indexes(&test_db, &["--yes", "--format", "json"]);
    assert_eq!(run.code, DONE, "{run:?}");
    for (lookup, index) in reported(&run) {
        assert_eq!(index["outcome"], "created", "{lookup}: {index:#}");
    }
    let indexes_after = catalogue(&test_db).await;
    let created = find(&indexes_after, MIGRATIONS_INDEX).expect("the index is in the catalogue");
    assert_eq!(
        created,
        &(
            "migrations".to_owned(),
            MIGRATIONS_INDEX.to_owned(),
            "instance_uuid".to_owned(),
            true
        ),
        "on migrations, leading with instance_uuid, valid"
    );
    let added: Vec<&Index> = indexes_after.difference(&indexes_before).collect();
    assert_eq!(added.len(), expected_missing(backend).len(), "{added:?}");
    assert!(added
        .iter()
        .all(|(_, name, _, valid)| name.starts_with("nova_purge_") && *valid));
    assert_eq!(test_db.snapshot().await, rows_before, "rows changed");
    assert!(missing_in_check(&test_db).is_empty());
    let check = nova_purge(&["--database-url", &test_db.url, "check"], &[]);
    assert!(check.code == DONE || check.code == WARNINGS, "{check:?}");

    // A rerun finds nothing to do, and says so.
    let rerun = create_indexes(&test_db, &["--yes"]);
    assert_eq!(rerun.code, DONE, "{rerun:?}");
    assert!(rerun.stdout.contains("nothing to do"), "{}", rerun.stdout);
    assert_eq!(catalogue(&test_db).await, indexes_after);

    // A purge afterwards removes the rows the dry run before counted.
    let before = test_db.snapshot().await;
    let purged = nova_purge(
        &[
            "--database-url",
            &test_db.url,
            "purge",
            "--yes",
            "--format",
            "json",
        ],
        &[],
    );
    assert_eq!(purged.code, DONE, "{purged:?}");
    let after = test_db.snapshot().await;
    assert!(before.added_in(&after).is_empty());
    let removed: BTreeMap<String, u64> = before
        .removed_in(&after)
        .into_iter()
        .map(|(table, rows)| (table, rows.len() as u64))
        .collect();
    let counted: BTreeMap<String, u64> = would_purge["tables"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(table, rows)| (table.clone(), rows.as_u64().unwrap()))
        .filter(|(_, rows)| *rows > 0)
        .collect();
    assert_eq!(removed, counted);
    assert_eq!(purged.json()["tables"], would_purge["tables"]);
    for gone in [uuid(1), uuid(2)] {
        assert!(after.rows_where("instances", "uuid", &gone).is_empty());
    }
}

async fn a_lock_wait_that_times_out_leaves_nothing_half_done(backend: Backend) {
    let test_db = unindexed_cell(backend).await;
    let indexes_before = catalogue(&test_db).await;
    // Nova, mid-transaction on migrations.
    let nova = another_pool(&test_db, 1).await;
    let mut writer = nova.begin_write().await.expect("begin");
    let mut update = writer.stmt();
    update
        .push("UPDATE ")
        .ident("migrations")
        .push(" SET ")
        .ident("status")
        .push(" = 'finished' WHERE ")
        .ident("instance_uuid")
        .push(" = ")
        .bind_text(&uuid(4));
    writer.execute(&update).await.expect("Nova's update");

    let run = create_indexes(
        &test_db,
        &["--yes", "--lock-timeout", "1s", "--format", "json"],
    );
    assert_eq!(run.code, LOCK_TIMED_OUT, "{run:?}");
    let migrations = &reported(&run)["migrations.instance_uuid"];
    assert_eq!(migrations["outcome"], "timed-out", "{migrations:#}");
    let message = migrations["message"].as_str().unwrap();
    assert!(message.contains("--lock-timeout"), "{message}");
    let left = find(&catalogue(&test_db).await, MIGRATIONS_INDEX).cloned();
    if backend == Backend::Postgres {
        // The failed build's INVALID index stays while Nova's transaction
        // holds the table: said, and not counted as an index.
        assert!(message.contains("INVALID index"), "{message}");
        assert!(left.is_some_and(|(_, _, _, valid)| !valid), "{message}");
    } else {
        assert!(message.contains("nothing of it is left"), "{message}");
        assert_eq!(left, None);
        assert_eq!(catalogue(&test_db).await, indexes_before);
    }
    // Nova's transaction was not disturbed.
    writer.commit().await.expect("Nova commits");
    nova.close().await;
    assert!(missing_in_check(&test_db).contains(&"migrations.instance_uuid".to_owned()));

    if backend == Backend::Postgres {
        let dry = create_indexes(&test_db, &["--dry-run", "--format", "json"]);
        assert_eq!(
            reported(&dry)["migrations.instance_uuid"]["statements"],
            serde_json::json!([
                r#"DROP INDEX CONCURRENTLY IF EXISTS "nova_purge_migrations_instance_uuid""#,
                migrations_statement(backend)
            ])
        );
    }
    let rerun = create_indexes(&test_db, &["--yes", "--format", "json"]);
    assert_eq!(rerun.code, DONE, "{rerun:?}");
    assert_eq!(
        reported(&rerun)["migrations.instance_uuid"]["outcome"],
        "created"
    );
    assert_eq!(
        find(&catalogue(&test_db).await, MIGRATIONS_INDEX)
            .map(|(_, _, column, valid)| (column.as_str(), *valid)),
        Some(("instance_uuid", true))
    );
    assert!(missing_in_check(&test_db).is_empty());
}

async fn a_name_taken_by_another_index_is_reported_and_left_alone(backend: Backend) {
    let test_db = unindexed_cell(backend).await;
    let q = |name: &str| backend.quote(name);
    test_db
        .execute(&format!(
            "CREATE INDEX {} ON {} ({})",
            q(MIGRATIONS_INDEX),
            q("migrations"),
            q("status")
        ))
        .await;
    let indexes_before = catalogue(&test_db).await;
    let run = create_indexes(&test_db, &["--yes", "--format", "json"]);
    assert_eq!(run.code, ERROR, "{run:?}");
    let migrations = &reported(&run)["migrations.instance_uuid"];
    assert_eq!(migrations["outcome"], "failed");
    assert_eq!(migrations["statements"], serde_json::json!([]));
    let message = migrations["message"].as_str().unwrap();
    assert!(
        message.contains("does not start with instance_uuid")
            && message.contains("drop or rename it"),
        "{message}"
    );
    // Theirs is untouched; the other lookups got theirs.
    let after = catalogue(&test_db).await;
    assert!(indexes_before.is_subset(&after));
    assert_eq!(
        after.len() - indexes_before.len(),
        expected_missing(backend).len() - 1
    );
}

async fn every_cell_of_a_deployment_gets_its_indexes(backend: Backend) {
    let deployment = Deployment::new(backend).await;
    for cell in [&deployment.cell0, &deployment.cell1] {
        unindex(cell, "migrations", "instance_uuid").await;
    }
    let dry = deployment.run(&[
        "create-indexes",
        "--all-cells",
        "--dry-run",
        "--format",
        "json",
    ]);
    assert_eq!(dry.code, DONE, "{dry:?}");
    let report = dry.json();
    let cells: Vec<&str> = report["databases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["cell"].as_str().unwrap())
        .collect();
    assert_eq!(cells, ["cell0", "cell1"]);
    for database in report["databases"].as_array().unwrap() {
        assert_eq!(
            database["indexes"].as_array().unwrap().len(),
            expected_missing(backend).len()
        );
    }

    let only_cell0 = deployment.run(&["create-indexes", "--cell", "cell0", "--yes"]);
    assert_eq!(only_cell0.code, DONE, "{only_cell0:?}");
    assert!(missing_in_check(&deployment.cell0).is_empty());
    assert_eq!(
        missing_in_check(&deployment.cell1),
        expected_missing(backend)
    );

    let all = deployment.run(&["create-indexes", "--all-cells", "--yes", "--format", "json"]);
    assert_eq!(all.code, DONE, "{all:?}");
    let report = all.json();
    assert_eq!(
        report["databases"][0]["indexes"],
        serde_json::json!([]),
        "cell0 had them"
    );
    assert_eq!(
        report["databases"][1]["indexes"].as_array().unwrap().len(),
        expected_missing(backend).len()
    );
    assert!(missing_in_check(&deployment.cell1).is_empty());

    let unknown = deployment.run(&["create-indexes", "--cell", "nope", "--yes"]);
    assert_eq!(unknown.code, USAGE, "{unknown:?}");
    assert!(
        unknown.stderr.contains("no cell named `nope`"),
        "{unknown:?}"
    );
}

on_every_backend!(
    missing_indexes_are_created_online_and_a_rerun_has_nothing_to_do,
    a_lock_wait_that_times_out_leaves_nothing_half_done,
    a_name_taken_by_another_index_is_reported_and_left_alone,
);

/// An account that may read and write Nova's rows but not change its
/// schema (not the tables' owner on PostgreSQL; no ALTER on MariaDB): a
/// dry run works, a real run says what privilege it lacks and builds
/// nothing.
async fn an_account_that_may_not_index_is_told_what_it_lacks(backend: Backend) {
    let test_db = unindexed_cell(backend).await;
    let indexes_before = catalogue(&test_db).await;
    let user = format!("np_noidx_{}", std::process::id());
    let (url, cleanup) = match backend {
        Backend::MySql => {
            let hosts = ["localhost", "127.0.0.1", "%"];
            for host in hosts {
                test_db
                    .execute(&format!("CREATE USER IF NOT EXISTS '{user}'@'{host}'"))
                    .await;
                test_db
                    .execute(&format!(
                        "GRANT SELECT, INSERT, UPDATE, DELETE ON `{}`.* TO '{user}'@'{host}'",
                        test_db.name
                    ))
                    .await;
            }
            let server = test_db.url.trim_start_matches("mysql://");
            let host = server.rsplit_once('@').map_or(server, |(_, host)| host);
            let cleanup: Vec<String> = hosts
                .map(|host| format!("DROP USER IF EXISTS '{user}'@'{host}'"))
                .to_vec();
            (format!("mysql://{user}@{host}"), cleanup)
        }
        _ => {
            test_db.execute(&format!("CREATE ROLE {user} LOGIN")).await;
            test_db
                .execute(&format!(
                    "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {user}"
                ))
                .await;
            let host = test_db.url.rsplit_once('@').unwrap().1;
            let cleanup = vec![
                format!("REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {user}"),
                format!("DROP ROLE IF EXISTS {user}"),
            ];
            (format!("postgres://{user}@{host}"), cleanup)
        }
    };
    let dry = nova_purge(
        &["--database-url", &url, "create-indexes", "--dry-run"],
        &[],
    );
    let run = nova_purge(
        &[
            "--database-url",
            &url,
            "create-indexes",
            "--yes",
            "--format",
            "json",
        ],
        &[],
    );
    for sql in cleanup {
        test_db.execute(&sql).await;
    }
    assert_eq!(dry.code, DONE, "{dry:?}");
    assert_eq!(run.code, ERROR, "{run:?}");
    for (lookup, index) in reported(&run) {
        assert_eq!(index["outcome"], "failed", "{lookup}: {index:#}");
        let message = index["message"].as_str().unwrap();
        assert!(message.contains("owns Nova's tables"), "{message}");
        assert!(!message.contains("DELETE"), "a purge's hint: {message}");
    }
    assert_eq!(catalogue(&test_db).await, indexes_before);
}

/// A deployment's templated cell needs a server to fill its host name;
/// accounts are the server's.
mod servers {
    use super::*;

    on_every_server!(
        every_cell_of_a_deployment_gets_its_indexes,
        an_account_that_may_not_index_is_told_what_it_lacks,
    );
}

#[test]
fn a_lock_timeout_must_be_short_and_not_zero() {
    for (value, shown) in [("0", "'0'"), ("2m", "'2m'")] {
        let run = nova_purge(
            &[
                "--database-url",
                "sqlite:///nonexistent",
                "create-indexes",
                "--lock-timeout",
                value,
            ],
            &[],
        );
        assert_eq!(run.code, USAGE, "{run:?}");
        assert_eq!(
            run.stderr.trim_end(),
            format!(
                "error: invalid value {shown} for '--lock-timeout <DURATION>': the lock timeout must be more than 0 and at most 1m (see nova-purge --help)"
            )
        );
    }
}

/// Ctrl-C stops the run between two indexes: on SQLite, where Nova's
/// write lock holds up both, the first waits out its lock timeout and the
/// second is never tried.
#[tokio::test]
async fn ctrl_c_stops_between_two_indexes() {
    let test_db = unindexed_cell(Backend::Sqlite).await;
    let indexes_before = catalogue(&test_db).await;
    let nova = another_pool(&test_db, 1).await;
    let writer = nova.begin_write().await.expect("Nova holds the write lock");
    let run = spawn_nova_purge(
        &[
            "--database-url",
            &test_db.url,
            "create-indexes",
            "--yes",
            "--lock-timeout",
            "3s",
            "--format",
            "json",
        ],
        &[],
    );
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    run.signal("INT");
    let run = run.wait();
    writer.rollback().await.expect("rollback");
    assert_eq!(run.code, INTERRUPTED, "{run:?}");
    let report = run.json();
    assert_eq!(report["interrupted"], true);
    let tried = reported(&run);
    assert_eq!(
        tried.keys().collect::<Vec<_>>(),
        ["instance_actions_events.action_id"],
        "{report:#}"
    );
    assert_eq!(
        tried["instance_actions_events.action_id"]["outcome"],
        "timed-out"
    );
    assert_eq!(catalogue(&test_db).await, indexes_before);
}

/// What a failed `CREATE INDEX CONCURRENTLY` leaves (here a unique build
/// over duplicate values): an INVALID index of our name. `check` does not
/// count it, and `create-indexes` drops it concurrently and builds it again.
#[tokio::test]
async fn postgresql_an_invalid_index_of_ours_is_dropped_and_rebuilt() {
    let test_db = unindexed_cell(Backend::Postgres).await;
    let mut session = test_db.db.session().await.expect("session");
    let mut failing = test_db.db.stmt();
    failing.push(&format!(
        "CREATE UNIQUE INDEX CONCURRENTLY \"{MIGRATIONS_INDEX}\" ON migrations (source_compute)"
    ));
    session
        .execute(&failing)
        .await
        .expect_err("duplicate values fail the unique build");
    drop(session);
    let invalid = find(&catalogue(&test_db).await, MIGRATIONS_INDEX).cloned();
    assert_eq!(
        invalid,
        Some((
            "migrations".to_owned(),
            MIGRATIONS_INDEX.to_owned(),
            "source_compute".to_owned(),
            false
        ))
    );
    assert_eq!(
        missing_in_check(&test_db),
        expected_missing(Backend::Postgres)
    );

    let dry = create_indexes(&test_db, &["--dry-run"]);
    assert_eq!(dry.code, DONE, "{dry:?}");
    assert!(
        dry.stdout.contains(&format!(
            "DROP INDEX CONCURRENTLY IF EXISTS \"{MIGRATIONS_INDEX}\";"
        )),
        "{}",
        dry.stdout
    );
    assert_eq!(
        find(&catalogue(&test_db).await, MIGRATIONS_INDEX).cloned(),
        invalid
    );

    let run = create_indexes(&test_db, &["--yes"]);
    assert_eq!(run.code, DONE, "{run:?}");
    assert_eq!(
        find(&catalogue(&test_db).await, MIGRATIONS_INDEX)
            .map(|(_, _, column, valid)| (column.clone(), *valid)),
        Some(("instance_uuid".to_owned(), true))
    );
    assert!(missing_in_check(&test_db).is_empty());
}
