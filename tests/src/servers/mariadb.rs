//! A private MariaDB server: `mariadbd` on a claimed port, its data a copy
//! of the cached template (`mariadb-install-db`, then the anonymous and
//! host-name accounts removed: root@localhost, root@127.0.0.1 and root@::1,
//! no password, are left).
//!
//! Layout: `<lab>/<name>/my.cnf` (every option; `mariadbd
//! --defaults-file=...`), `data/`, `sock`, `error.log`, `mariadbd.out`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::{
    chown, claim_port, copy_tree, find_program, missing, program, run, service_user, tail,
    template, template_key, write_file, LabDir, Port, ServerProcess, User, START_TIMEOUT,
};

/// InnoDB settings for small, fast, process-crash-safe servers: a commit is
/// written to the OS at once (it survives a SIGKILL) and synced every second
/// (it would not survive a power cut, which no test makes).
const INNODB: [&str; 4] = [
    "innodb-buffer-pool-size=32M",
    "innodb-log-file-size=8M",
    "innodb-flush-log-at-trx-commit=2",
    "innodb-doublewrite=0",
];

/// The `mariadb` command-line client, reading no option file and no
/// environment: add the connection and the statement.
pub fn mariadb_client() -> Command {
    let program = find_program("mariadb")
        .or_else(|| find_program("mysql"))
        .unwrap_or_else(|| missing("mariadb", "mariadb-client"));
    let mut command = Command::new(program);
    command.arg("--no-defaults");
    for var in [
        "MYSQL_PWD",
        "MYSQL_HOST",
        "MYSQL_TCP_PORT",
        "MYSQL_UNIX_PORT",
    ] {
        command.env_remove(var);
    }
    command
}

/// A MariaDB server of the lab. Stopped (SIGKILL) when dropped.
pub struct MariaDb {
    name: String,
    dir: PathBuf,
    port: Port,
    user: Option<User>,
    pid_file: PathBuf,
    process: Option<ServerProcess>,
    /// Set when the server owns its lab directory (a standalone server);
    /// a cluster's members share the cluster's.
    lab: Option<LabDir>,
}

impl MariaDb {
    /// A new server, no TLS, up and answering.
    pub fn start() -> MariaDb {
        MariaDb::start_with(&[])
    }

    /// A new server with extra `[mysqld]` option lines (`"server_id=7"`),
    /// up and answering.
    pub fn start_with(config: &[&str]) -> MariaDb {
        let started = Instant::now();
        let lab = LabDir::new("mariadb");
        let config: Vec<String> = config.iter().map(|s| (*s).to_owned()).collect();
        let mut server =
            MariaDb::create(&lab, "mariadb", claim_port(), &config, &mariadb_template());
        server.set_lab(lab);
        server.launch(&[]);
        server.wait_ready();
        eprintln!(
            "np-lab: MariaDB on port {} up in {:.1}s",
            server.port(),
            started.elapsed().as_secs_f64()
        );
        server
    }

    /// A server in `<lab>/<name>/`, its data a copy of `data`, not started.
    pub(crate) fn create(
        lab: &LabDir,
        name: &str,
        port: Port,
        config: &[String],
        data: &Path,
    ) -> MariaDb {
        let user = service_user("mysql", "mariadb-server");
        let dir = lab.subdir(name, user);
        copy_tree(data, &dir.join("data"));
        chown(&dir.join("data"), user);
        let mut lines = vec![
            "[mysqld]".to_owned(),
            format!("datadir={}", dir.join("data").display()),
            format!("socket={}", dir.join("sock").display()),
            format!("port={}", port.number()),
            "bind-address=127.0.0.1".to_owned(),
            "skip-name-resolve".to_owned(),
            format!("pid-file={}", dir.join("mariadbd.pid").display()),
            format!("log-error={}", dir.join("error.log").display()),
        ];
        lines.extend(INNODB.iter().map(|s| (*s).to_owned()));
        lines.extend(config.iter().cloned());
        write_file(&dir.join("my.cnf"), &(lines.join("\n") + "\n"), user, false);
        MariaDb {
            name: name.to_owned(),
            pid_file: lab.path().join(format!("{name}.pid")),
            dir,
            port,
            user,
            process: None,
            lab: None,
        }
    }

