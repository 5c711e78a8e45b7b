//! Every cell of a deployment and its API database: cells listed in
//! `cell_mappings` (one with a templated connection), API rows removed with
//! their instances and only then, leftovers of a run that died between the
//! two commits, and a cell that cannot be reached.

use nova_purge_tests::{insert_instances, nova_purge, uuid, InstanceState, Snapshot, TestDb};
use purge_api::Backend;
use purge_fixture::{ApiFixture, Fixture, InstanceSpec};
use serde_json::Value;

const OLD: InstanceState = InstanceState::Deleted { days_ago: 200 };
const API_TABLES: [&str; 4] = [
    "instance_mappings",
    "request_specs",
    "instance_group_member",
    "build_requests",
];
const CELL0_UUID: &str = "00000000-0000-0000-0000-000000000000";
const CELL1_UUID: &str = "c0000000-0000-4000-8000-000000000001";

/// An API database and two cells: cell0 (a literal SQLAlchemy URL) and
/// cell1 (a template filled from the local connection).
pub struct Deployment {
    pub api: TestDb,
    pub cell0: TestDb,
    pub cell1: TestDb,
}

/// The SQLAlchemy form Nova stores, for a harness URL.
pub fn sqlalchemy(url: &str) -> String {
    url.replacen("mysql://", "mysql+pymysql://", 1).replacen(
        "postgres://",
        "postgresql+psycopg2://",
        1,
    )
}

impl Deployment {
    pub async fn new(backend: Backend) -> Deployment {
        let fixture = Fixture::full();
        let api = TestDb::empty(backend).await;
        ApiFixture::create(&api.db).await.expect("API schema");
        let cell0 = TestDb::with_fixture(backend, &fixture).await;
        let cell1 = TestDb::with_fixture(backend, &fixture).await;
        ApiFixture::add_cell(&api.db, 1, CELL0_UUID, "cell0", &sqlalchemy(&cell0.url))
            .await
            .unwrap();
        // `{password}` only where the test server has one: Nova would write
        // "None" for a missing part, and nova-purge refuses that.
        let password = if cell1
            .url
            .split('@')
            .next()
            .unwrap_or("")
            .matches(':')
            .count()
            > 1
        {
            ":{password}"
        } else {
            ""
        };
        let template = format!(
            "{{scheme}}://{{username}}{password}@{{hostname}}:{{port}}/{}",
            cell1.name
        );
        ApiFixture::add_cell(&api.db, 2, CELL1_UUID, "cell1", &template)
            .await
            .unwrap();
        // cell0: one old deleted, one live.
        let cell0_instances = [(10, OLD), (11, InstanceState::Live)];
        // cell1: two old deleted, one live, one young deleted, and the
        // deleted source copy of instance 11 after a cross-cell resize
        // (its mapping points at cell0, where it lives on).
        let cell1_instances = [
            (20, OLD),
            (21, OLD),
            (22, InstanceState::Live),
            (23, InstanceState::Deleted { days_ago: 5 }),
            (11, OLD),
        ];
        for (cell, cell_id, instances) in [
            (&cell0, 1, &cell0_instances[..]),
            (&cell1, 2, &cell1_instances[..]),
        ] {
            let specs: Vec<InstanceSpec> = instances
                .iter()
                .map(|(n, state)| InstanceSpec::new(uuid(*n), *state))
                .collect();
            insert_instances(cell, &fixture, &specs).await;
            for (n, state) in instances {
                if (cell_id, *n) == (2, 11) {
                    continue; // mapped to cell0 already
                }
                let deleted = matches!(state, InstanceState::Deleted { .. });
                ApiFixture::add_instance(&api.db, &uuid(*n), cell_id, deleted)
                    .await
                    .unwrap();
            }
        }
        Deployment { api, cell0, cell1 }
    }

    /// `--api-database-url API --database-url CELL1 ARGS`: cell1 is the
    /// local cell whose connection fills cell1's template.
    pub fn run(&self, args: &[&str]) -> nova_purge_tests::Run {
        let mut all = vec![
            "--api-database-url",
            &self.api.url,
            "--database-url",
            &self.cell1.url,
        ];
        all.extend_from_slice(args);
        nova_purge(&all, &[])
    }
}

