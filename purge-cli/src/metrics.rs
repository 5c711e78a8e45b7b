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

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs::{self, File};
use std::io::{self, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use purge_engine::purge::{CellReport, Report, RunReport};

use crate::cli::exit::ExitStatus;

/// Every metric name starts with this.
const PREFIX: &str = "nova_purge_";

/// Why rows were purged. Every row goes with its instance today; a new
/// scope (old rows of live instances, say) is one more variant, and its
/// rows one more value of the `scope` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// The rows of purged soft-deleted instances, and the instances.
    Instances,
}

impl Scope {
    pub fn label(self) -> &'static str {
        match self {
            Scope::Instances => "instances",
        }
    }

    /// The rows a report says this scope purged, by table.
    fn rows(self, report: &Report) -> &BTreeMap<String, u64> {
        match self {
            Scope::Instances => &report.tables,
        }
    }

    const ALL: [Scope; 1] = [Scope::Instances];
}

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

// ---------------------------------------------------------------------------
// The text format
// ---------------------------------------------------------------------------

/// A series' labels, sorted by name.
type Labels = BTreeMap<String, String>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Counter,
    Gauge,
}

/// One metric: its name (without the prefix), type, help and series.
struct Family {
    name: &'static str,
    kind: Kind,
    help: &'static str,
    series: BTreeMap<Labels, f64>,
}

impl Family {
    fn new(name: &'static str, kind: Kind, help: &'static str) -> Family {
        Family {
            name,
            kind,
            help,
            series: BTreeMap::new(),
        }
    }

    fn add(&mut self, labels: &[(&str, &str)], value: f64) {
        let labels = labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        *self.series.entry(labels).or_default() += value;
    }

    fn set(&mut self, labels: &[(&str, &str)], value: f64) {
        let labels = labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        self.series.insert(labels, value);
    }

    fn full_name(&self) -> String {
        format!("{PREFIX}{}", self.name)
    }
}

/// What the previous file said that a new one carries over.
#[derive(Debug, Default)]
pub struct Previous {
    /// Every sample, by full metric name and labels.
    samples: BTreeMap<(String, Labels), f64>,
}

impl Previous {
    /// Reads a file this module wrote. Comments are skipped; a line that is
    /// not a sample is an error, and nothing is carried over.
    pub fn parse(text: &str) -> Result<Previous, String> {
        let mut samples = BTreeMap::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (name, labels, value) =
                parse_sample(line).ok_or_else(|| format!("line {}: not a sample", n + 1))?;
            samples.insert((name, labels), value);
        }
        Ok(Previous { samples })
    }

    fn counters<'a>(&'a self, name: &'a str) -> impl Iterator<Item = (&'a Labels, f64)> + 'a {
        self.samples
            .iter()
            .filter(move |((n, _), _)| n == name)
            .map(|((_, labels), value)| (labels, *value))
    }

    fn value(&self, name: &str) -> Option<f64> {
        self.samples.get(&(name.to_owned(), Labels::new())).copied()
    }
}

/// `name{label="value",...} value [timestamp]`.
fn parse_sample(line: &str) -> Option<(String, Labels, f64)> {
    let name_end = line
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
        .unwrap_or(line.len());
    let (name, mut rest) = line.split_at(name_end);
    if name.is_empty() {
        return None;
    }
    let mut labels = Labels::new();
    if let Some(after) = rest.strip_prefix('{') {
        rest = after;
        loop {
            rest = rest.trim_start_matches(',');
            if let Some(after) = rest.strip_prefix('}') {
                rest = after;
                break;
            }
            let (label, after) = rest.split_once("=\"")?;
            let mut value = String::new();
            let mut chars = after.char_indices();
            let end = loop {
                let (i, c) = chars.next()?;
                match c {
                    '"' => break i,
                    '\\' => match chars.next()?.1 {
                        'n' => value.push('\n'),
                        other => value.push(other),
                    },
                    other => value.push(other),
                }
            };
            labels.insert(label.to_owned(), value);
            rest = &after[end + 1..];
        }
    }
    let value = rest.split_whitespace().next()?.parse().ok()?;
    Some((name.to_owned(), labels, value))
}

