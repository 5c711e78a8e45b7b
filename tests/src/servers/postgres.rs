//! A private PostgreSQL server: `postgres` (the postmaster, run directly,
//! not through pg_ctl, so that its pid is ours) on a claimed port, its data
//! a copy of the cached template (`initdb --auth=trust --username=postgres
//! --encoding=UTF8 --locale=C`).
//!
//! Everything that is the server's own (port, socket directory, pg_hba.conf,
//! TLS files) is given on the command line (`-c name=value`), not written
//! into the data directory, so that a `pg_basebackup` copy starts cleanly
//! elsewhere.
//!
//! Layout: `<lab>/<name>/data/`, `pg_hba.conf`, `postgres.log`, and the
//! socket `.s.PGSQL.<port>`.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::{
    chown, claim_port, copy_tree, postgres_program, release_postgres_shared_memory, run,
    service_user, tail, template, template_key, write_file, LabDir, Port, ServerProcess, User,
    START_TIMEOUT,
};

/// pg_hba.conf of a server without TLS: everyone, over the socket and
/// 127.0.0.1, without a password; replication connections too.
pub(crate) const PLAIN_HBA: &str = "\
local all all trust
local replication all trust
host all all 127.0.0.1/32 trust
host replication all 127.0.0.1/32 trust
";

/// `psql`, reading no ~/.psqlrc and no PG* environment, unaligned,
/// tuples only, quiet, stopping at the first error: add a connection
/// string and `-c SQL`.
pub fn psql() -> Command {
    let mut command = Command::new(postgres_program("psql"));
    command.args(["-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1"]);
    for var in [
        "PGHOST",
        "PGHOSTADDR",
        "PGPORT",
        "PGUSER",
        "PGDATABASE",
        "PGPASSWORD",
        "PGPASSFILE",
        "PGSERVICE",
        "PGSERVICEFILE",
        "PGOPTIONS",
        "PGSSLMODE",
        "PGSSLROOTCERT",
        "PGSSLCERT",
        "PGSSLKEY",
        "PGSSLCRL",
        "PGREQUIRESSL",
    ] {
        command.env_remove(var);
    }
    command.env("PGCONNECT_TIMEOUT", "10").stdin(Stdio::null());
    command
}

/// A PostgreSQL server of the lab. Stopped (SIGKILL) when dropped.
pub struct Postgres {
    name: String,
    dir: PathBuf,
    port: Port,
    user: Option<User>,
    /// `-c` settings besides the common ones.
    settings: Vec<String>,
    pid_file: PathBuf,
    process: Option<ServerProcess>,
    lab: Option<LabDir>,
}

impl Postgres {
    /// A new server, no TLS, up and answering.
    pub fn start() -> Postgres {
        Postgres::start_with(&[])
    }

    /// A new server with extra settings (`"name=value"`, as `postgres -c`),
    /// up and answering.
    pub fn start_with(settings: &[&str]) -> Postgres {
        let started = Instant::now();
        let lab = LabDir::new("postgres");
        let settings: Vec<String> = settings.iter().map(|s| (*s).to_owned()).collect();
        let mut server = Postgres::create(&lab, "postgres", claim_port(), &settings, PLAIN_HBA);
        copy_tree(&postgres_template(), &server.data_dir());
        chown(&server.data_dir(), server.user);
        server.set_lab(lab);
        server.start_again();
        eprintln!(
            "np-lab: PostgreSQL on port {} up in {:.1}s",
            server.port(),
            started.elapsed().as_secs_f64()
        );
        server
    }

    /// A server in `<lab>/<name>/` with no data directory yet (copy the
    /// template, or pg_basebackup, into [`data_dir`](Self::data_dir)).
    pub(crate) fn create(
        lab: &LabDir,
        name: &str,
        port: Port,
        settings: &[String],
        hba: &str,
    ) -> Postgres {
        let user = service_user("postgres", "postgresql");
        let dir = lab.subdir(name, user);
        write_file(&dir.join("pg_hba.conf"), hba, user, false);
        Postgres {
            name: name.to_owned(),
            pid_file: lab.path().join(format!("{name}.pid")),
            dir,
            port,
            user,
            settings: settings.to_vec(),
            process: None,
            lab: None,
        }
    }

    pub(crate) fn user(&self) -> Option<User> {
        self.user
    }

    /// Spawns the postmaster; does not wait.
    fn launch(&mut self) {
        assert!(self.process.is_none(), "{} is already running", self.name);
        let mut command = Command::new(postgres_program("postgres"));
        command
            .arg("-D")
            .arg(self.data_dir())
            .current_dir(&self.dir);
        let common = [
            format!("port={}", self.port.number()),
            "listen_addresses=127.0.0.1".to_owned(),
            format!("unix_socket_directories={}", self.dir.display()),
            format!("hba_file={}", self.dir.join("pg_hba.conf").display()),
            format!("cluster_name={}", self.name),
            // A crash of the process loses nothing the OS has; the lab
            // never loses the OS.
            "fsync=off".to_owned(),
        ];
        for setting in common.iter().chain(&self.settings) {
            command.arg("-c").arg(setting);
        }
        self.process = Some(ServerProcess::spawn(
            command,
            self.user,
            &self.log(),
            self.pid_file.clone(),
        ));
    }

