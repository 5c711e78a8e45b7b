//! nova-purge-bench: measures the real nova-purge binary against a
//! hand-written set-based "floor" on identical, freshly generated data, and
//! checks that both leave exactly the same rows. See docs/benchmarks.md.
//! This file runs the rounds; the modules hold the parts.
//!
//! ```text
//! cargo run --release -p nova-purge-bench -- --backend mysql --deleted 100000 --live 100000
//! cargo run --release -p nova-purge-bench -- --backend postgres --batch-sizes 50,200,1000,5000
//! cargo run --release -p nova-purge-bench -- --backend postgres --scope rows,task-log,shadow
//! cargo run --release -p nova-purge-bench -- --smoke
//! ```

mod args;
mod check;
mod child;
mod db;
mod expect;
mod fill;
mod fill_nova;
mod fill_scopes;
mod floor;
mod floor_scopes;
mod flush;
mod json;
mod lab;
mod layout;
mod nova_template;
mod plot;
mod probe;
mod probe_ops;
mod probe_report;
mod profile;
mod results;
mod run;
mod schema_args;
mod stats;
mod text;
mod text_schema;

use std::path::Path;
use std::process::ExitCode;
use std::rc::Rc;
use std::time::Instant;

use anyhow::Result;
use clap::Parser;
use purge_api::Scope;

use crate::args::{Args, Plan};
use crate::nova_template::Template;
use crate::results::{Results, Setup};
use crate::run::{Ctx, Floor, NovaPurge};
use crate::schema_args::SchemaKind;

fn main() -> ExitCode {
    // Before anything else, while this process is small: the wrapper that
    // measures one nova-purge run (see child.rs).
    if let Some(code) = child::wrapper_main() {
        return code;
    }
    let args = Args::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(bench(args)) {
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
    let template = match plan.schema.schema {
        SchemaKind::Nova => {
            eprintln!(
                "[{:>7.1}s] syncing Nova's schema into a template database",
                started.elapsed().as_secs_f64()
            );
            Some(Rc::new(Template::create(plan.backend).await?))
        }
        SchemaKind::Fixture => None,
    };
    let result = bench_with(&plan, started, template.clone()).await;
    if let Some(template) = template {
        if let Err(e) = template.drop_db().await {
            eprintln!("warning: could not drop the template database: {e:#}");
        }
    }
    result
}

/// The benchmark, once the template (`--schema nova`) exists.
async fn bench_with(plan: &Plan, started: Instant, template: Option<Rc<Template>>) -> Result<bool> {
    if plan.fill_only {
        for &scope in &plan.scopes {
            let ctx = Ctx::new(plan, scope, started, template.clone())?;
            println!("{}", run::fill_only(&ctx).await?);
        }
        return Ok(true);
    }
    let binary = child::nova_purge_binary(plan.nova_purge.as_deref(), &|m| {
        eprintln!("[{:>7.1}s] {m}", started.elapsed().as_secs_f64())
    })?;
    if plan.lab.any() {
        return lab::bench(plan, &binary, started).await;
    }
    let version = db::server_version(plan.backend).await?;
    let mut all = Vec::new();
    for &scope in &plan.scopes {
        let ctx = Ctx::new(plan, scope, started, template.clone())?;
        all.push(bench_scope(plan, &ctx, &binary, &version).await?);
    }
    if plan.json {
        // One scope: its report, as before scopes existed; several: a list.
        let reports = all.iter().map(json::render).collect::<Result<Vec<_>>>()?;
        match reports.as_slice() {
            [one] => println!("{one}"),
            many => println!("[\n{}\n]", many.join(",\n")),
        }
    } else {
        for (i, results) in all.iter().enumerate() {
            if i > 0 {
                println!();
            }
            text::print(results);
        }
    }
    let ok = all.iter().all(Results::ok);
    if !ok {
        eprintln!("FAILED: nova-purge and the floor disagree, or a check failed (see above)");
    }
    Ok(ok)
}

/// Every round of one scope: nova-purge at each batch size and the floor.
async fn bench_scope(plan: &Plan, ctx: &Ctx, binary: &Path, version: &str) -> Result<Results> {
    let what = match ctx.scope {
        Scope::Instances => format!(
            "{} deleted + {} live instances",
            ctx.spec.deleted, ctx.spec.live
        ),
        scope => format!(
            "--scope {}: {} old rows + {} to leave",
            scope.name(),
            ctx.spec.deleted,
            ctx.spec.live
        ),
    };
    ctx.log(&format!(
        "{} ({version}): {what}; nova-purge {}",
        ctx.backend.name(),
        binary.display()
    ));

    // Rounds alternate nova-purge and the floor, so that a noisy neighbour
    // weighs on both alike.
    let mut purges = Vec::new();
    let mut floors = Vec::new();
    for round in 1..=plan.rounds {
        for batch_time in plan.schema.batch_times() {
            for &batch_size in &plan.batch_sizes {
                let case = NovaPurge {
                    binary,
                    scope: ctx.scope,
                    batch_size,
                    batch_time: batch_time.clone(),
                    log_batches: plan.probe.is_some(),
                };
                purges.push(run::measure(ctx, round, &case).await?);
            }
        }
        if let Some(shape) = plan.floor {
            floors.push(run::measure(ctx, round, &Floor { shape }).await?);
        }
    }

    let setup = Setup {
        backend: ctx.backend,
        version: version.to_owned(),
        scope: ctx.scope,
        deleted: ctx.spec.deleted,
        live: ctx.spec.live,
        rows_to_delete: ctx.expected.rows_to_delete(),
        held_rows: ctx.expected.held(),
        binary: binary.display().to_string(),
        content: ctx.content,
        add_missing_indexes: ctx.add_missing_indexes,
    };
    let results = Results::new(setup, floors, purges);
    if let Some(path) = plan.probe.as_ref().and_then(|p| p.plot.as_deref()) {
        let title = format!("{version}, {what}: probe latency and batches");
        plot::write(path, &title, &probe_report::cases(&results))?;
        ctx.log(&format!("plot written to {}", path.display()));
    }
    Ok(results)
}