/// A label value as the text format wants it: `\`, `"` and newline
/// escaped.
fn escape_label(value: &str) -> String {
    value
        .replace('\\', r"\\")
        .replace('"', r#"\""#)
        .replace('\n', r"\n")
}

/// HELP text: `\` and newline escaped.
fn escape_help(text: &str) -> String {
    text.replace('\\', r"\\").replace('\n', r"\n")
}

fn seconds(ms: u64) -> f64 {
    ms as f64 / 1000.0
}

fn timestamp(time: SystemTime) -> f64 {
    let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    // Milliseconds are plenty, and keep the number short.
    (since.as_millis() as f64) / 1000.0
}

/// The `cell` label of a cell's series.
fn cell_label(cell: &CellReport) -> &str {
    cell.name
        .as_deref()
        .or(cell.uuid.as_deref())
        .unwrap_or("local")
}

/// Whether a run with this exit status succeeded: done, or done with more
/// left for the next run.
pub fn is_success(exit: ExitStatus) -> bool {
    matches!(exit, ExitStatus::Done | ExitStatus::MoreRemaining)
}

/// The whole file.
pub fn render(run: &RunFacts, previous: &Previous) -> String {
    use Kind::{Counter, Gauge};
    let mut instances = Family::new(
        "instances_purged_total",
        Counter,
        "Soft-deleted instances purged with all their rows, over every run that wrote this file.",
    );
    let mut rows = Family::new(
        "rows_purged_total",
        Counter,
        "Rows deleted, by table and by why they were deleted (scope), over every run that wrote this file.",
    );
    let mut batches = Family::new(
        "batches_total",
        Counter,
        "Batch transactions run, over every run that wrote this file.",
    );
    let mut skipped = Family::new(
        "last_run_skipped_instances",
        Gauge,
        "Instances the last run left whole because a table no purge target covers still references them.",
    );
    let mut cell_failed = Family::new(
        "last_run_cell_failed",
        Gauge,
        "1 when the last run could not purge this cell (the others went on), else 0.",
    );
    let mut cell_duration = Family::new(
        "last_run_cell_duration_seconds",
        Gauge,
        "Wall time the last run spent purging this cell.",
    );
    let mut cells_failed = Family::new(
        "last_run_cells_failed",
        Gauge,
        "Cells the last run could not purge while it went on with the others (exit code 6).",
    );
    let mut duration = Family::new(
        "last_run_duration_seconds",
        Gauge,
        "Wall time of the last run, connecting included.",
    );
    let mut longest_batch = Family::new(
        "last_run_longest_batch_seconds",
        Gauge,
        "The longest batch transaction of the last run: how long it held its locks.",
    );
    let mut paused = Family::new(
        "last_run_paused_seconds",
        Gauge,
        "Time the last run spent pausing between batches (--sleep).",
    );
    let mut exit_code = Family::new(
        "last_run_exit_code",
        Gauge,
        "Exit code of the last run: 0 done, 1 error, 3 more remain, 6 a cell failed, 130 interrupted.",
    );
    let mut finished = Family::new(
        "last_run_timestamp_seconds",
        Gauge,
        "When the last run ended, successful or not (Unix time).",
    );
    let mut last_success = Family::new(
        "last_success_timestamp_seconds",
        Gauge,
        "When the last successful run (exit code 0 or 3) ended (Unix time).",
    );

    for family in [&mut instances, &mut rows, &mut batches] {
        let name = family.full_name();
        for (labels, value) in previous.counters(&name) {
            *family.series.entry(labels.clone()).or_default() += value;
        }
    }
    if let Some(report) = run.report {
        for cell in &report.cells {
            let label = cell_label(cell);
            let report = &cell.report;
            instances.add(&[("cell", label)], report.instances as f64);
            batches.add(&[("cell", label)], report.batches as f64);
            for scope in Scope::ALL {
                for (table, n) in scope.rows(report) {
                    let labels = [("cell", label), ("scope", scope.label()), ("table", table)];
                    rows.add(&labels, *n as f64);
                }
            }
            skipped.set(&[("cell", label)], report.skipped_instances.len() as f64);
            let failed = cell.error.is_some();
            cell_failed.set(&[("cell", label)], f64::from(u8::from(failed)));
            cell_duration.set(&[("cell", label)], seconds(report.elapsed_ms));
        }
        let failed = report.cells.iter().filter(|c| c.error.is_some()).count();
        cells_failed.set(&[], failed as f64);
        longest_batch.set(&[], seconds(report.total.max_batch_ms));
        paused.set(&[], seconds(report.total.paused_ms));
    } else {
        cells_failed.set(&[], 0.0);
        longest_batch.set(&[], 0.0);
        paused.set(&[], 0.0);
    }
    duration.set(&[], run.duration.as_millis() as f64 / 1000.0);
    exit_code.set(&[], f64::from(run.exit.code()));
    finished.set(&[], timestamp(run.finished));
    let carried = previous.value(&last_success.full_name());
    if is_success(run.exit) {
        last_success.set(&[], timestamp(run.finished));
    } else if let Some(when) = carried {
        last_success.set(&[], when);
    }

    let mut text = String::new();
    for family in [
        &instances,
        &rows,
        &batches,
        &skipped,
        &cell_failed,
        &cell_duration,
        &cells_failed,
        &duration,
        &longest_batch,
        &paused,
        &exit_code,
        &finished,
        &last_success,
    ] {
        if family.series.is_empty() {
            continue;
        }
        let name = family.full_name();
        let kind = match family.kind {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
        };
        let _ = writeln!(text, "# HELP {name} {}", escape_help(family.help));
        let _ = writeln!(text, "# TYPE {name} {kind}");
        for (labels, value) in &family.series {
            text.push_str(&name);
            if !labels.is_empty() {
                let pairs: Vec<String> = labels
                    .iter()
                    .map(|(k, v)| format!("{k}=\"{}\"", escape_label(v)))
                    .collect();
                let _ = write!(text, "{{{}}}", pairs.join(","));
            }
            let _ = writeln!(text, " {value}");
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use purge_engine::purge::SkippedInstance;

    fn cell(name: Option<&str>, instances: u64, tables: &[(&str, u64)]) -> CellReport {
        CellReport {
            name: name.map(str::to_owned),
            uuid: None,
            error: None,
            report: Report {
                instances,
                batches: 1,
                tables: tables.iter().map(|(t, n)| ((*t).to_owned(), *n)).collect(),
                elapsed_ms: 1500,
                ..Report::default()
            },
        }
    }

    fn run(cells: Vec<CellReport>) -> RunReport {
        let mut total = Report::default();
        for cell in &cells {
            total.merge(&cell.report);
        }
        RunReport { total, cells }
    }

    fn facts(report: Option<&RunReport>, exit: ExitStatus, at: u64) -> RunFacts<'_> {
        RunFacts {
            report,
            exit,
            finished: UNIX_EPOCH + Duration::from_millis(at),
            duration: Duration::from_millis(2500),
        }
    }

    fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let labels: Labels = labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Previous::parse(text)
            .unwrap()
            .samples
            .get(&(name.to_owned(), labels))
            .copied()
    }

    #[test]
    fn label_values_are_escaped_and_read_back() {
        let odd = "a\\b\"c\nd,e}=\"f";
        let report = run(vec![cell(Some(odd), 2, &[("instances", 2)])]);
        let text = render(
            &facts(Some(&report), ExitStatus::Done, 1_000),
            &Previous::default(),
        );
        assert!(
            text.contains(r#"nova_purge_instances_purged_total{cell="a\\b\"c\nd,e}=\"f"} 2"#),
            "{text}"
        );
        assert_eq!(text.lines().count(), text.split('\n').count() - 1);
        assert_eq!(
            sample(&text, "nova_purge_instances_purged_total", &[("cell", odd)]),
            Some(2.0)
        );
    }

    #[test]
    fn counters_add_up_and_the_last_success_survives_a_failure() {
        let first = run(vec![
            cell(
                Some("cell1"),
                3,
                &[("instances", 3), ("instance_faults", 7)],
            ),
            cell(None, 1, &[("instances", 1)]),
        ]);
        let one = render(
            &facts(Some(&first), ExitStatus::MoreRemaining, 10_000),
            &Previous::default(),
        );
        let second = run(vec![cell(Some("cell1"), 2, &[("instances", 2)])]);
        let two = render(
            &facts(Some(&second), ExitStatus::Done, 20_000),
            &Previous::parse(&one).unwrap(),
        );
        assert_eq!(
            sample(
                &two,
                "nova_purge_instances_purged_total",
                &[("cell", "cell1")]
            ),
            Some(5.0)
        );
        assert_eq!(
            sample(
                &two,
                "nova_purge_instances_purged_total",
                &[("cell", "local")]
            ),
            Some(1.0)
        );
        assert_eq!(
            sample(
                &two,
                "nova_purge_rows_purged_total",
                &[
                    ("cell", "cell1"),
                    ("scope", "instances"),
                    ("table", "instance_faults")
                ]
            ),
            Some(7.0)
        );
        assert_eq!(
            sample(&two, "nova_purge_batches_total", &[("cell", "cell1")]),
            Some(2.0)
        );
        assert_eq!(
            sample(&two, "nova_purge_last_success_timestamp_seconds", &[]),
            Some(20.0)
        );

        let failed = render(
            &facts(None, ExitStatus::Error, 30_000),
            &Previous::parse(&two).unwrap(),
        );
        assert_eq!(
            sample(&failed, "nova_purge_last_success_timestamp_seconds", &[]),
            Some(20.0)
        );
        assert_eq!(
            sample(&failed, "nova_purge_last_run_timestamp_seconds", &[]),
            Some(30.0)
        );
        assert_eq!(
            sample(&failed, "nova_purge_last_run_exit_code", &[]),
            Some(1.0)
        );
        assert_eq!(
            sample(
                &failed,
                "nova_purge_instances_purged_total",
                &[("cell", "cell1")]
            ),
            Some(5.0)
        );
        assert_eq!(
            sample(
                &failed,
                "nova_purge_last_run_skipped_instances",
                &[("cell", "cell1")]
            ),
            None
        );
    }

    #[test]
    fn a_failed_cell_is_counted_and_never_a_success() {
        let mut broken = cell(Some("cell2"), 0, &[]);
        broken.error = Some("cannot connect".to_owned());
        let mut good = cell(Some("cell1"), 1, &[("instances", 1)]);
        good.report.skipped_instances.push(SkippedInstance {
            uuid: "u".to_owned(),
            reason: "r".to_owned(),
            blocked_by: vec![],
        });
        let report = run(vec![good, broken]);
        let text = render(
            &facts(Some(&report), ExitStatus::CellFailed, 5_000),
            &Previous::default(),
        );
        assert_eq!(
            sample(&text, "nova_purge_last_run_cells_failed", &[]),
            Some(1.0)
        );
        assert_eq!(
            sample(
                &text,
                "nova_purge_last_run_cell_failed",
                &[("cell", "cell2")]
            ),
            Some(1.0)
        );
        assert_eq!(
            sample(
                &text,
                "nova_purge_last_run_cell_failed",
                &[("cell", "cell1")]
            ),
            Some(0.0)
        );
        assert_eq!(
            sample(
                &text,
                "nova_purge_last_run_skipped_instances",
                &[("cell", "cell1")]
            ),
            Some(1.0)
        );
        assert_eq!(
            sample(
                &text,
                "nova_purge_last_run_cell_duration_seconds",
                &[("cell", "cell1")]
            ),
            Some(1.5)
        );
        assert_eq!(
            sample(&text, "nova_purge_last_success_timestamp_seconds", &[]),
            None
        );
        assert_eq!(
            sample(&text, "nova_purge_last_run_duration_seconds", &[]),
            Some(2.5)
        );
    }

    #[test]
    fn a_damaged_file_is_refused() {
        assert!(Previous::parse("nova_purge_batches_total{cell=\"x} 1\n").is_err());
        assert!(Previous::parse("{} 1\n").is_err());
        assert!(Previous::parse("nova_purge_batches_total one\n").is_err());
    }

    #[test]
    fn the_write_replaces_the_file_and_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nova-purge.prom");
        check_writable(&path).unwrap();
        write_atomically(&path, "one 1\n").unwrap();
        write_atomically(&path, "two 2\n").unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "two 2\n");
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o644);
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("nova-purge.prom")]);
        assert!(check_writable(dir.path()).is_err());
        assert!(check_writable(&dir.path().join("missing/nova-purge.prom")).is_err());
    }
}
