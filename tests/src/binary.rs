//! Running the binary under test (`nova-purge-under-test`, the same
//! `purge_cli::main` as `nova-purge`): to completion, or in the background
//! to signal or kill it.

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use crate::server::unique_name;
use crate::test_db::TestDb;

/// What a run of the binary produced.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// stdout parsed as one JSON value.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}):\n{}\nstderr:\n{}",
                self.stdout, self.stderr
            )
        })
    }
}

/// The binary under test. Cargo builds a package's binaries before its
/// integration tests, into the directory above the tests' own `deps/`.
pub fn binary() -> PathBuf {
    let test_exe = std::env::current_exe().expect("current exe");
    let profile_dir = test_exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("tests run from target/<profile>/deps");
    let binary = profile_dir.join(format!(
        "nova-purge-under-test{}",
        std::env::consts::EXE_SUFFIX
    ));
    assert!(
        binary.is_file(),
        "{} is missing: build the nova-purge-tests package first",
        binary.display()
    );
    binary
}

/// Runs the real binary with `args`, no terminal on stdin, a clean
/// environment for nova-purge's own variables, and the given extra env.
pub fn nova_purge(args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut command = Command::new(binary());
    command
        .args(args)
        .env_remove("NOVA_PURGE_DATABASE_URL")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null());
    for (key, value) in env {
        command.env(key, value);
    }
    let Output {
        status,
        stdout,
        stderr,
    } = command.output().expect("run nova-purge");
    Run {
        code: status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    }
}

/// `nova-purge --database-url URL purge ARGS... --format json`.
pub fn purge_json(test_db: &TestDb, args: &[&str]) -> Run {
    let mut all = vec!["--database-url", &test_db.url, "purge", "--format", "json"];
    all.extend_from_slice(args);
    nova_purge(&all, &[])
}

/// The binary under test, running in the background. Its stderr goes to a
/// file, not a pipe: nobody reads a pipe while the test sleeps, and a
/// chatty child (debug logs) would block on a full one and distort timing.
pub struct Spawned {
    child: std::process::Child,
    stderr_path: PathBuf,
    pub started: std::time::Instant,
}

/// Starts nova-purge with `args`, as [`nova_purge`] runs it, without
/// waiting for it.
pub fn spawn_nova_purge(args: &[&str], env: &[(&str, &str)]) -> Spawned {
    let stderr_path = std::env::temp_dir().join(format!("{}.stderr", unique_name("np_test")));
    let stderr = std::fs::File::create(&stderr_path).expect("stderr file");
    let mut command = Command::new(binary());
    command
        .args(args)
        .env_remove("NOVA_PURGE_DATABASE_URL")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(stderr);
    for (key, value) in env {
        command.env(key, value);
    }
    let started = std::time::Instant::now();
    let child = command.spawn().expect("spawn nova-purge");
    Spawned {
        child,
        stderr_path,
        started,
    }
}

impl Spawned {
    /// Sends a signal (`INT`, `TERM`, ...) with kill(1).
    pub fn signal(&self, signal: &str) {
        let sent = Command::new("kill")
            .args([format!("-{signal}"), self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(sent.success(), "kill -{signal} failed");
    }

    /// What it has written to stderr so far.
    pub fn stderr_so_far(&self) -> String {
        String::from_utf8_lossy(&std::fs::read(&self.stderr_path).unwrap_or_default()).into_owned()
    }

    /// True once the process has exited.
    pub fn has_exited(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(Some(_)))
    }

    /// Sends SIGKILL (if it still runs) and collects what it wrote. The
    /// boolean is false when the process had already exited by itself.
    pub fn kill(mut self) -> (Run, bool) {
        let was_running = !self.has_exited();
        if was_running {
            // Fails only if it exited in between, which `wait` then shows.
            let _ = self.child.kill();
        }
        (self.wait(), was_running)
    }

    /// Waits for the process to exit by itself and collects what it wrote.
    pub fn wait(self) -> Run {
        let Output { status, stdout, .. } = self.child.wait_with_output().expect("wait");
        let stderr = std::fs::read(&self.stderr_path).unwrap_or_default();
        let _ = std::fs::remove_file(&self.stderr_path);
        Run {
            code: status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&stdout).into_owned(),
            stderr: String::from_utf8_lossy(&stderr).into_owned(),
        }
    }
}
