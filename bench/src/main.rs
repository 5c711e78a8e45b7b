//! nova-purge-bench: measures the real nova-purge binary against a
//! hand-written set-based "floor" on identical, freshly generated data, and
//! checks that both leave exactly the same rows. See docs/benchmarks.md.
//!
//! ```text
//! cargo run --release -p nova-purge-bench -- --backend mysql --deleted 100000 --live 100000
//! cargo run --release -p nova-purge-bench -- --backend postgres --batch-sizes 50,200,1000,5000
//! cargo run --release -p nova-purge-bench -- --smoke
//! ```

mod check;
mod child;
mod fill;
mod floor;
mod server;
mod stats;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::{Parser, ValueEnum};
use purge_api::Backend;
use purge_engine::limits::DEFAULT_BATCH_SIZE;
use serde_json::{json, Value as Json};

use crate::check::Sums;
use crate::fill::{FillStats, Spec, Times};
use crate::server::BenchDb;

/// Benchmark nova-purge against hand-written set-based SQL (the floor).
///
/// Creates its own databases (np_bench_*, dropped at the end), fills each
/// with the same generated Nova data, runs `nova-purge purge --yes --format
/// json` on one copy and the floor on another, and fails when they leave
/// different rows.
#[derive(Debug, Parser)]
#[command(name = "nova-purge-bench", version)]
struct Args {
    /// Database server family [default: mysql, or sqlite with --smoke]
    #[arg(long, value_enum)]
    backend: Option<BackendArg>,

    /// Deleted instances, deleted 200 days ago (older than the cutoff) [default: 10000, 200 with --smoke]
    #[arg(long, value_name = "N")]
    deleted: Option<u64>,

    /// Live instances [default: 10000, 200 with --smoke]
    #[arg(long, value_name = "N")]
    live: Option<u64>,

    /// nova-purge --batch-size (default: nova-purge's own default; 50 with --smoke)
    #[arg(long, value_name = "N", conflicts_with = "batch_sizes")]
    batch_size: Option<u64>,

    /// Run nova-purge once per batch size, each on a fresh copy: the curve
    #[arg(long, value_name = "N,N,...", value_delimiter = ',')]
    batch_sizes: Vec<u64>,

    /// Tiny run for CI: SQLite, 200 deleted + 200 live, batch size 50; still
    /// compares with the floor and exits non-zero on any mismatch
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
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum BackendArg {
    Mysql,
    Postgres,
    Sqlite,
}

impl BackendArg {
    fn backend(self) -> Backend {
        match self {
            BackendArg::Mysql => Backend::MySql,
            BackendArg::Postgres => Backend::Postgres,
            BackendArg::Sqlite => Backend::Sqlite,
        }
    }
}

/// Everything the runs share.
struct Ctx {
    backend: Backend,
    spec: Spec,
    times: Times,
    chunk: u64,
    content: bool,
    keep: bool,
    add_missing_indexes: bool,
    binary: PathBuf,
    started: Instant,
}

impl Ctx {
    fn log(&self, message: &str) {
        eprintln!("[{:>7.1}s] {message}", self.started.elapsed().as_secs_f64());
    }

    /// The tables the fill does not generate, which must keep their rows.
    fn untouched_tables(&self) -> Vec<&'static str> {
        let generated: Vec<&str> = fill::generators(self.backend)
            .iter()
            .map(|g| g.table)
            .collect();
        purge_fixture::schema::table_names()
            .filter(|t| !generated.contains(t))
            .collect()
    }

    /// Rows each generated table must hold after a correct purge.
    fn expected_left(&self) -> BTreeMap<&'static str, i64> {
        let mut out = BTreeMap::new();
        for g in fill::generators(self.backend) {
            let (total, purged) = g.rows(&self.spec);
            *out.entry(g.table).or_default() += i64::try_from(total - purged).unwrap_or(i64::MAX);
        }
        out
    }

    /// Rows each generated table loses in a correct purge.
    fn expected_deleted(&self) -> BTreeMap<&'static str, u64> {
        let mut out = BTreeMap::new();
        for g in fill::generators(self.backend) {
            *out.entry(g.table).or_default() += g.rows(&self.spec).1;
        }
        out
    }

    fn rows_to_delete(&self) -> u64 {
        self.expected_deleted().values().sum()
    }
}

