//! TLS, as nova.conf asks for it, on private MariaDB and PostgreSQL servers
//! with certificates from a test CA: a verified connection works and the
//! server says it is encrypted (`Ssl_cipher`, `pg_stat_ssl`, logged by
//! nova-purge at info level); a wrong CA, a wrong host name, and a server
//! without TLS when TLS is asked for each fail with one line naming the
//! cause; a client certificate works; PostgreSQL's default (`prefer`)
//! uses TLS when the server offers it, as libpq does.

use nova_purge_tests::servers::{MariaDb, Postgres, ServerCert, TestCa, CLIENT_USER};
use nova_purge_tests::{nova_purge, Run, TestDb};
use purge_api::Backend;
use purge_fixture::Fixture;

/// A Nova cell database on `server` (a URL without a database name).
async fn cell_on(backend: Backend, server: String) -> TestDb {
    let test_db = TestDb::empty_on(backend, server).await;
    Fixture::full()
        .create(&test_db.db)
        .await
        .expect("the fixture");
    test_db
}

/// `nova-purge -v --config-file nova.conf check`, nova.conf holding
/// `connection` as written.
fn check_with(connection: &str) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("nova.conf");
    std::fs::write(&conf, format!("[database]\nconnection = {connection}\n")).unwrap();
    nova_purge(
        &["-v", "--config-file", &conf.display().to_string(), "check"],
        &[],
    )
}

fn assert_connected_with_tls(run: &Run) {
    assert!(run.code == 0 || run.code == 4, "{run:?}");
    assert!(run.stderr.contains("connected: TLS ("), "{run:?}");
}

fn assert_one_line_failure(run: &Run, needles: &[&str]) {
    assert_eq!(run.code, 1, "{run:?}");
    let errors: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.starts_with("error: "))
        .collect();
    assert_eq!(errors.len(), 1, "{run:?}");
    eprintln!("as expected: {}", errors[0]);
    assert!(
        needles.iter().any(|n| errors[0].contains(n)),
        "expected one of {needles:?} in {}",
        errors[0]
    );
}

#[tokio::test]
async fn mariadb_tls_as_nova_conf_asks_for_it() {
    let ca = TestCa::new();
    let server = MariaDb::start_tls(&ca, ServerCert::Localhost, true);
    let cell = cell_on(Backend::MySql, server.url()).await;
    let base = format!(
        "mysql+pymysql://root@127.0.0.1:{}/{}",
        server.port(),
        cell.name
    );
    let ca_file = ca.ca_cert.display().to_string();

    // Verified, as PyMySQL does with ssl_ca (host name included).
    let run = check_with(&format!("{base}?ssl_ca={ca_file}"));
    assert_connected_with_tls(&run);

    // A CA that did not sign the server's certificate.
    let run = check_with(&format!("{base}?ssl_ca={}", ca.other_ca_cert.display()));
    assert_one_line_failure(&run, &["not signed by the CA given"]);

    // A client certificate, for an account that requires one.
    let client = format!(
        "mysql+pymysql://{CLIENT_USER}@127.0.0.1:{}/{}?ssl_ca={ca_file}&ssl_cert={}&ssl_key={}",
        server.port(),
        cell.name,
        ca.client_cert.display(),
        ca.client_key.display()
    );
    assert_connected_with_tls(&check_with(&client));
    // The same account without one is refused.
    let run = check_with(&format!(
        "mysql+pymysql://{CLIENT_USER}@127.0.0.1:{}/{}?ssl_ca={ca_file}",
        server.port(),
        cell.name
    ));
    assert_eq!(run.code, 1, "{run:?}");
}

#[tokio::test]
async fn mariadb_tls_names_a_wrong_host_and_a_server_without_tls() {
    let ca = TestCa::new();
    let server = MariaDb::start_tls(&ca, ServerCert::WrongHost, false);
    let cell = cell_on(Backend::MySql, server.url()).await;
    let base = format!(
        "mysql+pymysql://root@127.0.0.1:{}/{}?ssl_ca={}",
        server.port(),
        cell.name,
        ca.ca_cert.display()
    );
    let run = check_with(&base);
    assert_one_line_failure(&run, &["not valid for the host name"]);
    // PyMySQL's ssl_check_hostname=false: the chain is still verified.
    assert_connected_with_tls(&check_with(&format!("{base}&ssl_check_hostname=false")));

    let plain = MariaDb::start();
    let cell = cell_on(Backend::MySql, plain.url()).await;
    let run = check_with(&format!(
        "mysql+pymysql://root@127.0.0.1:{}/{}?ssl_ca={}",
        plain.port(),
        cell.name,
        ca.ca_cert.display()
    ));
    assert_one_line_failure(&run, &["the server does not offer it"]);
    // Without TLS asked for, a plain server is fine, and says so.
    let run = check_with(&format!(
        "mysql+pymysql://root@127.0.0.1:{}/{}",
        plain.port(),
        cell.name
    ));
    assert!(run.stderr.contains("connected: no TLS"), "{run:?}");
}

#[tokio::test]
async fn postgresql_tls_as_nova_conf_asks_for_it() {
    let ca = TestCa::new();
    let server = Postgres::start_tls(&ca, ServerCert::Localhost, false);
    let cell = cell_on(Backend::Postgres, server.url()).await;
    let base = format!(
        "postgresql+psycopg2://postgres@127.0.0.1:{}/{}",
        server.port(),
        cell.name
    );
    let ca_file = ca.ca_cert.display().to_string();

    // libpq's default, prefer: TLS when the server offers it.
    assert_connected_with_tls(&check_with(&base));
    // Verified in full.
    assert_connected_with_tls(&check_with(&format!(
        "{base}?sslmode=verify-full&sslrootcert={ca_file}"
    )));
    // A CA that did not sign the server's certificate.
    let run = check_with(&format!(
        "{base}?sslmode=verify-full&sslrootcert={}",
        ca.other_ca_cert.display()
    ));
    assert_one_line_failure(&run, &["not signed by the CA given"]);
    // A client certificate, for a role that logs in only with one.
    let client = format!(
        "postgresql+psycopg2://{CLIENT_USER}@127.0.0.1:{}/{}?sslmode=verify-full&sslrootcert={ca_file}&sslcert={}&sslkey={}",
        server.port(),
        cell.name,
        ca.client_cert.display(),
        ca.client_key.display()
    );
    assert_connected_with_tls(&check_with(&client));
}

#[tokio::test]
async fn postgresql_tls_names_a_wrong_host_and_a_server_without_tls() {
    let ca = TestCa::new();
    let server = Postgres::start_tls(&ca, ServerCert::WrongHost, false);
    let cell = cell_on(Backend::Postgres, server.url()).await;
    let base = format!(
        "postgresql+psycopg2://postgres@127.0.0.1:{}/{}?sslrootcert={}",
        server.port(),
        cell.name,
        ca.ca_cert.display()
    );
    let run = check_with(&format!("{base}&sslmode=verify-full"));
    assert_one_line_failure(&run, &["not valid for the host name"]);
    // verify-ca checks the chain, not the name.
    assert_connected_with_tls(&check_with(&format!("{base}&sslmode=verify-ca")));

    let plain = Postgres::start();
    let cell = cell_on(Backend::Postgres, plain.url()).await;
    let run = check_with(&format!(
        "postgresql+psycopg2://postgres@127.0.0.1:{}/{}?sslmode=require",
        plain.port(),
        cell.name
    ));
    assert_one_line_failure(&run, &["the server does not offer it"]);
}
