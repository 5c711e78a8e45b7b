//! Bad input: a one-line error that says what to do, the documented exit
//! code, no password in any output, and nothing deleted.

use nova_purge_tests::{insert_instances, nova_purge, uuid, InstanceState, Run, TestDb};
use purge_api::Backend;
use purge_fixture::{Fixture, InstanceSpec};

const USAGE: i32 = 2;
const DATABASE_ERROR: i32 = 1;

fn assert_one_line_error(run: &Run, code: i32, needle: &str) {
    assert_eq!(run.code, code, "{run:?}");
    assert!(run.stdout.is_empty(), "nothing on stdout: {run:?}");
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one line on stderr: {run:?}");
    assert!(lines[0].starts_with("error: "), "{run:?}");
    assert!(lines[0].contains(needle), "expected {needle:?} in {run:?}");
}

/// A SQLite database with one purgeable instance, to prove nothing is deleted.
async fn purgeable() -> TestDb {
    let fixture = Fixture::full();
    let test_db = TestDb::with_fixture(Backend::Sqlite, &fixture).await;
    insert_instances(
        &test_db,
        &fixture,
        &[InstanceSpec::new(
            uuid(1),
            InstanceState::Deleted { days_ago: 200 },
        )],
    )
    .await;
    test_db
}

#[tokio::test]
async fn bad_numbers_are_refused_and_nothing_is_deleted() {
    let test_db = purgeable().await;
    let before = test_db.snapshot().await;
    let cases: &[(&[&str], &str)] = &[
        (&["--older-than", "abc"], "invalid value 'abc'"),
        (&["--older-than", "-5"], "-5"),
        (&["--older-than", "1.5"], "invalid value '1.5'"),
        (&["--older-than", "100000000"], "100000000"),
        (&["--older-than", ""], "--older-than"),
        (&["--max-number", "0"], "invalid value '0'"),
        (&["--max-number", "-1"], "-1"),
        (
            &["--max-number", "99999999999999999999999"],
            "invalid value",
        ),
        (&["--batch-size", "0"], "invalid value '0'"),
        (&["--batch-size", "10001"], "10001"),
        (&["--older-than", "٣"], "invalid value"),
    ];
    for (args, needle) in cases {
        let mut all = vec!["--database-url", &test_db.url, "purge", "--yes"];
        all.extend_from_slice(args);
        let run = nova_purge(&all, &[]);
        assert_one_line_error(&run, USAGE, needle);
        assert!(run.stderr.contains("--help"), "says where to look: {run:?}");
    }
    assert_eq!(test_db.snapshot().await, before);
}

#[tokio::test]
async fn unsupported_urls_are_refused_without_echoing_a_password() {
    for (url, needle) in [
        (
            "oracle://nova:s3cret@db/nova",
            "unsupported database URL scheme",
        ),
        ("", "empty"),
        ("nova:s3cret@db/nova", "no scheme"),
        ("mysql://nova:s3cret@/nova", "host"),
        ("postgresql://nova:s3cret@db", "names no database"),
        ("mysql://nova:s3cret@db:99999/nova", "cannot be parsed"),
    ] {
        let run = nova_purge(&["--database-url", url, "purge", "--yes"], &[]);
        assert_one_line_error(&run, USAGE, needle);
        assert!(!run.stderr.contains("s3cret"), "password leaked: {run:?}");
    }
    let run = nova_purge(&["purge", "--yes"], &[]);
    assert_one_line_error(&run, USAGE, "NOVA_PURGE_DATABASE_URL");
}

#[test]
fn a_missing_sqlite_file_is_an_error_and_is_not_created() {
    let path = std::env::temp_dir().join(format!("np-missing-{}.sqlite", std::process::id()));
    let url = format!("sqlite://{}", path.display());
    let run = nova_purge(&["--database-url", &url, "purge", "--dry-run"], &[]);
    assert_one_line_error(&run, USAGE, "does not exist");
    assert!(!path.exists(), "nova-purge created {}", path.display());
}

