//! `nova-purge demo`: a throwaway SQLite database with sample Nova data,
//! purged twice (a dry run, then the real thing), both reports printed.

use std::io::Write;
use std::path::Path;

use purge_api::Db;
use purge_engine::database::DatabaseUrl;
use purge_engine::purge::{self, CellSelection, PurgeOptions, PurgeRequest};
use purge_engine::{Cancel, Connections, Error, Silent};
use purge_fixture::{Fixture, InstanceSpec, InstanceState};
use sqlx::sqlite::SqliteConnectOptions;

use super::registry;
use crate::cli::exit::ExitStatus;
use crate::cli::DemoArgs;
use crate::failure::Failure;
use crate::render;

/// The demo's sample instances: (uuid, state, blocked by a fixed IP).
const DEMO_INSTANCES: &[(&str, InstanceState, bool)] = &[
    (
        "00000000-0000-4000-8000-000000000001",
        InstanceState::Deleted { days_ago: 400 },
        false,
    ),
    (
        "00000000-0000-4000-8000-000000000002",
        InstanceState::Deleted { days_ago: 200 },
        false,
    ),
    (
        "00000000-0000-4000-8000-000000000003",
        InstanceState::Live,
        false,
    ),
    (
        "00000000-0000-4000-8000-000000000004",
        InstanceState::Deleted { days_ago: 120 },
        false,
    ),
    (
        "00000000-0000-4000-8000-000000000005",
        InstanceState::Deleted { days_ago: 10 },
        false,
    ),
    (
        "00000000-0000-4000-8000-000000000006",
        InstanceState::SoftDelete,
        false,
    ),
    (
        "00000000-0000-4000-8000-000000000007",
        InstanceState::Deleted { days_ago: 300 },
        true,
    ),
];

pub async fn run(args: &DemoArgs, out: &mut dyn Write) -> Result<ExitStatus, Failure> {
    let registry = registry()?;
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
            temp_dir = tempfile::Builder::new()
                .prefix("nova-purge-demo-")
                .tempdir()?;
            temp_dir.path().join("nova-demo.sqlite")
        }
    };
    let summary = create_demo_database(&path).await?;
    writeln!(out, "Demo database: {}", path.display())?;
    writeln!(out, "{summary}\n")?;
    let url = DatabaseUrl::parse(&format!("sqlite://{}", path.display()))?;
    let connections = Connections {
        cell: Some(url.clone()),
        ..Connections::default()
    };
    for dry_run in [true, false] {
        let request = PurgeRequest {
            options: PurgeOptions {
                dry_run,
                batch_size: 2,
                ..PurgeOptions::default()
            },
            cells: CellSelection::Local,
            export: None,
            jobs: 1,
        };
        writeln!(
            out,
            "$ nova-purge --database-url {} purge{} --batch-size 2",
            url.redacted(),
            if dry_run { " --dry-run" } else { " --yes" }
        )?;
        let report =
            purge::purge(&connections, &registry, &request, &Silent, &Cancel::new()).await?;
        render::purge::run_report(out, &report)?;
        writeln!(out)?;
    }
    let remaining = describe_remaining(&path).await?;
    writeln!(out, "Left in the database after the purge:\n{remaining}")?;
    Ok(ExitStatus::Done)
}

async fn open_sqlite(path: &Path, create: bool) -> Result<Db, Error> {
    let options = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(create)
        .foreign_keys(true);
    let pool = sqlx::SqlitePool::connect_with(options)
        .await
        .map_err(|e| Error::database(&format!("cannot open {}", path.display()), e))?;
    Ok(Db::Sqlite(pool))
}

/// Creates a new SQLite database at `path` with the demo's instances, and
/// says what it holds.
async fn create_demo_database(path: &Path) -> Result<String, Error> {
    let db = open_sqlite(path, true).await?;
    let fail = |e| Error::database("cannot create the demo database", e);
    let fixture = Fixture::full();
    fixture.create(&db).await.map_err(fail)?;
    let mut lines = vec!["Sample instances:".to_owned()];
    for (uuid, state, fixed_ip) in DEMO_INSTANCES {
        let spec = InstanceSpec {
            uuid: (*uuid).to_owned(),
            state: *state,
            fixed_ip: *fixed_ip,
        };
        fixture.insert_instance(&db, &spec).await.map_err(fail)?;
        let what = match state {
            InstanceState::Live => "live".to_owned(),
            InstanceState::SoftDelete => {
                "vm_state soft-delete (restorable, deleted = 0)".to_owned()
            }
            InstanceState::Deleted { days_ago } => format!("deleted {days_ago} days ago"),
        };
        let blocked = if *fixed_ip {
            ", still holds a legacy fixed_ips row"
        } else {
            ""
        };
        lines.push(format!("  {uuid}  {what}{blocked}"));
    }
    db.close().await;
    Ok(lines.join("\n"))
}

/// Rows per table and the instances left, for the end of the demo.
async fn describe_remaining(path: &Path) -> Result<String, Error> {
    let db = open_sqlite(path, false).await?;
    let fail = |e| Error::database("cannot read the demo database", e);
    let mut tx = db.begin_read().await.map_err(fail)?;
    let mut stmt = tx.stmt();
    stmt.push("SELECT uuid, vm_state, deleted FROM instances ORDER BY id");
    let mut lines = Vec::new();
    for row in tx.fetch_all(&stmt).await.map_err(fail)? {
        let text: Vec<String> = row
            .iter()
            .map(|v| v.to_text().unwrap_or_default())
            .collect();
        lines.push(format!(
            "  instance {}  vm_state={} deleted={}",
            text[0], text[1], text[2]
        ));
    }
    tx.rollback().await.map_err(fail)?;
    db.close().await;
    Ok(lines.join("\n"))
}
