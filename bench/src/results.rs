//! The results, computed once from the outcomes: every figure of every run
//! and of every median (a [`Measurement`], each derived figure by one
//! function below), the comparisons between copies, and whether every check
//! passed. The text and JSON reports only format them.

use std::time::Duration;

use purge_api::{Backend, Scope};
use serde::{Serialize, Serializer};

use crate::check;
use crate::floor::FloorRun;
use crate::run::{Outcome, PurgeRun};

/// What was benchmarked, and where.
#[derive(Debug, Serialize)]
pub struct Setup {
    #[serde(serialize_with = "backend_name")]
    pub backend: Backend,
    /// The server's name and version.
    #[serde(rename = "server")]
    pub version: String,
    /// What was purged: `instances`, or an own-row scope.
    #[serde(serialize_with = "scope_name")]
    pub scope: Scope,
    /// Instances to purge, or, for another scope, old rows to delete.
    pub deleted: u64,
    /// Live instances, or, for another scope, rows that must stay.
    pub live: u64,
    pub rows_to_delete: u64,
    /// Own-row scopes: old rows that must stay, held by a row that stays.
    pub held_rows: u64,
    /// The nova-purge binary measured.
    #[serde(rename = "nova_purge")]
    pub binary: String,
    #[serde(rename = "content_check")]
    pub content: bool,
    #[serde(rename = "missing_indexes_added")]
    pub add_missing_indexes: bool,
}

fn backend_name<S: Serializer>(backend: &Backend, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(backend.name())
}

fn scope_name<S: Serializer>(scope: &Scope, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(scope.name())
}

/// The figures of one line of the table: a run, or the median of the runs
/// of one case (`round` is `None`). `None` where a figure does not apply.
/// Serialised, its fields are those of a nova-purge run in the JSON report.
#[derive(Debug, Clone, Serialize)]
pub struct Measurement {
    #[serde(skip)]
    pub label: String,
    pub round: Option<usize>,
    pub wall_seconds: f64,
    /// nova-purge's own `elapsed_ms`, in seconds.
    pub engine_seconds: Option<f64>,
    pub client_cpu_seconds: Option<f64>,
    /// Rows deleted (the rows to delete, for a median).
    pub rows: u64,
    /// Instances scope only.
    pub instances_per_second: Option<f64>,
    pub rows_per_second: f64,
    pub microseconds_per_row: f64,
    /// The child's peak RSS (a median: the largest).
    pub peak_rss_kib: Option<i64>,
    pub batches: Option<u64>,
    /// The longest batch (a median: the longest of all runs); `None` when
    /// not known (an own-row scope's run whose log has no batch times).
    pub max_batch_ms: Option<u64>,
    /// Wall time over the floor's: of the same round, or median over median.
    pub ratio_to_floor: Option<f64>,
    /// 1-minute load average before and after.
    pub load_average: Option<[f64; 2]>,
}

impl Measurement {
    /// The figures derived from the wall time alone; the rest left out.
    fn timed(
        label: String,
        round: Option<usize>,
        wall: Duration,
        instances: Option<u64>,
        rows: u64,
        floor: Option<Duration>,
    ) -> Measurement {
        Measurement {
            label,
            round,
            wall_seconds: wall.as_secs_f64(),
            engine_seconds: None,
            client_cpu_seconds: None,
            rows,
            instances_per_second: instances.map(|n| per_second(n, wall)),
            rows_per_second: per_second(rows, wall),
            microseconds_per_row: microseconds_per_row(wall, rows),
            peak_rss_kib: None,
            batches: None,
            max_batch_ms: None,
            ratio_to_floor: floor.map(|floor| ratio_to_floor(wall, floor)),
            load_average: None,
        }
    }

    /// Whether this is the median of several runs.
    pub fn is_median(&self) -> bool {
        self.round.is_none()
    }
}

/// `n` things done in `wall`, per second.
fn per_second(n: u64, wall: Duration) -> f64 {
    n as f64 / wall.as_secs_f64().max(1e-9)
}

/// Microseconds of `wall` per row (per one row, when `rows` is 0).
fn microseconds_per_row(wall: Duration, rows: u64) -> f64 {
    wall.as_secs_f64() * 1e6 / rows.max(1) as f64
}

/// How many times the floor's wall time `wall` took.
fn ratio_to_floor(wall: Duration, floor: Duration) -> f64 {
    wall.as_secs_f64() / floor.as_secs_f64().max(1e-9)
}

fn median(mut values: Vec<Duration>) -> Option<Duration> {
    values.sort();
    let n = values.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(values[n / 2]),
        _ => Some((values[n / 2 - 1] + values[n / 2]) / 2),
    }
}

/// A run's outcome and its figures.
pub struct Measured<W> {
    pub outcome: Outcome<W>,
    pub measurement: Measurement,
}

/// The median of the nova-purge runs at one setting.
pub struct Median {
    pub batch_size: u64,
    pub runs: usize,
    pub measurement: Measurement,
}

/// Two copies compared: what `left` leaves against what `right` leaves.
pub struct Comparison {
    pub left: String,
    pub right: String,
    /// One line per difference; empty when identical.
    pub differences: Vec<String>,
}

/// Everything measured and derived.
pub struct Results {
    pub setup: Setup,
    pub floors: Vec<Measured<FloorRun>>,
    pub purges: Vec<Measured<PurgeRun>>,
    /// The median of the floor runs (when there is a floor).
    pub floor_median: Option<Measurement>,
    /// Per setting, in the order they ran.
    pub medians: Vec<Median>,
    pub comparisons: Vec<Comparison>,
}

