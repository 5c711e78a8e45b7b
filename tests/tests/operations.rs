//! Operating nova-purge: `purge --metrics-file` read back with a strict
//! parser of the Prometheus text format and compared with the JSON report,
//! and `--log-format json` read back line by line, on SQLite, MariaDB and
//! PostgreSQL.

use std::collections::BTreeMap;
use std::path::PathBuf;

use nova_purge_tests::{
    insert_instances, nova_purge, purge_json, uuid, InstanceState, Run, TestDb,
};
use purge_api::Backend;
use purge_fixture::{ApiFixture, Fixture, InstanceSpec};
use serde_json::Value;

const OLD: InstanceState = InstanceState::Deleted { days_ago: 200 };

/// One `#[tokio::test]` per backend for each scenario.
macro_rules! on_every_backend {
    ($($scenario:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test] async fn $scenario() { super::$scenario(purge_api::Backend::Sqlite).await })*
        }
        mod mariadb {
            $(#[tokio::test] async fn $scenario() { super::$scenario(purge_api::Backend::MySql).await })*
        }
        mod postgresql {
            $(#[tokio::test] async fn $scenario() { super::$scenario(purge_api::Backend::Postgres).await })*
        }
    };
}

on_every_backend!(
    metrics_follow_the_reports_across_runs,
    metrics_name_each_cell_and_count_a_failed_one,
    json_logs_are_json_on_every_line,
);

// ---------------------------------------------------------------------------
// A strict reader of the Prometheus text format (exposition format 0.0.4):
// what node_exporter's textfile collector accepts, and the conventions on
// top (prefix, `_total` counters, HELP and TYPE for every metric).
// ---------------------------------------------------------------------------

type Labels = BTreeMap<String, String>;

#[derive(Debug, Default)]
struct Family {
    help: Option<String>,
    kind: Option<String>,
    series: BTreeMap<Labels, f64>,
}

#[derive(Debug, Default)]
struct Exposition {
    families: BTreeMap<String, Family>,
}

impl Exposition {
    /// The value of one series; panics naming what is missing.
    fn get(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.find(name, labels)
            .unwrap_or_else(|| panic!("no series {name}{labels:?} in {self:#?}"))
    }

    fn find(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let labels: Labels = labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        self.families.get(name)?.series.get(&labels).copied()
    }

    /// Every series of a family, by labels.
    fn series(&self, name: &str) -> &BTreeMap<Labels, f64> {
        &self
            .families
            .get(name)
            .unwrap_or_else(|| panic!("no metric {name}"))
            .series
    }
}

fn is_name(name: &str, colon: bool) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || (colon && c == ':'))
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || (colon && c == ':'))
}

/// A sample value as Go's ParseFloat reads it, as the text format says.
fn parse_value(text: &str) -> Result<f64, String> {
    match text {
        "+Inf" => Ok(f64::INFINITY),
        "-Inf" => Ok(f64::NEG_INFINITY),
        "NaN" => Ok(f64::NAN),
        _ if text
            .chars()
            .all(|c| c.is_ascii_digit() || "+-.eE".contains(c)) =>
        {
            text.parse().map_err(|e| format!("value {text:?}: {e}"))
        }
        _ => Err(format!("value {text:?} is not a number")),
    }
}

/// `{name="value",...}`, returning the labels and the rest of the line.
fn parse_labels(mut rest: &str) -> Result<(Labels, &str), String> {
    let mut labels = Labels::new();
    rest = rest.strip_prefix('{').expect("called on a brace");
    loop {
        if let Some(after) = rest.strip_prefix('}') {
            return Ok((labels, after));
        }
        let (name, after) = rest
            .split_once('=')
            .ok_or_else(|| format!("label without `=` in {rest:?}"))?;
        if !is_name(name, false) || name.starts_with("__") {
            return Err(format!("bad label name {name:?}"));
        }
        let mut chars = after
            .strip_prefix('"')
            .ok_or_else(|| format!("label {name} has an unquoted value"))?
            .char_indices();
        let mut value = String::new();
        let end = loop {
            match chars.next() {
                None => return Err(format!("label {name}: unterminated value")),
                Some((i, '"')) => break i,
                Some((_, '\\')) => match chars.next() {
                    Some((_, '\\')) => value.push('\\'),
                    Some((_, '"')) => value.push('"'),
                    Some((_, 'n')) => value.push('\n'),
                    other => return Err(format!("label {name}: bad escape {other:?}")),
                },
                Some((_, '\n')) => return Err(format!("label {name}: raw newline")),
                Some((_, c)) => value.push(c),
            }
        };
        if labels.insert(name.to_owned(), value).is_some() {
            return Err(format!("label {name} twice"));
        }
        rest = &after[1 + end + 1..];
        match rest.strip_prefix(',') {
            Some(after) => rest = after,
            None if rest.starts_with('}') => {}
            None => return Err(format!("expected `,` or `}}` at {rest:?}")),
        }
    }
}

