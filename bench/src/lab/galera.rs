//! `--galera`: the same data purged through node 1 of a private
//! three-node Galera cluster and on a private single MariaDB server with
//! the same settings otherwise (the lab's InnoDB settings, `binlog_format =
//! ROW`, `innodb_autoinc_lock_mode = 2`, no wsrep), nova-purge and the floor
//! on each, rounds alternating. After each Galera run, nodes 2 and 3 must
//! hold exactly node 1's rows once they have applied everything.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use nova_purge_tests::servers::{Galera, MariaDb};

use super::measured::{median_wall, table, Measured};
use super::purge::LabPurge;
use super::{interrupt, measure_private, setup, version, Section};
use crate::args::Plan;
use crate::run::{Ctx, Floor};

const GALERA: &str = "Galera node 1";
const SINGLE: &str = "single server";

pub async fn bench(plan: &Plan, ctx: &Ctx, binary: &Path) -> Result<Section> {
    ctx.log("starting a three-node Galera cluster and a single server");
    let cluster = Galera::start();
    interrupt::check()?;
    let single = MariaDb::start_with(&["binlog_format=ROW", "innodb_autoinc_lock_mode=2"]);
    let version = version(cluster.node(1));
    let followers: Vec<(String, String)> = (2..=3)
        .map(|n| (format!("Galera node {n}"), cluster.url(n)))
        .collect();
    let caught_up = || wait_applied(ctx, &cluster);
    let not_replicated = || Ok(());
    let mut runs = Vec::new();
    for round in 1..=plan.rounds {
        let targets = [
            Target {
                name: GALERA,
                url: cluster.url(1),
                followers: &followers,
                caught_up: &caught_up,
            },
            Target {
                name: SINGLE,
                url: single.url(),
                followers: &[],
                caught_up: &not_replicated,
            },
        ];
        for Target {
            name: topology,
            url,
            followers,
            caught_up: wait,
        } in targets
        {
            for &batch_size in &plan.batch_sizes {
                let case = LabPurge::new(binary, batch_size, None, label(batch_size));
                let outcome = measure_private(ctx, &url, round, &case, followers, wait).await?;
                runs.push(Measured::purge(topology, &case.label, &outcome));
            }
            if let Some(shape) = plan.floor {
                let outcome =
                    measure_private(ctx, &url, round, &Floor { shape }, followers, wait).await?;
                runs.push(Measured::floor(topology, &outcome));
            }
        }
    }
    let mut json = setup(ctx, &version, "galera");
    json["runs"] = runs.iter().map(Measured::json).collect();
    let mut text = table(&runs, None);
    text.push_str("\n\n");
    let cases: Vec<String> = plan
        .batch_sizes
        .iter()
        .map(|&b| label(b))
        .chain(plan.floor.map(|_| "floor".to_owned()))
        .collect();
    for case in &cases {
        if let (Some(g), Some(s)) = (
            median_wall(&runs, GALERA, case),
            median_wall(&runs, SINGLE, case),
        ) {
            let rounds: Vec<String> = (1..=plan.rounds)
                .filter_map(|round| {
                    let wall = |topology: &str| {
                        runs.iter()
                            .find(|r| r.topology == topology && r.case == *case && r.round == round)
                            .map(|r| r.wall)
                    };
                    Some(format!("{:.2}x", wall(GALERA)? / wall(SINGLE)?))
                })
                .collect();
            text.push_str(&format!(
                "- {case}: Galera {g:.2} s against single server {s:.2} s: **{:.2}x** \
                 (medians; each round: {})\n",
                g / s,
                rounds.join(", ")
            ));
        }
    }
    for topology in [GALERA, SINGLE] {
        if let Some(floor) = median_wall(&runs, topology, "floor") {
            for case in cases.iter().filter(|c| *c != "floor") {
                if let Some(purge) = median_wall(&runs, topology, case) {
                    text.push_str(&format!(
                        "- {topology}: {case} against the floor: {:.2}x\n",
                        purge / floor
                    ));
                }
            }
        }
    }
    Ok(Section {
        title: format!(
            "Galera (3 nodes) against a single server ({version}), {} deleted + {} live instances",
            ctx.spec.deleted, ctx.spec.live
        ),
        text,
        ok: runs.iter().all(|r| r.problems.is_empty()),
        json,
    })
}

/// Where a round's runs go: the server written to, the servers that must
/// end up with the same rows, and how to wait until they have.
struct Target<'a> {
    name: &'static str,
    url: String,
    followers: &'a [(String, String)],
    caught_up: &'a dyn Fn() -> Result<()>,
}

fn label(batch_size: Option<u64>) -> String {
    match batch_size {
        Some(n) => format!("nova-purge --batch-size {n}"),
        None => "nova-purge (defaults)".to_owned(),
    }
}

/// Waits until nodes 2 and 3 have applied every write set node 1 has
/// committed (`wsrep_last_committed`).
fn wait_applied(ctx: &Ctx, cluster: &Galera) -> Result<()> {
    let started = Instant::now();
    let committed = |n: usize| -> Result<u64> {
        let out = cluster
            .node(n)
            .try_sql("SHOW GLOBAL STATUS LIKE 'wsrep_last_committed'")
            .map_err(anyhow::Error::msg)?;
        Ok(out
            .split('\t')
            .nth(1)
            .and_then(|v| v.parse().ok())
            .unwrap_or(0))
    };
    let target = committed(1)?;
    for n in 2..=3 {
        while committed(n)? < target {
            interrupt::check()?;
            if started.elapsed() > Duration::from_secs(600) {
                bail!("Galera node {n} did not apply write set {target} within 10 minutes");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    ctx.log(&format!(
        "Galera nodes 2 and 3 have applied everything (waited {:.2} s after the checks on node 1)",
        started.elapsed().as_secs_f64()
    ));
    Ok(())
}