impl Results {
    pub fn new(
        setup: Setup,
        floors: Vec<Outcome<FloorRun>>,
        purges: Vec<Outcome<PurgeRun>>,
    ) -> Results {
        let instances = (setup.scope == Scope::Instances).then_some(setup.deleted);
        let rows_to_delete = setup.rows_to_delete;
        let floors: Vec<Measured<FloorRun>> = floors
            .into_iter()
            .map(|outcome| {
                let floor = &outcome.work;
                let label = match floor.shape {
                    Some(shape) => format!("floor ({}, 1 transaction)", shape.name()),
                    None => "floor (1 transaction)".to_owned(),
                };
                let wall = floor.elapsed;
                // One transaction: one batch.
                let measurement = Measurement {
                    batches: Some(1),
                    max_batch_ms: Some((wall.as_secs_f64() * 1000.0).round() as u64),
                    load_average: Some([outcome.load.0, outcome.load.1]),
                    ..Measurement::timed(
                        label,
                        Some(outcome.round),
                        wall,
                        instances,
                        floor.rows(),
                        Some(wall),
                    )
                };
                Measured {
                    outcome,
                    measurement,
                }
            })
            .collect();
        let floor_of = |round: usize| {
            floors
                .iter()
                .find(|f| f.outcome.round == round)
                .map(|f| f.outcome.work.elapsed)
        };
        let purges: Vec<Measured<PurgeRun>> = purges
            .into_iter()
            .map(|outcome| {
                let run = &outcome.work;
                let measurement = Measurement {
                    engine_seconds: run.engine_seconds(),
                    client_cpu_seconds: Some(run.child.cpu.as_secs_f64()),
                    peak_rss_kib: Some(run.child.max_rss_kib),
                    batches: Some(run.batches()),
                    max_batch_ms: run.max_batch_ms(),
                    load_average: Some([outcome.load.0, outcome.load.1]),
                    ..Measurement::timed(
                        run.label(),
                        Some(outcome.round),
                        run.child.wall,
                        instances,
                        run.rows(),
                        floor_of(outcome.round),
                    )
                };
                Measured {
                    outcome,
                    measurement,
                }
            })
            .collect();

        let floor_wall = median(floors.iter().map(|f| f.outcome.work.elapsed).collect());
        let floor_median = floor_wall.map(|wall| {
            Measurement::timed(
                "floor".to_owned(),
                None,
                wall,
                instances,
                rows_to_delete,
                Some(wall),
            )
        });
        // One median per setting (batch size and batch time).
        let mut labels = Vec::new();
        for p in &purges {
            if !labels.contains(&p.outcome.work.label()) {
                labels.push(p.outcome.work.label());
            }
        }
        let medians = labels
            .into_iter()
            .filter_map(|label| {
                let runs: Vec<&PurgeRun> = purges
                    .iter()
                    .map(|p| &p.outcome.work)
                    .filter(|run| run.label() == label)
                    .collect();
                let batch_size = runs.first()?.batch_size;
                let wall = median(runs.iter().map(|run| run.child.wall).collect())?;
                let measurement = Measurement {
                    peak_rss_kib: runs.iter().map(|run| run.child.max_rss_kib).max(),
                    max_batch_ms: runs.iter().filter_map(|run| run.max_batch_ms()).max(),
                    ..Measurement::timed(
                        runs[0].label(),
                        None,
                        wall,
                        instances,
                        rows_to_delete,
                        floor_wall,
                    )
                };
                Some(Median {
                    batch_size,
                    runs: runs.len(),
                    measurement,
                })
            })
            .collect();

        let comparisons = compare(&floors, &purges);
        Results {
            setup,
            floors,
            purges,
            floor_median,
            medians,
            comparisons,
        }
    }

    /// Whether every check passed and every comparison found no difference.
    pub fn ok(&self) -> bool {
        self.purges.iter().all(|p| p.outcome.problems.is_empty())
            && self.floors.iter().all(|f| f.outcome.problems.is_empty())
            && self.comparisons.iter().all(|c| c.differences.is_empty())
    }

    /// Whether some case ran more than once (then medians are shown).
    pub fn repeated(&self) -> bool {
        self.floors.len() > 1 || self.medians.iter().any(|m| m.runs > 1)
    }
}

/// Every nova-purge copy against the floor of its round (or, without a
/// floor, against the first nova-purge copy).
fn compare(floors: &[Measured<FloorRun>], purges: &[Measured<PurgeRun>]) -> Vec<Comparison> {
    let name =
        |p: &Measured<PurgeRun>| format!("{} (round {})", p.measurement.label, p.outcome.round);
    let mut comparisons = Vec::new();
    for (i, purge) in purges.iter().enumerate() {
        let floor = floors
            .iter()
            .find(|f| f.outcome.round == purge.outcome.round);
        let (right, sums) = match floor {
            Some(f) => (
                format!("floor (round {})", f.outcome.round),
                &f.outcome.sums,
            ),
            None if i > 0 => (name(&purges[0]), &purges[0].outcome.sums),
            None => continue,
        };
        let left = name(purge);
        let differences = check::diff(&left, &purge.outcome.sums, &right, sums);
        comparisons.push(Comparison {
            left,
            right,
            differences,
        });
    }
    comparisons
}