/// Parses a whole file, refusing anything the format or our conventions
/// forbid: unknown comment lines, HELP or TYPE twice or after the samples,
/// a family split in two, a series twice, a sample without HELP and TYPE,
/// a timestamp, a missing final newline.
fn parse_exposition(text: &str) -> Result<Exposition, String> {
    if !text.is_empty() && !text.ends_with('\n') {
        return Err("no newline at the end".to_owned());
    }
    let mut exposition = Exposition::default();
    let mut current: Option<String> = None;
    let mut finished: Vec<String> = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let at = |why: String| format!("line {}: {why}: {line:?}", n + 1);
        let (name, labels, value) = if let Some(comment) = line.strip_prefix("# ") {
            let mut words = comment.splitn(3, ' ');
            let keyword = words.next().unwrap_or("");
            let name = words.next().unwrap_or("").to_owned();
            let rest = words.next().unwrap_or("").to_owned();
            if !is_name(&name, true) {
                return Err(at(format!("bad metric name {name:?}")));
            }
            if current.as_deref() != Some(&name) {
                if finished.contains(&name) {
                    return Err(at("metric described again".to_owned()));
                }
                if let Some(previous) = current.replace(name.clone()) {
                    finished.push(previous);
                }
            }
            let family = exposition.families.entry(name.clone()).or_default();
            if !family.series.is_empty() {
                return Err(at(format!("{keyword} after the samples")));
            }
            match keyword {
                "HELP" => {
                    if family.help.replace(rest).is_some() {
                        return Err(at("HELP twice".to_owned()));
                    }
                }
                "TYPE" => {
                    let known = ["counter", "gauge", "histogram", "summary", "untyped"];
                    if !known.contains(&rest.as_str()) {
                        return Err(at(format!("unknown type {rest:?}")));
                    }
                    if family.kind.replace(rest).is_some() {
                        return Err(at("TYPE twice".to_owned()));
                    }
                }
                _ => return Err(at("a comment that is neither HELP nor TYPE".to_owned())),
            }
            continue;
        } else if line.starts_with('#') || line.trim().is_empty() {
            return Err(at("stray comment or blank line".to_owned()));
        } else {
            let name_end = line
                .find(['{', ' '])
                .ok_or_else(|| at("no value".to_owned()))?;
            let (name, rest) = line.split_at(name_end);
            let (labels, rest) = if rest.starts_with('{') {
                parse_labels(rest).map_err(at)?
            } else {
                (Labels::new(), rest)
            };
            let value = rest
                .strip_prefix(' ')
                .ok_or_else(|| at("no space before the value".to_owned()))?;
            if value.contains(' ') {
                return Err(at("a timestamp or trailing text".to_owned()));
            }
            (name.to_owned(), labels, parse_value(value).map_err(at)?)
        };
        if !is_name(&name, true) {
            return Err(at(format!("bad metric name {name:?}")));
        }
        if current.as_deref() != Some(&name) {
            return Err(at("a sample outside its family's block".to_owned()));
        }
        let family = exposition.families.get_mut(&name).expect("described");
        if family.help.is_none() || family.kind.is_none() {
            return Err(at("a sample before its HELP and TYPE".to_owned()));
        }
        if family.series.insert(labels, value).is_some() {
            return Err(at("the same series twice".to_owned()));
        }
    }
    for (name, family) in &exposition.families {
        if !name.starts_with("nova_purge_") {
            return Err(format!("{name} lacks the nova_purge_ prefix"));
        }
        let counter = family.kind.as_deref() == Some("counter");
        if counter != name.ends_with("_total") {
            return Err(format!("{name}: only counters end in _total"));
        }
        if family.series.values().any(|v| counter && *v < 0.0) {
            return Err(format!("{name}: a negative counter"));
        }
        if name.ends_with("_ms") || name.contains("millis") {
            return Err(format!("{name}: durations are in seconds"));
        }
    }
    Ok(exposition)
}

