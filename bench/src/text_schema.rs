//! The human report's part for the batch-time and profile runs: each
//! nova-purge run's batch sizes and longest batch, and `--profile`'s table
//! of statement shapes per run.

use crate::profile::Profile;
use crate::results::Results;

/// Shapes printed per run; the rest are summed on one line.
const SHAPES_SHOWN: usize = 14;

/// Longest shape text printed.
const SHAPE_WIDTH: usize = 150;

pub fn print(results: &Results) {
    let sized: Vec<String> = results
        .purges
        .iter()
        .filter_map(|p| {
            let run = &p.outcome.work;
            let sizes = run.batch_sizes()?;
            Some(format!(
                "  {} (round {}): {} batches of {sizes}, longest batch {}",
                run.label(),
                p.outcome.round,
                run.batches(),
                run.max_batch_ms()
                    .map_or("-".to_owned(), |ms| format!("{ms} ms"))
            ))
        })
        .collect();
    if !sized.is_empty() {
        println!("batch sizes (instances per batch, min/median/max):");
        for line in sized {
            println!("{line}");
        }
    }
    for f in &results.floors {
        if let Some(profile) = &f.outcome.profile {
            print_profile(&f.measurement.label, f.outcome.round, profile);
        }
    }
    for p in &results.purges {
        if let Some(profile) = &p.outcome.profile {
            print_profile(&p.measurement.label, p.outcome.round, profile);
        }
    }
}

fn print_profile(label: &str, round: usize, profile: &Profile) {
    let total: f64 = profile.shapes.iter().map(|s| s.seconds).sum();
    let statements: u64 = profile.shapes.iter().map(|s| s.count).sum();
    println!(
        "profile of {label} (round {round}): {statements} statements, {total:.2} s of server time"
    );
    println!(
        "  {:>7}  {:>8}  {:>8}  {:>10}  {:>9}  shape",
        "count", "total s", "avg ms", "examined", "rows"
    );
    for shape in profile.shapes.iter().take(SHAPES_SHOWN) {
        let text: String = shape.text.chars().take(SHAPE_WIDTH).collect();
        println!(
            "  {:>7}  {:>8.3}  {:>8.3}  {:>10}  {:>9}  {text}",
            shape.count,
            shape.seconds,
            shape.seconds * 1000.0 / shape.count.max(1) as f64,
            shape.rows_examined,
            shape.rows
        );
    }
    let rest = &profile.shapes[profile.shapes.len().min(SHAPES_SHOWN)..];
    if !rest.is_empty() {
        println!(
            "  {:>7}  {:>8.3}  {:>8}  {:>10}  {:>9}  ({} other shapes)",
            rest.iter().map(|s| s.count).sum::<u64>(),
            rest.iter().map(|s| s.seconds).sum::<f64>(),
            "",
            rest.iter().map(|s| s.rows_examined).sum::<u64>(),
            rest.iter().map(|s| s.rows).sum::<u64>(),
            rest.len()
        );
    }
}