#[test]
fn an_unreachable_server_is_a_database_error() {
    for url in [
        "mysql://nova:s3cret@127.0.0.1:1/nova",
        "postgresql://nova:s3cret@127.0.0.1:1/nova",
    ] {
        let run = nova_purge(&["-vvv", "--database-url", url, "purge", "--yes"], &[]);
        assert_eq!(run.code, DATABASE_ERROR, "{run:?}");
        let last = run.stderr.lines().last().unwrap_or_default();
        assert!(last.starts_with("error: cannot connect to"), "{run:?}");
        assert!(last.contains("check that the server is running"), "{run:?}");
        assert!(!run.stderr.contains("s3cret"), "password leaked: {run:?}");
    }
}

#[tokio::test]
async fn wrong_credentials_are_a_database_error() {
    let mariadb = TestDb::empty(Backend::MySql).await;
    let url = mariadb
        .url
        .replacen("mysql://root@", "mysql://root:wr0ng@", 1);
    let run = nova_purge(&["--database-url", &url, "purge", "--yes"], &[]);
    assert_one_line_error(&run, DATABASE_ERROR, "check the user name");
    assert!(!run.stderr.contains("wr0ng"), "password leaked: {run:?}");

    let postgres = TestDb::empty(Backend::Postgres).await;
    let url = postgres
        .url
        .replacen("postgres://postgres@", "postgres://no_such_role:wr0ng@", 1);
    let run = nova_purge(&["--database-url", &url, "purge", "--yes"], &[]);
    assert_one_line_error(&run, DATABASE_ERROR, "no_such_role");
    assert!(!run.stderr.contains("wr0ng"), "password leaked: {run:?}");
}

async fn a_database_that_is_not_nova_is_refused(backend: Backend) {
    let test_db = TestDb::empty(backend).await;
    let run = nova_purge(&["--database-url", &test_db.url, "purge", "--yes"], &[]);
    assert_one_line_error(&run, USAGE, "not a Nova cell database");

    test_db
        .execute(
            "CREATE TABLE instances (id INTEGER PRIMARY KEY, uuid VARCHAR(36), deleted INTEGER)",
        )
        .await;
    test_db
        .execute("INSERT INTO instances (id, uuid, deleted) VALUES (1, 'x', 1)")
        .await;
    let before = test_db.snapshot().await;
    let run = nova_purge(&["--database-url", &test_db.url, "purge", "--yes"], &[]);
    assert_one_line_error(&run, USAGE, "no `deleted_at` column");
    assert_eq!(test_db.snapshot().await, before);
}

async fn without_a_terminal_it_refuses_to_delete_unless_told_yes(backend: Backend) {
    let fixture = Fixture::full();
    let test_db = TestDb::with_fixture(backend, &fixture).await;
    insert_instances(
        &test_db,
        &fixture,
        &[InstanceSpec::new(
            uuid(1),
            InstanceState::Deleted { days_ago: 200 },
        )],
    )
    .await;
    let before = test_db.snapshot().await;
    let run = nova_purge(&["--database-url", &test_db.url, "purge"], &[]);
    assert_one_line_error(&run, USAGE, "pass --yes");
    assert_eq!(test_db.snapshot().await, before);
    // The environment variable is an accepted way to give the URL.
    let run = nova_purge(
        &["purge", "--dry-run", "--format", "json"],
        &[("NOVA_PURGE_DATABASE_URL", &test_db.url)],
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.json()["instances"], 1);
}

on_every_backend!(
    a_database_that_is_not_nova_is_refused,
    without_a_terminal_it_refuses_to_delete_unless_told_yes,
);

