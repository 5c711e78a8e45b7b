//! Topologies on private MariaDB servers, which the benchmark starts with
//! the test lab (`nova_purge_tests::servers`), measures on and stops at the
//! end, also after an error or Ctrl-C: several cells on separate servers
//! purged with `--jobs` (`--cells`), a Galera cluster against a single
//! server (`--galera`), a primary with an asynchronous replica and its lag
//! (`--replica`). Each fills its copies with the benchmark's own data and
//! checks them against the generator, as the shared-server runs do.
//!
//! The lab's servers are small and not durable on power loss: a 32 MiB
//! buffer pool, `innodb_flush_log_at_trx_commit = 2` (no fsync per commit),
//! no doublewrite (tests/src/servers/mariadb.rs). Their figures compare
//! with each other, not with the shared server's.

mod args;
mod cells;
mod cpu;
mod galera;
mod interrupt;
mod lag;
mod measured;
mod purge;
mod replica;

pub use args::LabArgs;

use std::path::Path;
use std::time::Instant;

use anyhow::{bail, Result};
use nova_purge_tests::server::{self, PoolSettings, ThrowawayDb};
use purge_api::{Backend, Scope};
use serde_json::{json, Value as Json};

use crate::args::Plan;
use crate::check;
use crate::run::{self, Case, Ctx, Outcome};

/// What one topology gives: a Markdown section and its JSON.
pub struct Section {
    pub title: String,
    pub text: String,
    pub json: Json,
    pub ok: bool,
}

/// Runs every topology asked for, in turn; prints the results; returns
/// whether every check passed.
pub async fn bench(plan: &Plan, binary: &Path, started: Instant) -> Result<bool> {
    let lab = &plan.lab;
    if plan.backend != Backend::MySql {
        bail!(
            "--cells, --galera and --replica run on private MariaDB servers: use --backend mysql"
        );
    }
    if plan.scopes != [Scope::Instances] {
        bail!("--cells, --galera and --replica measure the instances scope only");
    }
    interrupt::install()?;
    let ctx = Ctx::new(plan, Scope::Instances, started, None)?;
    ctx.log(&format!(
        "private servers: {} deleted + {} live instances per database; nova-purge {}",
        ctx.spec.deleted,
        ctx.spec.live,
        binary.display()
    ));
    let mut sections = Vec::new();
    if let Some(n) = lab.cells {
        sections.push(cells::bench(plan, &ctx, binary, n, &lab.jobs(n)).await?);
    }
    if lab.galera {
        sections.push(galera::bench(plan, &ctx, binary).await?);
    }
    if lab.replica {
        sections.push(replica::bench(plan, &ctx, binary, &lab.replica_max_lag).await?);
    }
    // With --json the tables go to stderr, after the progress lines.
    for section in &sections {
        let text = format!("### {}\n\n{}\n", section.title, section.text);
        if plan.json {
            eprintln!("{text}");
        } else {
            println!("{text}");
        }
    }
    if plan.json {
        let all: Vec<&Json> = sections.iter().map(|s| &s.json).collect();
        println!("{}", serde_json::to_string_pretty(&all)?);
    }
    let ok = sections.iter().all(|s| s.ok);
    if !ok {
        eprintln!("FAILED: a check failed (see PROBLEM lines above)");
    }
    Ok(ok)
}

/// The header every section's JSON starts with.
fn setup(ctx: &Ctx, version: &str, topology: &str) -> Json {
    json!({
        "topology": topology,
        "server": version,
        "deleted": ctx.spec.deleted,
        "live": ctx.spec.live,
        "rows_to_delete": ctx.expected.rows_to_delete(),
    })
}

/// Measures `case` on a fresh copy on the private server at `server_url`
/// (as the benchmark's own runs do on the shared server), then checks that
/// each follower (`name`, server URL), once `caught_up` says it has applied
/// everything, holds exactly the same rows; drops the copy.
pub async fn measure_private<C: Case>(
    ctx: &Ctx,
    server_url: &str,
    round: usize,
    case: &C,
    followers: &[(String, String)],
    caught_up: &dyn Fn() -> Result<()>,
) -> Result<Outcome<C::Work>> {
    interrupt::check()?;
    let copy = ThrowawayDb::create(Backend::MySql, server_url, "np_bench").await?;
    let result = async {
        let mut outcome =
            interrupt::interruptible(run::measure_on(ctx, &copy, round, case)).await?;
        if !followers.is_empty() {
            caught_up()?;
        }
        for (name, url) in followers {
            let sums = follower_sums(ctx, &format!("{url}/{}", copy.name)).await?;
            let problems = check::diff("the server written to", &outcome.sums, name, &sums);
            for p in &problems {
                ctx.log(&format!("{}: PROBLEM: {p}", copy.name));
            }
            if problems.is_empty() {
                ctx.log(&format!("{}: {name} holds the same rows", copy.name));
            }
            outcome.problems.extend(problems);
        }
        Ok(outcome)
    }
    .await;
    if let Err(e) = copy.drop_db().await {
        ctx.log(&format!("warning: could not drop {}: {e:#}", copy.name));
    }
    result
}

async fn follower_sums(ctx: &Ctx, url: &str) -> Result<check::Sums> {
    let settings = PoolSettings {
        max_connections: 1,
        ..PoolSettings::default()
    };
    let db = server::connect(Backend::MySql, url, settings).await?;
    let sums = check::summarise(&db, ctx.content).await;
    db.close().await;
    sums
}

/// `SELECT VERSION()` of a private server, through its client.
fn version(server: &nova_purge_tests::servers::MariaDb) -> String {
    format!("MariaDB {}", server.sql("SELECT VERSION()"))
}