fn api_rows(snapshot: &Snapshot, n: u32) -> usize {
    API_TABLES
        .iter()
        .map(|t| snapshot.rows_where(t, "instance_uuid", &uuid(n)).len())
        .sum()
}

fn cell<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["cells"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no cell {name} in {report:#}"))
}

async fn all_cells_are_purged_with_their_api_rows(backend: Backend) {
    let deployment = Deployment::new(backend).await;
    let api_before = deployment.api.snapshot().await;

    let dry = deployment.run(&["purge", "--all-cells", "--dry-run", "--format", "json"]);
    assert_eq!(dry.code, 0, "{dry:?}");
    assert_eq!(
        deployment.api.snapshot().await,
        api_before,
        "the dry run changed the API database"
    );

    let run = deployment.run(&["purge", "--all-cells", "--yes", "--format", "json"]);
    assert_eq!(run.code, 0, "{run:?}");
    let report = run.json();
    let dry = dry.json();
    assert_eq!(
        report["tables"], dry["tables"],
        "the dry run predicted other counts"
    );
    let names: Vec<&str> = report["cells"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["cell0", "cell1"],
        "cells in id order, cell0 included"
    );
    assert_eq!(cell(&report, "cell0")["uuid"], CELL0_UUID);
    assert_eq!(cell(&report, "cell0")["instances"], 1);
    assert_eq!(cell(&report, "cell1")["instances"], 3);
    for c in report["cells"].as_array().unwrap() {
        assert_eq!(c["error"], Value::Null);
        assert_eq!(c["more_remaining"], false);
        assert!(c["tables"].is_object());
    }
    assert_eq!(report["instances"], 4);
    // Three instances had API rows to remove (the fourth is mapped to cell0
    // and alive there); one row in each of the four tables.
    for table in API_TABLES {
        assert_eq!(report["tables"][table], 3, "{table}: {report:#}");
    }

    let api = deployment.api.snapshot().await;
    for purged in [10, 20, 21] {
        assert_eq!(api_rows(&api, purged), 0, "API rows of {purged} left");
    }
    for kept in [11, 22, 23] {
        assert_eq!(api_rows(&api, kept), 4, "API rows of {kept} touched");
    }
    assert!(api_before.added_in(&api).is_empty());
    let cell0 = deployment.cell0.snapshot().await;
    assert_eq!(
        cell0.rows_where("instances", "uuid", &uuid(11)).len(),
        1,
        "the live copy stays"
    );
    let cell1 = deployment.cell1.snapshot().await;
    assert!(
        cell1.rows_where("instances", "uuid", &uuid(11)).is_empty(),
        "the deleted source copy goes"
    );

    let again = deployment.run(&["purge", "--all-cells", "--yes", "--format", "json"]);
    assert_eq!(again.code, 0, "{again:?}");
    assert_eq!(again.json()["instances"], 0);
    assert_eq!(deployment.api.snapshot().await, api);
}

/// What a run that died after its cell commit and before its API commit
/// leaves (here made by a purge that was not given the API database): the
/// next run with the API database removes those rows first.
async fn api_rows_left_by_an_interrupted_run_are_removed_by_the_next(backend: Backend) {
    let deployment = Deployment::new(backend).await;
    let cell_only = nova_purge(
        &[
            "--database-url",
            &deployment.cell1.url,
            "purge",
            "--yes",
            "--format",
            "json",
        ],
        &[],
    );
    assert_eq!(cell_only.code, 0, "{cell_only:?}");
    let report = cell_only.json();
    assert_eq!(report["api_cleaned"], false);
    assert_eq!(report["instances"], 3);
    let text = nova_purge(
        &["--database-url", &deployment.cell1.url, "purge", "--yes"],
        &[],
    );
    assert!(text.stdout.contains("were not cleaned"), "{}", text.stdout);
    let api = deployment.api.snapshot().await;
    assert_eq!(
        api_rows(&api, 20),
        4,
        "nothing removed from the API database yet"
    );

    // The local cell alone, with the API database: it finds itself in
    // cell_mappings through cell1's template.
    let rerun = deployment.run(&["purge", "--yes", "--format", "json"]);
    assert_eq!(rerun.code, 0, "{rerun:?}");
    let report = rerun.json();
    assert_eq!(report["instances"], 0);
    assert_eq!(report["api_leftovers"], 2);
    assert_eq!(report["cells"][0]["name"], "cell1");
    let api = deployment.api.snapshot().await;
    for n in [20, 21] {
        assert_eq!(api_rows(&api, n), 0, "API rows of {n} left");
    }
    for kept in [10, 11, 22, 23] {
        assert_eq!(api_rows(&api, kept), 4, "API rows of {kept} touched");
    }
}

async fn cells_can_be_picked_and_a_failing_cell_does_not_stop_the_others(backend: Backend) {
    let deployment = Deployment::new(backend).await;
    let only = deployment.run(&["purge", "--cell", "cell1", "--yes", "--format", "json"]);
    assert_eq!(only.code, 0, "{only:?}");
    let report = only.json();
    assert_eq!(report["cells"].as_array().unwrap().len(), 1);
    assert_eq!(report["instances"], 3);
    assert_eq!(
        deployment
            .cell0
            .snapshot()
            .await
            .rows_where("instances", "uuid", &uuid(10))
            .len(),
        1
    );

    let unknown = deployment.run(&["purge", "--cell", "nope", "--yes"]);
    assert_eq!(unknown.code, 2, "{unknown:?}");
    assert!(
        unknown.stderr.contains("known cells: cell0, cell1"),
        "{unknown:?}"
    );

    let unreachable = sqlalchemy(
        &deployment
            .cell0
            .url
            .replace(":3306/", ":1/")
            .replace(":5432/", ":1/"),
    );
    ApiFixture::add_cell(
        &deployment.api.db,
        3,
        "c0000000-0000-4000-8000-000000000003",
        "gone",
        &unreachable,
    )
    .await
    .unwrap();
    let run = deployment.run(&["purge", "--all-cells", "--yes", "--format", "json"]);
    assert_eq!(run.code, 6, "a failed cell has its own exit code: {run:?}");
    let report = run.json();
    assert_eq!(
        cell(&report, "cell0")["instances"],
        1,
        "cell0 purged all the same"
    );
    let gone = cell(&report, "gone");
    assert!(
        gone["error"].as_str().unwrap().contains("cannot connect"),
        "{gone}"
    );
    assert!(!run.stderr.contains("s3cret") && !run.stdout.contains("password"));
}

async fn max_number_caps_the_whole_run(backend: Backend) {
    let deployment = Deployment::new(backend).await;
    let run = deployment.run(&[
        "purge",
        "--all-cells",
        "--yes",
        "--max-number",
        "2",
        "--format",
        "json",
    ]);
    assert_eq!(run.code, 3, "{run:?}");
    let report = run.json();
    assert_eq!(report["instances"], 2);
    assert_eq!(report["more_remaining"], true);
    assert_eq!(cell(&report, "cell0")["instances"], 1);
    assert_eq!(cell(&report, "cell1")["instances"], 1);
}

mod mariadb {
    #[tokio::test]
    async fn all_cells() {
        super::all_cells_are_purged_with_their_api_rows(purge_api::Backend::MySql).await
    }
    #[tokio::test]
    async fn leftovers() {
        super::api_rows_left_by_an_interrupted_run_are_removed_by_the_next(
            purge_api::Backend::MySql,
        )
        .await
    }
    #[tokio::test]
    async fn picking_and_failing_cells() {
        super::cells_can_be_picked_and_a_failing_cell_does_not_stop_the_others(
            purge_api::Backend::MySql,
        )
        .await
    }
    #[tokio::test]
    async fn max_number() {
        super::max_number_caps_the_whole_run(purge_api::Backend::MySql).await
    }
    #[tokio::test]
    async fn failure_between_commits() {
        super::a_failure_between_the_cell_and_api_commits_converges(purge_api::Backend::MySql).await
    }
}

mod postgresql {
    #[tokio::test]
    async fn all_cells() {
        super::all_cells_are_purged_with_their_api_rows(purge_api::Backend::Postgres).await
    }
    #[tokio::test]
    async fn leftovers() {
        super::api_rows_left_by_an_interrupted_run_are_removed_by_the_next(
            purge_api::Backend::Postgres,
        )
        .await
    }
    #[tokio::test]
    async fn picking_and_failing_cells() {
        super::cells_can_be_picked_and_a_failing_cell_does_not_stop_the_others(
            purge_api::Backend::Postgres,
        )
        .await
    }
    #[tokio::test]
    async fn max_number() {
        super::max_number_caps_the_whole_run(purge_api::Backend::Postgres).await
    }
    #[tokio::test]
    async fn failure_between_commits() {
        super::a_failure_between_the_cell_and_api_commits_converges(purge_api::Backend::Postgres)
            .await
    }
}

/// A run that fails after a cell commit and before the API commit (here the
/// API database refuses the deletes: an account without DELETE), then a
/// rerun: no API row of a purged instance survives it, and no API row of a
/// living one is touched. (A read-only API database is refused before
/// anything is deleted: bad_input.rs.)
async fn a_failure_between_the_cell_and_api_commits_converges(backend: Backend) {
    let deployment = Deployment::new(backend).await;
    let user = format!("np_api_ro_{}", std::process::id());
    let api_url = match backend {
        Backend::MySql => {
            for host in ["localhost", "127.0.0.1", "%"] {
                deployment
                    .api
                    .execute(&format!("CREATE USER IF NOT EXISTS '{user}'@'{host}'"))
                    .await;
                deployment
                    .api
                    .execute(&format!(
                        "GRANT SELECT ON `{}`.* TO '{user}'@'{host}'",
                        deployment.api.name
                    ))
                    .await;
            }
            let server = deployment.api.url.trim_start_matches("mysql://");
            let host = server.rsplit_once('@').map_or(server, |(_, host)| host);
            format!("mysql://{user}@{host}")
        }
        _ => {
            deployment
                .api
                .execute(&format!("CREATE ROLE {user} LOGIN"))
                .await;
            deployment
                .api
                .execute(&format!(
                    "GRANT SELECT ON ALL TABLES IN SCHEMA public TO {user}"
                ))
                .await;
            let (scheme, rest) = deployment.api.url.split_once("://").unwrap();
            let host = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
            format!("{scheme}://{user}@{host}")
        }
    };
    let failed = nova_purge(
        &[
            "--api-database-url",
            &api_url,
            "--database-url",
            &deployment.cell1.url,
            "purge",
            "--all-cells",
            "--yes",
            "--batch-size",
            "1",
        ],
        &[],
    );
    match backend {
        Backend::MySql => {
            for host in ["localhost", "127.0.0.1", "%"] {
                deployment
                    .api
                    .execute(&format!("DROP USER IF EXISTS '{user}'@'{host}'"))
                    .await;
            }
        }
        _ => {
            for sql in [
                format!("REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {user}"),
                format!("DROP ROLE {user}"),
            ] {
                deployment.api.execute(&sql).await;
            }
        }
    }
    assert_eq!(
        failed.code, 6,
        "the cells fail after their first commit: {failed:?}"
    );
    let cell0 = deployment.cell0.snapshot().await;
    assert!(
        cell0.rows_where("instances", "uuid", &uuid(10)).is_empty(),
        "cell0's batch committed before the API failure"
    );
    let api = deployment.api.snapshot().await;
    assert_eq!(
        api_rows(&api, 10),
        4,
        "the API rows of the purged instance are still there"
    );

    let rerun = deployment.run(&["purge", "--all-cells", "--yes", "--format", "json"]);
    assert_eq!(rerun.code, 0, "{rerun:?}");
    let report = rerun.json();
    assert!(report["api_leftovers"].as_u64().unwrap() >= 1, "{report}");
    let api = deployment.api.snapshot().await;
    for purged in [10, 20, 21] {
        assert_eq!(api_rows(&api, purged), 0, "API rows of {purged} left");
    }
    for kept in [11, 22, 23] {
        assert_eq!(api_rows(&api, kept), 4, "API rows of {kept} touched");
    }
}