    /// Waits until the postmaster says it is ready (postmaster.pid, as
    /// `pg_ctl -w` reads it: "ready", or "standby" for a hot standby).
    fn wait_ready(&mut self) {
        let started = Instant::now();
        let pid_file = self.data_dir().join("postmaster.pid");
        loop {
            let process = self.process.as_mut().expect("the server was launched");
            if let Some(status) = process.exited() {
                self.process = None;
                panic!(
                    "postgres {} exited while starting ({status}):\n{}",
                    self.dir.display(),
                    tail(&self.log(), 60)
                );
            }
            let pid = process.pid().to_string();
            if let Ok(text) = std::fs::read_to_string(&pid_file) {
                let lines: Vec<&str> = text.lines().collect();
                if lines.first() == Some(&pid.as_str())
                    && matches!(lines.get(7).map(|s| s.trim()), Some("ready" | "standby"))
                {
                    return;
                }
            }
            if started.elapsed() > START_TIMEOUT {
                panic!(
                    "postgres {} was not ready within {START_TIMEOUT:?}:\n{}",
                    self.dir.display(),
                    tail(&self.log(), 60)
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Makes the server own (and remove, when dropped) a lab directory.
    pub(crate) fn set_lab(&mut self, lab: LabDir) {
        self.lab = Some(lab);
    }

    /// `postgres://postgres@127.0.0.1:PORT` (add `/database`).
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}", self.port.number())
    }

    /// `host=127.0.0.1 port=PORT user=postgres dbname=postgres`, for libpq
    /// (add `sslmode=...` and the like).
    pub fn conninfo(&self) -> String {
        format!(
            "host=127.0.0.1 port={} user=postgres dbname=postgres",
            self.port.number()
        )
    }

    pub fn port(&self) -> u16 {
        self.port.number()
    }

    /// The server's directory (data/, pg_hba.conf, postgres.log, socket).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }

    pub fn log(&self) -> PathBuf {
        self.dir.join("postgres.log")
    }

    /// The postmaster's pid, when running.
    pub fn pid(&self) -> Option<u32> {
        self.process.as_ref().map(ServerProcess::pid)
    }

    /// Runs SQL as postgres through the socket, in database `db`; stdout
    /// (rows tab-separated), or psql's error message.
    pub fn try_sql_in(&self, db: &str, sql: &str) -> Result<String, String> {
        let output = psql()
            .args(["-F", "\t", "-h"])
            .arg(&self.dir)
            .arg("-p")
            .arg(self.port.number().to_string())
            .args(["-U", "postgres", "-d", db, "-c", sql])
            .output()
            .map_err(|e| e.to_string())?;
        if output.status.success() {
            let out = String::from_utf8_lossy(&output.stdout);
            Ok(out.strip_suffix('\n').unwrap_or(&out).to_owned())
        } else {
            Err(String::from_utf8_lossy(&output.stderr).trim().to_owned())
        }
    }

    /// [`try_sql_in`](Self::try_sql_in) database `postgres`.
    pub fn try_sql(&self, sql: &str) -> Result<String, String> {
        self.try_sql_in("postgres", sql)
    }

    /// [`try_sql_in`](Self::try_sql_in), panicking on error.
    pub fn sql_in(&self, db: &str, sql: &str) -> String {
        self.try_sql_in(db, sql)
            .unwrap_or_else(|e| panic!("{sql} on {}: {e}", self.name))
    }

    /// [`try_sql`](Self::try_sql), panicking on error.
    pub fn sql(&self, sql: &str) -> String {
        self.sql_in("postgres", sql)
    }

    /// SIGKILL to the postmaster and all its processes. (Its System V
    /// shared memory segment, which only PostgreSQL's own shutdown removes,
    /// is removed too: the next start would, but a dropped server has
    /// none.)
    pub fn kill(&mut self) {
        if let Some(mut process) = self.process.take() {
            process.kill();
            release_postgres_shared_memory(&self.data_dir());
        }
    }

    /// A crash without losing the shared memory: an immediate shutdown
    /// (SIGQUIT, as `pg_ctl stop -m immediate`), no checkpoint; the next
    /// start recovers from the WAL.
    pub fn crash(&mut self) {
        self.shutdown(libc::SIGQUIT);
    }

    /// A clean, fast shutdown (SIGINT, as `pg_ctl stop -m fast`).
    pub fn stop(&mut self) {
        self.shutdown(libc::SIGINT);
    }

    fn shutdown(&mut self, sig: libc::c_int) {
        if let Some(mut process) = self.process.take() {
            process.signal(sig);
            if process.wait_exit(Duration::from_secs(30)).is_none() {
                eprintln!("np-lab: {} did not shut down within 30s", self.name);
            }
            process.kill();
        }
    }

    /// Starts it (again): same port, data and settings; returns when ready.
    pub fn start_again(&mut self) {
        self.launch();
        self.wait_ready();
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The cached data directory every PostgreSQL server of the lab starts from.
pub(crate) fn postgres_template() -> PathBuf {
    let initdb = postgres_program("initdb");
    let key = template_key(&[&initdb, &postgres_program("postgres")], &[]);
    template("postgres", key, |out| {
        let user = service_user("postgres", "postgresql");
        std::fs::create_dir(out).expect("template dir");
        chown(out, user);
        let mut command = Command::new(&initdb);
        command
            .args(["--auth=trust", "--username=postgres", "--no-sync"])
            .args(["--encoding=UTF8", "--locale=C", "-D"])
            .arg(out)
            .current_dir(out);
        if let Some(user) = user {
            command.uid(user.uid).gid(user.gid);
        }
        run(&mut command, "initdb");
    })
}
