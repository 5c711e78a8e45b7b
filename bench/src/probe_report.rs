//! The probe's figures: per measured case, per phase (idle before the step,
//! during it) and per operation, the count, failures and p50/p99/max
//! latency; each case's batches on the probe's clock; for the text and JSON
//! reports and the plot.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value as Json;

use crate::probe::{Record, Sample};
use crate::probe_ops::Op;
use crate::results::Results;

/// One measured case as the probe saw it.
pub struct ProbeCase<'a> {
    /// The case's label and round, as in the main table.
    pub label: String,
    pub record: &'a Record,
    /// Each batch (start, seconds) in seconds since the probe started.
    pub batches: Vec<(f64, f64)>,
    /// nova-purge's instances per batch, min/median/max, as its report
    /// gives them; `None` for the floor.
    pub batch_sizes: Option<[u64; 3]>,
}

/// Every probed case, round by round: the nova-purge runs, then the floor.
pub fn cases(results: &Results) -> Vec<ProbeCase<'_>> {
    let rounds = results
        .purges
        .iter()
        .map(|p| p.outcome.round)
        .chain(results.floors.iter().map(|f| f.outcome.round))
        .max()
        .unwrap_or(0);
    let mut cases = Vec::new();
    for round in 1..=rounds {
        for p in results.purges.iter().filter(|p| p.outcome.round == round) {
            let Some(record) = &p.outcome.probe else {
                continue;
            };
            let run = &p.outcome.work;
            cases.push(ProbeCase {
                label: format!("{} (round {round})", p.measurement.label),
                record,
                batches: logged_batches(&run.child.stderr, record.started_at),
                batch_sizes: batch_sizes(&run.report),
            });
        }
        for f in results.floors.iter().filter(|f| f.outcome.round == round) {
            let Some(record) = &f.outcome.probe else {
                continue;
            };
            cases.push(ProbeCase {
                label: format!("floor, 1 transaction (round {round})"),
                record,
                // Its one transaction is the whole step.
                batches: vec![(record.step.0, record.step.1 - record.step.0)],
                batch_sizes: None,
            });
        }
    }
    cases
}

/// The report's `batch_sizes` (`{"min", "median", "max"}`).
fn batch_sizes(report: &Json) -> Option<[u64; 3]> {
    let sizes = report.get("batch_sizes")?;
    let get = |key: &str| sizes.get(key).and_then(Json::as_u64);
    Some([get("min")?, get("median")?, get("max")?])
}

/// The `batch done` events of nova-purge's JSON log (`-v --log-format
/// json`): each ends at its timestamp and lasted its `ms`.
fn logged_batches(stderr: &str, started_at: DateTime<Utc>) -> Vec<(f64, f64)> {
    stderr
        .lines()
        .filter_map(|line| serde_json::from_str::<Json>(line).ok())
        .filter(|event| event.get("message").and_then(Json::as_str) == Some("batch done"))
        .filter_map(|event| {
            let ended: DateTime<Utc> = event.get("timestamp")?.as_str()?.parse().ok()?;
            let seconds = event.get("ms")?.as_f64()? / 1000.0;
            let ended = (ended - started_at).num_microseconds()? as f64 / 1e6;
            Some((ended - seconds, seconds))
        })
        .collect()
}

/// Latency figures of some operations, in milliseconds.
#[derive(Debug, Clone, Serialize)]
pub struct Latency {
    pub count: usize,
    pub failed: usize,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl Latency {
    fn of<'a>(samples: impl Iterator<Item = &'a Sample>) -> Latency {
        let mut failed = 0;
        let mut ms: Vec<f64> = samples
            .inspect(|s| failed += usize::from(s.failed))
            .map(|s| s.seconds * 1000.0)
            .collect();
        ms.sort_by(f64::total_cmp);
        Latency {
            count: ms.len(),
            failed,
            p50_ms: quantile(&ms, 0.50),
            p99_ms: quantile(&ms, 0.99),
            max_ms: ms.last().copied().unwrap_or(0.0),
        }
    }
}

/// The nearest-rank quantile of sorted values (0 when there are none).
fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// One phase's figures: every operation, and each kind.
#[derive(Debug, Clone, Serialize)]
pub struct Phase {
    pub all: Latency,
    pub read: Latency,
    pub action: Latency,
    pub touch: Latency,
}

impl Phase {
    fn of(samples: &[&Sample]) -> Phase {
        let op = |op: Op| Latency::of(samples.iter().copied().filter(|s| s.op == op));
        Phase {
            all: Latency::of(samples.iter().copied()),
            read: op(Op::Read),
            action: op(Op::Action),
            touch: op(Op::Touch),
        }
    }

