//! The binary the benchmark measures, how it is run and measured, and the
//! machine's load while it ran.
//!
//! Peak RSS comes from `wait4(2)` (`ru_maxrss`, via
//! `nova_purge_tests::measured`). On Linux a child's `ru_maxrss` also
//! counts the memory of the process it was spawned from: `exec` keeps the
//! largest resident size of the image it replaces, and a child made with
//! `vfork` or `fork` starts from its parent's. Spawned straight from the
//! benchmark, nova-purge would be charged the benchmark's own peak (tens
//! of MiB after filling an own-row scope's copy). So the benchmark starts a
//! fresh copy of itself (a hidden first argument, [`wrapper_main`]) that
//! spawns and measures nova-purge at once, while it is small (a few MiB),
//! passes its output through, and reports the figures in a last line of
//! stderr.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use nova_purge_tests::measured::{self, ChildRun};
use serde_json::{json, Value as Json};

/// The hidden first argument that makes this binary the wrapper.
const WRAP: &str = "--np-bench-measure-child";
/// What starts the wrapper's last line of stderr.
const TRAILER: &str = "\nnp-bench-measured ";

/// Runs `binary args...` and measures it, through the wrapper: wall time
/// from spawn to exit, peak RSS and CPU time of nova-purge alone.
pub fn run_measured(binary: &Path, args: &[String]) -> Result<ChildRun> {
    let exe = std::env::current_exe().context("cannot find the benchmark's own binary")?;
    let mut wrapped = vec![WRAP.to_owned(), binary.to_string_lossy().into_owned()];
    wrapped.extend_from_slice(args);
    let outer = measured::run(&exe, &wrapped)?;
    let Some(at) = outer.stderr.rfind(TRAILER) else {
        bail!(
            "the measuring wrapper failed ({}):\n{}",
            outer.code,
            outer.stderr
        );
    };
    let figures: Json = serde_json::from_str(outer.stderr[at + TRAILER.len()..].trim())
        .context("the measuring wrapper's figures")?;
    let int = |name: &str| figures.get(name).and_then(Json::as_i64).unwrap_or(-1);
    let nanos = |name: &str| Duration::from_nanos(u64::try_from(int(name)).unwrap_or(0));
    Ok(ChildRun {
        args: args.to_vec(),
        code: i32::try_from(int("code")).unwrap_or(-1),
        wall: nanos("wall_ns"),
        max_rss_kib: int("max_rss_kib"),
        cpu: nanos("cpu_ns"),
        stderr: outer.stderr[..at].to_owned(),
        stdout: outer.stdout,
    })
}

/// The wrapper, when this process is one (`None` otherwise): runs the
/// binary and arguments it was given, measured, prints the child's stdout
/// and stderr, then its figures as the last line of stderr.
pub fn wrapper_main() -> Option<ExitCode> {
    let mut args = std::env::args_os().skip(1);
    if args.next()? != WRAP {
        return None;
    }
    let Some(binary) = args.next().map(PathBuf::from) else {
        eprintln!("{WRAP}: no binary given");
        return Some(ExitCode::from(125));
    };
    let rest: Vec<String> = args.map(|a| a.to_string_lossy().into_owned()).collect();
    match measured::run(&binary, &rest) {
        Ok(run) => {
            print!("{}", run.stdout);
            eprint!("{}", run.stderr);
            let figures = json!({
                "code": run.code,
                "wall_ns": u64::try_from(run.wall.as_nanos()).unwrap_or(u64::MAX),
                "max_rss_kib": run.max_rss_kib,
                "cpu_ns": u64::try_from(run.cpu.as_nanos()).unwrap_or(u64::MAX),
            });
            eprintln!("{TRAILER}{figures}");
            Some(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            Some(ExitCode::from(125))
        }
    }
}

/// The 1-minute load average, to judge how noisy a measurement was.
pub fn load_average() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(f64::NAN)
}

/// Prefixes of the variables cargo sets for the package it runs.
const PACKAGE_VARIABLES: [&str; 5] = [
    "CARGO_PKG_",
    "CARGO_MANIFEST_",
    "CARGO_CRATE_",
    "CARGO_BIN_",
    "CARGO_PRIMARY_PACKAGE",
];

/// The nova-purge binary to benchmark: `explicit`, or the release build of
/// this workspace, built first (`cargo build --release -p purge-cli --bin
/// nova-purge`) so that a stale binary is never measured.
pub fn nova_purge_binary(explicit: Option<&Path>, log: &dyn Fn(&str)) -> Result<PathBuf> {
    if let Some(path) = explicit {
        if !path.is_file() {
            bail!("{} does not exist", path.display());
        }
        return Ok(path.to_owned());
    }
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .context("the bench crate lives in the workspace")?
        .to_owned();
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    log("building nova-purge: cargo build --release -p purge-cli --bin nova-purge");
    let mut build = Command::new(&cargo);
    // `cargo run` hands this process the variables that describe the bench
    // package (CARGO_PKG_NAME, CARGO_MANIFEST_DIR, ...). Build scripts such
    // as ring's rerun when those change, so passed on they would rebuild
    // ring, rustls and sqlx here, and again at the next `cargo run`.
    for (name, _) in std::env::vars_os() {
        let name_text = name.to_string_lossy();
        if PACKAGE_VARIABLES.iter().any(|p| name_text.starts_with(p)) {
            build.env_remove(&name);
        }
    }
    let status = build
        .current_dir(&workspace)
        .args([
            "build",
            "--release",
            "-p",
            "purge-cli",
            "--bin",
            "nova-purge",
        ])
        .stdin(Stdio::null())
        .status()
        .context("cannot run cargo")?;
    if !status.success() {
        bail!("cargo build --release -p purge-cli failed ({status})");
    }
    let target_dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace.join("target"));
    let binary = target_dir.join("release").join("nova-purge");
    if !binary.is_file() {
        bail!("{} is missing after the build", binary.display());
    }
    Ok(binary)
}
