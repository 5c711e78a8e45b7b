//! Running it the way nova-manage runs: nova.conf files with SQLAlchemy
//! URLs, precedence between files, directories and flags, and bad files.

use std::path::{Path, PathBuf};

use nova_purge_tests::{nova_purge, uuid, TestDb};
use purge_api::Backend;

use super::cells::{sqlalchemy, Deployment};

/// A directory of nova.conf files, removed when dropped.
struct ConfDir(PathBuf);

impl ConfDir {
    fn new(label: &str) -> ConfDir {
        let dir = std::env::temp_dir().join(format!("np-conf-{}-{label}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        ConfDir(dir)
    }

    fn write(&self, name: &str, text: &str) -> String {
        let path = self.0.join(name);
        std::fs::write(&path, text).unwrap();
        path.display().to_string()
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for ConfDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A database user whose password needs percent-encoding in a URL, allowed
/// into the deployment's databases. MariaDB checks it; PostgreSQL's trust
/// authentication here does not, but the URL is still decoded.
const ODD_PASSWORD: &str = "p@ss:w/rd%1";
const ODD_PASSWORD_ENCODED: &str = "p%40ss%3Aw%2Frd%251";

async fn odd_user(deployment: &Deployment, backend: Backend) -> String {
    let user = format!("np_pw_{}", std::process::id());
    match backend {
        Backend::MySql => {
            for host in ["localhost", "127.0.0.1", "%"] {
                deployment.api.execute(&format!("CREATE USER IF NOT EXISTS '{user}'@'{host}' IDENTIFIED BY '{ODD_PASSWORD}'")).await;
                for db in [&deployment.api, &deployment.cell0, &deployment.cell1] {
                    deployment
                        .api
                        .execute(&format!(
                            "GRANT ALL ON `{}`.* TO '{user}'@'{host}'",
                            db.name
                        ))
                        .await;
                }
            }
        }
        _ => {
            deployment
                .api
                .execute(&format!(
                    "DO $$ BEGIN CREATE ROLE {user} LOGIN SUPERUSER PASSWORD '{ODD_PASSWORD}'; EXCEPTION WHEN duplicate_object THEN NULL; END $$"
                ))
                .await;
        }
    }
    user
}

async fn drop_odd_user(deployment: &Deployment, backend: Backend, user: &str) {
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
            deployment
                .api
                .execute(&format!("DROP ROLE IF EXISTS {user}"))
                .await
        }
    }
}

/// `scheme://user:password@host:port/db` with the odd user, SQLAlchemy form.
fn with_odd_user(test_db: &TestDb, user: &str) -> String {
    let url = sqlalchemy(&test_db.url);
    let (scheme, rest) = url.split_once("://").unwrap();
    let host_and_db = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
    format!("{scheme}://{user}:{ODD_PASSWORD_ENCODED}@{host_and_db}?charset=utf8")
}

async fn nova_conf_with_sqlalchemy_urls_and_an_encoded_password(backend: Backend) {
    let deployment = Deployment::new(backend).await;
    let user = odd_user(&deployment, backend).await;
    let conf = ConfDir::new(&format!("{backend:?}-odd"));
    let cell_url = with_odd_user(&deployment.cell1, &user);
    let api_url = with_odd_user(&deployment.api, &user).replace("?charset=utf8", "");
    // cell1's template must carry the password now that the local
    // connection has one.
    deployment
        .api
        .execute(&format!(
            "UPDATE cell_mappings SET database_connection = '{{scheme}}://{{username}}:{{password}}@{{hostname}}:{{port}}/{}?{{query}}' WHERE id = 2",
            deployment.cell1.name
        ))
        .await;
    let file = conf.write(
        "nova.conf",
        &format!("[DEFAULT]\ndebug = true\n\n[database]\nconnection = {cell_url}\n\n[api_database]\nconnection = {api_url}\n"),
    );
    let run = nova_purge(
        &[
            "--config-file",
            &file,
            "purge",
            "--all-cells",
            "--yes",
            "--format",
            "json",
            "-vv",
        ],
        &[],
    );
    drop_odd_user(&deployment, backend, &user).await;
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.json()["instances"], 4);
    for secret in [ODD_PASSWORD, ODD_PASSWORD_ENCODED] {
        assert!(
            !run.stderr.contains(secret) && !run.stdout.contains(secret),
            "password leaked: {run:?}"
        );
    }
    let api = deployment.api.snapshot().await;
    assert!(api
        .rows_where("instance_mappings", "instance_uuid", &uuid(20))
        .is_empty());
}

async fn later_files_and_flags_win(backend: Backend) {
    let deployment = Deployment::new(backend).await;
    let conf = ConfDir::new(&format!("{backend:?}-precedence"));
    let nowhere =
        sqlalchemy(&deployment.cell1.url).replace(&deployment.cell1.name, "np_no_such_database");
    let first = conf.write(
        "1.conf",
        &format!("[database]\nconnection = {nowhere}\n[api_database]\nconnection = {nowhere}\n"),
    );
    let second = conf.write(
        "2.conf",
        &format!(
            "[database]\nconnection = {}\n[api_database]\nconnection = {}\n",
            sqlalchemy(&deployment.cell1.url),
            sqlalchemy(&deployment.api.url)
        ),
    );
    // The later file wins.
    let run = nova_purge(
        &[
            "--config-file",
            &first,
            "--config-file",
            &second,
            "purge",
            "--dry-run",
            "--format",
            "json",
        ],
        &[],
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.json()["cells"][0]["name"], "cell1");
    // The earlier file alone points nowhere.
    let run = nova_purge(
        &[
            "--config-file",
            &second,
            "--config-file",
            &first,
            "purge",
            "--dry-run",
        ],
        &[],
    );
    assert_eq!(run.code, 1, "{run:?}");
    // A flag wins over every file.
    let run = nova_purge(
        &[
            "--config-file",
            &first,
            "--database-url",
            &deployment.cell0.url,
            "--api-database-url",
            &deployment.api.url,
            "purge",
            "--dry-run",
            "--format",
            "json",
        ],
        &[],
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.json()["cells"][0]["name"], "cell0");
    // A directory's files in name order, after the files.
    let dir = ConfDir::new(&format!("{backend:?}-dir"));
    dir.write(
        "10-wrong.conf",
        &format!("[database]\nconnection = {nowhere}\n"),
    );
    dir.write(
        "20-right.conf",
        &format!(
            "[database]\nconnection = {}\n",
            sqlalchemy(&deployment.cell0.url)
        ),
    );
    dir.write("30-ignored.txt", "[database]\nconnection = nonsense\n");
    let run = nova_purge(
        &[
            "--config-file",
            &first,
            "--config-dir",
            &dir.path().display().to_string(),
            "--api-database-url",
            &deployment.api.url,
            "purge",
            "--dry-run",
            "--format",
            "json",
        ],
        &[],
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.json()["cells"][0]["name"], "cell0");
}

on_every_server!(
    nova_conf_with_sqlalchemy_urls_and_an_encoded_password,
    later_files_and_flags_win
);

#[test]
fn bad_configuration_files_name_the_file_section_and_key() {
    let conf = ConfDir::new("bad");
    let missing = conf.path().join("missing.conf").display().to_string();
    let no_api = conf.write(
        "no-api.conf",
        "[database]\nconnection = mysql+pymysql://nova:s3cret@127.0.0.1/nova\n",
    );
    let bad_url = conf.write(
        "bad-url.conf",
        "[database]\nconnection = mysql+pymysql://nova:s3cret@[::1/nova\n",
    );
    let oracle = conf.write(
        "oracle.conf",
        "[database]\nconnection = oracle://nova:s3cret@db/nova\n",
    );
    let garbage = conf.write("garbage.conf", "connection = before any section\n");
    let cases: [(&[&str], &str); 5] = [
        (
            &["--config-file", &missing, "purge", "--dry-run"],
            "missing.conf",
        ),
        (
            &[
                "--config-file",
                &no_api,
                "purge",
                "--all-cells",
                "--dry-run",
            ],
            "--api-database-url",
        ),
        (
            &["--config-file", &bad_url, "purge", "--dry-run"],
            "[database] connection",
        ),
        (
            &["--config-file", &oracle, "purge", "--dry-run"],
            "[database] connection",
        ),
        (
            &["--config-file", &garbage, "purge", "--dry-run"],
            "garbage.conf",
        ),
    ];
    for (args, needle) in cases {
        let run = nova_purge(args, &[]);
        assert_eq!(run.code, 2, "{args:?}: {run:?}");
        let lines: Vec<&str> = run.stderr.lines().collect();
        assert_eq!(lines.len(), 1, "one line: {run:?}");
        assert!(
            lines[0].starts_with("error: ") && lines[0].contains(needle),
            "{needle}: {run:?}"
        );
        assert!(!run.stderr.contains("s3cret"), "password leaked: {run:?}");
    }
}