#[test]
fn help_warns_that_data_is_deleted_for_good() {
    let run = nova_purge(&["purge", "--help"], &[]);
    assert_eq!(run.code, 0, "{run:?}");
    for needle in [
        "permanently",
        "audits",
        "--dry-run",
        "Exit codes:",
        "Usage: nova-purge purge",
    ] {
        assert!(
            run.stdout.to_lowercase().contains(&needle.to_lowercase()),
            "{needle} missing from:\n{}",
            run.stdout
        );
    }
    let top = nova_purge(&["--help"], &[]);
    assert!(
        top.stdout.contains("purge-deleted-instances"),
        "{}",
        top.stdout
    );
    let alias = nova_purge(&["purge-deleted-instances", "--help"], &[]);
    assert_eq!(alias.code, 0);
    assert_eq!(alias.stdout, run.stdout);
}

/// A fixture database on a server with purgeable instances, and what a
/// purge must leave of it.
async fn purgeable_on(backend: Backend) -> (TestDb, nova_purge_tests::Snapshot) {
    // Without the legacy fixed_ips table, whose warning would be a second line.
    let fixture = Fixture::without(&["fixed_ips"]);
    let test_db = TestDb::with_fixture(backend, &fixture).await;
    let specs: Vec<InstanceSpec> = (1..=3)
        .map(|n| InstanceSpec::new(uuid(n), InstanceState::Deleted { days_ago: 200 }))
        .collect();
    insert_instances(&test_db, &fixture, &specs).await;
    let before = test_db.snapshot().await;
    (test_db, before)
}

async fn urls_that_smuggle_statements_run_none(backend: Backend) {
    let (test_db, before) = purgeable_on(backend).await;
    let statement = nova_purge(
        &[
            "--database-url",
            &format!("{};DROP TABLE instances", test_db.url),
            "purge",
            "--yes",
        ],
        &[],
    );
    assert_one_line_error(&statement, DATABASE_ERROR, "check the database name");
    let quoted = nova_purge(
        &[
            "--database-url",
            &format!("{}' OR '1'='1", test_db.url),
            "purge",
            "--yes",
        ],
        &[],
    );
    assert_one_line_error(&quoted, DATABASE_ERROR, "check the database name");
    // An option the driver does not know is ignored, never executed.
    let option = nova_purge(
        &[
            "--database-url",
            &format!("{}?init_command=DELETE%20FROM%20instances", test_db.url),
            "purge",
            "--dry-run",
        ],
        &[],
    );
    assert_eq!(option.code, 0, "{option:?}");
    assert_eq!(test_db.snapshot().await, before);
}

async fn a_user_without_delete_on_one_table_commits_nothing(backend: Backend) {
    let (test_db, before) = purgeable_on(backend).await;
    let user = format!("np_nodel_{}", std::process::id());
    let url = match backend {
        Backend::MySql => {
            for host in ["localhost", "127.0.0.1", "%"] {
                test_db
                    .execute(&format!("CREATE USER IF NOT EXISTS '{user}'@'{host}'"))
                    .await;
                test_db
                    .execute(&format!(
                        "GRANT SELECT, INSERT, UPDATE ON `{}`.* TO '{user}'@'{host}'",
                        test_db.name
                    ))
                    .await;
                for table in before.tables.keys().filter(|t| *t != "instance_faults") {
                    test_db
                        .execute(&format!(
                            "GRANT DELETE ON `{}`.`{table}` TO '{user}'@'{host}'",
                            test_db.name
                        ))
                        .await;
                }
            }
            let server = test_db.url.trim_start_matches("mysql://");
            let host = server.rsplit_once('@').map_or(server, |(_, host)| host);
            format!("mysql://{user}@{host}")
        }
        _ => {
            test_db.execute(&format!("DO $$ BEGIN CREATE ROLE {user} LOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$")).await;
            test_db
                .execute(&format!(
                    "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {user}"
                ))
                .await;
            test_db
                .execute(&format!("REVOKE DELETE ON instance_faults FROM {user}"))
                .await;
            let host = test_db.url.rsplit_once('@').unwrap().1;
            format!("postgres://{user}@{host}")
        }
    };
    let run = nova_purge(
        &[
            "--database-url",
            &url,
            "purge",
            "--yes",
            "--batch-size",
            "1",
        ],
        &[],
    );
    let cleanup = match backend {
        Backend::MySql => ["localhost", "127.0.0.1", "%"]
            .map(|host| format!("DROP USER IF EXISTS '{user}'@'{host}'"))
            .to_vec(),
        _ => vec![
            format!("REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {user}"),
            format!("DROP ROLE IF EXISTS {user}"),
        ],
    };
    for sql in cleanup {
        test_db.execute(&sql).await;
    }
    assert_one_line_error(&run, DATABASE_ERROR, "grant the user DELETE");
    assert_eq!(
        test_db.snapshot().await,
        before,
        "the failing batch left changes behind"
    );
}

