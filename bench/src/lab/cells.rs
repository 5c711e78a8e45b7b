//! `--cells N`: N private MariaDB servers, one cell database each, filled
//! alike; an API database on a server of its own whose `cell_mappings`
//! lists them; `nova-purge --config-file nova.conf purge --all-cells --jobs
//! J --yes --format json` for each J, on freshly filled cells each time.
//! Measured: the wall time, and the CPU time each server and nova-purge
//! spent meanwhile (`/proc/<pid>/stat`), which shows whether the machine's
//! cores or nova-purge limit the speed-up. The cell servers get a buffer
//! pool that holds their data ([`CELL_SERVER`]).
//!
//! The API database holds `cell_mappings` only: every cell holds the same
//! generated instances (same uuids), which Nova's `instance_mappings`
//! (unique by instance) could map to one cell only; so no instance_mappings,
//! request_specs, instance_group_member or build_requests rows are written,
//! and nova-purge's API statements find nothing to delete.

use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use nova_purge_tests::server::ThrowawayDb;
use nova_purge_tests::servers::MariaDb;
use purge_api::{Backend, Scope};
use purge_fixture::ApiFixture;
use serde_json::{json, Value as Json};

use super::measured::median;
use super::{cpu, interrupt, setup, version, Section};
use crate::args::Plan;
use crate::check;
use crate::child;
use crate::db;
use crate::run::PurgeRun;
use crate::run::{self, Ctx};

/// Each cell server's settings on top of the lab's: a buffer pool and a
/// redo log that hold a cell of a few hundred MB, as a cell's own server
/// would have, so that the cells do not all wait for the one disk they
/// share here (with the lab's 32 MiB pool and 8 MiB log, two cells at once
/// were slower than one after the other).
const CELL_SERVER: [&str; 2] = ["innodb_buffer_pool_size=256M", "innodb_log_file_size=128M"];

/// One `--jobs J` run over every cell.
struct CellsRun {
    jobs: usize,
    round: usize,
    wall: f64,
    client_cpu: Duration,
    /// Each cell server's CPU time during the run, then the API server's.
    server_cpu: Vec<Duration>,
    /// The whole machine's CPU time during the run (every process).
    machine: cpu::Machine,
    /// Each cell's `elapsed_ms` in the report.
    cell_ms: Vec<u64>,
    max_batch_ms: u64,
    load: (f64, f64),
    problems: Vec<String>,
    report: Json,
}

pub async fn bench(
    plan: &Plan,
    ctx: &Ctx,
    binary: &Path,
    n: usize,
    jobs: &[usize],
) -> Result<Section> {
    if n == 0 || jobs.contains(&0) {
        bail!("--cells and --jobs must be at least 1");
    }
    let [batch_size] = plan.batch_sizes[..] else {
        bail!("--cells takes one --batch-size");
    };
    ctx.log(&format!("starting {n} cell servers and an API server"));
    let mut servers = Vec::new();
    for _ in 0..n {
        interrupt::check()?;
        servers.push(MariaDb::start_with(&CELL_SERVER));
    }
    let api = MariaDb::start();
    let version = version(&api);
    let mut runs = Vec::new();
    for round in 1..=plan.rounds {
        for &j in jobs {
            let run = measure(ctx, binary, &servers, &api, j, round, batch_size).await?;
            runs.push(run);
        }
    }
    let mut json = setup(ctx, &version, &format!("{n} cells"));
    json["cells"] = json!(n);
    json["runs"] = runs
        .iter()
        .map(|r| {
            json!({
                "jobs": r.jobs,
                "round": r.round,
                "wall_s": r.wall,
                "client_cpu_s": r.client_cpu.as_secs_f64(),
                "cell_server_cpu_s": r.server_cpu[..n].iter().map(Duration::as_secs_f64).collect::<Vec<_>>(),
                "api_server_cpu_s": r.server_cpu[n].as_secs_f64(),
                "machine_busy_cpu_s": r.machine.busy.as_secs_f64(),
                "machine_iowait_s": r.machine.iowait.as_secs_f64(),
                "cell_elapsed_ms": r.cell_ms,
                "max_batch_ms": r.max_batch_ms,
                "load": [r.load.0, r.load.1],
                "problems": r.problems,
                "report": r.report,
            })
        })
        .collect();
    Ok(Section {
        title: format!(
            "{n} cells on {n} private MariaDB servers ({version}), {} deleted + {} live instances each",
            ctx.spec.deleted, ctx.spec.live
        ),
        text: text(ctx, n, jobs, &runs),
        ok: runs.iter().all(|r| r.problems.is_empty()),
        json,
    })
}

