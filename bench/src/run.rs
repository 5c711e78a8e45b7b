//! One measured run, written once for every case (nova-purge at one batch
//! size, or the floor): a fresh copy filled with the generated data; the row
//! counts of the tables no purge may touch; server counters and the load
//! average around the measured step; the checks against the generator; the
//! summary of what is left, for comparing copies; the copy dropped unless
//! `--keep`. Also the fill of `--fill-only`.

use std::path::Path;
use std::rc::Rc;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use nova_purge_tests::server::ThrowawayDb;
use purge_api::{Backend, Db, Scope};
use purge_engine::limits::DEFAULT_BATCH_SIZE;
use serde_json::Value as Json;

use crate::args::Plan;
use crate::check::{self, Sums};
use crate::child;
use crate::expect::Expected;
use crate::fill::{self, FillStats, Spec, Times};
use crate::floor::{self, FloorRun};
use crate::layout::Layout;
use crate::nova_template::Template;
use crate::probe;
use crate::profile::{Profile, Profiler};
use crate::{db, fill_nova, fill_scopes, floor_scopes, flush, stats};
use nova_purge_tests::measured::ChildRun;

/// Everything the runs share.
pub struct Ctx {
    pub backend: Backend,
    /// What is purged: the instances, or an own-row scope's rows.
    pub scope: Scope,
    /// An own-row scope's rows, decided once for every copy.
    pub layout: Option<Layout>,
    pub spec: Spec,
    pub times: Times,
    pub chunk: u64,
    pub content: bool,
    pub keep: bool,
    pub add_missing_indexes: bool,
    pub expected: Expected,
    pub started: Instant,
    /// `--probe`: Nova-like clients time their work around each step.
    pub probe: Option<probe::Settings>,
    /// `--schema nova`: Nova's schema, copied into every copy.
    pub template: Option<Rc<Template>>,
    pub profile: bool,
}

impl Ctx {
    pub fn new(
        plan: &Plan,
        scope: Scope,
        started: Instant,
        template: Option<Rc<Template>>,
    ) -> Result<Ctx> {
        if plan.probe.is_some() && scope != Scope::Instances {
            bail!("--probe works on live instances: it needs --scope instances");
        }
        let layout = match scope {
            Scope::Instances => None,
            _ => Some(Layout::new(scope, &plan.spec)?),
        };
        let expected = match (&layout, &template) {
            (None, None) => Expected::new(plan.backend, &plan.spec),
            (None, Some(template)) => Expected::for_generators(
                &fill_nova::generators(plan.backend),
                &plan.spec,
                template.tables.clone(),
            ),
            (Some(layout), _) => Expected::from_layout(layout),
        };
        Ok(Ctx {
            backend: plan.backend,
            scope,
            layout,
            spec: plan.spec,
            times: Times::now(),
            chunk: plan.chunk,
            content: plan.content,
            keep: plan.keep,
            add_missing_indexes: plan.add_missing_indexes,
            expected,
            started,
            probe: plan.probe.clone(),
            template,
            profile: plan.schema.profile,
        })
    }

    /// A progress line on stderr, with the time since the start.
    pub fn log(&self, message: &str) {
        eprintln!("[{:>7.1}s] {message}", self.started.elapsed().as_secs_f64());
    }
}

/// What one measured run gives, whatever its case: `work` is the case's own.
pub struct Outcome<W> {
    pub round: usize,
    pub fill: FillStats,
    pub work: W,
    /// Server counters, after minus before the measured step.
    pub server: stats::Counters,
    /// 1-minute load average before and after the measured step.
    pub load: (f64, f64),
    pub sums: Sums,
    pub problems: Vec<String>,
    /// What the probe saw, with `--probe`.
    pub probe: Option<probe::Record>,
    /// `--profile`: the server's time per statement shape.
    pub profile: Option<Profile>,
}

/// What is measured on a filled copy.
pub trait Case {
    type Work;

    /// The progress line before the measured step.
    fn start_message(&self, copy: &ThrowawayDb) -> String;

    /// The measured step, on `copy` (`db` is the benchmark's own connection
    /// to it).
    async fn execute(&self, copy: &ThrowawayDb, db: &Db, ctx: &Ctx) -> Result<Self::Work>;

    /// The progress line after it (the load average is added).
    fn summary(&self, work: &Self::Work) -> String;

