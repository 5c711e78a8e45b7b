//! The JSON report (`--json`): every figure of [`Results`], each run's full
//! nova-purge report and the server counters. Keys come out sorted, as
//! serde_json's maps hold them.

use anyhow::Result;
use serde::Serialize;
use serde_json::Value as Json;

use crate::fill::FillStats;
use crate::probe_report::{self, CaseFigures};
use crate::results::{Measurement, Results, Setup};
use crate::stats::Counters;

#[derive(Serialize)]
struct Report<'a> {
    ok: bool,
    #[serde(flatten)]
    setup: &'a Setup,
    floors: Vec<FloorJson<'a>>,
    floor_median_seconds: Option<f64>,
    nova_purge_runs: Vec<PurgeJson<'a>>,
    medians: Vec<MedianJson>,
    comparisons: Vec<ComparisonJson<'a>>,
    /// `--probe`: every case's latency figures; absent without it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    probe: Vec<CaseFigures>,
}

#[derive(Serialize)]
struct Fill {
    rows: u64,
    seconds: f64,
}

impl From<&FillStats> for Fill {
    fn from(f: &FillStats) -> Fill {
        Fill {
            rows: f.rows,
            seconds: f.elapsed.as_secs_f64(),
        }
    }
}

#[derive(Serialize)]
struct FloorJson<'a> {
    round: usize,
    shape: Option<&'static str>,
    fill: Fill,
    seconds: f64,
    rows: u64,
    instances_per_second: Option<f64>,
    rows_per_second: f64,
    tables: Vec<TableJson>,
    load_average: Option<[f64; 2]>,
    server: &'a Counters,
    problems: &'a [String],
}

#[derive(Serialize)]
struct TableJson {
    table: &'static str,
    rows: u64,
    seconds: f64,
}

#[derive(Serialize)]
struct PurgeJson<'a> {
    /// round, wall and every derived figure.
    #[serde(flatten)]
    measurement: &'a Measurement,
    batch_size: u64,
    args: &'a [String],
    fill: Fill,
    /// Instances purged, as reported.
    instances: u64,
    report: &'a Json,
    server: &'a Counters,
    problems: &'a [String],
}

#[derive(Serialize)]
struct MedianJson {
    /// The setting, as labelled in the text report.
    run: String,
    batch_size: u64,
    runs: usize,
    wall_seconds: f64,
    microseconds_per_row: f64,
    max_batch_ms: Option<u64>,
    peak_rss_kib: Option<i64>,
    ratio_to_floor: Option<f64>,
}

#[derive(Serialize)]
struct ComparisonJson<'a> {
    left: &'a str,
    right: &'a str,
    identical: bool,
    differences: &'a [String],
}

/// The report, pretty-printed.
pub fn render(results: &Results) -> Result<String> {
    let report = Report {
        ok: results.ok(),
        setup: &results.setup,
        floors: results
            .floors
            .iter()
            .map(|f| {
                let m = &f.measurement;
                FloorJson {
                    round: f.outcome.round,
                    shape: f.outcome.work.shape.map(|s| s.name()),
                    fill: (&f.outcome.fill).into(),
                    seconds: m.wall_seconds,
                    rows: m.rows,
                    instances_per_second: m.instances_per_second,
                    rows_per_second: m.rows_per_second,
                    tables: f
                        .outcome
                        .work
                        .tables
                        .iter()
                        .map(|(table, rows, d)| TableJson {
                            table,
                            rows: *rows,
                            seconds: d.as_secs_f64(),
                        })
                        .collect(),
                    load_average: m.load_average,
                    server: &f.outcome.server,
                    problems: &f.outcome.problems,
                }
            })
            .collect(),
        floor_median_seconds: results.floor_median.as_ref().map(|m| m.wall_seconds),
        nova_purge_runs: results
            .purges
            .iter()
            .map(|p| PurgeJson {
                measurement: &p.measurement,
                batch_size: p.outcome.work.batch_size,
                args: &p.outcome.work.child.args,
                fill: (&p.outcome.fill).into(),
                instances: p.outcome.work.u64_field("instances"),
                report: &p.outcome.work.report,
                server: &p.outcome.server,
                problems: &p.outcome.problems,
            })
            .collect(),
        medians: results
            .medians
            .iter()
            .map(|median| MedianJson {
                run: median.measurement.label.clone(),
                batch_size: median.batch_size,
                runs: median.runs,
                wall_seconds: median.measurement.wall_seconds,
                microseconds_per_row: median.measurement.microseconds_per_row,
                max_batch_ms: median.measurement.max_batch_ms,
                peak_rss_kib: median.measurement.peak_rss_kib,
                ratio_to_floor: median.measurement.ratio_to_floor,
            })
            .collect(),
        comparisons: results
            .comparisons
            .iter()
            .map(|c| ComparisonJson {
                left: &c.left,
                right: &c.right,
                identical: c.differences.is_empty(),
                differences: &c.differences,
            })
            .collect(),
        probe: probe_report::json(results),
    };
    // Through a `Value`, whose maps keep their keys sorted.
    Ok(serde_json::to_string_pretty(&serde_json::to_value(
        &report,
    )?)?)
}