/// One nova-purge run.
struct PurgeResult {
    round: usize,
    batch_size: u64,
    explicit_batch_size: bool,
    fill: FillStats,
    run: child::ChildRun,
    report: Json,
    server: stats::Counters,
    /// 1-minute load average before and after the run.
    load: (f64, f64),
    sums: Sums,
    problems: Vec<String>,
}

impl PurgeResult {
    fn u64_field(&self, name: &str) -> u64 {
        self.report.get(name).and_then(Json::as_u64).unwrap_or(0)
    }

    fn rows(&self) -> u64 {
        self.report
            .get("tables")
            .and_then(Json::as_object)
            .map_or(0, |t| t.values().filter_map(Json::as_u64).sum())
    }

    fn label(&self) -> String {
        format!(
            "nova-purge --batch-size {}{}",
            self.batch_size,
            if self.explicit_batch_size {
                ""
            } else {
                " (default)"
            }
        )
    }
}

/// One floor run.
struct FloorResult {
    round: usize,
    fill: FillStats,
    floor: floor::FloorRun,
    server: stats::Counters,
    load: (f64, f64),
    sums: Sums,
    problems: Vec<String>,
}

/// Everything measured.
struct Results {
    purges: Vec<PurgeResult>,
    floors: Vec<FloorResult>,
    /// (left, right, differences)
    comparisons: Vec<(String, String, Vec<String>)>,
}

impl Results {
    fn ok(&self) -> bool {
        self.purges.iter().all(|p| p.problems.is_empty())
            && self.floors.iter().all(|f| f.problems.is_empty())
            && self.comparisons.iter().all(|(_, _, d)| d.is_empty())
    }

    fn median_floor(&self) -> Option<Duration> {
        median(self.floors.iter().map(|f| f.floor.elapsed).collect())
    }

    /// The batch sizes in the order they ran.
    fn batch_sizes(&self) -> Vec<u64> {
        let mut sizes = Vec::new();
        for p in &self.purges {
            if !sizes.contains(&p.batch_size) {
                sizes.push(p.batch_size);
            }
        }
        sizes
    }