#[test]
fn the_parser_refuses_what_the_format_forbids() {
    let good = "# HELP nova_purge_x_total X.\n# TYPE nova_purge_x_total counter\nnova_purge_x_total{a=\"q\\\"\\\\\\n\"} 1\n";
    let parsed = parse_exposition(good).unwrap();
    assert_eq!(parsed.get("nova_purge_x_total", &[("a", "q\"\\\n")]), 1.0);
    for bad in [
        "nova_purge_x_total 1\n",
        "# HELP nova_purge_x_total X.\n# TYPE nova_purge_x_total counter\nnova_purge_x_total 1",
        "# HELP nova_purge_x_total X.\n# TYPE nova_purge_x_total counter\nnova_purge_x_total 1\nnova_purge_x_total 2\n",
        "# HELP nova_purge_x_total X.\n# TYPE nova_purge_x_total counter\nnova_purge_x_total{a=\"\\t\"} 1\n",
        "# HELP nova_purge_x_total X.\n# TYPE nova_purge_x_total counter\nnova_purge_x_total{a=\"1\",a=\"2\"} 1\n",
        "# HELP nova_purge_x_total X.\n# TYPE nova_purge_x_total counter\nnova_purge_x_total 1 1700000000\n",
        "# HELP nova_purge_x X.\n# TYPE nova_purge_x counter\nnova_purge_x 1\n",
        "# HELP nova_purge_x X.\n# TYPE nova_purge_x gauge\nnova_purge_x one\n",
        "# HELP x X.\n# TYPE x gauge\nx 1\n",
        "# HELP nova_purge_x X.\n# TYPE nova_purge_x gauge\nnova_purge_x 1\n# HELP nova_purge_y Y.\n# TYPE nova_purge_y gauge\nnova_purge_y 1\nnova_purge_x 2\n",
        "# HELP nova_purge_x X.\n# HELP nova_purge_x X.\n# TYPE nova_purge_x gauge\nnova_purge_x 1\n",
        "# a comment\n",
    ] {
        assert!(parse_exposition(bad).is_err(), "accepted:\n{bad}");
    }
}

// ---------------------------------------------------------------------------
// Metrics
// ---------------------------------------------------------------------------

/// A directory of its own for a metrics file, as node_exporter's is.
struct MetricsDir {
    dir: PathBuf,
}