/// Fills every cell afresh, runs nova-purge over them with `--jobs j`,
/// checks every cell; drops the databases, also after an error.
async fn measure(
    ctx: &Ctx,
    binary: &Path,
    servers: &[MariaDb],
    api: &MariaDb,
    j: usize,
    round: usize,
    batch_size: Option<u64>,
) -> Result<CellsRun> {
    // The cells' databases, then the API database.
    let mut dbs = Vec::new();
    let created = async {
        for server in servers.iter().chain([api]) {
            dbs.push(ThrowawayDb::create(Backend::MySql, &server.url(), "np_bench").await?);
        }
        Ok::<_, anyhow::Error>(())
    }
    .await;
    let result = match created {
        Ok(()) => {
            let (copies, api_db) = dbs.split_at(servers.len());
            let work = measure_on(
                ctx, binary, servers, api, &api_db[0], copies, j, round, batch_size,
            );
            interrupt::interruptible(work).await
        }
        Err(e) => Err(e),
    };
    for db in &dbs {
        if let Err(e) = db.drop_db().await {
            ctx.log(&format!("warning: could not drop {}: {e:#}", db.name));
        }
    }
    result
}

#[allow(clippy::too_many_arguments)]
async fn measure_on(
    ctx: &Ctx,
    binary: &Path,
    servers: &[MariaDb],
    api: &MariaDb,
    api_db: &ThrowawayDb,
    copies: &[ThrowawayDb],
    j: usize,
    round: usize,
    batch_size: Option<u64>,
) -> Result<CellsRun> {
    let mut untouched = Vec::new();
    for copy in copies {
        run::fill_copy(ctx, copy).await?;
        let db = db::connect(copy, false).await?;
        untouched.push(check::counts(&db, &ctx.expected.untouched_tables()).await?);
        db.close().await;
    }
    let config = write_config(api, api_db, copies).await?;
    let mut args: Vec<String> = ["--config-file", &config, "purge", "--all-cells", "--jobs"]
        .into_iter()
        .map(str::to_owned)
        .collect();
    args.extend([
        j.to_string(),
        "--yes".into(),
        "--format".into(),
        "json".into(),
    ]);
    if let Some(n) = batch_size {
        args.extend(["--batch-size".to_owned(), n.to_string()]);
    }
    ctx.log(&format!(
        "{} cells, --jobs {j}: running {} {}",
        copies.len(),
        binary.display(),
        args.join(" ")
    ));
    let mut pids: Vec<u32> = servers.iter().filter_map(MariaDb::pid).collect();
    pids.extend(api.pid());
    if pids.len() != servers.len() + 1 {
        bail!("a private server is not running");
    }
    let cpu_before = cpu::snapshot(&pids);
    let machine_before = cpu::Machine::now();
    let load_before = child::load_average();
    let purge = PurgeRun::spawn(binary, &args, Scope::Instances, batch_size, None)?;
    let load_after = child::load_average();
    let machine = cpu::Machine::now().since(&machine_before);
    let server_cpu = cpu::spent(&cpu_before, &cpu::snapshot(&pids));
    let wall = purge.child.wall.as_secs_f64();
    let total: f64 =
        purge.child.cpu.as_secs_f64() + server_cpu.iter().map(Duration::as_secs_f64).sum::<f64>();
    ctx.log(&format!(
        "{} cells, --jobs {j}: done in {wall:.2} s; CPU: nova-purge {:.2} s, servers {} s \
         ({:.2} cores busy); the machine: {:.2} of 2 cores busy, {:.2} waiting for I/O; \
         load {load_before:.1} -> {load_after:.1}",
        copies.len(),
        purge.child.cpu.as_secs_f64(),
        seconds(&server_cpu),
        total / wall,
        machine.busy.as_secs_f64() / wall,
        machine.iowait.as_secs_f64() / wall,
    ));

    let report = &purge.report;
    let mut problems = Vec::new();
    let want = ctx.spec.deleted * copies.len() as u64;
    if report.get("instances").and_then(Json::as_u64) != Some(want) {
        problems.push(format!(
            "report: {:?} instances purged in all, expected {want}",
            report.get("instances")
        ));
    }
    let cells = report
        .get("cells")
        .and_then(Json::as_array)
        .context("the report lists no cells")?;
    if cells.len() != copies.len() {
        problems.push(format!(
            "report: {} cells, expected {}",
            cells.len(),
            copies.len()
        ));
    }
    let mut cell_ms = Vec::new();
    let mut first_sums = None;
    for (i, (copy, cell)) in copies.iter().zip(cells).enumerate() {
        let name = cell_name(i);
        if cell.get("name").and_then(Json::as_str) != Some(name.as_str()) {
            problems.push(format!(
                "report: cell {i} is {:?}, expected {name}",
                cell.get("name")
            ));
        }
        if !cell.get("error").is_none_or(Json::is_null) {
            problems.push(format!("{name}: failed: {}", cell["error"]));
        }
        cell_ms.push(cell.get("elapsed_ms").and_then(Json::as_u64).unwrap_or(0));
        let mut cell_problems = ctx.expected.check_report(cell, purge.batch_size);
        let db = db::connect(copy, false).await?;
        let sums = check::summarise(&db, ctx.content).await?;
        db.close().await;
        cell_problems.extend(ctx.expected.check_left(&sums, &untouched[i]));
        match &first_sums {
            None => first_sums = Some(sums),
            Some(first) => cell_problems.extend(check::diff(&cell_name(0), first, &name, &sums)),
        }
        problems.extend(cell_problems.into_iter().map(|p| format!("{name}: {p}")));
    }
    for p in &problems {
        ctx.log(&format!("--jobs {j}: PROBLEM: {p}"));
    }
    Ok(CellsRun {
        jobs: j,
        round,
        wall,
        client_cpu: purge.child.cpu,
        server_cpu,
        machine,
        cell_ms,
        max_batch_ms: purge.u64_field("max_batch_ms"),
        load: (load_before, load_after),
        problems,
        report: purge.report,
    })
}

