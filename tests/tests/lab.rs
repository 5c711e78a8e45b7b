//! Smoke tests of the test lab (`nova_purge_tests::servers`): each topology
//! comes up, does what it is for, and goes away; a crashed run's leftovers
//! are swept. They test the harness, not nova-purge.
//!
//! TLS is checked with the `mariadb` and `psql` clients (the workspace's
//! sqlx has no TLS): a verified connection works and the server says it is
//! encrypted; the wrong CA, the wrong host name, a missing or foreign
//! client certificate, and plain connections where TLS is required all
//! fail. Each test prints its timings (`--no-capture` shows them).

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nova_purge_tests::servers::{
    claim_port, psql, sweep, Galera, LabDir, MariaDb, MariaDbReplication, Postgres,
    PostgresReplication, ServerCert, TestCa, CLIENT_USER, LAB_PREFIX, LAB_ROOT,
};

/// Runs a client; asserts it succeeds; its stdout, trimmed.
fn ok(command: &mut Command) -> String {
    let output = command.output().expect("run the client");
    assert!(
        output.status.success(),
        "{command:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

/// Runs a client; asserts it fails; its stderr.
fn fails(command: &mut Command) -> String {
    let output = command.output().expect("run the client");
    assert!(
        !output.status.success(),
        "{command:?} succeeded: {}",
        String::from_utf8_lossy(&output.stdout)
    );
    String::from_utf8_lossy(&output.stderr).trim().to_owned()
}

fn arg(name: &str, path: &Path) -> String {
    format!("--{name}={}", path.display())
}

fn since(started: Instant) -> String {
    format!("{:.1}s", started.elapsed().as_secs_f64())
}

// ---------------------------------------------------------------------------
// TLS
// ---------------------------------------------------------------------------

const SSL_CIPHER: &str = "--execute=SHOW SESSION STATUS LIKE 'Ssl_cipher'";

#[test]
fn tls_mariadb() {
    let started = Instant::now();
    let ca = TestCa::new();
    let server = MariaDb::start_tls(&ca, ServerCert::Localhost, false);
    let up = since(started);

    // Verified: the CA signed it and it names 127.0.0.1.
    let cipher = ok(server
        .client()
        .args([
            "--ssl",
            &arg("ssl-ca", &ca.ca_cert),
            "--ssl-verify-server-cert",
        ])
        .arg(SSL_CIPHER));
    let cipher = cipher.strip_prefix("Ssl_cipher\t").expect("Ssl_cipher");
    assert!(!cipher.is_empty(), "no cipher: the connection is not TLS");

    // Another CA does not verify it.
    let error = fails(
        server
            .client()
            .args([
                "--ssl",
                &arg("ssl-ca", &ca.other_ca_cert),
                "--ssl-verify-server-cert",
            ])
            .arg("--execute=SELECT 1"),
    );
    assert!(error.contains("SSL") || error.contains("TLS"), "{error}");

    // TLS is not required: plain works, and is plain.
    let plain = ok(server.client().arg("--skip-ssl").arg(SSL_CIPHER));
    assert_eq!(plain, "Ssl_cipher", "a cipher: {plain}"); // (trimmed: no value)

    // The client certificate: required for np_client, and from our CA.
    let as_client = |cert: &Path, key: &Path| {
        let mut command = server.client();
        command.args([
            &format!("--user={CLIENT_USER}"),
            "--ssl",
            &arg("ssl-ca", &ca.ca_cert),
            "--ssl-verify-server-cert",
            &arg("ssl-cert", cert),
            &arg("ssl-key", key),
            "--execute=SELECT CURRENT_USER()",
        ]);
        command
    };
    assert_eq!(
        ok(&mut as_client(&ca.client_cert, &ca.client_key)),
        format!("{CLIENT_USER}@%")
    );
    let error = fails(
        server
            .client()
            .args([&format!("--user={CLIENT_USER}"), "--ssl"])
            .arg(arg("ssl-ca", &ca.ca_cert))
            .arg("--execute=SELECT 1"),
    );
    assert!(error.contains("Access denied"), "{error}");
    fails(&mut as_client(&ca.other_client_cert, &ca.other_client_key));

    eprintln!(
        "tls_mariadb: server up in {up}, test done in {}",
        since(started)
    );
}

#[test]
fn tls_mariadb_wrong_host_required_and_none() {
    let started = Instant::now();
    let ca = TestCa::new();
    let server = MariaDb::start_tls(&ca, ServerCert::WrongHost, true);
    let none = MariaDb::start();
    let up = since(started);

    // Signed by the CA, for another host: verifying the server fails (the
    // mariadb client checks the chain and the host name together, or
    // nothing: without --ssl-verify-server-cert it connects).
    let error = fails(
        server
            .client()
            .args([
                "--ssl",
                &arg("ssl-ca", &ca.ca_cert),
                "--ssl-verify-server-cert",
            ])
            .arg("--execute=SELECT 1"),
    );
    assert!(
        error.contains("Validation of SSL server certificate failed"),
        "{error}"
    );
    let cipher = ok(server
        .client()
        .args(["--ssl", &arg("ssl-ca", &ca.ca_cert)])
        .arg(SSL_CIPHER));
    assert!(cipher.len() > "Ssl_cipher\t".len(), "{cipher}");

    // require_secure_transport: no plain connection (MariaDB says "Access
    // denied", error 1045, to a plain login it refuses for that).
    let error = fails(server.client().arg("--skip-ssl").arg("--execute=SELECT 1"));
    assert!(
        error.contains("Access denied") || error.contains("insecure transport"),
        "{error}"
    );
    assert_eq!(server.variable("require_secure_transport"), "1");

    // A server without TLS: a client that requires it fails.
    assert_eq!(none.variable("have_ssl"), "DISABLED");
    let error = fails(
        none.client()
            .args([
                "--ssl",
                &arg("ssl-ca", &ca.ca_cert),
                "--ssl-verify-server-cert",
            ])
            .arg("--execute=SELECT 1"),
    );
    assert!(error.contains("SSL") || error.contains("TLS"), "{error}");

    eprintln!(
        "tls_mariadb_wrong_host_required_and_none: servers up in {up}, test done in {}",
        since(started)
    );
}

/// psql with a connection string, asking whether this session is TLS.
fn psql_ssl(conninfo: &str) -> Command {
    let mut command = psql();
    command.arg(conninfo).args([
        "-c",
        "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
    ]);
    command
}

#[test]
fn tls_postgres() {
    let started = Instant::now();
    let ca = TestCa::new();
    let server = Postgres::start_tls(&ca, ServerCert::Localhost, false);
    let up = since(started);
    let base = server.conninfo();
    let root = ca.ca_cert.display();

    // Verified, host name included: the server says TLS.
    let full = format!("{base} sslmode=verify-full sslrootcert={root}");
    assert_eq!(ok(&mut psql_ssl(&full)), "t");

    // Another CA does not verify it.
    let other = format!(
        "{base} sslmode=verify-full sslrootcert={}",
        ca.other_ca_cert.display()
    );
    let error = fails(&mut psql_ssl(&other));
    assert!(error.contains("certificate verify failed"), "{error}");

    // TLS is not required: plain works, and is plain.
    assert_eq!(ok(&mut psql_ssl(&format!("{base} sslmode=disable"))), "f");

    // The client certificate: np_client logs in with ours only.
    let client = |cert: &Path, key: &Path| {
        let mut command = psql();
        command
            .arg(format!(
                "host=127.0.0.1 port={} dbname=postgres user={CLIENT_USER} \
                 sslmode=verify-full sslrootcert={root} sslcert={} sslkey={}",
                server.port(),
                cert.display(),
                key.display()
            ))
            .args(["-c", "SELECT current_user"]);
        command
    };
    assert_eq!(
        ok(&mut client(&ca.client_cert, &ca.client_key)),
        CLIENT_USER
    );
    let error = fails(psql().arg(format!(
        "host=127.0.0.1 port={} dbname=postgres user={CLIENT_USER} \
         sslmode=verify-full sslrootcert={root} sslcert=/nonexistent sslkey=/nonexistent",
        server.port()
    )));
    assert!(error.contains("certificate"), "{error}");
    fails(&mut client(&ca.other_client_cert, &ca.other_client_key));

    eprintln!(
        "tls_postgres: server up in {up}, test done in {}",
        since(started)
    );
}

#[test]
fn tls_postgres_wrong_host_required_and_none() {
    let started = Instant::now();
    let ca = TestCa::new();
    let server = Postgres::start_tls(&ca, ServerCert::WrongHost, true);
    let none = Postgres::start();
    let up = since(started);
    let base = server.conninfo();
    let root = ca.ca_cert.display();

    // Signed by the CA, for another host.
    let error = fails(&mut psql_ssl(&format!(
        "{base} sslmode=verify-full sslrootcert={root}"
    )));
    assert!(error.contains("does not match host name"), "{error}");
    assert_eq!(
        ok(&mut psql_ssl(&format!(
            "{base} sslmode=verify-ca sslrootcert={root}"
        ))),
        "t"
    );

    // TLS required (hostnossl ... reject): no plain connection.
    let error = fails(&mut psql_ssl(&format!("{base} sslmode=disable")));
    assert!(error.contains("no encryption"), "{error}");

    // A server without TLS: a client that requires it fails.
    let error = fails(&mut psql_ssl(&format!(
        "{} sslmode=require",
        none.conninfo()
    )));
    assert!(error.contains("does not support SSL"), "{error}");

    eprintln!(
        "tls_postgres_wrong_host_required_and_none: servers up in {up}, test done in {}",
        since(started)
    );
}

// ---------------------------------------------------------------------------
// Galera
// ---------------------------------------------------------------------------

/// A read that waits for the node to have applied every write the cluster
/// committed before it (wsrep_sync_wait).
fn causal(sql: &str) -> String {
    format!("SET SESSION wsrep_sync_wait = 1; {sql}")
}

#[test]
fn galera() {
    let started = Instant::now();
    let mut cluster = Galera::start();
    let formed = since(started);
    for n in 1..=3 {
        let status = cluster.status(n);
        assert!(status.is_synced(), "node {n}: {status:?}");
        assert_eq!(status.cluster_size, 3);
        assert!(status.flow_control_paused >= 0.0);
        assert_eq!(status.local_recv_queue, 0, "node {n}: {status:?}");
    }
    assert_eq!(cluster.urls().len(), 3);

    // Written on node 1, read on node 3.
    cluster.node(1).sql(
        "CREATE DATABASE lab; \
         CREATE TABLE lab.t (id INT PRIMARY KEY, v VARCHAR(20)); \
         INSERT INTO lab.t VALUES (1, 'one')",
    );
    assert_eq!(
        cluster
            .node(3)
            .sql(&causal("SELECT v FROM lab.t WHERE id = 1")),
        "one"
    );

    // Node 2 killed: the others go on as a cluster of two.
    let t = Instant::now();
    cluster.kill(2);
    cluster.wait_cluster_size(1, 2);
    cluster.wait_cluster_size(3, 2);
    let evicted = since(t);
    cluster.node(1).sql("INSERT INTO lab.t VALUES (2, 'two')");

    // Restarted, it rejoins and gets what it missed.
    let t = Instant::now();
    cluster.restart(2);
    let rejoined = since(t);
    assert_eq!(cluster.status(1).cluster_size, 3);
    assert_eq!(
        cluster
            .node(2)
            .sql(&causal("SELECT v FROM lab.t WHERE id = 2")),
        "two"
    );

    // Node 3 isolated: out of the primary component, refusing queries.
    let t = Instant::now();
    cluster.isolate(3);
    let isolated = since(t);
    let status = cluster.status(3);
    assert_eq!(status.cluster_status, "non-Primary");
    assert!(!status.ready, "{status:?}");
    let error = cluster
        .node(3)
        .try_sql("SELECT v FROM lab.t")
        .expect_err("an isolated node refuses queries");
    assert!(error.contains("WSREP"), "{error}");
    assert_eq!(cluster.status(1).cluster_size, 2);
    assert!(cluster.status(1).is_synced());

    // Back.
    let t = Instant::now();
    cluster.rejoin(3);
    let back = since(t);
    assert_eq!(cluster.status(3).cluster_size, 3);
    assert_eq!(
        cluster.node(3).sql(&causal("SELECT COUNT(*) FROM lab.t")),
        "2"
    );

    eprintln!(
        "galera: formed in {formed}; killed node evicted in {evicted}, rejoined in {rejoined}; \
         isolated in {isolated}, back in {back}; test done in {}",
        since(started)
    );
}

// ---------------------------------------------------------------------------
// Replication
// ---------------------------------------------------------------------------

#[test]
fn mariadb_replication() {
    let started = Instant::now();
    let replication = MariaDbReplication::start();
    let up = since(started);
    let (primary, replica) = (&replication.primary, &replication.replica);
    assert_eq!(replica.variable("read_only"), "1");

    primary.sql(
        "CREATE DATABASE lab; \
         CREATE TABLE lab.t (id INT PRIMARY KEY, v VARCHAR(20)); \
         INSERT INTO lab.t VALUES (1, 'one')",
    );
    replication.wait_caught_up();
    assert_eq!(replica.sql("SELECT v FROM lab.t WHERE id = 1"), "one");
    let status = replication.status();
    assert_eq!(status.io_running, "Yes");
    assert!(status.sql_running);
    assert_eq!(status.seconds_behind_master, Some(0));
    assert!(status.errors.is_empty(), "{status:?}");

    // SQL thread stopped: received, not applied.
    replication.stop_sql_thread();
    primary.sql("INSERT INTO lab.t VALUES (2, 'two')");
    let position = primary.variable("gtid_binlog_pos");
    nova_purge_tests::servers::wait_for("the replica to receive", Duration::from_secs(30), || {
        let status = replication.status();
        if status.gtid_io_pos == position {
            Ok(())
        } else {
            Err(format!("{status:?}"))
        }
    });
    assert!(!replication.is_caught_up());
    assert_eq!(replica.sql("SELECT COUNT(*) FROM lab.t"), "1");
    let status = replication.status();
    assert!(!status.sql_running);
    assert_eq!(status.seconds_behind_master, None);

    // Started again: it catches up.
    replication.start_sql_thread();
    replication.wait_caught_up();
    assert!(replication.is_caught_up());
    assert_eq!(replica.sql("SELECT v FROM lab.t WHERE id = 2"), "two");
    assert_eq!(replication.seconds_behind_master(), Some(0));

    eprintln!(
        "mariadb_replication: up in {up}, test done in {}",
        since(started)
    );
}

#[test]
fn postgres_replication() {
    let started = Instant::now();
    let replication = PostgresReplication::start();
    let up = since(started);
    let (primary, replica) = (&replication.primary, &replication.replica);
    assert_eq!(replica.sql("SELECT pg_is_in_recovery()"), "t");

    primary.sql("CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t VALUES (1, 'one')");
    replication.wait_caught_up();
    assert_eq!(replica.sql("SELECT v FROM t WHERE id = 1"), "one");
    assert_eq!(replication.replication().replay_lag_bytes, 0);
    let error = replica
        .try_sql("INSERT INTO t VALUES (9, 'nine')")
        .expect_err("a standby is read-only");
    assert!(error.contains("read-only"), "{error}");

    // Replay paused: the primary sees the replica fall behind.
    replication.pause_replay();
    primary.sql("INSERT INTO t VALUES (2, 'two')");
    let lag = nova_purge_tests::servers::wait_for(
        "the primary to see the replica lag",
        Duration::from_secs(30),
        || {
            let r = replication.replication();
            if r.replay_lag_bytes > 0 {
                Ok(r)
            } else {
                Err(format!("{r:?}"))
            }
        },
    );
    assert_eq!(replica.sql("SELECT COUNT(*) FROM t"), "1");
    assert_eq!(replication.replay_pause_state(), "paused");

    // Resumed: it catches up.
    replication.resume_replay();
    replication.wait_caught_up();
    assert_eq!(replica.sql("SELECT v FROM t WHERE id = 2"), "two");
    assert_eq!(replication.replication().replay_lag_bytes, 0);

    eprintln!(
        "postgres_replication: up in {up} (lag while paused: {} bytes), test done in {}",
        lag.replay_lag_bytes,
        since(started)
    );
}

// ---------------------------------------------------------------------------
// Crash safety
// ---------------------------------------------------------------------------

/// (pid, start time) of a process, if alive and not a zombie.
fn start_time(pid: u32) -> Option<String> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split(' ').collect();
    if fields[0] == "Z" {
        return None;
    }
    Some(fields[19].to_owned())
}

/// Live (non-zombie) members of a process group.
fn group_members(pgid: u32) -> Vec<u32> {
    fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
                return false;
            };
            let rest = &stat[stat.rfind(')').unwrap() + 2..];
            let fields: Vec<&str> = rest.split(' ').collect();
            fields[0] != "Z" && fields[2] == pgid.to_string()
        })
        .collect()
}

