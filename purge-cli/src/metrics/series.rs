//! The series of the metrics file, computed from the engine's report: what
//! was purged by cell, scope and table (counters over every run), and how
//! the last run went (gauges).

use std::fmt::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

use purge_api::Scope;
use purge_engine::purge::{CellReport, Report};

use super::text_format::{escape_help, escape_label, Family, Kind, Previous};
use super::{is_success, RunFacts};

/// The rows a report says `scope` purged, by table.
fn rows_of(scope: Scope, report: &Report) -> Option<&std::collections::BTreeMap<String, u64>> {
    match scope {
        Scope::Instances => Some(&report.tables),
        other => report
            .scopes
            .get(other.name())
            .map(|figures| &figures.tables),
    }
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

/// The whole file.
pub(super) fn render(run: &RunFacts, previous: &Previous) -> String {
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
        "Time the last run spent pausing before batches (--sleep, replication lag, flow control).",
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
                for (table, n) in rows_of(scope, report).into_iter().flatten() {
                    let labels = [("cell", label), ("scope", scope.name()), ("table", table)];
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
    use crate::cli::exit::ExitStatus;
    use crate::metrics::text_format::{Labels, Previous};
    use crate::metrics::{check_writable, write_atomically};
    use purge_engine::purge::RunReport;
    use purge_engine::purge::SkippedInstance;
    use std::fs;
    use std::os::unix::fs::PermissionsExt;
    use std::time::Duration;

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