    fn by_op(&self) -> [(&'static str, &Latency); 4] {
        [
            ("all", &self.all),
            (Op::Read.name(), &self.read),
            (Op::Action.name(), &self.action),
            (Op::Touch.name(), &self.touch),
        ]
    }
}

/// A case's figures, as the JSON report gives them.
#[derive(Debug, Serialize)]
pub struct CaseFigures {
    pub case: String,
    /// Seconds of the measured step.
    pub step_seconds: f64,
    pub idle: Phase,
    pub during: Phase,
    pub batches: usize,
    pub longest_batch_ms: f64,
    /// The five longest batches, longest first.
    pub slowest_batches_ms: Vec<f64>,
    /// Instances per batch: min, median, max (nova-purge only).
    pub batch_sizes: Option<[u64; 3]>,
    /// The first failed operation's error, if any failed.
    pub first_error: Option<String>,
}

impl ProbeCase<'_> {
    /// Operations that started before the step (idle) and during it.
    pub fn figures(&self) -> CaseFigures {
        let (start, end) = self.record.step;
        let idle: Vec<&Sample> = self
            .record
            .samples
            .iter()
            .filter(|s| s.start < start)
            .collect();
        let during: Vec<&Sample> = self
            .record
            .samples
            .iter()
            .filter(|s| s.start >= start && s.start <= end)
            .collect();
        let mut slowest: Vec<f64> = self.batches.iter().map(|b| b.1 * 1000.0).collect();
        slowest.sort_by(|a, b| b.total_cmp(a));
        slowest.truncate(5);
        CaseFigures {
            case: self.label.clone(),
            step_seconds: end - start,
            idle: Phase::of(&idle),
            during: Phase::of(&during),
            batches: self.batches.len(),
            longest_batch_ms: slowest.first().copied().unwrap_or(0.0),
            slowest_batches_ms: slowest,
            batch_sizes: self.batch_sizes,
            first_error: self.record.first_error.clone(),
        }
    }
}

/// The probe's part of the human report.
pub fn print(results: &Results) {
    let cases = cases(results);
    if cases.is_empty() {
        return;
    }
    println!();
    println!(
        "probe: Nova-like operations on random live instances, latency in ms (idle: before the step; during: while it ran):"
    );
    let mut rows = vec![[
        "case", "phase", "op", "count", "failed", "p50", "p99", "max",
    ]
    .map(str::to_owned)
    .to_vec()];
    let mut notes = Vec::new();
    for case in &cases {
        let figures = case.figures();
        for (phase, figures) in [("idle", &figures.idle), ("during", &figures.during)] {
            for (op, l) in figures.by_op() {
                rows.push(vec![
                    case.label.clone(),
                    phase.to_owned(),
                    op.to_owned(),
                    l.count.to_string(),
                    l.failed.to_string(),
                    format!("{:.1}", l.p50_ms),
                    format!("{:.1}", l.p99_ms),
                    format!("{:.1}", l.max_ms),
                ]);
            }
        }
        let sizes = figures
            .batch_sizes
            .map_or(String::new(), |[min, median, max]| {
                format!(", instances per batch min/median/max {min}/{median}/{max}")
            });
        notes.push(format!(
            "  {}: step {:.2} s, {} batches, slowest {} ms{sizes}{}",
            case.label,
            figures.step_seconds,
            figures.batches,
            figures
                .slowest_batches_ms
                .iter()
                .map(|ms| format!("{ms:.0}"))
                .collect::<Vec<_>>()
                .join(", "),
            figures
                .first_error
                .map_or(String::new(), |e| format!("; first failure: {e}"))
        ));
    }
    for line in crate::text::aligned(&rows, 3) {
        println!("  {line}");
    }
    for note in notes {
        println!("{note}");
    }
}

/// The probe's part of the JSON report.
pub fn json(results: &Results) -> Vec<CaseFigures> {
    cases(results).iter().map(ProbeCase::figures).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_are_nearest_rank() {
        let values: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(quantile(&values, 0.5), 50.0);
        assert_eq!(quantile(&values, 0.99), 99.0);
        assert_eq!(quantile(&[3.0], 0.99), 3.0);
        assert_eq!(quantile(&[], 0.5), 0.0);
    }

    #[test]
    fn batches_are_placed_from_the_log() {
        let started: DateTime<Utc> = "2026-01-01T00:00:00Z".parse().unwrap();
        let log =
            "{\"timestamp\":\"2026-01-01T00:00:02.5Z\",\"message\":\"batch done\",\"ms\":500}\n\
                   {\"timestamp\":\"2026-01-01T00:00:03Z\",\"message\":\"progress\"}\n\
                   not json";
        assert_eq!(logged_batches(log, started), vec![(2.0, 0.5)]);
    }
}