impl MetricsDir {
    fn new(label: &str) -> MetricsDir {
        let dir = std::env::temp_dir().join(format!("np-metrics-{}-{label}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        MetricsDir { dir }
    }

    fn file(&self) -> PathBuf {
        self.dir.join("nova-purge.prom")
    }

    fn arg(&self) -> String {
        self.file().display().to_string()
    }

    fn read(&self) -> Exposition {
        let text = std::fs::read_to_string(self.file()).unwrap();
        parse_exposition(&text).unwrap_or_else(|e| panic!("{e}\n{text}"))
    }

    /// Only the metrics file: no temporary file left behind.
    fn assert_alone(&self) {
        let names: Vec<String> = std::fs::read_dir(&self.dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, vec!["nova-purge.prom".to_owned()]);
    }
}

impl Drop for MetricsDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

fn tables(report: &Value) -> BTreeMap<String, u64> {
    report["tables"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(table, n)| (table.clone(), n.as_u64().unwrap()))
        .collect()
}

fn seconds(report: &Value, key: &str) -> f64 {
    report[key].as_u64().unwrap() as f64 / 1000.0
}

/// Rows by table in the metrics, for one cell.
fn metric_rows(metrics: &Exposition, cell: &str) -> BTreeMap<String, u64> {
    metrics
        .series("nova_purge_rows_purged_total")
        .iter()
        .filter(|(labels, _)| labels["cell"] == cell)
        .map(|(labels, value)| {
            assert_eq!(labels["scope"], "instances");
            assert_eq!(labels.len(), 3, "{labels:?}");
            (labels["table"].clone(), *value as u64)
        })
        .collect()
}

fn add(a: &BTreeMap<String, u64>, b: &BTreeMap<String, u64>) -> BTreeMap<String, u64> {
    let mut sum = a.clone();
    for (table, n) in b {
        *sum.entry(table.clone()).or_default() += n;
    }
    sum
}

/// A capped run (exit 3), a run that finishes (exit 0), a run that fails
/// (exit 1), a run refused as bad usage (exit 2): the file says what each
/// report said, counters add up, the last success survives the failure, the
/// refused run leaves the file alone, no temporary file is left.
async fn metrics_follow_the_reports_across_runs(backend: Backend) {
    let fixture = Fixture::full();
    let test_db = TestDb::with_fixture(backend, &fixture).await;
    let mut specs: Vec<InstanceSpec> = (1..=5).map(|n| InstanceSpec::new(uuid(n), OLD)).collect();
    specs.push(InstanceSpec::new(uuid(8), InstanceState::Live));
    specs.push(InstanceSpec {
        fixed_ip: true,
        ..InstanceSpec::new(uuid(9), OLD)
    });
    insert_instances(&test_db, &fixture, &specs).await;
    let dir = MetricsDir::new(&format!("runs-{backend:?}"));
    let metrics_arg = dir.arg();

    let before = now();
    let first = purge_json(
        &test_db,
        &[
            "--yes",
            "--batch-size",
            "2",
            "--max-number",
            "3",
            "--sleep",
            "20ms",
            "--metrics-file",
            &metrics_arg,
        ],
    );
    assert_eq!(first.code, 3, "{first:?}");
    let report = first.json();
    let metrics = dir.read();
    dir.assert_alone();
    assert_eq!(report["instances"], 3);
    let local = [("cell", "local")];
    assert_eq!(
        metrics.get("nova_purge_instances_purged_total", &local),
        3.0
    );
    assert_eq!(metric_rows(&metrics, "local"), tables(&report));
    assert_eq!(
        metrics.get("nova_purge_batches_total", &local),
        report["batches"].as_u64().unwrap() as f64
    );
    assert_eq!(metrics.get("nova_purge_last_run_exit_code", &[]), 3.0);
    assert_eq!(
        metrics.get("nova_purge_last_run_skipped_instances", &local),
        report["skipped_instances"].as_array().unwrap().len() as f64
    );
    assert_eq!(
        metrics.get("nova_purge_last_run_longest_batch_seconds", &[]),
        seconds(&report, "max_batch_ms")
    );
    let paused = metrics.get("nova_purge_last_run_paused_seconds", &[]);
    assert_eq!(paused, seconds(&report, "paused_ms"));
    assert!(paused >= 0.02, "two batches, one pause of 20 ms: {paused}");
    assert_eq!(
        metrics.get("nova_purge_last_run_cell_duration_seconds", &local),
        seconds(&report, "elapsed_ms")
    );
    assert!(
        metrics.get("nova_purge_last_run_duration_seconds", &[]) >= seconds(&report, "elapsed_ms")
    );
    assert_eq!(metrics.get("nova_purge_last_run_cells_failed", &[]), 0.0);
    assert_eq!(metrics.get("nova_purge_last_run_cell_failed", &local), 0.0);
    let success = metrics.get("nova_purge_last_success_timestamp_seconds", &[]);
    assert!(
        before - 1.0 <= success && success <= now() + 1.0,
        "{success}"
    );
    assert_eq!(
        metrics.get("nova_purge_last_run_timestamp_seconds", &[]),
        success
    );

    // The rest: the counters add this run's figures to the first's.
    let second = purge_json(&test_db, &["--yes", "--metrics-file", &metrics_arg]);
    assert_eq!(second.code, 0, "{second:?}");
    let report2 = second.json();
    assert_eq!(report2["instances"], 2);
    let metrics = dir.read();
    dir.assert_alone();
    assert_eq!(
        metrics.get("nova_purge_instances_purged_total", &local),
        5.0
    );
    assert_eq!(
        metric_rows(&metrics, "local"),
        add(&tables(&report), &tables(&report2))
    );
    assert_eq!(
        metrics.get("nova_purge_batches_total", &local),
        (report["batches"].as_u64().unwrap() + report2["batches"].as_u64().unwrap()) as f64
    );
    assert_eq!(metrics.get("nova_purge_last_run_exit_code", &[]), 0.0);
    assert_eq!(metrics.get("nova_purge_last_run_paused_seconds", &[]), 0.0);
    let success = metrics.get("nova_purge_last_success_timestamp_seconds", &[]);
    assert_eq!(
        metrics.get("nova_purge_last_run_timestamp_seconds", &[]),
        success
    );
    let counted = metrics.series("nova_purge_rows_purged_total").clone();

    // A run that fails (nothing listens on port 1): exit code 1 recorded,
    // the last success and the counters carried over.
    std::thread::sleep(std::time::Duration::from_millis(20));
    let failed = nova_purge(
        &[
            "--database-url",
            "mysql://root@127.0.0.1:1/nova",
            "purge",
            "--yes",
            "--metrics-file",
            &metrics_arg,
        ],
        &[],
    );
    assert_eq!(failed.code, 1, "{failed:?}");
    let metrics = dir.read();
    dir.assert_alone();
    assert_eq!(metrics.get("nova_purge_last_run_exit_code", &[]), 1.0);
    assert_eq!(
        metrics.get("nova_purge_last_success_timestamp_seconds", &[]),
        success
    );
    assert!(metrics.get("nova_purge_last_run_timestamp_seconds", &[]) > success);
    assert_eq!(
        metrics.get("nova_purge_instances_purged_total", &local),
        5.0
    );
    assert_eq!(metrics.series("nova_purge_rows_purged_total"), &counted);
    assert_eq!(
        metrics.find("nova_purge_last_run_skipped_instances", &local),
        None
    );

    // Bad usage deletes nothing and records nothing: the file stays.
    let kept = std::fs::read(dir.file()).unwrap();
    let refused = purge_json(&test_db, &["--metrics-file", &metrics_arg]);
    assert_eq!(refused.code, 2, "{refused:?}");
    assert_eq!(std::fs::read(dir.file()).unwrap(), kept);
    dir.assert_alone();

    // A directory that is not there stops the run before it starts.
    let nowhere = dir.dir.join("missing/nova-purge.prom");
    let refused = purge_json(
        &test_db,
        &["--yes", "--metrics-file", &nowhere.display().to_string()],
    );
    assert_eq!(refused.code, 2, "{refused:?}");
    assert!(
        refused.stderr.contains("cannot write the metrics file"),
        "{refused:?}"
    );
    // --dry-run records nothing: refused together.
    let dry = purge_json(&test_db, &["--dry-run", "--metrics-file", &metrics_arg]);
    assert_eq!(dry.code, 2, "{dry:?}");
}

/// The SQLAlchemy form Nova stores, for a harness URL (an absolute SQLite
/// path takes four slashes there).
fn sqlalchemy(url: &str) -> String {
    url.replacen("mysql://", "mysql+pymysql://", 1)
        .replacen("postgres://", "postgresql+psycopg2://", 1)
        .replacen("sqlite://", "sqlite:///", 1)
}

/// A cell whose database cannot be reached, on this backend.
fn unreachable_cell(backend: Backend) -> String {
    match backend {
        Backend::Sqlite => "sqlite:////nonexistent/nova_cell2.sqlite".to_owned(),
        Backend::MySql => "mysql+pymysql://root@127.0.0.1:1/nova_cell2".to_owned(),
        Backend::Postgres => "postgresql+psycopg2://postgres@127.0.0.1:1/nova_cell2".to_owned(),
    }
}

/// `--all-cells` with a cell that works, named with every character the
/// text format escapes, and one that cannot be reached: per-cell series,
/// escaped labels, the failed cell counted, exit code 6, no success.
async fn metrics_name_each_cell_and_count_a_failed_one(backend: Backend) {
    let fixture = Fixture::full();
    let api = TestDb::empty(backend).await;
    ApiFixture::create(&api.db).await.unwrap();
    let cell = TestDb::with_fixture(backend, &fixture).await;
    let odd_name = "cell \"one\"\\east\nrack";
    ApiFixture::add_cell(
        &api.db,
        1,
        "c0000000-0000-4000-8000-000000000001",
        odd_name,
        &sqlalchemy(&cell.url),
    )
    .await
    .unwrap();
    ApiFixture::add_cell(
        &api.db,
        2,
        "c0000000-0000-4000-8000-000000000002",
        "cell2",
        &unreachable_cell(backend),
    )
    .await
    .unwrap();
    let specs: Vec<InstanceSpec> = (1..=3).map(|n| InstanceSpec::new(uuid(n), OLD)).collect();
    insert_instances(&cell, &fixture, &specs).await;
    for spec in &specs {
        ApiFixture::add_instance(&api.db, &spec.uuid, 1, true)
            .await
            .unwrap();
    }
    let dir = MetricsDir::new(&format!("cells-{backend:?}"));

    let run = nova_purge(
        &[
            "--api-database-url",
            &api.url,
            "--database-url",
            &cell.url,
            "purge",
            "--all-cells",
            "--yes",
            "--format",
            "json",
            "--metrics-file",
            &dir.arg(),
        ],
        &[],
    );
    assert_eq!(run.code, 6, "{run:?}");
    let report = run.json();
    let metrics = dir.read();
    dir.assert_alone();
    let good = report["cells"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == odd_name)
        .expect("the good cell in the report");
    let one = [("cell", odd_name)];
    let two = [("cell", "cell2")];
    assert_eq!(good["instances"], 3);
    assert_eq!(metrics.get("nova_purge_instances_purged_total", &one), 3.0);
    assert_eq!(metrics.get("nova_purge_instances_purged_total", &two), 0.0);
    assert_eq!(metric_rows(&metrics, odd_name), tables(good));
    assert!(
        tables(good).contains_key("instance_mappings"),
        "the API rows are counted with their cell: {good:#}"
    );
    assert!(metric_rows(&metrics, "cell2").is_empty());
    assert_eq!(metrics.get("nova_purge_last_run_cells_failed", &[]), 1.0);
    assert_eq!(metrics.get("nova_purge_last_run_cell_failed", &one), 0.0);
    assert_eq!(metrics.get("nova_purge_last_run_cell_failed", &two), 1.0);
    assert_eq!(
        metrics.get("nova_purge_last_run_cell_duration_seconds", &one),
        seconds(good, "elapsed_ms")
    );
    assert_eq!(metrics.get("nova_purge_last_run_exit_code", &[]), 6.0);
    assert_eq!(
        metrics.find("nova_purge_last_success_timestamp_seconds", &[]),
        None
    );
    let text = std::fs::read_to_string(dir.file()).unwrap();
    assert!(
        text.contains(r#"cell="cell \"one\"\\east\nrack""#),
        "escaped as the format says:\n{text}"
    );
}

// ---------------------------------------------------------------------------
// JSON logs
// ---------------------------------------------------------------------------

const LEVELS: [&str; 5] = ["TRACE", "DEBUG", "INFO", "WARN", "ERROR"];

/// Every line of stderr as a JSON object with a timestamp, a level and a
/// message (a summary for sqlx's statement events).
fn json_lines(run: &Run) -> Vec<serde_json::Map<String, Value>> {
    assert!(!run.stderr.is_empty(), "{run:?}");
    run.stderr
        .lines()
        .map(|line| {
            let value: Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("not JSON ({e}): {line:?}\n{run:?}"));
            let object = value
                .as_object()
                .cloned()
                .unwrap_or_else(|| panic!("not an object: {line}"));
            let timestamp = object["timestamp"].as_str().expect("a timestamp");
            chrono::DateTime::parse_from_rfc3339(timestamp).expect("an RFC 3339 timestamp");
            assert!(
                LEVELS.contains(&object["level"].as_str().expect("a level")),
                "{line}"
            );
            // Every event has a message, except the database driver's own
            // (sqlx, at -vv: one per statement), which has a summary.
            let what = if object.contains_key("db.statement") {
                "summary"
            } else {
                "message"
            };
            assert!(object.get(what).is_some_and(Value::is_string), "{line}");
            object
        })
        .collect()
}

/// With `--log-format json`, every line on stderr is a JSON object, the
/// batch events carry their fields, and the errors (bad usage, no --yes)
/// are JSON too.
async fn json_logs_are_json_on_every_line(backend: Backend) {
    let fixture = Fixture::full();
    let test_db = TestDb::with_fixture(backend, &fixture).await;
    let mut specs: Vec<InstanceSpec> = (1..=5).map(|n| InstanceSpec::new(uuid(n), OLD)).collect();
    specs.push(InstanceSpec {
        fixed_ip: true,
        ..InstanceSpec::new(uuid(9), OLD)
    });
    insert_instances(&test_db, &fixture, &specs).await;

    let run = purge_json(
        &test_db,
        &["--yes", "--batch-size", "2", "-vv", "--log-format", "json"],
    );
    assert_eq!(run.code, 0, "{run:?}");
    let report = run.json();
    let lines = json_lines(&run);
    let batches: Vec<_> = lines
        .iter()
        .filter(|l| l.get("message").is_some_and(|m| m == "batch done"))
        .collect();
    assert_eq!(
        batches.len() as u64,
        report["batches"].as_u64().unwrap(),
        "{run:?}"
    );
    let mut purged = 0;
    for (n, batch) in batches.iter().enumerate() {
        assert_eq!(batch["level"], "INFO");
        assert_eq!(batch["batch"], n as u64 + 1);
        assert!(batch["ms"].is_u64(), "{batch:?}");
        assert!(batch["skipped"].is_u64(), "{batch:?}");
        assert_eq!(batch["dry_run"], false);
        purged += batch["instances"].as_u64().unwrap();
    }
    assert_eq!(purged, report["instances"].as_u64().unwrap());
    assert!(
        lines.iter().any(|l| l["level"] == "WARN"
            && l["message"]
                .as_str()
                .is_some_and(|m| m.contains("fixed_ips"))),
        "the uncovered table is a warning: {run:?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l["level"] == "DEBUG" && l.contains_key("rows")),
        "-vv shows the targets' debug events with their fields: {run:?}"
    );

    // No --yes: no prompt, one JSON error line, exit code 2.
    let refused = nova_purge(
        &[
            "--database-url",
            &test_db.url,
            "--log-format",
            "json",
            "purge",
        ],
        &[],
    );
    assert_eq!(refused.code, 2, "{refused:?}");
    let last = json_lines(&refused).pop().unwrap();
    assert_eq!(last["level"], "ERROR");
    assert_eq!(last["exit_code"], 2);
    assert!(
        last["message"].as_str().unwrap().contains("--yes"),
        "{last:?}"
    );

    // A command line that does not parse, and a database that cannot be
    // reached: still one JSON object per line.
    let bad = nova_purge(&["--log-format=json", "purge", "--older-than", "abc"], &[]);
    assert_eq!(bad.code, 2, "{bad:?}");
    let lines = json_lines(&bad);
    assert_eq!(lines.len(), 1, "{bad:?}");
    assert!(lines[0]["message"]
        .as_str()
        .unwrap()
        .contains("--older-than"));
    let down = nova_purge(
        &[
            "--database-url",
            "mysql://root@127.0.0.1:1/nova",
            "--log-format",
            "json",
            "purge",
            "--dry-run",
        ],
        &[],
    );
    assert_eq!(down.code, 1, "{down:?}");
    assert_eq!(json_lines(&down).pop().unwrap()["exit_code"], 1);
}

// ---------------------------------------------------------------------------
// The audit export, as a timer gives it: a directory
// ---------------------------------------------------------------------------

/// `--export DIR` writes a new `nova-purge-<UTC time>.jsonl` in DIR, so that
/// the same option works every day.
#[tokio::test]
async fn an_export_directory_gets_a_new_file_per_run() {
    let fixture = Fixture::full();
    let test_db = TestDb::with_fixture(Backend::Sqlite, &fixture).await;
    let specs: Vec<InstanceSpec> = (1..=2).map(|n| InstanceSpec::new(uuid(n), OLD)).collect();
    insert_instances(&test_db, &fixture, &specs).await;
    let dir = MetricsDir::new("export");
    let run = purge_json(
        &test_db,
        &["--yes", "--export", &dir.dir.display().to_string()],
    );
    assert_eq!(run.code, 0, "{run:?}");
    let names: Vec<String> = std::fs::read_dir(&dir.dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 1, "{names:?}");
    let name = &names[0];
    let stamp = name
        .strip_prefix("nova-purge-")
        .and_then(|rest| rest.strip_suffix(".jsonl"))
        .unwrap_or_else(|| panic!("{name}"));
    chrono::NaiveDateTime::parse_from_str(stamp, "%Y%m%dT%H%M%SZ").expect("a UTC time");
    let text = std::fs::read_to_string(dir.dir.join(name)).unwrap();
    let header: Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert_eq!(header["nova_purge_export"], 2);
    assert!(text.lines().filter(|l| l.contains("\"committed\"")).count() >= 1);
}