fn cell_name(i: usize) -> String {
    format!("cell{}", i + 1)
}

/// Fills the API database (its schema and one `cell_mappings` row per
/// cell, in the SQLAlchemy form Nova stores) and writes a nova.conf naming
/// it, in the API server's directory; returns its path.
async fn write_config(
    api: &MariaDb,
    api_db: &ThrowawayDb,
    copies: &[ThrowawayDb],
) -> Result<String> {
    let sqlalchemy = |url: &str| url.replacen("mysql://", "mysql+pymysql://", 1);
    let db = db::connect(api_db, false).await?;
    let filled = async {
        ApiFixture::create(&db).await?;
        for (i, copy) in copies.iter().enumerate() {
            let uuid = format!("c0000000-0000-4000-8000-{:012}", i + 1);
            ApiFixture::add_cell(
                &db,
                i as i64 + 1,
                &uuid,
                &cell_name(i),
                &sqlalchemy(&copy.url),
            )
            .await?;
        }
        Ok::<_, anyhow::Error>(())
    }
    .await;
    db.close().await;
    filled?;
    let path = api.dir().join("nova.conf");
    std::fs::write(
        &path,
        format!("[api_database]\nconnection = {}\n", sqlalchemy(&api_db.url)),
    )
    .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(path.display().to_string())
}

fn seconds(times: &[Duration]) -> String {
    let each: Vec<String> = times
        .iter()
        .map(|d| format!("{:.2}", d.as_secs_f64()))
        .collect();
    each.join(" + ")
}

/// The section's table: one line per run, by --jobs then round, with the
/// speed-up against the median wall of --jobs 1 and where the CPU went
/// during that run; then the medians.
fn text(ctx: &Ctx, n: usize, jobs: &[usize], runs: &[CellsRun]) -> String {
    let rows = ctx.expected.rows_to_delete() * n as u64;
    let walls = |j: usize| -> Vec<f64> {
        runs.iter()
            .filter(|r| r.jobs == j)
            .map(|r| r.wall)
            .collect()
    };
    let base = Some(walls(1)).filter(|w| !w.is_empty()).map(median);
    let mut out = format!(
        "{rows} rows to delete in all ({} per cell). CPU: the seconds each process spent \
         during the run; \"ours\" is nova-purge's and every server's over the wall, \
         \"machine\" every process's on the machine (/proc/stat) over the wall, \
         and I/O wait the same: the machine has 2 cores.\n\n\
         | --jobs | round | wall | speed-up | rows/s | longest batch | each cell's elapsed | nova-purge CPU | cell servers' CPU | API server CPU | cores: ours / machine / I/O wait | load |\n\
         | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        ctx.expected.rows_to_delete()
    );
    for &j in jobs {
        for r in runs.iter().filter(|r| r.jobs == j) {
            let speedup = base.map_or("–".to_owned(), |b| format!("{:.2}x", b / r.wall));
            let elapsed: Vec<String> = r
                .cell_ms
                .iter()
                .map(|ms| format!("{:.1}", *ms as f64 / 1000.0))
                .collect();
            let ours = (r.client_cpu + r.server_cpu.iter().sum::<Duration>()).as_secs_f64();
            out.push_str(&format!(
                "\n| {j} | {} | {:.2} s | {speedup} | {:.0} | {} ms | {} s | {:.2} s | {} s | {:.2} s | {:.2} / {:.2} / {:.2} | {:.1}–{:.1} |",
                r.round,
                r.wall,
                rows as f64 / r.wall,
                r.max_batch_ms,
                elapsed.join(" / "),
                r.client_cpu.as_secs_f64(),
                seconds(&r.server_cpu[..n]),
                r.server_cpu[n].as_secs_f64(),
                ours / r.wall,
                r.machine.busy.as_secs_f64() / r.wall,
                r.machine.iowait.as_secs_f64() / r.wall,
                r.load.0.min(r.load.1),
                r.load.0.max(r.load.1),
            ));
        }
    }
    out.push_str("\n\nMedian walls (of an even number of rounds, the lower middle one):");
    for &j in jobs {
        let w = walls(j);
        if !w.is_empty() {
            let wall = median(w);
            let speedup = base.map_or(String::new(), |b| format!(" ({:.2}x)", b / wall));
            out.push_str(&format!(" --jobs {j} {wall:.2} s{speedup};"));
        }
    }
    out.pop();
    out.push('.');
    out
}
