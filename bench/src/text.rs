//! The human report on stdout: what ran, a table with one line per run and
//! per median (each cell taken from a [`Measurement`] by its column), the
//! server work, the floor's slowest statements, and the checks.

use purge_api::{Backend, Scope};

use crate::results::{Measurement, Results};
use crate::{probe_report, stats};

/// The columns of the table: the header, and how a line fills the cell.
type Column = (&'static str, fn(&Measurement) -> String);

const COLUMNS: &[Column] = &[
    ("run", |m| m.label.clone()),
    ("round", |m| {
        m.round.map_or("median".to_owned(), |r| r.to_string())
    }),
    ("wall s", |m| format!("{:.2}", m.wall_seconds)),
    ("engine s", |m| {
        or_dash(m.engine_seconds, |s| format!("{s:.2}"))
    }),
    ("client cpu s", |m| {
        or_dash(m.client_cpu_seconds, |s| format!("{s:.2}"))
    }),
    ("instances/s", |m| {
        or_dash(m.instances_per_second, thousands)
    }),
    ("rows/s", |m| thousands(m.rows_per_second)),
    ("us/row", |m| format!("{:.1}", m.microseconds_per_row)),
    ("peak RSS", |m| {
        or_dash(m.peak_rss_kib, |kib| {
            format!("{}{:.1} MiB", max(m), kib as f64 / 1024.0)
        })
    }),
    ("batches", |m| or_dash(m.batches, |n| n.to_string())),
    ("longest batch", |m| {
        or_dash(m.max_batch_ms, |ms| format!("{}{ms} ms", max(m)))
    }),
    ("vs floor", |m| {
        or_dash(m.ratio_to_floor, |r| format!("{r:.2}x"))
    }),
    ("load before/after", |m| {
        or_dash(m.load_average, |[a, b]| format!("{a:.1}/{b:.1}"))
    }),
];

fn or_dash<T>(value: Option<T>, format: impl FnOnce(T) -> String) -> String {
    value.map_or("-".to_owned(), format)
}

/// A median's peak figures are the largest of its runs.
fn max(m: &Measurement) -> &'static str {
    if m.is_median() {
        "max "
    } else {
        ""
    }
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

/// Prints the table: the first column left-aligned, the others right.
fn print_table(lines: &[&Measurement]) {
    let rows: Vec<Vec<String>> = std::iter::once(
        COLUMNS
            .iter()
            .map(|(header, _)| (*header).to_owned())
            .collect::<Vec<_>>(),
    )
    .chain(
        lines
            .iter()
            .map(|m| COLUMNS.iter().map(|(_, cell)| cell(m)).collect()),
    )
    .collect();
    for line in aligned(&rows, 1) {
        println!("{line}");
    }
}

/// `rows` as lines of columns as wide as their widest cell, the first
/// `left` columns aligned left (names), the rest right (figures).
pub fn aligned(rows: &[Vec<String>], left: usize) -> Vec<String> {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|i| {
            rows.iter()
                .filter_map(|r| r.get(i))
                .map(String::len)
                .max()
                .unwrap_or(0)
        })
        .collect();
    rows.iter()
        .map(|row| {
            let cells: Vec<String> = row
                .iter()
                .zip(&widths)
                .enumerate()
                .map(|(i, (c, &w))| {
                    if i < left {
                        format!("{c:<w$}")
                    } else {
                        format!("{c:>w$}")
                    }
                })
                .collect();
            cells.join("  ").trim_end().to_owned()
        })
        .collect()
}

pub fn print(results: &Results) {
    let setup = &results.setup;
    let what = match setup.scope {
        Scope::Instances => format!(
            "{} deleted + {} live instances",
            thousands(setup.deleted as f64),
            thousands(setup.live as f64)
        ),
        scope => format!(
            "--scope {}, {} old rows to delete + {} rows to leave{}",
            scope.name(),
            thousands(setup.deleted as f64),
            thousands(setup.live as f64),
            if scope == Scope::Rows {
                format!(
                    " ({} of them old but held by a row that stays)",
                    thousands(setup.held_rows as f64)
                )
            } else {
                String::new()
            }
        ),
    };
    println!(
        "nova-purge benchmark: {}, {what} ({} rows to delete{})",
        setup.version,
        thousands(setup.rows_to_delete as f64),
        if setup.add_missing_indexes {
            "; EXPERIMENT: indexes added on instance_actions_events.action_id and migrations.instance_uuid"
        } else {
            ""
        }
    );
    println!("nova-purge binary: {}", setup.binary);
    let fills: Vec<_> = results
        .purges
        .iter()
        .map(|p| &p.outcome.fill)
        .chain(results.floors.iter().map(|f| &f.outcome.fill))
        .collect();
    if let Some(first) = fills.first() {
        let times: Vec<String> = fills
            .iter()
            .map(|f| format!("{:.1}", f.elapsed.as_secs_f64()))
            .collect();
        println!(
            "fill: {} rows per copy; seconds per copy: {}",
            thousands(first.rows as f64),
            times.join(", ")
        );
    }
    println!();
    let mut lines: Vec<&Measurement> = results
        .floors
        .iter()
        .map(|f| &f.measurement)
        .chain(results.purges.iter().map(|p| &p.measurement))
        .collect();
    if results.repeated() {
        lines.extend(&results.floor_median);
        lines.extend(results.medians.iter().map(|m| &m.measurement));
    }
    print_table(&lines);
    println!();
    println!(
        "wall: spawn to exit of nova-purge (connect, schema inspection, all batches), or BEGIN to COMMIT of the floor;"
    );
    println!("engine: nova-purge's own elapsed_ms; vs floor: wall / floor wall of the same round (medians: median / median).");
    if setup.scope != Scope::Instances {
        println!(
            "longest batch: the longest `batch done` of nova-purge's log (its report has no batch times for this scope)."
        );
    }
    if setup.backend != Backend::Sqlite {
        println!("server work during each run:");
        for f in &results.floors {
            println!(
                "  floor (round {}): {}",
                f.outcome.round,
                stats::summary(setup.backend, &f.outcome.server)
            );
        }
        for p in &results.purges {
            println!(
                "  {} (round {}): {}",
                p.measurement.label,
                p.outcome.round,
                stats::summary(setup.backend, &p.outcome.server)
            );
        }
    }
    crate::text_schema::print(results);
    if let Some(f) = results.floors.first() {
        let mut t = f.outcome.work.tables.clone();
        t.sort_by_key(|entry| std::cmp::Reverse(entry.2));
        let slowest: Vec<String> = t
            .iter()
            .take(4)
            .map(|(table, _, d)| format!("{table} {:.2} s", d.as_secs_f64()))
            .collect();
        println!("floor, slowest statements: {}", slowest.join(", "));
    }
    probe_report::print(results);
    println!();
    let what = if setup.content {
        "row count, id min/max/sum, hash of every row"
    } else {
        "row count, id min/max/sum"
    };
    for c in &results.comparisons {
        if c.differences.is_empty() {
            println!(
                "check: {} leaves exactly what {} leaves ({what}, every table)",
                c.left, c.right
            );
        } else {
            println!("check: MISMATCH between {} and {}:", c.left, c.right);
            for d in &c.differences {
                println!("  {d}");
            }
        }
    }
    let problems: Vec<&String> = results
        .purges
        .iter()
        .flat_map(|p| &p.outcome.problems)
        .chain(results.floors.iter().flat_map(|f| &f.outcome.problems))
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
