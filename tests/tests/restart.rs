//! A database server that restarts in the middle of a purge. The servers
//! the rest of the suite shares cannot be restarted, so each test starts a
//! private MariaDB or PostgreSQL server of its own (the installed binaries,
//! a data directory under /tmp, a free port on 127.0.0.1), stops it hard
//! (SIGKILL for MariaDB, `pg_ctl stop -m immediate` for PostgreSQL: a crash,
//! not a clean shutdown) while a purge runs, and starts it again.
//!
//! Expected: the purge ends with one `error:` line and exit code 1; every
//! instance is whole or gone, nothing else changed, no orphan; and a rerun
//! converges to exactly the expected state.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nova_purge_tests::{orphans, populate, spawn_nova_purge, InstanceRows, Presence, TestDb};
use purge_api::Backend;
use purge_fixture::Fixture;

/// A server of our own, stopped and its files removed when dropped.
struct PrivateServer {
    backend: Backend,
    dir: PathBuf,
    port: u16,
    /// The running mariadbd (PostgreSQL runs under pg_ctl).
    mariadbd: Option<Child>,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn run(command: &mut Command, what: &str) {
    let output = command.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        output.status.success(),
        "{what} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The newest installed PostgreSQL's binaries.
fn postgres_bin(program: &str) -> PathBuf {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL is installed under /usr/lib/postgresql")
        .map(|e| e.unwrap().path())
        .collect();
    versions.sort();
    versions
        .last()
        .expect("a PostgreSQL version")
        .join("bin")
        .join(program)
}

impl PrivateServer {
    fn start(backend: Backend) -> PrivateServer {
        let dir =
            std::env::temp_dir().join(format!("np-restart-{backend:?}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let owner = if backend == Backend::MySql {
            "mysql"
        } else {
            "postgres"
        };
        run(
            Command::new("chown").args([owner, &dir.display().to_string()]),
            "chown",
        );
        let mut server = PrivateServer {
            backend,
            dir,
            port: free_port(),
            mariadbd: None,
        };
        match backend {
            Backend::MySql => run(
                Command::new("mariadb-install-db").args([
                    "--no-defaults",
                    "--user=mysql",
                    "--auth-root-authentication-method=normal",
                    &format!("--datadir={}", server.data().display()),
                ]),
                "mariadb-install-db",
            ),
            _ => run(
                Command::new("runuser")
                    .args(["-u", "postgres", "--"])
                    .arg(postgres_bin("initdb"))
                    .args([
                        "--auth=trust",
                        "--username=postgres",
                        "--no-sync",
                        "-D",
                        &server.data().display().to_string(),
                    ]),
                "initdb",
            ),
        }
        server.up();
        server
    }

    fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    fn url(&self) -> String {
        match self.backend {
            Backend::MySql => format!("mysql://root@127.0.0.1:{}", self.port),
            _ => format!("postgres://postgres@127.0.0.1:{}", self.port),
        }
    }

    fn up(&mut self) {
        match self.backend {
            Backend::MySql => {
                let child = Command::new("mariadbd")
                    .args([
                        "--no-defaults".to_owned(),
                        "--user=mysql".to_owned(),
                        format!("--datadir={}", self.data().display()),
                        format!("--port={}", self.port),
                        "--bind-address=127.0.0.1".to_owned(),
                        format!("--socket={}", self.dir.join("sock").display()),
                        "--skip-grant-tables".to_owned(),
                        "--innodb-buffer-pool-size=32M".to_owned(),
                    ])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .expect("mariadbd is installed");
                self.mariadbd = Some(child);
            }
            _ => run(
                Command::new("runuser")
                    .args(["-u", "postgres", "--"])
                    .arg(postgres_bin("pg_ctl"))
                    .args([
                        "-D",
                        &self.data().display().to_string(),
                        "-l",
                        &self.dir.join("log").display().to_string(),
                        "-o",
                        &format!(
                            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
                            self.port,
                            self.dir.display()
                        ),
                        "-w",
                        "start",
                    ]),
                "pg_ctl start",
            ),
        }
        let deadline = Instant::now() + Duration::from_secs(60);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "the private server did not start"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        // Accepting connections is not yet answering queries.
        std::thread::sleep(Duration::from_millis(500));
    }

    /// A crash: no clean shutdown.
    fn down(&mut self) {
        match self.backend {
            Backend::MySql => {
                if let Some(mut child) = self.mariadbd.take() {
                    let _ = child.kill();
                    let _ = child.wait();
                }
            }
            _ => {
                let _ = Command::new("runuser")
                    .args(["-u", "postgres", "--"])
                    .arg(postgres_bin("pg_ctl"))
                    .args([
                        "-D",
                        &self.data().display().to_string(),
                        "-m",
                        "immediate",
                        "-w",
                        "stop",
                    ])
                    .output();
            }
        }
    }
}

impl Drop for PrivateServer {
    fn drop(&mut self) {
        self.down();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

async fn a_restart_mid_purge_leaves_every_instance_whole_or_gone(backend: Backend) {
    let mut server = PrivateServer::start(backend);
    let fixture = Fixture::full();
    let test_db = TestDb::empty_on(backend, server.url()).await;
    fixture.create(&test_db.db).await.expect("fixture schema");
    let population = populate(&test_db, &fixture, 150, 0).await;
    let before = test_db.snapshot().await;
    let rows = InstanceRows::of(&before);
    test_db.db.close().await;

    let mut purge = spawn_nova_purge(
        &[
            "-q",
            "--database-url",
            &test_db.url,
            "purge",
            "--yes",
            "--batch-size",
            "1",
            "--sleep",
            "20ms",
        ],
        &[],
    );
    std::thread::sleep(Duration::from_millis(400));
    assert!(
        !purge.has_exited(),
        "the purge ended before the restart; give it more work"
    );
    server.down();
    server.up();
    let run = purge.wait();
    // A restart that hits a batch ends the run with one error line and
    // exit code 1; one that falls between two batches is absorbed (the next
    // batch reconnects) and the run completes. Either way, the invariants.
    match run.code {
        1 => {
            let lines: Vec<&str> = run.stderr.lines().collect();
            assert_eq!(lines.len(), 1, "one line: {run:?}");
            assert!(lines[0].starts_with("error: "), "{run:?}");
            eprintln!("the restart hit a batch: {}", lines[0]);
        }
        0 => eprintln!("the restart fell between two batches; the run completed"),
        _ => panic!("unexpected exit code: {run:?}"),
    }

    let db = TestDb::reconnect(&test_db).await;
    let after = db.snapshot().await;
    let mut gone = 0;
    for uuid in rows.owned.keys() {
        match rows.presence(uuid, &after) {
            Presence::Whole => {}
            Presence::Gone => {
                assert!(
                    population.purgeable.contains(uuid),
                    "{uuid} is gone but was not purgeable"
                );
                gone += 1;
            }
            partial => panic!("{uuid} is half purged after the restart: {partial:?}"),
        }
    }
    assert!(gone > 0, "the restart came before any batch committed");
    assert!(orphans(&after).is_empty(), "{:?}", orphans(&after));
    assert!(rows.lost_permanent_rows(&after).is_empty());

    let rerun = nova_purge_tests::purge_json(&test_db, &["--yes"]);
    assert_eq!(rerun.code, 0, "{rerun:?}");
    let last = db.snapshot().await;
    for uuid in rows.owned.keys() {
        let expected = if population.purgeable.contains(uuid) {
            Presence::Gone
        } else {
            Presence::Whole
        };
        assert_eq!(rows.presence(uuid, &last), expected, "{uuid}");
    }
    assert!(orphans(&last).is_empty());
}

#[tokio::test]
async fn mariadb_restarts() {
    a_restart_mid_purge_leaves_every_instance_whole_or_gone(Backend::MySql).await;
}

#[tokio::test]
async fn postgresql_restarts() {
    a_restart_mid_purge_leaves_every_instance_whole_or_gone(Backend::Postgres).await;
}
