//! `purge --metrics-file PATH`: the run in Prometheus text format, for
//! node_exporter's textfile collector, written atomically (a temporary file
//! in the same directory, synced, then renamed over PATH), so that the
//! collector never reads half a file.
//!
//! Two kinds of series (docs/operations.md lists them all):
//!
//! - counters (`_total`) count over every run that wrote the file: each run
//!   reads the previous file and adds its own figures, so that
//!   `increase(...[1d])` is what was purged in a day, however many runs it
//!   took. Removing the file resets them, which Prometheus handles as a
//!   counter reset.
//! - gauges describe the last run (`nova_purge_last_run_*`), except
//!   `nova_purge_last_success_timestamp_seconds`, which only a successful
//!   run (exit code 0 or 3) moves and every other run carries over.
//!
//! Per-cell series have a `cell` label (the cell's name, else its uuid,
//! `local` for a database that the API database does not list); rows have
//! `scope` and `table` labels.

mod series;
mod text_format;

use std::fs::{self, File};
use std::io::{self, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use purge_engine::purge::RunReport;

use crate::cli::exit::ExitStatus;
use series::render;
use text_format::Previous;

/// What a metrics file says about one run.
#[derive(Debug)]
pub struct RunFacts<'a> {
    /// The engine's report; `None` when the run failed without one.
    pub report: Option<&'a RunReport>,
    /// How the run ended.
    pub exit: ExitStatus,
    /// When it ended.
    pub finished: SystemTime,
    /// Wall time of the whole run, connections included.
    pub duration: Duration,
}

/// Checks, before anything is read or deleted, that a metrics file can be
/// created at `path`: a run that cannot report should not start.
pub fn check_writable(path: &Path) -> Result<(), String> {
    let cannot = |why: String| format!("cannot write the metrics file {}: {why}", path.display());
    if path.file_name().is_none() || path.is_dir() {
        return Err(cannot(
            "give a file name (node_exporter reads *.prom)".to_owned(),
        ));
    }
    let dir = directory(path);
    match fs::metadata(&dir) {
        Ok(meta) if meta.is_dir() => {}
        Ok(_) => return Err(cannot(format!("{} is not a directory", dir.display()))),
        Err(err) => return Err(cannot(format!("{}: {err}", dir.display()))),
    }
    temp_file(path)
        .map(drop)
        .map_err(|err| cannot(format!("cannot create a file in {}: {err}", dir.display())))
}

/// Writes the metrics of `run` to `path`, carrying over the counters and
/// the last success of the file already there.
pub fn record(path: &Path, run: &RunFacts) -> io::Result<()> {
    let previous = match fs::read_to_string(path) {
        Ok(text) => Previous::parse(&text).unwrap_or_else(|err| {
            tracing::warn!(
                file = %path.display(),
                error = %err,
                "the previous metrics file cannot be read back; its counters and last success are not carried over"
            );
            Previous::default()
        }),
        Err(err) if err.kind() == io::ErrorKind::NotFound => Previous::default(),
        Err(err) => return Err(err),
    };
    write_atomically(path, &render(run, &previous))
}

/// The directory of `path` (`.` for a bare file name).
fn directory(path: &Path) -> PathBuf {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_owned(),
        _ => PathBuf::from("."),
    }
}

/// A temporary file beside `path`, named so that the collector, which
/// reads `*.prom`, never picks it up.
fn temp_file(path: &Path) -> io::Result<tempfile::NamedTempFile> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".tmp")
        .tempfile_in(directory(path))
}

/// Temporary file, contents, mode 0644 (the collector runs as another
/// user), fsync, rename over `path`, fsync of the directory. On an error
/// the temporary file is removed and `path` is as it was.
fn write_atomically(path: &Path, text: &str) -> io::Result<()> {
    let mut file = temp_file(path)?;
    file.write_all(text.as_bytes())?;
    file.as_file()
        .set_permissions(fs::Permissions::from_mode(0o644))?;
    file.as_file().sync_all()?;
    file.persist(path).map_err(|err| err.error)?;
    File::open(directory(path))?.sync_all()
}

/// Whether a run with this exit status succeeded: done, or done with more
/// left for the next run.
pub fn is_success(exit: ExitStatus) -> bool {
    matches!(exit, ExitStatus::Done | ExitStatus::MoreRemaining)
}
