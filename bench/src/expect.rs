//! What a correct purge does to the generated data, from the generator
//! alone: the rows each generated table keeps and loses, the tables it must
//! not touch; and the checks of a run against that (nova-purge's report,
//! the floor's row counts, the rows left). For the instances scope from the
//! instance generators, for the other scopes from their [`Layout`].

use std::collections::BTreeMap;

use purge_api::{Backend, Scope};
use serde_json::Value as Json;

use crate::check::Sums;
use crate::fill::{self, Gen, Spec};
use crate::floor::FloorRun;
use crate::layout::Layout;

/// The expectations of one benchmark run.
#[derive(Debug)]
pub struct Expected {
    scope: Scope,
    /// Deleted instances: what a purge of the instances scope removes.
    instances: u64,
    /// Rows each generated table must hold after a correct purge.
    left: BTreeMap<&'static str, i64>,
    /// Rows each generated table loses in a correct purge.
    deleted: BTreeMap<&'static str, u64>,
    /// Own-row scopes: old rows per table, which the keyset reads and
    /// batches (those held included).
    candidates: BTreeMap<&'static str, u64>,
    /// Own-row scopes: old rows a purge must leave, because a row that
    /// stays references them.
    held: u64,
    /// The tables the fill does not generate, which must keep their rows.
    untouched: Vec<String>,
}

impl Expected {
    /// For the instances scope.
    pub fn new(backend: Backend, spec: &Spec) -> Expected {
        let tables = purge_fixture::schema::table_names().map(str::to_owned);
        Expected::for_generators(&fill::generators(backend), spec, tables.collect())
    }

    /// For the instances scope, from `generators` writing into a schema of
    /// `tables`.
    pub fn for_generators(generators: &[Gen], spec: &Spec, tables: Vec<String>) -> Expected {
        let mut left = BTreeMap::new();
        let mut deleted = BTreeMap::new();
        for g in generators {
            let (total, purged) = g.rows(spec);
            *left.entry(g.table).or_default() += i64::try_from(total - purged).unwrap_or(i64::MAX);
            *deleted.entry(g.table).or_default() += purged;
        }
        Expected {
            scope: Scope::Instances,
            instances: spec.deleted,
            untouched: untouched(tables, &left),
            left,
            deleted,
            candidates: BTreeMap::new(),
            held: 0,
        }
    }

    /// For an own-row scope, from the rows its fill writes.
    pub fn from_layout(layout: &Layout) -> Expected {
        let mut left = BTreeMap::new();
        let mut deleted = BTreeMap::new();
        let mut candidates = BTreeMap::new();
        let mut held = 0;
        for table in &layout.tables {
            let going = table.going();
            left.insert(
                table.table,
                i64::try_from(table.fixture_rows + table.rows.len() as u64 - going)
                    .unwrap_or(i64::MAX),
            );
            deleted.insert(table.table, going);
            candidates.insert(table.table, table.candidates());
            held += table.held();
        }
        Expected {
            scope: layout.scope,
            instances: 0,
            untouched: untouched(
                purge_fixture::schema::table_names()
                    .map(str::to_owned)
                    .collect(),
                &left,
            ),
            left,
            deleted,
            candidates,
            held,
        }
    }

    /// Old rows that must stay, held by a row that stays.
    pub fn held(&self) -> u64 {
        self.held
    }

    /// Rows a correct purge deletes, every table.
    pub fn rows_to_delete(&self) -> u64 {
        self.deleted.values().sum()
    }

    /// The tables no purge may touch (count them before, check them after).
    pub fn untouched_tables(&self) -> Vec<&str> {
        self.untouched.iter().map(String::as_str).collect()
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
                    "{table}: {got} rows left, expected {want} (a table the fill does not generate)"
                ));
            }
        }
        problems
    }

    /// nova-purge's report must account for every deleted instance and row,
    /// in batches of at most `batch_size` (fewer instances when
    /// `--batch-time` sizes them, so at least as many batches as full ones
    /// would take).
    pub fn check_report(&self, report: &Json, batch_size: u64) -> Vec<String> {
        if self.scope != Scope::Instances {
            return self.check_scope_report(report, batch_size);
        }
        let mut problems = Vec::new();
        let field = |name: &str| report.get(name).and_then(Json::as_u64);
        if field("instances") != Some(self.instances) {
            problems.push(format!(
                "report: {:?} instances purged, expected {}",
                field("instances"),
                self.instances
            ));
        }
        problems.extend(check_batches(
            report,
            self.instances.div_ceil(batch_size),
            batch_size,
        ));
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

    /// An own-row scope's part of the report: every row, per table, in one
    /// batch per `batch_size` old rows of each table; the held rows skipped;
    /// no instance.
    fn check_scope_report(&self, report: &Json, batch_size: u64) -> Vec<String> {
        let mut problems = Vec::new();
        let name = self.scope.name();
        if report.get("instances").and_then(Json::as_u64) != Some(0) {
            problems.push(format!("report: instances purged with --scope {name}"));
        }
        let Some(figures) = report.get("scopes").and_then(|s| s.get(name)) else {
            problems.push(format!("report: no figures for scope {name}"));
            return problems;
        };
        let field = |name: &str| figures.get(name).and_then(Json::as_u64);
        let rows: u64 = self.deleted.values().sum();
        let batches: u64 = self
            .candidates
            .values()
            .map(|n| n.div_ceil(batch_size))
            .sum();
        problems.extend(
            check_batches(figures, batches, batch_size)
                .into_iter()
                .map(|problem| format!("scope {name}: {problem}")),
        );
        for (what, want) in [("rows", rows), ("skipped_rows", self.held)] {
            if field(what) != Some(want) {
                problems.push(format!(
                    "report: scope {name}: {what} {:?}, expected {want}",
                    field(what)
                ));
            }
        }
        if figures.get("more_remaining").and_then(Json::as_bool) != Some(false) {
            problems.push(format!("report: scope {name}: more rows remaining"));
        }
        let tables = figures.get("tables").and_then(Json::as_object);
        for (table, want) in &self.deleted {
            let got = tables
                .and_then(|t| t.get(*table))
                .and_then(Json::as_u64)
                .unwrap_or(0);
            if got != *want {
                problems.push(format!(
                    "report: {table}: {got} rows deleted, expected {want}"
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

/// The tables of the schema a fill does not generate.
fn untouched(tables: Vec<String>, generated: &BTreeMap<&'static str, i64>) -> Vec<String> {
    tables
        .into_iter()
        .filter(|t| !generated.contains_key(t.as_str()))
        .collect()
}

/// At least `fewest` batches (as many as full ones would take), none larger
/// than `batch_size`.
fn check_batches(figures: &Json, fewest: u64, batch_size: u64) -> Vec<String> {
    let mut problems = Vec::new();
    let batches = figures.get("batches").and_then(Json::as_u64);
    if batches.is_none_or(|n| n < fewest) {
        problems.push(format!(
            "report: {batches:?} batches, expected at least {fewest}"
        ));
    }
    let largest = figures
        .get("batch_sizes")
        .and_then(|sizes| sizes.get("max"))
        .and_then(Json::as_u64);
    if largest.is_some_and(|max| max > batch_size) {
        problems.push(format!(
            "report: a batch of {largest:?}, larger than {batch_size}"
        ));
    }
    problems
}
