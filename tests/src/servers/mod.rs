//! The test lab: real database servers, private to one test, built on this
//! machine from the installed Debian packages, for what the shared servers
//! (127.0.0.1:3306 and :5432, which the lab never touches) cannot show: a
//! crash and restart, TLS, a Galera cluster, replicas.
//!
//! # Topologies
//!
//! | type | what | started by | directory `<lab>/...` | ports |
//! | --- | --- | --- | --- | --- |
//! | [`MariaDb`] | one MariaDB server, no TLS (`have_ssl` DISABLED) | [`MariaDb::start`] | `mariadb/` | mysqld |
//! | [`Postgres`] | one PostgreSQL server, no TLS (`ssl=off`) | [`Postgres::start`] | `postgres/` | postgres |
//! | [`PrivateServer`] | either of the two, by [`Backend`] | [`PrivateServer::start`] | as above | as above |
//! | [`TestCa`] | a CA, server and client certificates (openssl) | [`TestCa::new`] | `*.crt`, `*.key` | |
//! | TLS MariaDB | `ssl_ca`/`ssl_cert`/`ssl_key`, optionally `require_secure_transport`; user [`CLIENT_USER`] `REQUIRE X509` | [`MariaDb::start_tls`] | `mariadb/`, `mariadb/tls/` | mysqld |
//! | TLS PostgreSQL | `ssl=on`, `hostssl` rules (`host` too, or not), role [`CLIENT_USER`] by `cert` auth | [`Postgres::start_tls`] | `postgres/`, `postgres/tls/` | postgres |
//! | [`Galera`] | three MariaDB Galera nodes (rsync SST) | [`Galera::start`] | `node1/` to `node3/` | per node: mysqld, Galera, IST, SST |
//! | [`MariaDbReplication`] | a MariaDB primary and an asynchronous GTID replica | [`MariaDbReplication::start`] | `primary/`, `replica/` | one each |
//! | [`PostgresReplication`] | a PostgreSQL primary and a streaming hot standby | [`PostgresReplication::start`] | `primary/`, `replica/` | one each |
//!
//! A MariaDB server's directory holds `my.cnf` (every option: mariadbd
//! runs with `--defaults-file`), `data/`, `sock`, `error.log`; a
//! PostgreSQL server's holds `data/`, `pg_hba.conf`, `postgres.log` and
//! its socket (its own settings are `-c` options on its command line).
//! Each module's documentation says more: `mariadb.rs`, `postgres.rs`,
//! `tls.rs`, `galera.rs`, `replication.rs`.
//!
//! Every server listens on 127.0.0.1 only, on ports this harness claims in
//! 20000-31999 (below the kernel's ephemeral range, so that no outgoing
//! connection holds them; see [`Port`]), and logs in without a password:
//! `mysql://root@127.0.0.1:PORT`, `postgres://postgres@127.0.0.1:PORT`
//! (`url()`; add a database name). The harness itself talks to its servers
//! through their Unix sockets with the `mariadb` and `psql` command-line
//! clients (`sql()`), so it needs no TLS and no async runtime.
//!
//! # Files and processes
//!
//! Each topology lives in one directory, `/tmp/np-lab-<pid>-<start>-<tag>-<n>`
//! (`<pid>` and `<start>`: the test process and its start time, so that a
//! reused pid is not mistaken for it), one subdirectory per server, owned
//! by `mysql` or `postgres` (the servers run as those users when the tests
//! run as root, as the current user otherwise). `<server>.pid` files at the
//! top record the server processes. Data directories are copies of
//! templates built once per machine under `/tmp/np-lab-cache/` (by
//! `mariadb-install-db` and `initdb`; the Galera one by bootstrapping a
//! one-node cluster and shutting it down), which makes a server start in
//! well under a second instead of several. Port claims are files in
//! `/tmp/np-lab-ports/`.
//!
//! Servers stop when their handle drops, on panic too (SIGKILL to the
//! server's process group and its descendants; a PostgreSQL server's System
//! V segment is removed, which PostgreSQL does only on its own shutdowns;
//! then the directory is removed). A test process
//! that dies without unwinding (SIGKILL, a nextest timeout) takes its
//! servers with it: they are spawned with a parent-death signal from a
//! thread that lives as long as the process. Whatever survives anyway is
//! removed by [`sweep`], which runs when a test first uses the lab and from
//! `scripts/test.sh`: it kills the processes of every lab directory whose
//! test process is gone (those recorded in its pid files, with their process
//! groups, and any whose command line names the directory) and removes the
//! directory.
//!
//! # Use
//!
//! ```no_run
//! use nova_purge_tests::servers::{
//!     Galera, MariaDb, MariaDbReplication, Postgres, PostgresReplication, ServerCert, TestCa,
//! };
//!
//! let server = MariaDb::start();
//! let url = format!("{}/nova", server.url()); // for sqlx or nova-purge
//! server.sql("CREATE DATABASE nova");
//!
//! let ca = TestCa::new();
//! let tls = MariaDb::start_tls(&ca, ServerCert::Localhost, true);
//! // connect with ca.ca_cert, ca.client_cert, ca.client_key ...
//!
//! let pg = Postgres::start_tls(&ca, ServerCert::WrongHost, false);
//! let conninfo = format!("{} sslmode=verify-ca sslrootcert={}", pg.conninfo(), ca.ca_cert.display());
//!
//! let mut cluster = Galera::start();
//! cluster.node(1).sql("CREATE DATABASE nova");
//! cluster.kill(2);
//! cluster.wait_cluster_size(1, 2);
//! cluster.restart(2);
//! cluster.isolate(3); // non-Primary
//! assert_eq!(cluster.status(3).cluster_status, "non-Primary");
//! cluster.rejoin(3);
//!
//! let mariadb = MariaDbReplication::start();
//! mariadb.stop_sql_thread(); // the replica lags
//! mariadb.start_sql_thread();
//! mariadb.wait_caught_up();
//! let postgres = PostgresReplication::start();
//! postgres.pause_replay();
//! let lag = postgres.replication().replay_lag_bytes;
//! postgres.resume_replay();
//! postgres.wait_caught_up();
//! ```
//!
//! The harness is synchronous: starting a topology blocks (a second for a
//! server, about ten for the Galera cluster). From an async test, call it
//! directly when nothing else needs the runtime meanwhile (as
//! `tests/restart.rs` does), or through `spawn_blocking`. It panics, with
//! the server's log, when something does not come up, and names the
//! Debian package to install when a program is missing (`mariadb-server`,
//! `mariadb-client`, `galera-4`, `rsync`, `openssl`, `postgresql`;
//! `mariadb-server` pulls in `galera-4` and `rsync`, `postgresql` pulls in
//! `openssl`).

