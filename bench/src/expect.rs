//! What a correct purge does to the generated data, from the generator
//! alone: the rows each generated table keeps and loses, the tables it must
//! not touch; and the checks of a run against that (nova-purge's report,
//! the floor's row counts, the rows left).

use std::collections::BTreeMap;

use purge_api::Backend;
use serde_json::Value as Json;

use crate::check::Sums;
use crate::fill::{self, Spec};
use crate::floor::FloorRun;

/// The expectations of one benchmark run.
#[derive(Debug)]
pub struct Expected {
    /// Deleted instances: what a purge removes.
    instances: u64,
    /// Rows each generated table must hold after a correct purge.
    left: BTreeMap<&'static str, i64>,
    /// Rows each generated table loses in a correct purge.
    deleted: BTreeMap<&'static str, u64>,
    /// The tables the fill does not generate, which must keep their rows.
    untouched: Vec<&'static str>,
}

impl Expected {
    pub fn new(backend: Backend, spec: &Spec) -> Expected {
        let generators = fill::generators(backend);
        let mut left = BTreeMap::new();
        let mut deleted = BTreeMap::new();
        for g in &generators {
            let (total, purged) = g.rows(spec);
            *left.entry(g.table).or_default() += i64::try_from(total - purged).unwrap_or(i64::MAX);
            *deleted.entry(g.table).or_default() += purged;
        }
        let generated: Vec<&str> = generators.iter().map(|g| g.table).collect();
        let untouched = purge_fixture::schema::table_names()
            .filter(|t| !generated.contains(t))
            .collect();
        Expected {
            instances: spec.deleted,
            left,
            deleted,
            untouched,
        }
    }

    /// Rows a correct purge deletes, every table.
    pub fn rows_to_delete(&self) -> u64 {
        self.deleted.values().sum()
    }

    /// The tables no purge may touch (count them before, check them after).
    pub fn untouched_tables(&self) -> &[&'static str] {
        &self.untouched
    }

    /// Checks the rows left against what the generator says must be left,
    /// and the untouched tables against their counts `before`.
    pub fn check_left(&self, sums: &Sums, before: &BTreeMap<String, i64>) -> Vec<String> {
        let mut problems = Vec::new();
        for (table, want) in &self.left {
            let got = sums.get(*table).map_or(-1, |s| s.rows);
            if got != *want {
                problems.push(format!("{table}: {got} rows left, expected {want}"));
            }
        }
        for (table, want) in before {
            let got = sums.get(table).map_or(-1, |s| s.rows);
            if got != *want {
                problems.push(format!(
                    "{table}: {got} rows left, expected {want} (not instance data)"
                ));
            }
        }
        problems
    }

    /// nova-purge's report must account for every deleted instance and row,
    /// in the expected number of batches.
    pub fn check_report(&self, report: &Json, batch_size: u64) -> Vec<String> {
        let mut problems = Vec::new();
        let field = |name: &str| report.get(name).and_then(Json::as_u64);
        if field("instances") != Some(self.instances) {
            problems.push(format!(
                "report: {:?} instances purged, expected {}",
                field("instances"),
                self.instances
            ));
        }
        let batches = self.instances.div_ceil(batch_size);
        if field("batches") != Some(batches) {
            problems.push(format!(
                "report: {:?} batches, expected {batches}",
                field("batches")
            ));
        }
        if report
            .get("skipped_instances")
            .and_then(Json::as_array)
            .is_none_or(|s| !s.is_empty())
        {
            problems.push("report: instances were skipped".to_owned());
        }
        let tables = report.get("tables").and_then(Json::as_object);
        for (table, want) in &self.deleted {
            let got = tables.and_then(|t| t.get(*table)).and_then(Json::as_u64);
            if got != Some(*want) {
                problems.push(format!(
                    "report: {table}: {got:?} rows deleted, expected {want}"
                ));
            }
        }
        problems
    }

    /// The floor must delete the expected rows from every table.
    pub fn check_floor(&self, floor: &FloorRun) -> Vec<String> {
        let mut problems = Vec::new();
        for (table, rows, _) in &floor.tables {
            let want = self.deleted.get(table).copied().unwrap_or(0);
            if *rows != want {
                problems.push(format!(
                    "floor: {table}: {rows} rows deleted, expected {want}"
                ));
            }
        }
        problems
    }
}
