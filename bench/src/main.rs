//! nova-purge-bench: measures the real nova-purge binary against a
//! hand-written set-based "floor" on identical, freshly generated data, and
//! checks that both leave exactly the same rows. See docs/benchmarks.md.
//! This file runs the rounds; the modules hold the parts.
//!
//! ```text
//! cargo run --release -p nova-purge-bench -- --backend mysql --deleted 100000 --live 100000
//! cargo run --release -p nova-purge-bench -- --backend postgres --batch-sizes 50,200,1000,5000
//! cargo run --release -p nova-purge-bench -- --smoke
//! ```

mod args;
mod check;
mod child;
mod db;
mod expect;
mod fill;
mod floor;
mod json;
mod results;
mod run;
mod stats;
mod text;

use std::process::ExitCode;
use std::time::Instant;

use anyhow::Result;
use clap::Parser;

use crate::args::Args;
use crate::results::{Results, Setup};
use crate::run::{Ctx, Floor, NovaPurge};

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args = Args::parse();
    match bench(args).await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Returns whether every check passed.
async fn bench(args: Args) -> Result<bool> {
    let started = Instant::now();
    let plan = args.plan()?;
    let ctx = Ctx::new(&plan, started);
    if plan.fill_only {
        println!("{}", run::fill_only(&ctx).await?);
        return Ok(true);
    }
    let binary = child::nova_purge_binary(plan.nova_purge.as_deref(), &|m| ctx.log(m))?;
    let version = db::server_version(ctx.backend).await?;
    ctx.log(&format!(
        "{} ({version}): {} deleted + {} live instances; nova-purge {}",
        ctx.backend.name(),
        ctx.spec.deleted,
        ctx.spec.live,
        binary.display()
    ));

    // Rounds alternate nova-purge and the floor, so that a noisy neighbour
    // weighs on both alike.
    let mut purges = Vec::new();
    let mut floors = Vec::new();
    for round in 1..=plan.rounds {
        for &batch_size in &plan.batch_sizes {
            let case = NovaPurge {
                binary: &binary,
                batch_size,
            };
            purges.push(run::measure(&ctx, round, &case).await?);
        }
        if let Some(shape) = plan.floor {
            floors.push(run::measure(&ctx, round, &Floor { shape }).await?);
        }
    }

    let setup = Setup {
        backend: ctx.backend,
        version,
        deleted: ctx.spec.deleted,
        live: ctx.spec.live,
        rows_to_delete: ctx.expected.rows_to_delete(),
        binary: binary.display().to_string(),
        content: ctx.content,
        add_missing_indexes: ctx.add_missing_indexes,
    };
    let results = Results::new(setup, floors, purges);
    if plan.json {
        println!("{}", json::render(&results)?);
    } else {
        text::print(&results);
    }
    let ok = results.ok();
    if !ok {
        eprintln!("FAILED: nova-purge and the floor disagree, or a check failed (see above)");
    }
    Ok(ok)
}