mod galera;
mod mariadb;
mod postgres;
mod replication;
mod tls;

pub use galera::{Galera, WsrepStatus};
pub use mariadb::{mariadb_client, MariaDb};
pub use postgres::{psql, Postgres};
pub use replication::{
    MariaDbReplicaStatus, MariaDbReplication, PgReplication, PostgresReplication,
};
pub use tls::{ServerCert, TestCa, CLIENT_USER, WRONG_HOST};

use std::collections::hash_map::DefaultHasher;
use std::fs::{self, File, OpenOptions};
use std::hash::{Hash, Hasher};
use std::io::{self, Write};
use std::net::TcpListener;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::io::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{mpsc, Once, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use purge_api::Backend;

/// Where the lab's directories live.
pub const LAB_ROOT: &str = "/tmp";
/// The name prefix of every lab directory under [`LAB_ROOT`].
pub const LAB_PREFIX: &str = "np-lab-";
const CACHE_DIR: &str = "/tmp/np-lab-cache";
const PORTS_DIR: &str = "/tmp/np-lab-ports";
/// Bump to rebuild the cached templates after changing how they are made.
const TEMPLATE_VERSION: &str = "1";

/// How long a server may take to come up before the test fails.
pub(crate) const START_TIMEOUT: Duration = Duration::from_secs(120);

// ---------------------------------------------------------------------------
// Processes: who is alive
// ---------------------------------------------------------------------------

/// A process's start time (clock ticks after boot), or None when it is gone
/// or a zombie. With the pid, it names a process for good.
fn start_time(pid: u32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split(' ').collect();
    if matches!(fields.first(), Some(&"Z") | Some(&"X")) {
        return None;
    }
    // `rest` starts at field 3 (state); starttime is field 22.
    fields.get(19)?.parse().ok()
}

/// A process's group, when it is alive.
fn process_group_of(pid: u32) -> Option<u32> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split(' ').collect();
    if matches!(fields.first(), Some(&"Z") | Some(&"X")) {
        return None;
    }
    fields.get(2)?.parse().ok()
}