    /// Problems in what the step reports, against the generator.
    fn check(&self, expected: &Expected, work: &Self::Work) -> Vec<String>;
}

/// Measures `case` on a fresh copy, which is dropped afterwards (also after
/// an error) unless `--keep`.
pub async fn measure<C: Case>(ctx: &Ctx, round: usize, case: &C) -> Result<Outcome<C::Work>> {
    let copy = db::create(ctx.backend).await?;
    let result = measure_on(ctx, &copy, round, case).await;
    finish(ctx, copy).await;
    result
}

pub async fn measure_on<C: Case>(
    ctx: &Ctx,
    copy: &ThrowawayDb,
    round: usize,
    case: &C,
) -> Result<Outcome<C::Work>> {
    let fill = fill_copy(ctx, copy).await?;
    let db = db::connect(copy, false).await?;
    let untouched = check::counts(&db, &ctx.expected.untouched_tables()).await?;
    ctx.log(&format!(
        "{}: {}",
        copy.name,
        flush::dirty_pages(&db).await?
    ));
    ctx.log(&format!("{}: {}", copy.name, case.start_message(copy)));
    let before = stats::snapshot(&db).await?;
    // With --probe, its idle phase runs here, and the counters include
    // the probe's work; the profile starts after that idle phase.
    let running = match &ctx.probe {
        Some(settings) => Some(probe::Running::start(settings, copy, ctx.spec).await?),
        None => None,
    };
    let profiler = match ctx.profile {
        true => Some(Profiler::start(&db, &copy.name).await?),
        false => None,
    };
    let load_before = child::load_average();
    let work = case.execute(copy, &db, ctx).await;
    let load_after = child::load_average();
    // The profile ends before the probe cleans up after itself.
    let profile = match profiler {
        Some(profiler) => Some(profiler.finish(&db).await?),
        None => None,
    };
    // After an error the clients stop as `running` is dropped.
    let probe = match running {
        Some(running) if work.is_ok() => Some(running.finish(&db).await?),
        _ => None,
    };
    let work = work?;
    let after = stats::snapshot(&db).await?;
    ctx.log(&format!(
        "{}: {}, load {load_before:.1} -> {load_after:.1}",
        copy.name,
        case.summary(&work)
    ));
    let mut problems = case.check(&ctx.expected, &work);
    let sums = check::summarise(&db, ctx.content).await?;
    problems.extend(ctx.expected.check_left(&sums, &untouched));
    db.close().await;
    for p in &problems {
        ctx.log(&format!("{}: PROBLEM: {p}", copy.name));
    }
    Ok(Outcome {
        round,
        fill,
        work,
        server: stats::delta(&before, &after),
        load: (load_before, load_after),
        sums,
        problems,
        probe,
        profile,
    })
}

/// Drops a copy unless `--keep`; reports failures without hiding the
/// run's own error.
async fn finish(ctx: &Ctx, copy: ThrowawayDb) {
    if ctx.keep {
        ctx.log(&format!("kept {}", copy.url));
        return;
    }
    if let Err(e) = copy.drop_db().await {
        ctx.log(&format!("warning: could not drop {}: {e:#}", copy.name));
    }
}

/// Fills `copy` with the generated data (and, as an experiment, the missing
/// indexes).
pub async fn fill_copy(ctx: &Ctx, copy: &ThrowawayDb) -> Result<FillStats> {
    if let Some(template) = &ctx.template {
        template.copy_into(copy).await?;
    }
    let db = db::connect(copy, true).await?;
    let log = |m: &str| ctx.log(&format!("{}: {m}", copy.name));
    let stats = async {
        let stats = match (&ctx.layout, &ctx.template) {
            (None, None) => fill::fill(&db, &ctx.spec, &ctx.times, ctx.chunk, &log).await?,
            (None, Some(template)) => {
                let (spec, times) = (&ctx.spec, &ctx.times);
                fill_nova::fill(&db, &template.tables, spec, times, ctx.chunk, &log).await?
            }
            (Some(layout), _) => {
                fill_scopes::fill(&db, layout, &ctx.times, ctx.chunk, &log).await?
            }
        };
        if ctx.add_missing_indexes {
            fill::add_missing_indexes(&db).await?;
        }
        Ok::<_, anyhow::Error>(stats)
    }
    .await;
    db.close().await;
    let stats = stats?;
    ctx.log(&format!(
        "{}: filled {} rows in {:.1} s ({:.0} rows/s)",
        copy.name,
        stats.rows,
        stats.elapsed.as_secs_f64(),
        stats.rows as f64 / stats.elapsed.as_secs_f64()
    ));
    Ok(stats)
}