/// PostgreSQL's `default_transaction_read_only`, set on this database only:
/// refused before anything is read or deleted, as a hot standby or a
/// read-only MariaDB is (tests/tests/replicas.rs). A dry run may still read
/// it.
#[tokio::test]
async fn a_read_only_postgresql_database_deletes_nothing() {
    let (test_db, before) = purgeable_on(Backend::Postgres).await;
    test_db
        .execute(&format!(
            "ALTER DATABASE \"{}\" SET default_transaction_read_only = on",
            test_db.name
        ))
        .await;
    let run = nova_purge(&["--database-url", &test_db.url, "purge", "--yes"], &[]);
    assert_one_line_error(&run, USAGE, "default_transaction_read_only is on");
    assert!(run.stderr.contains("only on the primary"), "{run:?}");
    assert_eq!(test_db.snapshot().await, before);
    let dry = nova_purge(&["--database-url", &test_db.url, "purge", "--dry-run"], &[]);
    assert_eq!(dry.code, 0, "{dry:?}");
}

mod servers {
    use super::*;

    on_every_server!(
        urls_that_smuggle_statements_run_none,
        a_user_without_delete_on_one_table_commits_nothing,
    );
}

#[test]
fn other_bad_arguments_are_refused() {
    for (args, needle) in [
        (&["purge", "--format", "yaml"][..], "invalid value 'yaml'"),
        (&["purge", "--sleep", "5"][..], "give a unit"),
        (&["purge", "--sleep", "2h"][..], "unknown unit"),
        (
            &["purge", "--all-cells", "--cell", "x"][..],
            "cannot be used with",
        ),
        (
            &["purge", "--dry-run", "--export", "/tmp/x.jsonl"][..],
            "cannot be used with",
        ),
        (&["purge", "--cell", "ñ", "--yes"][..], "--api-database-url"),
        (&["frobnicate"][..], "unrecognized subcommand"),
    ] {
        let run = nova_purge(args, &[]);
        assert_one_line_error(&run, USAGE, needle);
    }
}

/// On a terminal (a pseudo-terminal from util-linux's `script`), `purge`
/// asks first: anything but `yes` deletes nothing.
#[tokio::test]
async fn on_a_terminal_it_asks_before_deleting() {
    let test_db = purgeable().await;
    let before = test_db.snapshot().await;
    let command = format!(
        "{} --database-url {} purge",
        nova_purge_tests::binary().display(),
        test_db.url
    );
    let on_terminal = |answer: &str| {
        let mut child = std::process::Command::new("script")
            .args(["-qec", &command, "/dev/null"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("util-linux script gives the command a terminal");
        use std::io::Write as _;
        writeln!(child.stdin.take().unwrap(), "{answer}").unwrap();
        let output = child.wait_with_output().unwrap();
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
        )
    };
    let (code, screen) = on_terminal("no");
    assert_eq!(code, Some(USAGE), "{screen}");
    assert!(
        screen.contains("Type 'yes' to continue") && screen.contains("nothing was deleted"),
        "{screen}"
    );
    assert_eq!(test_db.snapshot().await, before);
    let (code, screen) = on_terminal("yes");
    assert_eq!(code, Some(0), "{screen}");
    assert!(
        test_db
            .snapshot()
            .await
            .rows_where("instances", "uuid", &uuid(1))
            .is_empty(),
        "{screen}"
    );
}
