//! Runs a binary and measures it: wall time from spawn to exit, and the
//! child's peak resident set size from `wait4(2)` (`ru_maxrss`, which the
//! kernel keeps for the process itself). Used by the tests that bound
//! memory and by the benchmark.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

/// One run of the binary.
#[derive(Debug)]
pub struct ChildRun {
    pub args: Vec<String>,
    pub code: i32,
    pub wall: Duration,
    /// Peak RSS in KiB.
    pub max_rss_kib: i64,
    /// CPU time of the child itself (user + system): the client's share.
    pub cpu: Duration,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `binary args...` with stdin closed and nova-purge's own environment
/// variables removed.
pub fn run(binary: &Path, args: &[String]) -> Result<ChildRun> {
    let started = Instant::now();
    let mut child = Command::new(binary)
        .args(args)
        .env_remove("NOVA_PURGE_DATABASE_URL")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot run {}", binary.display()))?;
    let pid = libc::pid_t::try_from(child.id()).context("pid")?;
    let mut out_pipe = child.stdout.take().context("stdout")?;
    let mut err_pipe = child.stderr.take().context("stderr")?;
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err_pipe.read_to_string(&mut s);
        s
    });
    let mut stdout = String::new();
    out_pipe.read_to_string(&mut stdout)?;
    let (status, usage) = wait4(pid)?;
    let wall = started.elapsed();
    let stderr = err_reader.join().unwrap_or_default();
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        -1
    };
    Ok(ChildRun {
        args: args.to_vec(),
        code,
        wall,
        // Linux reports ru_maxrss in KiB.
        max_rss_kib: usage.ru_maxrss,
        cpu: timeval(usage.ru_utime) + timeval(usage.ru_stime),
        stdout,
        stderr,
    })
}

fn timeval(t: libc::timeval) -> Duration {
    let secs = u64::try_from(t.tv_sec).unwrap_or(0);
    let micros = u64::try_from(t.tv_usec).unwrap_or(0);
    Duration::from_secs(secs) + Duration::from_micros(micros)
}

/// Waits for `pid` and returns its status and resource usage. std's
/// `Child::wait` does not give the rusage, so the child is reaped here.
fn wait4(pid: libc::pid_t) -> Result<(libc::c_int, libc::rusage)> {
    let mut status: libc::c_int = 0;
    // SAFETY: rusage is plain old data; all-zero is a valid value.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: valid pointers to locals; pid is our own unreaped child.
        let rc = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        if rc == pid {
            return Ok((status, usage));
        }
        let err = std::io::Error::last_os_error();
        if err.kind() != std::io::ErrorKind::Interrupted {
            bail!("wait4({pid}) failed: {err}");
        }
    }
}
