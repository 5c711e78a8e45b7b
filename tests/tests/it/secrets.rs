//! Secrets stay secret and names from a database cannot forge output: no
//! password, wherever it sits in a URL, appears in a report, an error or a
//! log line at any level; a URL that only parses by accident is refused;
//! control characters in names read from a database are escaped.

use nova_purge_tests::{insert_instances, nova_purge, uuid, InstanceState, Run, TestDb};
use purge_api::Backend;
use purge_fixture::{Fixture, InstanceSpec};

use super::cells::Deployment;

const SECRET: &str = "Sekr1tPassw0rd";

fn assert_no_secret(run: &Run, what: &str) {
    for (stream, text) in [("stdout", &run.stdout), ("stderr", &run.stderr)] {
        assert!(
            !text.contains(SECRET) && !text.contains("Sekr1t"),
            "{what}: the password is on {stream}:\n{text}"
        );
    }
}

async fn purgeable(backend: Backend) -> TestDb {
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
    test_db
}

/// `?password=` in the query string: accepted by the PostgreSQL driver, and
/// used; never shown, in the text or JSON report, in `check`, or in logs at
/// any level, the drivers' own included.
#[tokio::test]
async fn a_password_in_the_query_string_is_never_shown() {
    let test_db = purgeable(Backend::Postgres).await;
    let url = format!("{}?password={SECRET}&application_name=np", test_db.url);
    for args in [
        &["purge", "--dry-run"][..],
        &["purge", "--dry-run", "--format", "json"],
        &["check"],
        &["-vvv", "purge", "--dry-run"],
    ] {
        let mut all = vec!["--database-url", url.as_str()];
        all.extend_from_slice(args);
        let run = nova_purge(&all, &[]);
        assert_no_secret(&run, &format!("{args:?}"));
        assert!(run.code == 0 || run.code == 4, "{run:?}");
        if args.contains(&"purge") && !args.contains(&"json") {
            assert!(run.stdout.contains("password=***"), "{run:?}");
        }
    }
    // An error names the database, not the password.
    let wrong = format!("{}_missing?password={SECRET}", test_db.url);
    let run = nova_purge(&["--database-url", &wrong, "purge", "--dry-run"], &[]);
    assert_eq!(run.code, 1, "{run:?}");
    assert_no_secret(&run, "a missing database");
    // With RUST_LOG at trace for every crate, sqlx's included.
    let run = nova_purge(
        &["--database-url", &url, "purge", "--dry-run"],
        &[("RUST_LOG", "trace")],
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stderr.lines().count() > 10,
        "trace logs expected: {run:?}"
    );
    assert_no_secret(&run, "trace logs");
}

/// MariaDB refuses a wrong password; the error says so without the
/// password, whether it came in the user info or the query string.
#[tokio::test]
async fn a_refused_password_is_not_repeated() {
    let test_db = purgeable(Backend::MySql).await;
    let server = test_db.url.rsplit_once('/').unwrap().0.to_owned();
    let (scheme, rest) = server.split_once("://").unwrap();
    let host = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
    for url in [
        format!("{scheme}://nova_nobody:{SECRET}@{host}/{}", test_db.name),
        format!(
            "{scheme}://nova_nobody@{host}/{}?password={SECRET}",
            test_db.name
        ),
    ] {
        let run = nova_purge(&["--database-url", &url, "-vvv", "purge", "--dry-run"], &[]);
        assert_eq!(run.code, 1, "{run:?}");
        assert!(run.stderr.contains("Access denied"), "{run:?}");
        assert_no_secret(&run, &url);
    }
}

/// A TLS key password (`sslpassword`) is a credential too: nova-purge cannot
/// use it, says so in one line, and never repeats it.
#[tokio::test]
async fn a_tls_key_password_is_refused_without_being_repeated() {
    let test_db = purgeable(Backend::Postgres).await;
    let url = format!("{}?sslpassword={SECRET}", test_db.url);
    let run = nova_purge(&["--database-url", &url, "purge", "--dry-run"], &[]);
    assert_eq!(run.code, 2, "{run:?}");
    assert_eq!(run.stderr.lines().count(), 1, "{run:?}");
    assert!(run.stderr.contains("sslpassword"), "{run:?}");
    assert_no_secret(&run, "sslpassword");
}

/// `user:pa/ss@host` parses as host `user` and port `pa`, the rest of the
/// password in the path: refused, and nothing of it shown.
#[test]
fn a_url_that_only_parses_by_accident_is_refused() {
    for url in [
        format!("mysql://nova:1234/{SECRET}@127.0.0.1/nova"),
        format!("postgresql://nova:1234/{SECRET}@127.0.0.1/nova"),
        format!("mysql://nova:1234?{SECRET}@127.0.0.1/nova"),
        format!("mysql://nova:{SECRET}#x@127.0.0.1/nova"),
    ] {
        let run = nova_purge(&["--database-url", &url, "purge", "--dry-run"], &[]);
        assert_eq!(run.code, 2, "{url}: {run:?}");
        assert_eq!(run.stderr.lines().count(), 1, "{run:?}");
        assert_no_secret(&run, &url);
    }
}

/// A cell name with a newline and escape sequences (`cell_mappings.name` is
/// whatever an operator or an attacker wrote) cannot forge report lines or
/// drive the terminal: it is printed escaped.
async fn names_from_the_database_cannot_forge_output(backend: Backend) {
    let deployment = Deployment::new(backend).await;
    deployment
        .api
        .execute(
            "UPDATE cell_mappings SET name = 'evil' || CHR(10) || 'instances: 0 deleted' || CHR(27) || '[2K' WHERE name = 'cell1'",
        )
        .await;
    let run = deployment.run(&["purge", "--all-cells", "--dry-run"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        !run.stdout.contains('\u{1b}'),
        "an escape sequence reached the output: {run:?}"
    );
    assert!(
        run.stdout
            .contains(r"== cell evil\ninstances: 0 deleted\e[2K ("),
        "{}",
        run.stdout
    );
    assert!(!run
        .stdout
        .lines()
        .any(|line| line
            == "instances: 0 deleted\u{1b}[2K (c0000000-0000-4000-8000-000000000001) =="));
}

mod forged_names {
    #[tokio::test]
    async fn postgresql() {
        super::names_from_the_database_cannot_forge_output(purge_api::Backend::Postgres).await
    }
}

/// A FIFO in `--config-dir`, or `/dev/zero` as a config file, is refused at
/// once instead of hanging or filling memory.
#[test]
fn config_files_that_never_end_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("nova.conf");
    assert!(std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let started = std::time::Instant::now();
    let run = nova_purge(
        &[
            "--config-dir",
            &dir.path().display().to_string(),
            "purge",
            "--dry-run",
        ],
        &[],
    );
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("not a regular file"), "{run:?}");
    let run = nova_purge(&["--config-file", "/dev/zero", "purge", "--dry-run"], &[]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
}