/// `--fill-only`: fills one copy and keeps it; returns its URL.
pub async fn fill_only(ctx: &Ctx) -> Result<String> {
    let copy = db::create(ctx.backend).await?;
    let stats = fill_copy(ctx, &copy).await?;
    ctx.log(&format!(
        "filled {} rows in {:.1} s; kept: {}",
        stats.rows,
        stats.elapsed.as_secs_f64(),
        copy.url
    ));
    Ok(copy.url)
}

/// The real nova-purge binary, `purge --yes --format json`; for an
/// own-row scope also `--scope S`, with its log as JSON at level info
/// (`-v --log-format json`), whose `batch done` lines time each batch.
pub struct NovaPurge<'a> {
    pub binary: &'a Path,
    pub scope: Scope,
    /// `--batch-size`; `None` leaves nova-purge's default.
    pub batch_size: Option<u64>,
    /// `--batch-time`; `None` leaves nova-purge's default.
    pub batch_time: Option<String>,
    /// Log each batch (`-v --log-format json`) for every scope, to place
    /// the batches on the probe's clock.
    pub log_batches: bool,
}

/// One nova-purge run: the child process and its JSON report.
pub struct PurgeRun {
    pub scope: Scope,
    /// The batch size in effect (nova-purge's default when none was given).
    pub batch_size: u64,
    pub explicit_batch_size: bool,
    /// `--batch-time`, when given.
    pub batch_time: Option<String>,
    pub child: ChildRun,
    pub report: Json,
}

impl PurgeRun {
    /// Runs `binary args...` through the measuring wrapper; fails unless it
    /// exits 0 with a JSON report. `scope`, `batch_size` and `batch_time`
    /// say what `args` asked for.
    pub fn spawn(
        binary: &Path,
        args: &[String],
        scope: Scope,
        batch_size: Option<u64>,
        batch_time: Option<String>,
    ) -> Result<PurgeRun> {
        let child = child::run_measured(binary, args)?;
        if child.code != 0 {
            bail!(
                "nova-purge exited with {}\nstdout:\n{}\nstderr:\n{}",
                child.code,
                child.stdout,
                child.stderr
            );
        }
        let report: Json = serde_json::from_str(child.stdout.trim())
            .with_context(|| format!("nova-purge printed no JSON report:\n{}", child.stdout))?;
        Ok(PurgeRun {
            scope,
            batch_size: batch_size.unwrap_or(DEFAULT_BATCH_SIZE as u64),
            explicit_batch_size: batch_size.is_some(),
            batch_time,
            child,
            report,
        })
    }

    /// `nova-purge --batch-size N`, with ` (default)` when not given, and
    /// ` --batch-time T` when given.
    pub fn label(&self) -> String {
        let time = match &self.batch_time {
            Some(time) => format!(" --batch-time {time}"),
            None => String::new(),
        };
        format!(
            "nova-purge --batch-size {}{time}{}",
            self.batch_size,
            if self.explicit_batch_size || self.batch_time.is_some() {
                ""
            } else {
                " (default)"
            }
        )
    }

    /// A number from the report (0 when missing).
    pub fn u64_field(&self, name: &str) -> u64 {
        self.report.get(name).and_then(Json::as_u64).unwrap_or(0)
    }

    /// The report's part for the scope: the whole report for instances,
    /// `scopes.<name>` for the others.
    fn figures(&self) -> Option<&Json> {
        match self.scope {
            Scope::Instances => Some(&self.report),
            scope => self.report.get("scopes")?.get(scope.name()),
        }
    }

    /// Rows deleted, every table, as reported.
    pub fn rows(&self) -> u64 {
        self.figures()
            .and_then(|f| f.get("tables"))
            .and_then(Json::as_object)
            .map_or(0, |t| t.values().filter_map(Json::as_u64).sum())
    }

    /// Transactions, as reported.
    pub fn batches(&self) -> u64 {
        self.figures()
            .and_then(|f| f.get("batches"))
            .and_then(Json::as_u64)
            .unwrap_or(0)
    }