#[test]
fn sweep_removes_what_a_dead_test_left_and_nothing_else() {
    let started = Instant::now();
    // A live test's directory (ours) and its server must survive. (Started
    // first: the harness sweeps when a test first uses it.)
    let live = MariaDb::start();
    let live_pid = live.pid().unwrap();
    let live_dir = live.dir().to_path_buf();
    // A test process that died: a child that is gone by now.
    let mut dead = Command::new("sleep").arg("5").spawn().unwrap();
    let dead_start = start_time(dead.id()).unwrap();
    dead.kill().unwrap();
    dead.wait().unwrap();
    let stale = Path::new(LAB_ROOT).join(format!("{LAB_PREFIX}{}-{dead_start}-fake-0", dead.id()));
    fs::create_dir_all(stale.join("server/data")).unwrap();
    // Its "server": a process group whose leader names the directory on its
    // command line, recorded in a pid file, with a child that does not.
    let mut server = {
        use std::os::unix::process::CommandExt;
        Command::new("sh")
            .args(["-c", "sleep 600 & wait"])
            .arg(stale.join("server/my.cnf"))
            .stdout(Stdio::null())
            .process_group(0)
            .spawn()
            .unwrap()
    };
    fs::write(stale.join("server.pid"), server.id().to_string()).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(group_members(server.id()).len(), 2, "sh and its sleep");
    // A dead process's port claim.
    let claim = Path::new("/tmp/np-lab-ports/31999");
    let planted = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(claim)
        .map(|mut file| {
            use std::io::Write;
            write!(file, "{} {dead_start}", dead.id()).unwrap();
        })
        .is_ok();

    sweep();

    assert!(!stale.exists(), "the dead test's directory is still there");
    assert!(server.wait().is_ok());
    assert!(
        group_members(server.id()).is_empty(),
        "its processes live on"
    );
    assert!(live_dir.exists());
    assert!(start_time(live_pid).is_some(), "the live server was killed");
    assert_eq!(live.sql("SELECT 1"), "1");
    if planted {
        assert!(
            !claim.exists(),
            "the dead process's port claim is still there"
        );
    }
    eprintln!("sweep: test done in {}", since(started));
}

#[test]
fn servers_stop_when_their_handle_drops_even_on_panic() {
    let started = Instant::now();
    let mut seen = None;
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let server = Postgres::start();
        seen = Some((
            server.pid().unwrap(),
            server.dir().to_path_buf(),
            server.port(),
        ));
        panic!("a deliberate panic, the server's handle alive (expected)");
    }));
    assert!(result.is_err());
    let (pid, dir, port) = seen.expect("the server started");
    assert!(start_time(pid).is_none(), "the server outlived its handle");
    assert!(!dir.exists(), "its directory outlived its handle");
    assert!(
        !Path::new(&format!("/tmp/np-lab-ports/{port}")).exists(),
        "its port claim outlived its handle"
    );
    // The port is free to claim again (by anyone).
    drop(claim_port());
    let lab = LabDir::new("empty");
    assert!(lab.path().exists());
    eprintln!("drop on panic: test done in {}", since(started));
}