/// Every descendant of `pid` now, with its start time: PostgreSQL's
/// children leave the postmaster's process group (each calls setsid), so
/// killing the group does not reach them.
fn descendants(pid: u32) -> Vec<(u32, u64)> {
    let parents: Vec<(u32, u32)> = all_pids()
        .into_iter()
        .filter_map(|child| {
            let stat = fs::read_to_string(format!("/proc/{child}/stat")).ok()?;
            let rest = &stat[stat.rfind(')')? + 2..];
            let ppid = rest.split(' ').nth(1)?.parse().ok()?;
            Some((child, ppid))
        })
        .collect();
    let mut family = vec![pid];
    let mut i = 0;
    while i < family.len() {
        let parent = family[i];
        family.extend(
            parents
                .iter()
                .filter(|&&(_, ppid)| ppid == parent)
                .map(|&(child, _)| child),
        );
        i += 1;
    }
    family
        .into_iter()
        .skip(1)
        .filter_map(|p| Some((p, start_time(p)?)))
        .collect()
}

fn alive(pid: u32, start: u64) -> bool {
    start_time(pid) == Some(start)
}

/// This test process: (pid, start time).
fn me() -> (u32, u64) {
    static ME: OnceLock<(u32, u64)> = OnceLock::new();
    *ME.get_or_init(|| {
        let pid = std::process::id();
        (pid, start_time(pid).expect("/proc/self/stat"))
    })
}

fn signal(pid: i32, sig: libc::c_int) {
    // SAFETY: kill(2) has no memory-safety requirements.
    unsafe {
        libc::kill(pid, sig);
    }
}

