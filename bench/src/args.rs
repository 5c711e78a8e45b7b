//! The command line ([`Args`]) and what it asks for once the defaults of
//! `--smoke` and the rest are applied ([`Plan`]).

use std::path::PathBuf;

use anyhow::{bail, Result};
use clap::{Parser, ValueEnum};
use purge_api::{Backend, Scope};

use crate::fill::Spec;
use crate::floor;
use crate::probe::{self, ProbeArgs};
use crate::schema_args::SchemaArgs;

/// Benchmark nova-purge against hand-written set-based SQL (the floor).
///
/// Creates its own databases (np_bench_*, dropped at the end), fills each
/// with the same generated Nova data, runs `nova-purge purge --yes --format
/// json` on one copy and the floor on another, and fails when they leave
/// different rows.
#[derive(Debug, Parser)]
#[command(name = "nova-purge-bench", version)]
pub struct Args {
    /// Database server family [default: mysql, or sqlite with --smoke]
    #[arg(long, value_enum)]
    backend: Option<BackendArg>,

    /// What to benchmark, a comma list, each in turn on its own copies:
    /// instances (nova-purge's default scope), or the scopes rows, task-log
    /// and shadow, each against its own floor [default: instances; all four
    /// with --smoke]
    #[arg(long, value_enum, value_name = "SCOPE,...", value_delimiter = ',')]
    scope: Vec<ScopeArg>,

    /// Deleted instances, deleted 200 days ago (older than the cutoff); with
    /// another scope, old rows it must delete [default: 10000, 200 with --smoke]
    #[arg(long, value_name = "N")]
    deleted: Option<u64>,

    /// Live instances; with another scope, rows it must leave (live,
    /// recently deleted, or held by a row that stays) [default: 10000, 200
    /// with --smoke]
    #[arg(long, value_name = "N")]
    live: Option<u64>,

    /// nova-purge --batch-size (default: nova-purge's own default; 50 with --smoke)
    #[arg(long, value_name = "N", conflicts_with = "batch_sizes")]
    batch_size: Option<u64>,

    /// Run nova-purge once per batch size, each on a fresh copy: the curve
    #[arg(long, value_name = "N,N,...", value_delimiter = ',')]
    batch_sizes: Vec<u64>,

    /// Tiny run for CI: SQLite, 200 deleted + 200 live, batch size 50, every
    /// scope; still compares with the floor and exits non-zero on any mismatch
    #[arg(long)]
    smoke: bool,

    /// Skip the floor (no ratio, no comparison with it; the expected row
    /// counts are still checked)
    #[arg(long)]
    no_floor: bool,

    /// Statement shape of the floor
    #[arg(long, value_enum, default_value_t = floor::Shape::Auto)]
    floor_shape: floor::Shape,

    /// Compare row counts and id aggregates only, not a hash of every row
    #[arg(long)]
    no_content_check: bool,

    /// The nova-purge binary to run [default: build and use target/release/nova-purge]
    #[arg(long, value_name = "PATH")]
    nova_purge: Option<PathBuf>,

    /// Instances per INSERT ... SELECT statement while filling
    #[arg(long, value_name = "N", default_value_t = 25_000)]
    chunk: u64,

    /// Fill one database, print its URL, keep it and stop (for EXPLAIN)
    #[arg(long)]
    fill_only: bool,

    /// Keep the databases instead of dropping them
    #[arg(long)]
    keep: bool,

    /// Rounds: each runs nova-purge (every batch size) and the floor on
    /// fresh copies; medians are reported too
    #[arg(long, value_name = "N", default_value_t = 1)]
    repeat: usize,

    /// Experiment: after each fill, create the indexes Nova does not have on
    /// PostgreSQL and SQLite (instance_actions_events.action_id,
    /// migrations.instance_uuid), to show what their absence costs
    #[arg(long)]
    add_missing_indexes: bool,

    /// Print the results as JSON on stdout (progress stays on stderr)
    #[arg(long)]
    json: bool,

    #[command(flatten)]
    lab: crate::lab::LabArgs,

    #[command(flatten)]
    probe: ProbeArgs,

