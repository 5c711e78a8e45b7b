//! The binary the benchmark measures (nova_purge_tests::measured runs it),
//! and the machine's load while it ran.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};

/// The 1-minute load average, to judge how noisy a measurement was.
pub fn load_average() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(f64::NAN)
}

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
    let status = Command::new(&cargo)
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