/// Whether `/proc/<pid>/cmdline` names `dir` (the path itself or a file
/// below it, not a longer name that merely starts the same).
fn names_dir(pid: u32, dir: &[u8]) -> bool {
    let Ok(cmdline) = fs::read(format!("/proc/{pid}/cmdline")) else {
        return false;
    };
    let mut from = 0;
    while let Some(at) = find(&cmdline[from..], dir) {
        let end = from + at + dir.len();
        match cmdline.get(end) {
            None | Some(b'/' | 0 | b'\'' | b'"' | b' ' | b':' | b',') => return true,
            _ => from = end,
        }
    }
    false
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn all_pids() -> Vec<u32> {
    fs::read_dir("/proc")
        .map(|entries| {
            entries
                .flatten()
                .filter_map(|e| e.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// Kills every process of a lab directory: the servers recorded in its pid
/// files (with their process groups: SST scripts, rsync daemons) and any
/// process whose command line names the directory. Waits until they are
/// gone (zombies aside), at most a few seconds.
fn kill_processes_of(dir: &Path) {
    let needle = dir.as_os_str().as_bytes();
    let mut groups = Vec::new();
    if let Ok(entries) = fs::read_dir(dir) {
        for entry in entries.flatten() {
            let path = entry.path();
            if path.extension().is_some_and(|e| e == "pid") {
                let pid: Option<u32> = fs::read_to_string(&path)
                    .ok()
                    .and_then(|s| s.trim().parse().ok());
                if let Some(pid) = pid {
                    // Only a process that is still ours: a pid file can
                    // outlive its process, and pids are reused.
                    if names_dir(pid, needle) && process_group_of(pid) == Some(pid) {
                        signal(-(pid as i32), libc::SIGKILL);
                        groups.push(pid);
                    }
                }
            }
        }
    }
    let own = std::process::id();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let mut left = false;
        for pid in all_pids() {
            if pid == own {
                continue;
            }
            let member = process_group_of(pid).is_some_and(|g| groups.contains(&g));
            if member || names_dir(pid, needle) {
                signal(pid as i32, libc::SIGKILL);
                left = true;
            }
        }
        if !left || Instant::now() > deadline {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Removes the System V shared memory segment a PostgreSQL postmaster made
/// (56 bytes, its interlock; key and id on line 7 of
/// `<data>/postmaster.pid`) if it is still there, is that segment, and
/// nobody is attached. PostgreSQL removes it itself on every shutdown it
/// performs, immediate included; after a SIGKILL it stays, and once the
/// data directory is gone nothing would ever remove it: they would pile up
/// until the kernel (shmmni) refuses new servers.
pub(crate) fn release_postgres_shared_memory(data_dir: &Path) {
    let Ok(text) = fs::read_to_string(data_dir.join("postmaster.pid")) else {
        return;
    };
    let Some(line) = text.lines().nth(6) else {
        return;
    };
    let mut fields = line.split_whitespace().map(str::parse::<i64>);
    let (Some(Ok(key)), Some(Ok(id))) = (fields.next(), fields.next()) else {
        return;
    };
    let Ok(id) = libc::c_int::try_from(id) else {
        return;
    };
    // Killed processes detach as they exit: wait for the last one.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        // SAFETY: shmctl(2) with a zeroed shmid_ds to fill.
        let mut ds: libc::shmid_ds = unsafe { std::mem::zeroed() };
        if unsafe { libc::shmctl(id, libc::IPC_STAT, &mut ds) } != 0
            || i64::from(ds.shm_perm.__key) != key
        {
            return; // gone, or another segment now
        }
        if ds.shm_nattch == 0 {
            // SAFETY: IPC_RMID takes no buffer.
            unsafe { libc::shmctl(id, libc::IPC_RMID, std::ptr::null_mut()) };
            return;
        }
        if Instant::now() > deadline {
            eprintln!(
                "np-lab: shared memory {id} of {} is still attached; left in place",
                data_dir.display()
            );
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// [`release_postgres_shared_memory`] for every server directory of a lab
/// directory (`<lab>/<server>/data/`).
fn release_all_postgres_shared_memory(dir: &Path) {
    if let Ok(entries) = fs::read_dir(dir) {
        for entry in entries.flatten() {
            release_postgres_shared_memory(&entry.path().join("data"));
        }
    }
}

// ---------------------------------------------------------------------------
// The sweep
// ---------------------------------------------------------------------------

/// `np-lab-<pid>-<start>-...` → its test process.
fn owner_of(name: &str) -> Option<(u32, u64)> {
    let rest = name.strip_prefix(LAB_PREFIX)?;
    let mut parts = rest.splitn(3, '-');
    let pid = parts.next()?.parse().ok()?;
    let start = parts.next()?.parse().ok()?;
    Some((pid, start))
}

/// Removes what crashed test runs left: for every lab directory whose test
/// process is gone, kills its servers and removes it; drops port claims of
/// dead processes. Never touches a live test's servers, nor any process
/// that is not tied to a lab directory. Runs by itself when a test first
/// uses the lab; `scripts/test.sh` does the same before the suite.
pub fn sweep() {
    if let Ok(entries) = fs::read_dir(LAB_ROOT) {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some((pid, start)) = owner_of(&name) else {
                continue;
            };
            if alive(pid, start) {
                continue;
            }
            let path = entry.path();
            kill_processes_of(&path);
            release_all_postgres_shared_memory(&path);
            match fs::remove_dir_all(&path) {
                Ok(()) => eprintln!(
                    "np-lab: swept {} (its test process {pid} is gone)",
                    path.display()
                ),
                Err(e) => eprintln!("np-lab: could not remove {}: {e}", path.display()),
            }
        }
    }
    if let Ok(entries) = fs::read_dir(PORTS_DIR) {
        for entry in entries.flatten() {
            let owner = fs::read_to_string(entry.path()).ok();
            let dead = owner
                .as_deref()
                .and_then(parse_claim)
                .is_none_or(|(pid, start)| !alive(pid, start));
            if dead {
                let _ = fs::remove_file(entry.path());
            }
        }
    }
}

/// Once per test process: sweep, and the directories the lab shares.
fn init() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        sweep();
        for dir in [CACHE_DIR, PORTS_DIR] {
            fs::create_dir_all(dir).unwrap_or_else(|e| panic!("{dir}: {e}"));
            // Shared by every user who runs the tests.
            let _ = fs::set_permissions(dir, fs::Permissions::from_mode(0o1777));
        }
    });
}

// ---------------------------------------------------------------------------
// Directories
// ---------------------------------------------------------------------------

/// A lab directory, `/tmp/np-lab-<pid>-<start>-<tag>-<n>`: killed (every
/// process tied to it) and removed when dropped.
pub struct LabDir {
    path: PathBuf,
}

impl LabDir {
    pub fn new(tag: &str) -> LabDir {
        init();
        static N: AtomicU32 = AtomicU32::new(0);
        let (pid, start) = me();
        let n = N.fetch_add(1, Ordering::SeqCst);
        let path = Path::new(LAB_ROOT).join(format!("{LAB_PREFIX}{pid}-{start}-{tag}-{n}"));
        let _ = fs::remove_dir_all(&path);
        fs::create_dir_all(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).expect("chmod");
        LabDir { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A new subdirectory, owned by `user` when given.
    pub(crate) fn subdir(&self, name: &str, user: Option<User>) -> PathBuf {
        let dir = self.path.join(name);
        fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        chown(&dir, user);
        dir
    }
}

impl Drop for LabDir {
    fn drop(&mut self) {
        kill_processes_of(&self.path);
        release_all_postgres_shared_memory(&self.path);
        let _ = fs::remove_dir_all(&self.path);
    }
}

// ---------------------------------------------------------------------------
// Users and files
// ---------------------------------------------------------------------------

/// A system user the servers run as.
#[derive(Clone, Copy, Debug)]
pub(crate) struct User {
    pub uid: u32,
    pub gid: u32,
}

/// `mysql` or `postgres` when the tests run as root (servers refuse to run
/// as root), None (the current user) otherwise.
pub(crate) fn service_user(name: &str, package: &str) -> Option<User> {
    // SAFETY: geteuid(2) cannot fail and touches no memory.
    if unsafe { libc::geteuid() } != 0 {
        return None;
    }
    let passwd = fs::read_to_string("/etc/passwd").expect("/etc/passwd");
    for line in passwd.lines() {
        let fields: Vec<&str> = line.split(':').collect();
        if fields.first() == Some(&name) && fields.len() > 3 {
            return Some(User {
                uid: fields[2].parse().expect("uid"),
                gid: fields[3].parse().expect("gid"),
            });
        }
    }
    panic!("there is no system user `{name}`: install the Debian package {package}");
}

/// chown -R.
pub(crate) fn chown(path: &Path, user: Option<User>) {
    let Some(user) = user else { return };
    std::os::unix::fs::lchown(path, Some(user.uid), Some(user.gid))
        .unwrap_or_else(|e| panic!("chown {}: {e}", path.display()));
    if path.is_dir() && !path.is_symlink() {
        for entry in fs::read_dir(path).expect("read_dir").flatten() {
            chown(&entry.path(), Some(user));
        }
    }
}

/// Writes a file, readable by its owner only when `private`.
pub(crate) fn write_file(path: &Path, content: &str, user: Option<User>, private: bool) {
    fs::write(path, content).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mode = if private { 0o600 } else { 0o644 };
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).expect("chmod");
    chown(path, user);
}

/// `cp -a from to` (`to` must not exist): keeps owners and modes.
pub(crate) fn copy_tree(from: &Path, to: &Path) {
    run(
        Command::new("cp").arg("-a").arg(from).arg(to),
        "cp -a (copying a template)",
    );
}

/// The last `lines` lines of a log file, for failure messages.
pub fn tail(path: &Path, lines: usize) -> String {
    let text = fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    let from = all.len().saturating_sub(lines);
    format!("--- {} ---\n{}", path.display(), all[from..].join("\n"))
}

// ---------------------------------------------------------------------------
// Programs
// ---------------------------------------------------------------------------

/// A program from PATH or the sbin directories.
pub(crate) fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/usr/bin", "/sbin", "/bin"].map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// [`find_program`], panicking with the Debian package to install when the
/// program is missing.
pub(crate) fn program(name: &str, package: &str) -> PathBuf {
    find_program(name).unwrap_or_else(|| missing(name, package))
}

pub(crate) fn missing(what: &str, package: &str) -> ! {
    panic!(
        "`{what}` is not installed: the test lab needs the Debian package {package} \
         (apt-get install {package}; scripts/services.sh installs it)"
    )
}

/// A PostgreSQL server program, from the newest version installed under
/// /usr/lib/postgresql.
pub(crate) fn postgres_program(name: &str) -> PathBuf {
    let mut versions: Vec<(u32, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| Some((e.file_name().to_str()?.parse().ok()?, e.path())))
        .filter(|(_, path)| path.join("bin").join(name).is_file())
        .collect();
    versions.sort();
    match versions.last() {
        Some((_, dir)) => dir.join("bin").join(name),
        None => panic!(
            "`/usr/lib/postgresql/*/bin/{name}` is not installed: the test lab needs the \
             Debian package postgresql (apt-get install postgresql; scripts/services.sh \
             installs it)"
        ),
    }
}

/// Runs a command to completion; panics with its output when it fails.
/// Returns stdout.
pub(crate) fn run(command: &mut Command, what: &str) -> String {
    let output = command
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    if !output.status.success() {
        panic!(
            "{what} failed ({}):\n{}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Polls `probe` every 50 ms until it returns `Ok`; panics after `timeout`
/// with `what` and the last `Err` it gave.
pub fn wait_for<T>(
    what: &str,
    timeout: Duration,
    mut probe: impl FnMut() -> Result<T, String>,
) -> T {
    let started = Instant::now();
    loop {
        match probe() {
            Ok(value) => return value,
            Err(note) if started.elapsed() > timeout => {
                panic!("timed out after {timeout:?} waiting for {what}: {note}")
            }
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

// ---------------------------------------------------------------------------
// Ports
// ---------------------------------------------------------------------------

const PORT_RANGE: std::ops::Range<u16> = 20000..32000;

/// A TCP port on 127.0.0.1 claimed for one server: free when claimed, and
/// no other test (in any process) is given it until the claim drops. The
/// claim is a file, `/tmp/np-lab-ports/<port>`, naming the test process.
#[derive(Debug)]
pub struct Port {
    number: u16,
    claim: PathBuf,
}

impl Port {
    pub fn number(&self) -> u16 {
        self.number
    }
}

fn parse_claim(text: &str) -> Option<(u32, u64)> {
    let (pid, start) = text.trim().split_once(' ')?;
    Some((pid.parse().ok()?, start.parse().ok()?))
}

/// Claims a free port.
pub fn claim_port() -> Port {
    init();
    let (pid, start) = me();
    let owner = format!("{pid} {start}\n");
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .subsec_nanos();
    let span = (PORT_RANGE.end - PORT_RANGE.start) as u32;
    let offset = (nanos ^ pid.wrapping_mul(2_654_435_761)) % span;
    for i in 0..span {
        let number = PORT_RANGE.start + ((offset + i) % span) as u16;
        let claim = Path::new(PORTS_DIR).join(number.to_string());
        let Ok(mut file) = OpenOptions::new().write(true).create_new(true).open(&claim) else {
            continue; // claimed (a dead owner's claim waits for the sweep)
        };
        file.write_all(owner.as_bytes()).expect("write port claim");
        // Free now? (Another program may listen there.)
        if TcpListener::bind(("127.0.0.1", number)).is_ok() {
            return Port { number, claim };
        }
        let _ = fs::remove_file(&claim);
    }
    panic!("no free port in {PORT_RANGE:?}");
}

impl Drop for Port {
    fn drop(&mut self) {
        let (pid, start) = me();
        if fs::read_to_string(&self.claim)
            .ok()
            .as_deref()
            .and_then(parse_claim)
            == Some((pid, start))
        {
            let _ = fs::remove_file(&self.claim);
        }
    }
}

// ---------------------------------------------------------------------------
// Server processes
// ---------------------------------------------------------------------------

type SpawnJob = (Command, mpsc::Sender<io::Result<Child>>);

/// Spawns from one thread that lives as long as the process: the servers'
/// parent-death signal fires when the spawning thread ends, and that must
/// be when the test process ends, not when some worker thread does.
fn spawn_from_keeper(command: Command) -> io::Result<Child> {
    static KEEPER: OnceLock<mpsc::Sender<SpawnJob>> = OnceLock::new();
    let keeper = KEEPER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<SpawnJob>();
        std::thread::Builder::new()
            .name("np-lab-spawner".into())
            .spawn(move || {
                for (mut command, reply) in rx {
                    let _ = reply.send(command.spawn());
                }
            })
            .expect("spawner thread");
        tx
    });
    let (reply, result) = mpsc::channel();
    keeper
        .send((command, reply))
        .expect("the spawner thread is alive");
    result.recv().expect("the spawner thread replies")
}

/// A running server process, in a process group of its own, killed by
/// SIGKILL when its test process dies, recorded in `<lab>/<name>.pid`.
pub(crate) struct ServerProcess {
    child: Child,
    pid_file: PathBuf,
    /// Waited for: its pid (and so its group id) may belong to another
    /// process now, and must not be signalled any more.
    reaped: bool,
}

impl ServerProcess {
    /// Spawns `command` as `user`, stdout and stderr appended to `log`.
    pub fn spawn(
        mut command: Command,
        user: Option<User>,
        log: &Path,
        pid_file: PathBuf,
    ) -> ServerProcess {
        let what = format!("{command:?}");
        let out = OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .unwrap_or_else(|e| panic!("{}: {e}", log.display()));
        command
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("dup log"))
            .stderr(out)
            .process_group(0);
        if let Some(user) = user {
            command.uid(user.uid).gid(user.gid);
        }
        // SAFETY: prctl(2) is async-signal-safe; nothing is allocated.
        unsafe {
            command.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) != 0 {
                    return Err(io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = spawn_from_keeper(command).unwrap_or_else(|e| panic!("{what}: {e}"));
        fs::write(&pid_file, format!("{}\n", child.id())).expect("write pid file");
        ServerProcess {
            child,
            pid_file,
            reaped: false,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends `sig` to the server process (not its group).
    pub fn signal(&self, sig: libc::c_int) {
        if !self.reaped {
            signal(self.pid() as i32, sig);
        }
    }

    /// Its exit status, if it has exited.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        let status = self.child.try_wait().ok().flatten();
        if status.is_some() {
            self.reaped = true;
        }
        status
    }

    /// Waits up to `timeout` for it to exit.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.exited() {
                return Some(status);
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL to the whole process group (the server and what it spawned:
    /// SST scripts, rsync daemons) and to every descendant (PostgreSQL's
    /// backends, each in a session of its own); returns when all are gone.
    pub fn kill(&mut self) {
        if !self.reaped {
            // The leader is not reaped yet, so the group id is still ours.
            let pgid = self.pid();
            let family = descendants(pgid);
            let deadline = Instant::now() + Duration::from_secs(5);
            loop {
                signal(-(pgid as i32), libc::SIGKILL);
                let mut left = all_pids()
                    .into_iter()
                    .any(|pid| process_group_of(pid) == Some(pgid));
                for &(pid, start) in &family {
                    if alive(pid, start) {
                        signal(pid as i32, libc::SIGKILL);
                        left = true;
                    }
                }
                if !left || Instant::now() > deadline {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = self.child.wait();
            self.reaped = true;
        }
        let _ = fs::remove_file(&self.pid_file);
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

// ---------------------------------------------------------------------------
// Templates
// ---------------------------------------------------------------------------

/// A hash of what a template depends on: files' sizes and dates, and words.
pub(crate) fn template_key(files: &[&Path], words: &[&str]) -> u64 {
    let mut hasher = DefaultHasher::new();
    TEMPLATE_VERSION.hash(&mut hasher);
    // Files owned by mysql/postgres for root, by the user otherwise.
    // SAFETY: geteuid(2) cannot fail and touches no memory.
    unsafe { libc::geteuid() }.hash(&mut hasher);
    for file in files {
        file.hash(&mut hasher);
        if let Ok(meta) = fs::metadata(file) {
            meta.len().hash(&mut hasher);
            meta.modified().ok().hash(&mut hasher);
        }
    }
    words.hash(&mut hasher);
    hasher.finish()
}

/// The cached template `/tmp/np-lab-cache/<name>-<key>`, built by `build`
/// (given a path that does not exist yet, to create) when missing. Built
/// once per machine: under a lock, in a lab directory (a crash mid-build
/// leaves nothing the sweep would not remove), and renamed into place when
/// complete.
pub(crate) fn template(name: &str, key: u64, build: impl FnOnce(&Path)) -> PathBuf {
    init();
    let target = Path::new(CACHE_DIR).join(format!("{name}-{key:016x}"));
    if target.is_dir() {
        return target;
    }
    let lock_path = Path::new(CACHE_DIR).join(format!("{name}.lock"));
    let lock = File::create(&lock_path).unwrap_or_else(|e| panic!("{}: {e}", lock_path.display()));
    let _ = fs::set_permissions(&lock_path, fs::Permissions::from_mode(0o666));
    // SAFETY: flock(2) on a descriptor we own; released when `lock` closes.
    if unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX) } != 0 {
        panic!(
            "flock {}: {}",
            lock_path.display(),
            io::Error::last_os_error()
        );
    }
    if target.is_dir() {
        return target; // built while we waited
    }
    let started = Instant::now();
    let lab = LabDir::new(&format!("template-{name}"));
    let out = lab.path().join("template");
    build(&out);
    fs::rename(&out, &target).unwrap_or_else(|e| panic!("{}: {e}", target.display()));
    eprintln!(
        "np-lab: built the {name} template in {:.1}s ({})",
        started.elapsed().as_secs_f64(),
        target.display()
    );
    drop(lock);
    target
}

// ---------------------------------------------------------------------------
// Either backend
// ---------------------------------------------------------------------------

/// A private MariaDB or PostgreSQL server, for tests that run on both.
pub enum PrivateServer {
    MariaDb(MariaDb),
    Postgres(Postgres),
}

impl PrivateServer {
    /// A new server of the backend (MySql or Postgres), up and answering.
    pub fn start(backend: Backend) -> PrivateServer {
        match backend {
            Backend::MySql => PrivateServer::MariaDb(MariaDb::start()),
            Backend::Postgres => PrivateServer::Postgres(Postgres::start()),
            Backend::Sqlite => panic!("SQLite has no server"),
        }
    }

    /// `mysql://root@127.0.0.1:PORT` or `postgres://postgres@127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        match self {
            PrivateServer::MariaDb(s) => s.url(),
            PrivateServer::Postgres(s) => s.url(),
        }
    }

    /// A crash, no clean shutdown: SIGKILL for MariaDB, an immediate
    /// shutdown for PostgreSQL (as `pg_ctl stop -m immediate`).
    pub fn crash(&mut self) {
        match self {
            PrivateServer::MariaDb(s) => s.kill(),
            PrivateServer::Postgres(s) => s.crash(),
        }
    }

    /// Starts it again on the same port and data; returns when it answers.
    pub fn start_again(&mut self) {
        match self {
            PrivateServer::MariaDb(s) => s.start_again(),
            PrivateServer::Postgres(s) => s.start_again(),
        }
    }
}