    #[command(flatten)]
    schema: SchemaArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ScopeArg {
    Instances,
    Rows,
    TaskLog,
    Shadow,
}

impl ScopeArg {
    fn scope(self) -> Scope {
        match self {
            ScopeArg::Instances => Scope::Instances,
            ScopeArg::Rows => Scope::Rows,
            ScopeArg::TaskLog => Scope::TaskLog,
            ScopeArg::Shadow => Scope::Shadow,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum BackendArg {
    Mysql,
    Postgres,
    Sqlite,
}

/// What to do, every default applied.
#[derive(Debug)]
pub struct Plan {
    pub backend: Backend,
    /// The scopes benchmarked, in turn, none twice.
    pub scopes: Vec<Scope>,
    pub spec: Spec,
    /// nova-purge's `--batch-size` per run of a round (`None`: not passed).
    pub batch_sizes: Vec<Option<u64>>,
    pub rounds: usize,
    /// The floor's statement shape; `None` without a floor.
    pub floor: Option<floor::Shape>,
    /// Whether copies are compared on a hash of every row too.
    pub content: bool,
    /// `--nova-purge`: `None` builds and runs the workspace's own.
    pub nova_purge: Option<PathBuf>,
    pub chunk: u64,
    pub fill_only: bool,
    pub keep: bool,
    pub add_missing_indexes: bool,
    pub json: bool,
    /// Private-server topologies (`--cells`, `--galera`, `--replica`).
    pub lab: crate::lab::LabArgs,
    /// `--probe`: `None` without.
    pub probe: Option<probe::Settings>,
    /// `--schema`, `--batch-times`, `--profile`.
    pub schema: SchemaArgs,
}

impl Args {
    /// Applies the defaults and rejects a run with nothing to do.
    pub fn plan(self) -> Result<Plan> {
        let backend = match self.backend {
            Some(BackendArg::Mysql) => Backend::MySql,
            Some(BackendArg::Postgres) => Backend::Postgres,
            Some(BackendArg::Sqlite) => Backend::Sqlite,
            None if self.smoke => Backend::Sqlite,
            None => Backend::MySql,
        };
        let (default_n, default_batch) = if self.smoke {
            (200, Some(50))
        } else {
            (10_000, None)
        };
        let spec = Spec {
            deleted: self.deleted.unwrap_or(default_n),
            live: self.live.unwrap_or(default_n),
        };
        if spec.total() == 0 {
            bail!("nothing to benchmark: --deleted and --live are both 0");
        }
        if self.repeat == 0 {
            bail!("--repeat must be at least 1");
        }
        let mut scopes: Vec<Scope> = Vec::new();
        for scope in self.scope.iter().map(|s| s.scope()) {
            if !scopes.contains(&scope) {
                scopes.push(scope);
            }
        }
        if scopes.is_empty() {
            scopes = if self.smoke {
                Scope::ALL.to_vec()
            } else {
                vec![Scope::Instances]
            };
        }
        let batch_sizes = if self.batch_sizes.is_empty() {
            vec![self.batch_size.or(default_batch)]
        } else {
            self.batch_sizes.into_iter().map(Some).collect()
        };
        let probe = self.probe.settings()?;
        self.schema
            .validate(backend, scopes.iter().any(|s| *s != Scope::Instances))?;
        if self.lab.any() && (probe.is_some() || self.schema.any()) {
            bail!(
                "--cells, --galera and --replica measure the fixture at nova-purge's defaults: \
                 leave out --probe, --schema nova, --batch-times and --profile"
            );
        }
        Ok(Plan {
            backend,
            scopes,
            spec,
            batch_sizes,
            rounds: self.repeat,
            floor: (!self.no_floor).then_some(self.floor_shape),
            content: !self.no_content_check,
            nova_purge: self.nova_purge,
            chunk: self.chunk,
            fill_only: self.fill_only,
            keep: self.keep || self.fill_only,
            add_missing_indexes: self.add_missing_indexes,
            json: self.json,
            lab: self.lab,
            probe,
            schema: self.schema,
        })
    }
}
