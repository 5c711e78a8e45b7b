//! The subcommands: each turns parsed arguments into work and a report.

use std::io::{self, Write};
use std::process::ExitCode;

use purge_api::Registry;
use serde::Serialize;

use crate::check;
use crate::cli::{CheckArgs, DemoArgs, Format, PurgeArgs, TargetsArgs};
use crate::connect::DatabaseUrl;
use crate::engine::{cutoff_for, Pacing, PurgeOptions};
use crate::error::{exit_code, Failure};
use crate::fixture;
use crate::purge::{purge_database, Connections, Run};

pub fn load_registry() -> Result<Registry, Failure> {
    Registry::load()
        .map_err(|e| Failure::Database(format!("the purge target registry is invalid: {e}")))
}

fn cutoff(older_than: u32) -> Result<chrono::NaiveDateTime, Failure> {
    cutoff_for(older_than).ok_or_else(|| {
        Failure::Usage(format!(
            "--older-than {older_than} reaches before the earliest date the database can store; use at most 36500"
        ))
    })
}

pub async fn purge(
    connections: &Connections,
    args: &PurgeArgs,
    pacing: Pacing,
    out: &mut dyn Write,
) -> Result<ExitCode, Failure> {
    let registry = load_registry()?;
    let options = PurgeOptions {
        older_than_days: args.older_than,
        cutoff: cutoff(args.older_than)?,
        dry_run: args.dry_run,
        max_number: args.max_number,
        batch_size: usize::try_from(args.batch_size).expect("clap bounds --batch-size"),
    };
    crate::purge::purge(connections, &registry, args, &options, pacing, out).await
}

pub async fn check(
    connections: &Connections,
    args: &CheckArgs,
    out: &mut dyn Write,
) -> Result<ExitCode, Failure> {
    let registry = load_registry()?;
    let url = connections.cell.as_ref().ok_or_else(|| {
        Failure::Usage(
            "no cell database given; pass --database-url (or set NOVA_PURGE_DATABASE_URL) or --config-file with [database]/connection".to_owned(),
        )
    })?;
    let options = PurgeOptions {
        older_than_days: args.older_than,
        cutoff: cutoff(args.older_than)?,
        dry_run: true,
        max_number: None,
        batch_size: usize::try_from(crate::cli::DEFAULT_BATCH_SIZE).expect("small"),
    };
    let db = url.connect().await?;
    let report = check::check(&db, url.redacted(), &registry, &options).await;
    db.close().await;
    let report = report?;
    match args.format {
        Format::Json => report.write_json(out)?,
        Format::Text => report.write_text(out)?,
    }
    Ok(ExitCode::from(report.exit_code()))
}

#[derive(Serialize)]
struct TargetListing {
    name: &'static str,
    table: &'static str,
    database: &'static str,
    link: String,
    before: &'static [&'static str],
    defined_at: String,
    file: String,
}

pub fn targets(args: &TargetsArgs, out: &mut dyn Write) -> Result<ExitCode, Failure> {
    let registry = load_registry()?;
    let listing: Vec<TargetListing> = registry
        .iter()
        .map(|r| TargetListing {
            name: r.target.name(),
            table: r.target.table(),
            database: r.target.database().name(),
            link: r.target.link().describe(),
            before: r.before,
            defined_at: format!("{}:{}", r.defined_at.module, r.defined_at.line),
            file: r.defined_at.short_file().to_owned(),
        })
        .collect();
    match args.format {
        Format::Json => {
            serde_json::to_writer_pretty(&mut *out, &listing).map_err(io::Error::from)?;
            writeln!(out)?;
        }
        Format::Text => {
            let rows: Vec<[String; 6]> = listing
                .iter()
                .enumerate()
                .map(|(i, t)| {
                    [
                        (i + 1).to_string(),
                        t.name.to_owned(),
                        t.table.to_owned(),
                        t.database.to_owned(),
                        t.link.clone(),
                        t.defined_at.clone(),
                    ]
                })
                .collect();
            let header = ["#", "NAME", "TABLE", "DB", "LINK", "DEFINED AT"].map(str::to_owned);
            write_columns(out, &header, &rows)?;
        }
    }
    Ok(ExitCode::from(exit_code::DONE))
}

/// Writes rows as left-aligned columns separated by two spaces.
fn write_columns<const N: usize>(
    out: &mut dyn Write,
    header: &[String; N],
    rows: &[[String; N]],
) -> io::Result<()> {
    let widths: [usize; N] = std::array::from_fn(|i| {
        rows.iter()
            .chain(std::iter::once(header))
            .map(|row| row[i].len())
            .max()
            .unwrap_or(0)
    });
    for row in std::iter::once(header).chain(rows) {
        let cells: Vec<String> = row
            .iter()
            .zip(widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        writeln!(out, "{}", cells.join("  ").trim_end())?;
    }
    Ok(())
}

/// Builds a SQLite database with sample Nova data and purges it twice: a
/// dry run, then the real thing, printing both reports.
pub async fn demo(args: &DemoArgs, out: &mut dyn Write) -> Result<ExitCode, Failure> {
    let registry = load_registry()?;
    let temp_dir;
    let path = match &args.keep {
        Some(path) => {
            if path.exists() {
                return Err(Failure::Usage(format!(
                    "{} already exists; give --keep a new file name",
                    path.display()
                )));
            }
            path.clone()
        }
        None => {
            temp_dir = TempDir::new()?;
            temp_dir.0.join("nova-demo.sqlite")
        }
    };
    let summary = fixture::create_demo_database(&path).await?;
    writeln!(out, "Demo database: {}", path.display())?;
    writeln!(out, "{summary}\n")?;
    let url = DatabaseUrl::parse(&format!("sqlite://{}", path.display()))?;
    for dry_run in [true, false] {
        let options = PurgeOptions {
            older_than_days: 90,
            cutoff: cutoff_for(90).expect("90 days is in range"),
            dry_run,
            max_number: None,
            batch_size: 2,
        };
        writeln!(
            out,
            "$ nova-purge --database-url {} purge{} --batch-size 2",
            url.redacted(),
            if dry_run { " --dry-run" } else { " --yes" }
        )?;
        let pacing = Pacing::default();
        let run = Run {
            registry: &registry,
            options: &options,
            pacing: &pacing,
            export: None,
        };
        purge_database(&url, &run, true, None, None)
            .await?
            .write_text(out)?;
        writeln!(out)?;
    }
    let remaining = fixture::describe_remaining(&path).await?;
    writeln!(out, "Left in the database after the purge:\n{remaining}")?;
    Ok(ExitCode::from(exit_code::DONE))
}

/// A directory removed when dropped.
struct TempDir(std::path::PathBuf);

impl TempDir {
    fn new() -> io::Result<TempDir> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let path =
            std::env::temp_dir().join(format!("nova-purge-demo-{}-{nanos}", std::process::id()));
        std::fs::create_dir(&path)?;
        Ok(TempDir(path))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