    /// The report's `batch_sizes` as `min/median/max` (instances per
    /// batch), when it has them.
    pub fn batch_sizes(&self) -> Option<String> {
        let sizes = self.figures()?.get("batch_sizes")?;
        let get = |name: &str| sizes.get(name).and_then(Json::as_u64);
        Some(format!(
            "{}/{}/{}",
            get("min")?,
            get("median")?,
            get("max")?
        ))
    }

    /// nova-purge's own time for the work (`elapsed_ms`), in seconds; the
    /// report has none for the own-row scopes.
    pub fn engine_seconds(&self) -> Option<f64> {
        (self.scope == Scope::Instances).then(|| self.u64_field("elapsed_ms") as f64 / 1000.0)
    }

    /// The longest batch: the report's `max_batch_ms` for instances; for an
    /// own-row scope, whose report has none, the longest `batch done` line
    /// of the log (`None` when the binary logs none).
    pub fn max_batch_ms(&self) -> Option<u64> {
        if self.scope == Scope::Instances {
            return Some(self.u64_field("max_batch_ms"));
        }
        self.child
            .stderr
            .lines()
            .filter_map(|line| serde_json::from_str::<Json>(line).ok())
            .filter(|event| event.get("message").and_then(Json::as_str) == Some("batch done"))
            .filter_map(|event| event.get("ms").and_then(Json::as_u64))
            .max()
    }
}

impl NovaPurge<'_> {
    /// Its command line on `copy`.
    pub fn args(&self, copy: &ThrowawayDb) -> Vec<String> {
        let mut args: Vec<String> = Vec::new();
        if self.scope != Scope::Instances || self.log_batches {
            args.extend(["-v", "--log-format", "json"].map(str::to_owned));
        }
        args.extend(
            [
                "--database-url",
                &copy.url,
                "purge",
                "--yes",
                "--format",
                "json",
            ]
            .iter()
            .map(|s| (*s).to_owned()),
        );
        if self.scope != Scope::Instances {
            args.extend(["--scope".to_owned(), self.scope.name().to_owned()]);
        }
        if let Some(n) = self.batch_size {
            args.extend(["--batch-size".to_owned(), n.to_string()]);
        }
        if let Some(time) = &self.batch_time {
            args.extend(["--batch-time".to_owned(), time.clone()]);
        }
        args
    }
}

impl NovaPurge<'_> {
    /// Runs it with `args` (its own, and any the caller added).
    pub fn spawn(&self, args: &[String]) -> Result<PurgeRun> {
        PurgeRun::spawn(
            self.binary,
            args,
            self.scope,
            self.batch_size,
            self.batch_time.clone(),
        )
    }
}

impl Case for NovaPurge<'_> {
    type Work = PurgeRun;

    fn start_message(&self, copy: &ThrowawayDb) -> String {
        format!(
            "running {} {}",
            self.binary.display(),
            self.args(copy).join(" ")
        )
    }

    async fn execute(&self, copy: &ThrowawayDb, _db: &Db, _ctx: &Ctx) -> Result<PurgeRun> {
        self.spawn(&self.args(copy))
    }

    fn summary(&self, run: &PurgeRun) -> String {
        format!(
            "nova-purge done in {:.2} s, peak RSS {} KiB, longest batch {}, batch sizes {}",
            run.child.wall.as_secs_f64(),
            run.child.max_rss_kib,
            run.max_batch_ms()
                .map_or("not logged".to_owned(), |ms| format!("{ms} ms")),
            run.batch_sizes().unwrap_or_else(|| "-".to_owned()),
        )
    }

    fn check(&self, expected: &Expected, run: &PurgeRun) -> Vec<String> {
        expected.check_report(&run.report, run.batch_size)
    }
}

/// The floor, in the benchmark's own connection.
pub struct Floor {
    pub shape: floor::Shape,
}

impl Case for Floor {
    type Work = FloorRun;

    fn start_message(&self, _copy: &ThrowawayDb) -> String {
        "running the floor".to_owned()
    }

    async fn execute(&self, _copy: &ThrowawayDb, db: &Db, ctx: &Ctx) -> Result<FloorRun> {
        match ctx.scope {
            Scope::Instances => floor::run(db, self.shape, &ctx.times).await,
            scope => floor_scopes::run(db, scope, &ctx.times).await,
        }
    }

    fn summary(&self, floor: &FloorRun) -> String {
        format!("floor done in {:.2} s", floor.elapsed.as_secs_f64())
    }

    fn check(&self, expected: &Expected, floor: &FloorRun) -> Vec<String> {
        expected.check_floor(floor)
    }
}