    fn runs_of(&self, batch_size: u64) -> Vec<&PurgeResult> {
        self.purges
            .iter()
            .filter(|p| p.batch_size == batch_size)
            .collect()
    }
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

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args = Args::parse();
    match run(args).await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Returns whether every check passed.
async fn run(args: Args) -> Result<bool> {
    let started = Instant::now();
    let backend = args
        .backend
        .unwrap_or(if args.smoke {
            BackendArg::Sqlite
        } else {
            BackendArg::Mysql
        })
        .backend();
    let (default_n, default_batch) = if args.smoke {
        (200, Some(50))
    } else {
        (10_000, None)
    };
    let spec = Spec {
        deleted: args.deleted.unwrap_or(default_n),
        live: args.live.unwrap_or(default_n),
    };
    if spec.total() == 0 {
        bail!("nothing to benchmark: --deleted and --live are both 0");
    }
    if args.repeat == 0 {
        bail!("--repeat must be at least 1");
    }
    let batch_sizes: Vec<Option<u64>> = if args.batch_sizes.is_empty() {
        vec![args.batch_size.or(default_batch)]
    } else {
        args.batch_sizes.iter().copied().map(Some).collect()
    };
    let log = |m: &str| eprintln!("[{:>7.1}s] {m}", started.elapsed().as_secs_f64());
    let mut ctx = Ctx {
        backend,
        spec,
        times: Times::now(),
        chunk: args.chunk,
        content: !args.no_content_check,
        keep: args.keep || args.fill_only,
        add_missing_indexes: args.add_missing_indexes,
        binary: PathBuf::new(),
        started,
    };
    if args.fill_only {
        let copy = BenchDb::create(backend).await?;
        let stats = fill_copy(&ctx, &copy).await?;
        log(&format!(
            "filled {} rows in {:.1} s; kept: {}",
            stats.rows,
            stats.elapsed.as_secs_f64(),
            copy.url
        ));
        println!("{}", copy.url);
        return Ok(true);
    }
    ctx.binary = child::nova_purge_binary(args.nova_purge.as_deref(), &log)?;
    let version = server_version(&ctx).await?;
    ctx.log(&format!(
        "{} ({version}): {} deleted + {} live instances; nova-purge {}",
        backend.name(),
        spec.deleted,
        spec.live,
        ctx.binary.display()
    ));

    // Rounds alternate nova-purge and the floor, so that a noisy neighbour
    // weighs on both alike.
    let mut results = Results {
        purges: Vec::new(),
        floors: Vec::new(),
        comparisons: Vec::new(),
    };
    for round in 1..=args.repeat {
        for batch_size in &batch_sizes {
            results
                .purges
                .push(purge_copy(&ctx, round, *batch_size).await?);
        }
        if !args.no_floor {
            results
                .floors
                .push(floor_copy(&ctx, round, args.floor_shape).await?);
        }
    }

    // Every nova-purge copy must equal the floor of its round (or, without
    // a floor, the first nova-purge copy).
    for (i, purge) in results.purges.iter().enumerate() {
        let name = format!("{} (round {})", purge.label(), purge.round);
        let floor = results.floors.iter().find(|f| f.round == purge.round);
        let (other_name, other) = match floor {
            Some(f) => (format!("floor (round {})", f.round), &f.sums),
            None if i > 0 => (
                format!(
                    "{} (round {})",
                    results.purges[0].label(),
                    results.purges[0].round
                ),
                &results.purges[0].sums,
            ),
            None => continue,
        };
        let diffs = check::diff(&name, &purge.sums, &other_name, other);
        results.comparisons.push((name, other_name, diffs));
    }

    let ok = results.ok();
    if args.json {
        let doc = to_json(&ctx, &version, &results);
        println!("{}", serde_json::to_string_pretty(&doc)?);
    } else {
        print_text(&ctx, &version, &results);
    }
    if !ok {
        eprintln!("FAILED: nova-purge and the floor disagree, or a check failed (see above)");
    }
    Ok(ok)
}

async fn server_version(ctx: &Ctx) -> Result<String> {
    let copy = BenchDb::create(ctx.backend).await?;
    let result = async {
        let db = copy.connect(false).await?;
        let sql = match ctx.backend {
            Backend::MySql => "SELECT VERSION()",
            Backend::Postgres => "SHOW server_version",
            Backend::Sqlite => "SELECT 'SQLite ' || sqlite_version()",
        };
        let rows = server::fetch(&db, sql).await?;
        db.close().await;
        let version = rows
            .first()
            .and_then(|r| r.first())
            .and_then(purge_api::Value::to_text)
            .unwrap_or_default();
        Ok::<_, anyhow::Error>(match ctx.backend {
            Backend::MySql => format!("MariaDB/MySQL {version}"),
            Backend::Postgres => format!("PostgreSQL {version}"),
            Backend::Sqlite => version,
        })
    }
    .await;
    copy.drop_db().await?;
    result
}

/// Drops a copy unless `--keep`; reports failures without hiding the
/// run's own error.
async fn finish(ctx: &Ctx, copy: BenchDb) {
    if ctx.keep {
        ctx.log(&format!("kept {}", copy.url));
        return;
    }
    let name = copy.name.clone();
    if let Err(e) = copy.drop_db().await {
        ctx.log(&format!("warning: could not drop {name}: {e:#}"));
    }
}

async fn fill_copy(ctx: &Ctx, copy: &BenchDb) -> Result<FillStats> {
    let db = copy.connect(true).await?;
    let log = |m: &str| ctx.log(&format!("{}: {m}", copy.name));
    let stats = async {
        let stats = fill::fill(&db, &ctx.spec, &ctx.times, ctx.chunk, &log).await?;
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

/// Checks the rows left against what the generator says must be left.
fn check_left(ctx: &Ctx, sums: &Sums, before: &BTreeMap<String, i64>) -> Vec<String> {
    let mut problems = Vec::new();
    for (table, want) in ctx.expected_left() {
        let got = sums.get(table).map_or(-1, |s| s.rows);
        if got != want {
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

async fn purge_copy(ctx: &Ctx, round: usize, batch_size: Option<u64>) -> Result<PurgeResult> {
    let copy = BenchDb::create(ctx.backend).await?;
    let result = purge_copy_inner(ctx, &copy, round, batch_size).await;
    finish(ctx, copy).await;
    result
}

async fn purge_copy_inner(
    ctx: &Ctx,
    copy: &BenchDb,
    round: usize,
    batch_size: Option<u64>,
) -> Result<PurgeResult> {
    let fill = fill_copy(ctx, copy).await?;
    let db = copy.connect(false).await?;
    let untouched = check::counts(&db, &ctx.untouched_tables()).await?;
    let mut args: Vec<String> = [
        "--database-url",
        &copy.url,
        "purge",
        "--yes",
        "--format",
        "json",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    if let Some(n) = batch_size {
        args.extend(["--batch-size".to_owned(), n.to_string()]);
    }
    ctx.log(&format!(
        "{}: running {} {}",
        copy.name,
        ctx.binary.display(),
        args.join(" ")
    ));
    let before = stats::snapshot(&db).await?;
    let load_before = child::load_average();
    let run = child::run(&ctx.binary, &args)?;
    let load_after = child::load_average();
    let after = stats::snapshot(&db).await?;
    if run.code != 0 {
        bail!(
            "nova-purge exited with {}\nstdout:\n{}\nstderr:\n{}",
            run.code,
            run.stdout,
            run.stderr
        );
    }
    let report: Json = serde_json::from_str(run.stdout.trim())
        .with_context(|| format!("nova-purge printed no JSON report:\n{}", run.stdout))?;
    ctx.log(&format!(
        "{}: nova-purge done in {:.2} s, peak RSS {} KiB, longest batch {} ms, load {load_before:.1} -> {load_after:.1}",
        copy.name,
        run.wall.as_secs_f64(),
        run.max_rss_kib,
        report.get("max_batch_ms").and_then(Json::as_u64).unwrap_or(0),
    ));
    let explicit_batch_size = batch_size.is_some();
    let batch_size = batch_size.unwrap_or(DEFAULT_BATCH_SIZE as u64);
    let mut problems = check_report(ctx, &report, batch_size);
    let sums = check::summarise(&db, ctx.content).await?;
    problems.extend(check_left(ctx, &sums, &untouched));
    db.close().await;
    for p in &problems {
        ctx.log(&format!("{}: PROBLEM: {p}", copy.name));
    }
    Ok(PurgeResult {
        round,
        batch_size,
        explicit_batch_size,
        fill,
        run,
        report,
        server: stats::delta(&before, &after),
        load: (load_before, load_after),
        sums,
        problems,
    })
}

/// The report must account for every deleted instance and row.
fn check_report(ctx: &Ctx, report: &Json, batch_size: u64) -> Vec<String> {
    let mut problems = Vec::new();
    let field = |name: &str| report.get(name).and_then(Json::as_u64);
    if field("instances") != Some(ctx.spec.deleted) {
        problems.push(format!(
            "report: {:?} instances purged, expected {}",
            field("instances"),
            ctx.spec.deleted
        ));
    }
    let batches = ctx.spec.deleted.div_ceil(batch_size);
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
    for (table, want) in ctx.expected_deleted() {
        let got = tables.and_then(|t| t.get(table)).and_then(Json::as_u64);
        if got != Some(want) {
            problems.push(format!(
                "report: {table}: {got:?} rows deleted, expected {want}"
            ));
        }
    }
    problems
}

async fn floor_copy(ctx: &Ctx, round: usize, shape: floor::Shape) -> Result<FloorResult> {
    let copy = BenchDb::create(ctx.backend).await?;
    let result = floor_copy_inner(ctx, &copy, round, shape).await;
    finish(ctx, copy).await;
    result
}

async fn floor_copy_inner(
    ctx: &Ctx,
    copy: &BenchDb,
    round: usize,
    shape: floor::Shape,
) -> Result<FloorResult> {
    let fill = fill_copy(ctx, copy).await?;
    let db = copy.connect(false).await?;
    let untouched = check::counts(&db, &ctx.untouched_tables()).await?;
    ctx.log(&format!("{}: running the floor", copy.name));
    let before = stats::snapshot(&db).await?;
    let load_before = child::load_average();
    let floor = floor::run(&db, shape, &ctx.times).await?;
    let load_after = child::load_average();
    let after = stats::snapshot(&db).await?;
    ctx.log(&format!(
        "{}: floor done in {:.2} s, load {load_before:.1} -> {load_after:.1}",
        copy.name,
        floor.elapsed.as_secs_f64()
    ));
    let mut problems = Vec::new();
    let expected = ctx.expected_deleted();
    for (table, rows, _) in &floor.tables {
        let want = expected.get(table).copied().unwrap_or(0);
        if *rows != want {
            problems.push(format!(
                "floor: {table}: {rows} rows deleted, expected {want}"
            ));
        }
    }
    let sums = check::summarise(&db, ctx.content).await?;
    problems.extend(check_left(ctx, &sums, &untouched));
    db.close().await;
    for p in &problems {
        ctx.log(&format!("{}: PROBLEM: {p}", copy.name));
    }
    Ok(FloorResult {
        round,
        fill,
        floor,
        server: stats::delta(&before, &after),
        load: (load_before, load_after),
        sums,
        problems,
    })
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

fn per_sec(n: u64, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64().max(1e-9)
}

/// `12345678` as `12,345,678`.
fn thousands(n: f64) -> String {
    let digits = format!("{:.0}", n.max(0.0));
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn load(l: (f64, f64)) -> String {
    format!("{:.1}/{:.1}", l.0, l.1)
}

fn print_table(table: &[Vec<String>]) {
    let columns = table.first().map_or(0, Vec::len);
    let widths: Vec<usize> = (0..columns)
        .map(|i| table.iter().map(|r| r[i].len()).max().unwrap_or(0))
        .collect();
    for row in table {
        let cells: Vec<String> = row
            .iter()
            .enumerate()
            .map(|(i, c)| {
                if i == 0 {
                    format!("{c:<w$}", w = widths[i])
                } else {
                    format!("{c:>w$}", w = widths[i])
                }
            })
            .collect();
        println!("{}", cells.join("  ").trim_end());
    }
}

fn print_text(ctx: &Ctx, version: &str, results: &Results) {
    let spec = &ctx.spec;
    let rows_to_delete = ctx.rows_to_delete();
    println!(
        "nova-purge benchmark: {version}, {} deleted + {} live instances ({} rows to delete{})",
        thousands(spec.deleted as f64),
        thousands(spec.live as f64),
        thousands(rows_to_delete as f64),
        if ctx.add_missing_indexes {
            "; EXPERIMENT: indexes added on instance_actions_events.action_id and migrations.instance_uuid"
        } else {
            ""
        }
    );
    println!("nova-purge binary: {}", ctx.binary.display());
    let fills: Vec<&FillStats> = results
        .purges
        .iter()
        .map(|p| &p.fill)
        .chain(results.floors.iter().map(|f| &f.fill))
        .collect();
    if let Some(first) = fills.first() {
        let times: Vec<String> = fills
            .iter()
            .map(|f| format!("{:.1}", secs(f.elapsed)))
            .collect();
        println!(
            "fill: {} rows per copy; seconds per copy: {}",
            thousands(first.rows as f64),
            times.join(", ")
        );
    }
    println!();
    let header = [
        "run",
        "round",
        "wall s",
        "engine s",
        "client cpu s",
        "instances/s",
        "rows/s",
        "us/row",
        "peak RSS",
        "batches",
        "longest batch",
        "vs floor",
        "load before/after",
    ];
    let mut table: Vec<Vec<String>> = vec![header.iter().map(|s| (*s).to_owned()).collect()];
    for f in &results.floors {
        let rows = f.floor.rows();
        table.push(vec![
            format!("floor ({:?}, 1 transaction)", f.floor.shape).to_lowercase(),
            f.round.to_string(),
            format!("{:.2}", secs(f.floor.elapsed)),
            "-".to_owned(),
            "-".to_owned(),
            thousands(per_sec(spec.deleted, f.floor.elapsed)),
            thousands(per_sec(rows, f.floor.elapsed)),
            format!("{:.1}", secs(f.floor.elapsed) * 1e6 / rows.max(1) as f64),
            "-".to_owned(),
            "1".to_owned(),
            format!("{:.0} ms", secs(f.floor.elapsed) * 1000.0),
            "1.00x".to_owned(),
            load(f.load),
        ]);
    }
    for p in &results.purges {
        let rows = p.rows();
        let floor = results.floors.iter().find(|f| f.round == p.round);
        table.push(vec![
            p.label(),
            p.round.to_string(),
            format!("{:.2}", secs(p.run.wall)),
            format!("{:.2}", p.u64_field("elapsed_ms") as f64 / 1000.0),
            format!("{:.2}", secs(p.run.cpu)),
            thousands(per_sec(spec.deleted, p.run.wall)),
            thousands(per_sec(rows, p.run.wall)),
            format!("{:.1}", secs(p.run.wall) * 1e6 / rows.max(1) as f64),
            format!("{:.1} MiB", p.run.max_rss_kib as f64 / 1024.0),
            p.u64_field("batches").to_string(),
            format!("{} ms", p.u64_field("max_batch_ms")),
            floor.map_or("-".to_owned(), |f| {
                format!("{:.2}x", secs(p.run.wall) / secs(f.floor.elapsed).max(1e-9))
            }),
            load(p.load),
        ]);
    }
    let repeated = results.floors.len() > 1
        || results
            .batch_sizes()
            .iter()
            .any(|b| results.runs_of(*b).len() > 1);
    if repeated {
        let floor_median = results.median_floor();
        if let Some(m) = floor_median {
            table.push(median_row("floor", m, rows_to_delete, spec.deleted, None));
        }
        for b in results.batch_sizes() {
            let runs = results.runs_of(b);
            if let Some(m) = median(runs.iter().map(|p| p.run.wall).collect()) {
                let mut row = median_row(
                    &runs[0].label(),
                    m,
                    rows_to_delete,
                    spec.deleted,
                    floor_median,
                );
                let longest = runs.iter().map(|p| p.u64_field("max_batch_ms")).max();
                row[10] = format!("max {} ms", longest.unwrap_or(0));
                let rss = runs.iter().map(|p| p.run.max_rss_kib).max().unwrap_or(0);
                row[8] = format!("max {:.1} MiB", rss as f64 / 1024.0);
                table.push(row);
            }
        }
    }
    print_table(&table);
    println!();
    println!(
        "wall: spawn to exit of nova-purge (connect, schema inspection, all batches), or BEGIN to COMMIT of the floor;"
    );
    println!("engine: nova-purge's own elapsed_ms; vs floor: wall / floor wall of the same round (medians: median / median).");
    if ctx.backend != Backend::Sqlite {
        println!("server work during each run:");
        for f in &results.floors {
            println!(
                "  floor (round {}): {}",
                f.round,
                stats::summary(ctx.backend, &f.server)
            );
        }
        for p in &results.purges {
            println!(
                "  {} (round {}): {}",
                p.label(),
                p.round,
                stats::summary(ctx.backend, &p.server)
            );
        }
    }
    if let Some(f) = results.floors.first() {
        let mut t = f.floor.tables.clone();
        t.sort_by_key(|entry| std::cmp::Reverse(entry.2));
        let slowest: Vec<String> = t
            .iter()
            .take(4)
            .map(|(table, _, d)| format!("{table} {:.2} s", secs(*d)))
            .collect();
        println!("floor, slowest statements: {}", slowest.join(", "));
    }
    println!();
    let what = if ctx.content {
        "row count, id min/max/sum, hash of every row"
    } else {
        "row count, id min/max/sum"
    };
    for (name, other, diffs) in &results.comparisons {
        if diffs.is_empty() {
            println!("check: {name} leaves exactly what {other} leaves ({what}, every table)");
        } else {
            println!("check: MISMATCH between {name} and {other}:");
            for d in diffs {
                println!("  {d}");
            }
        }
    }
    let problems: Vec<&String> = results
        .purges
        .iter()
        .flat_map(|p| &p.problems)
        .chain(results.floors.iter().flat_map(|f| &f.problems))
        .collect();
    if problems.is_empty() {
        println!("check: rows left and rows reported deleted match the generator, every run");
    } else {
        println!("check: PROBLEMS:");
        for p in problems {
            println!("  {p}");
        }
    }
}

fn median_row(
    label: &str,
    wall: Duration,
    rows: u64,
    instances: u64,
    floor: Option<Duration>,
) -> Vec<String> {
    vec![
        label.to_owned(),
        "median".to_owned(),
        format!("{:.2}", secs(wall)),
        "-".to_owned(),
        "-".to_owned(),
        thousands(per_sec(instances, wall)),
        thousands(per_sec(rows, wall)),
        format!("{:.1}", secs(wall) * 1e6 / rows.max(1) as f64),
        "-".to_owned(),
        "-".to_owned(),
        "-".to_owned(),
        floor.map_or("1.00x".to_owned(), |f| {
            format!("{:.2}x", secs(wall) / secs(f).max(1e-9))
        }),
        "-".to_owned(),
    ]
}

fn to_json(ctx: &Ctx, version: &str, results: &Results) -> Json {
    let fill_json = |f: &FillStats| json!({ "rows": f.rows, "seconds": secs(f.elapsed) });
    let floor_median = results.median_floor();
    json!({
        "ok": results.ok(),
        "backend": ctx.backend.name(),
        "server": version,
        "deleted": ctx.spec.deleted,
        "live": ctx.spec.live,
        "rows_to_delete": ctx.rows_to_delete(),
        "nova_purge": ctx.binary.display().to_string(),
        "content_check": ctx.content,
        "missing_indexes_added": ctx.add_missing_indexes,
        "floors": results.floors.iter().map(|f| json!({
            "round": f.round,
            "shape": format!("{:?}", f.floor.shape).to_lowercase(),
            "fill": fill_json(&f.fill),
            "seconds": secs(f.floor.elapsed),
            "rows": f.floor.rows(),
            "instances_per_second": per_sec(ctx.spec.deleted, f.floor.elapsed),
            "rows_per_second": per_sec(f.floor.rows(), f.floor.elapsed),
            "tables": f.floor.tables.iter().map(|(t, rows, d)| json!({
                "table": t, "rows": rows, "seconds": secs(*d)
            })).collect::<Vec<_>>(),
            "load_average": [f.load.0, f.load.1],
            "server": f.server,
            "problems": f.problems,
        })).collect::<Vec<_>>(),
        "floor_median_seconds": floor_median.map(secs),
        "nova_purge_runs": results.purges.iter().map(|p| {
            let floor = results.floors.iter().find(|f| f.round == p.round);
            json!({
                "round": p.round,
                "batch_size": p.batch_size,
                "args": p.run.args,
                "fill": fill_json(&p.fill),
                "wall_seconds": secs(p.run.wall),
                "engine_seconds": p.u64_field("elapsed_ms") as f64 / 1000.0,
                "client_cpu_seconds": secs(p.run.cpu),
                "instances": p.u64_field("instances"),
                "rows": p.rows(),
                "instances_per_second": per_sec(ctx.spec.deleted, p.run.wall),
                "rows_per_second": per_sec(p.rows(), p.run.wall),
                "microseconds_per_row": secs(p.run.wall) * 1e6 / p.rows().max(1) as f64,
                "peak_rss_kib": p.run.max_rss_kib,
                "batches": p.u64_field("batches"),
                "max_batch_ms": p.u64_field("max_batch_ms"),
                "ratio_to_floor": floor.map(|f| secs(p.run.wall) / secs(f.floor.elapsed).max(1e-9)),
                "load_average": [p.load.0, p.load.1],
                "report": p.report,
                "server": p.server,
                "problems": p.problems,
            })
        }).collect::<Vec<_>>(),
        "medians": results.batch_sizes().iter().map(|b| {
            let runs = results.runs_of(*b);
            let wall = median(runs.iter().map(|p| p.run.wall).collect());
            json!({
                "batch_size": b,
                "runs": runs.len(),
                "wall_seconds": wall.map(secs),
                "microseconds_per_row": wall.map(|w| secs(w) * 1e6 / ctx.rows_to_delete().max(1) as f64),
                "max_batch_ms": runs.iter().map(|p| p.u64_field("max_batch_ms")).max(),
                "peak_rss_kib": runs.iter().map(|p| p.run.max_rss_kib).max(),
                "ratio_to_floor": wall.zip(floor_median).map(|(w, f)| secs(w) / secs(f).max(1e-9)),
            })
        }).collect::<Vec<_>>(),
        "comparisons": results.comparisons.iter().map(|(a, b, d)| json!({
            "left": a, "right": b, "identical": d.is_empty(), "differences": d
        })).collect::<Vec<_>>(),
    })
}
