//! `--replica`: a private MariaDB primary with an asynchronous GTID replica
//! (binlog ROW). Per round, each on fresh copies: nova-purge at its
//! defaults (not told about the replica), nova-purge told about it
//! (`--replica-url`, `--max-replication-lag`), and the floor. During each
//! measured step and until the replica has applied it, the replica's lag is
//! sampled every 100 ms (lag.rs); afterwards the replica must hold exactly
//! the primary's rows.

use std::path::Path;

use anyhow::{bail, Result};
use nova_purge_tests::server::ThrowawayDb;
use nova_purge_tests::servers::{MariaDb, MariaDbReplication};
use purge_api::Db;

use super::lag::{LagSeries, Sampler};
use super::measured::{median_wall, table, Measured};
use super::purge::{LabPurge, Pacing};
use super::{interrupt, measure_private, setup, version, Section};
use crate::args::Plan;
use crate::expect::Expected;
use crate::floor::FloorRun;
use crate::run::{Case, Ctx, Floor, Outcome};

const WHERE: &str = "primary";

pub async fn bench(plan: &Plan, ctx: &Ctx, binary: &Path, max_lag: &str) -> Result<Section> {
    let [batch_size] = plan.batch_sizes[..] else {
        bail!("--replica takes one --batch-size");
    };
    ctx.log("starting a primary and its replica");
    let servers = MariaDbReplication::start();
    let version = version(&servers.primary);
    let followers = [("the replica".to_owned(), servers.replica.url())];
    let caught_up = || wait_caught_up(&servers.primary, &servers.replica);
    let defaults = "nova-purge (defaults)".to_owned();
    let paced = format!("nova-purge --max-replication-lag {max_lag} --replica-url");
    let mut runs = Vec::new();
    for round in 1..=plan.rounds {
        for (label, pacing) in [
            (&defaults, None),
            (
                &paced,
                Some(Pacing {
                    replica_server: servers.replica.url(),
                    max_lag: max_lag.to_owned(),
                }),
            ),
        ] {
            let case = Lagged {
                inner: LabPurge::new(binary, batch_size, pacing, label.clone()),
                servers: &servers,
            };
            let outcome = measure_private(
                ctx,
                &servers.primary.url(),
                round,
                &case,
                &followers,
                &caught_up,
            )
            .await?;
            let (outcome, lag) = split(outcome);
            let mut run = Measured::purge(WHERE, label, &outcome);
            run.extra["lag"] = lag.json();
            runs.push(run);
        }
        if let Some(shape) = plan.floor {
            let case = Lagged {
                inner: Floor { shape },
                servers: &servers,
            };
            let outcome = measure_private(
                ctx,
                &servers.primary.url(),
                round,
                &case,
                &followers,
                &caught_up,
            )
            .await?;
            let (outcome, lag): (Outcome<FloorRun>, _) = split(outcome);
            let mut run = Measured::floor(WHERE, &outcome);
            run.extra = serde_json::json!({ "lag": lag.json() });
            runs.push(run);
        }
    }
    let mut json = setup(ctx, &version, "primary and asynchronous replica");
    json["runs"] = runs.iter().map(Measured::json).collect();
    let lag_column = |list: &[&Measured]| {
        let each = |key: &str| {
            list.iter()
                .map(|r| match r.extra["lag"][key].as_u64() {
                    Some(ms) => format!("{:.1}", ms as f64 / 1000.0),
                    None => "–".to_owned(),
                })
                .collect::<Vec<_>>()
                .join(" / ")
        };
        format!(
            "{} s; {} s",
            each("max_lag_ms"),
            each("catch_up_after_step_ms")
        )
    };
    let mut text = table(
        &runs,
        Some(("replica: max lag; caught up after the step", &lag_column)),
    );
    if let Some(floor) = median_wall(&runs, WHERE, "floor") {
        text.push('\n');
        for case in [&defaults, &paced] {
            if let Some(purge) = median_wall(&runs, WHERE, case) {
                text.push_str(&format!(
                    "\n- {case}: {:.2}x the floor (medians)",
                    purge / floor
                ));
            }
        }
    }
    Ok(Section {
        title: format!(
            "Primary and asynchronous replica ({version}), {} deleted + {} live instances",
            ctx.spec.deleted, ctx.spec.live
        ),
        text,
        ok: runs.iter().all(|r| r.problems.is_empty()),
        json,
    })
}

/// A case with the replica's lag sampled from just before it starts (the
/// fill applied first) until the replica has applied it.
struct Lagged<'a, C> {
    inner: C,
    servers: &'a MariaDbReplication,
}

impl<C: Case> Case for Lagged<'_, C> {
    type Work = (C::Work, LagSeries);

    fn start_message(&self, copy: &ThrowawayDb) -> String {
        self.inner.start_message(copy)
    }

    async fn execute(&self, copy: &ThrowawayDb, db: &Db, ctx: &Ctx) -> Result<Self::Work> {
        wait_caught_up(&self.servers.primary, &self.servers.replica)?;
        let sampler = Sampler::start(&self.servers.primary.url(), &self.servers.replica.url())?;
        let work = self.inner.execute(copy, db, ctx).await;
        let lag = sampler.finish()?;
        let work = work?;
        ctx.log(&format!(
            "{}: replica lag at most {:.1} s (Seconds_Behind_Master at most {}); \
             caught up {} after the step",
            copy.name,
            lag.max_lag().as_secs_f64(),
            lag.max_seconds_behind_master()
                .map_or("NULL".to_owned(), |s| s.to_string()),
            lag.catch_up()
                .map_or("not within 10 minutes".to_owned(), |d| format!(
                    "{:.1} s",
                    d.as_secs_f64()
                )),
        ));
        Ok((work, lag))
    }

    fn summary(&self, (work, _): &Self::Work) -> String {
        self.inner.summary(work)
    }

    fn check(&self, expected: &Expected, (work, lag): &Self::Work) -> Vec<String> {
        let mut problems = self.inner.check(expected, work);
        if lag.caught_up.is_none() {
            problems.push("the replica did not catch up within 10 minutes".to_owned());
        }
        problems
    }
}

/// An outcome and its lag, apart.
fn split<W>(outcome: Outcome<(W, LagSeries)>) -> (Outcome<W>, LagSeries) {
    let (work, lag) = outcome.work;
    (
        Outcome {
            round: outcome.round,
            fill: outcome.fill,
            work,
            server: outcome.server,
            load: outcome.load,
            sums: outcome.sums,
            problems: outcome.problems,
            probe: outcome.probe,
            profile: outcome.profile,
        },
        lag,
    )
}

/// Waits until the replica has applied what the primary has logged
/// (`MASTER_GTID_WAIT`, at most ten minutes).
fn wait_caught_up(primary: &MariaDb, replica: &MariaDb) -> Result<()> {
    interrupt::check()?;
    let position = primary
        .try_sql("SELECT @@GLOBAL.gtid_binlog_pos")
        .map_err(anyhow::Error::msg)?;
    if position.is_empty() {
        return Ok(());
    }
    let waited = replica
        .try_sql(&format!("SELECT MASTER_GTID_WAIT('{position}', 600)"))
        .map_err(anyhow::Error::msg)?;
    if waited != "0" {
        bail!("the replica did not reach {position} within 10 minutes");
    }
    Ok(())
}