    /// Spawns mariadbd with extra command-line options; does not wait.
    pub(crate) fn launch(&mut self, args: &[String]) {
        assert!(self.process.is_none(), "{} is already running", self.name);
        let mut command = Command::new(program("mariadbd", "mariadb-server"));
        command
            .arg(format!(
                "--defaults-file={}",
                self.dir.join("my.cnf").display()
            ))
            .args(args)
            .current_dir(&self.dir);
        self.process = Some(ServerProcess::spawn(
            command,
            self.user,
            &self.dir.join("mariadbd.out"),
            self.pid_file.clone(),
        ));
    }

    /// Waits until the server answers SQL on its socket; panics, with its
    /// log, if it exits or takes too long.
    pub(crate) fn wait_ready(&mut self) {
        let started = Instant::now();
        loop {
            let process = self.process.as_mut().expect("the server was launched");
            if let Some(status) = process.exited() {
                self.process = None;
                panic!(
                    "mariadbd {} exited while starting ({status}):\n{}",
                    self.dir.display(),
                    tail(&self.error_log(), 60)
                );
            }
            if self.socket().exists() && self.try_sql("SELECT 1").is_ok() {
                return;
            }
            if started.elapsed() > START_TIMEOUT {
                panic!(
                    "mariadbd {} did not answer within {START_TIMEOUT:?}:\n{}",
                    self.dir.display(),
                    tail(&self.error_log(), 60)
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Makes the server own (and remove, when dropped) a lab directory.
    pub(crate) fn set_lab(&mut self, lab: LabDir) {
        self.lab = Some(lab);
    }

    /// `mysql://root@127.0.0.1:PORT` (add `/database`).
    pub fn url(&self) -> String {
        format!("mysql://root@127.0.0.1:{}", self.port.number())
    }

    pub fn port(&self) -> u16 {
        self.port.number()
    }

    /// The server's directory (my.cnf, data/, sock, error.log).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn socket(&self) -> PathBuf {
        self.dir.join("sock")
    }

    pub fn error_log(&self) -> PathBuf {
        self.dir.join("error.log")
    }

    /// The pid of mariadbd, when running.
    pub fn pid(&self) -> Option<u32> {
        self.process.as_ref().map(ServerProcess::pid)
    }

    /// Whether mariadbd is running (it may not answer yet).
    pub fn is_running(&mut self) -> bool {
        match self.process.as_mut() {
            Some(process) => process.exited().is_none(),
            None => false,
        }
    }

    /// Runs SQL as root through the socket; stdout, rows tab-separated, no
    /// header, or the client's error message.
    pub fn try_sql(&self, sql: &str) -> Result<String, String> {
        let output = mariadb_client()
            .arg(format!("--socket={}", self.socket().display()))
            .args(["--user=root", "--batch", "--skip-column-names"])
            .args(["--connect-timeout=10"])
            .arg(format!("--execute={sql}"))
            .stdin(Stdio::null())
            .output()
            .map_err(|e| e.to_string())?;
        if output.status.success() {
            let out = String::from_utf8_lossy(&output.stdout);
            Ok(out.strip_suffix('\n').unwrap_or(&out).to_owned())
        } else {
            Err(String::from_utf8_lossy(&output.stderr).trim().to_owned())
        }
    }

    /// [`try_sql`](Self::try_sql), panicking on error.
    pub fn sql(&self, sql: &str) -> String {
        self.try_sql(sql)
            .unwrap_or_else(|e| panic!("{} on {}: {e}", sql, self.name))
    }

    /// Rows of a query with their column names: header first.
    pub fn rows_with_header(&self, sql: &str) -> Vec<Vec<String>> {
        let output = mariadb_client()
            .arg(format!("--socket={}", self.socket().display()))
            .args(["--user=root", "--batch", "--connect-timeout=10"])
            .arg(format!("--execute={sql}"))
            .stdin(Stdio::null())
            .output()
            .expect("mariadb client");
        assert!(
            output.status.success(),
            "{sql} on {}: {}",
            self.name,
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .map(|line| line.split('\t').map(str::to_owned).collect())
            .collect()
    }

    /// A `SHOW GLOBAL STATUS` value ("" when there is none).
    pub fn status(&self, name: &str) -> String {
        let out = self.sql(&format!("SHOW GLOBAL STATUS LIKE '{name}'"));
        out.split_once('\t')
            .map(|(_, v)| v.to_owned())
            .unwrap_or_default()
    }

    /// A global system variable.
    pub fn variable(&self, name: &str) -> String {
        self.sql(&format!("SELECT @@GLOBAL.{name}"))
    }

    /// The `mariadb` client connected over TCP to 127.0.0.1:PORT as root
    /// (a later `--user=...` wins), batch mode, no column names: add TLS
    /// options and `--execute=...`. Note that this client uses TLS, without
    /// verifying anything, whenever the server offers it: `--skip-ssl` for
    /// a plain connection, `--ssl-ca=... --ssl-verify-server-cert` for a
    /// verified one.
    pub fn client(&self) -> Command {
        let mut command = mariadb_client();
        command
            .args(["--protocol=tcp", "--host=127.0.0.1"])
            .arg(format!("--port={}", self.port()))
            .args(["--user=root", "--batch", "--skip-column-names"])
            .args(["--connect-timeout=10"])
            .stdin(Stdio::null());
        command
    }

    /// SIGKILL: a crash, no clean shutdown. Returns when it is gone.
    pub fn kill(&mut self) {
        if let Some(mut process) = self.process.take() {
            process.kill();
        }
    }

    /// A clean shutdown (SIGTERM), waited for (SIGKILL after a minute).
    pub fn stop(&mut self) {
        if let Some(mut process) = self.process.take() {
            process.signal(libc::SIGTERM);
            if process.wait_exit(Duration::from_secs(60)).is_none() {
                eprintln!("np-lab: {} ignored SIGTERM for a minute", self.name);
            }
            process.kill();
        }
    }

    /// Starts it again (same port, data, options); returns when it answers.
    pub fn start_again(&mut self) {
        self.launch(&[]);
        self.wait_ready();
    }
}

impl Drop for MariaDb {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The cached data directory every MariaDB server of the lab starts from.
pub(crate) fn mariadb_template() -> PathBuf {
    let mariadbd = program("mariadbd", "mariadb-server");
    let install_db = program("mariadb-install-db", "mariadb-server");
    let key = template_key(&[&mariadbd, &install_db], &INNODB);
    template("mariadb", key, |out| {
        let user = service_user("mysql", "mariadb-server");
        let as_user = user.map(|_| "--user=mysql".to_owned());
        let innodb = INNODB.iter().map(|o| format!("--{o}"));
        run(
            Command::new(&install_db)
                .arg("--no-defaults")
                .args(as_user.iter())
                .args([
                    "--auth-root-authentication-method=normal",
                    "--skip-name-resolve",
                    "--skip-test-db",
                ])
                .arg(format!("--datadir={}", out.display()))
                .args(innodb.clone()),
            "mariadb-install-db",
        );
        // Only root, without a password, from the socket and 127.0.0.1.
        let sql = "DELETE FROM mysql.global_priv WHERE user = '' \
                   OR (user = 'root' AND host NOT IN ('localhost', '127.0.0.1', '::1'));\n\
                   DELETE FROM mysql.proxies_priv WHERE host <> 'localhost';\n";
        let mut bootstrap = Command::new(&mariadbd)
            .arg("--no-defaults")
            .arg("--bootstrap")
            .args(as_user.iter())
            .arg(format!("--datadir={}", out.display()))
            .args(innodb)
            .arg("--skip-name-resolve")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("mariadbd --bootstrap");
        bootstrap
            .stdin
            .take()
            .expect("stdin")
            .write_all(sql.as_bytes())
            .expect("write bootstrap SQL");
        let output = bootstrap.wait_with_output().expect("mariadbd --bootstrap");
        assert!(
            output.status.success(),
            "mariadbd --bootstrap failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        chown(out, user);
    })
}
