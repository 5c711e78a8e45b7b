//! One measured run on a private topology, whatever ran (nova-purge or
//! the floor), as the results list it; and the text table of several.

use serde_json::{json, Value as Json};

use crate::floor::FloorRun;
use crate::run::{Outcome, PurgeRun};

/// A run's figures.
pub struct Measured {
    /// Where: `Galera node 1`, `single server`, `primary`.
    pub topology: String,
    /// What: `nova-purge (defaults)`, `floor`, ...
    pub case: String,
    pub round: usize,
    /// Seconds, spawn to exit for nova-purge, BEGIN to COMMIT for the floor.
    pub wall: f64,
    pub rows: u64,
    pub batches: u64,
    pub max_batch_ms: u64,
    /// Time nova-purge paused before batches (lag, flow control).
    pub paused_ms: u64,
    /// 1-minute load average before and after.
    pub load: (f64, f64),
    pub problems: Vec<String>,
    /// Whatever else the topology measured (the replica's lag).
    pub extra: Json,
}

impl Measured {
    pub fn purge(topology: &str, case: &str, outcome: &Outcome<PurgeRun>) -> Measured {
        let run = &outcome.work;
        Measured {
            topology: topology.to_owned(),
            case: case.to_owned(),
            round: outcome.round,
            wall: run.child.wall.as_secs_f64(),
            rows: run.rows(),
            batches: run.batches(),
            max_batch_ms: run.u64_field("max_batch_ms"),
            paused_ms: run.u64_field("paused_ms"),
            load: outcome.load,
            problems: outcome.problems.clone(),
            extra: json!({
                "client_cpu_s": run.child.cpu.as_secs_f64(),
                "peak_rss_kib": run.child.max_rss_kib,
                "report": run.report,
            }),
        }
    }

    pub fn floor(topology: &str, outcome: &Outcome<FloorRun>) -> Measured {
        let floor = &outcome.work;
        Measured {
            topology: topology.to_owned(),
            case: "floor".to_owned(),
            round: outcome.round,
            wall: floor.elapsed.as_secs_f64(),
            rows: floor.rows(),
            batches: 1,
            max_batch_ms: u64::try_from(floor.elapsed.as_millis()).unwrap_or(u64::MAX),
            paused_ms: 0,
            load: outcome.load,
            problems: outcome.problems.clone(),
            extra: Json::Null,
        }
    }

    pub fn json(&self) -> Json {
        json!({
            "topology": self.topology,
            "case": self.case,
            "round": self.round,
            "wall_s": self.wall,
            "rows": self.rows,
            "rows_per_s": self.rows as f64 / self.wall,
            "batches": self.batches,
            "max_batch_ms": self.max_batch_ms,
            "paused_ms": self.paused_ms,
            "load": [self.load.0, self.load.1],
            "problems": self.problems,
            "extra": self.extra,
        })
    }
}

/// The median of some values (the lower middle one for an even count).
pub fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values
        .get((values.len().max(1) - 1) / 2)
        .copied()
        .unwrap_or(f64::NAN)
}

/// The runs of one topology and case, in the order first seen.
pub fn groups(runs: &[Measured]) -> Vec<(&str, &str, Vec<&Measured>)> {
    let mut out: Vec<(&str, &str, Vec<&Measured>)> = Vec::new();
    for run in runs {
        match out
            .iter_mut()
            .find(|(t, c, _)| *t == run.topology && *c == run.case)
        {
            Some((_, _, list)) => list.push(run),
            None => out.push((&run.topology, &run.case, vec![run])),
        }
    }
    out
}

/// The median wall of one topology and case.
pub fn median_wall(runs: &[Measured], topology: &str, case: &str) -> Option<f64> {
    groups(runs)
        .into_iter()
        .find(|(t, c, _)| *t == topology && *c == case)
        .map(|(_, _, list)| median(list.iter().map(|r| r.wall).collect()))
}

/// An extra column of [`table`]: its title, and its cell for the runs of
/// one topology and case.
pub type Column<'a> = (&'a str, &'a dyn Fn(&[&Measured]) -> String);

/// A Markdown table: one line per topology and case, walls of every round
/// and their median, rows/s at the median, the longest batch and pause of
/// any round, the load range; `more` adds a last column per group.
pub fn table(runs: &[Measured], more: Option<Column>) -> String {
    let mut out = String::from(
        "| where | run | wall (each round) | median | rows/s | batches | longest batch | paused | load |",
    );
    let mut rule = String::from("\n| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    if let Some((title, _)) = more {
        out.push_str(&format!(" {title} |"));
        rule.push_str(" ---: |");
    }
    out.push_str(&rule);
    for (topology, case, list) in groups(runs) {
        let walls: Vec<String> = list.iter().map(|r| format!("{:.2}", r.wall)).collect();
        let wall = median(list.iter().map(|r| r.wall).collect());
        let rows = list.first().map_or(0, |r| r.rows);
        let longest = list.iter().map(|r| r.max_batch_ms).max().unwrap_or(0);
        let paused = list.iter().map(|r| r.paused_ms).max().unwrap_or(0);
        let low = list
            .iter()
            .map(|r| r.load.0.min(r.load.1))
            .fold(f64::MAX, f64::min);
        let high = list
            .iter()
            .map(|r| r.load.0.max(r.load.1))
            .fold(0.0, f64::max);
        let batches: Vec<String> = list.iter().map(|r| r.batches.to_string()).collect();
        out.push_str(&format!(
            "\n| {topology} | {case} | {} s | {wall:.2} s | {:.0} | {} | {longest} ms | {paused} ms | {low:.1}–{high:.1} |",
            walls.join(" / "),
            rows as f64 / wall,
            batches.join(" / "),
        ));
        if let Some((_, column)) = more {
            out.push_str(&format!(" {} |", column(&list)));
        }
    }
    out
}
