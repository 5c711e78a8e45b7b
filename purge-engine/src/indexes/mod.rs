//! `nova-purge create-indexes`: creates the indexes whose absence `check`
//! reports (its `missing-index` findings, not a second opinion), without
//! blocking Nova's writes, on the cell database or on each selected cell.
//! Opt-in and on its own: `purge` never changes the schema.
//!
//! Two passes, so that a refusal creates nothing anywhere: every database
//! is read first ([`plan`]: what it lacks and what holds the names; how it
//! would be built, [`method`], a Galera node being refused unless the
//! operator chose RSU); then, once confirmed, each index is built on one
//! connection of its database ([`apply`]).

mod apply;
mod method;
mod plan;
mod report;
mod target;

use std::time::Duration;

use purge_api::Registry;

use crate::connections::Connections;
use crate::control::{Cancel, Observer};
use crate::database::url::Access;
use crate::error::Error;
use crate::purge::api_database::{select_cells, ApiDatabase};
use crate::purge::CellSelection;
pub use method::Method;
pub use report::{DatabaseIndexes, IndexReport, IndexesReport, Outcome};
use target::{unreadable, Target};

/// What `create-indexes` is asked to do.
#[derive(Debug, Clone)]
pub struct IndexRequest {
    /// The local cell database, or cells of the API database.
    pub cells: CellSelection,
    /// Read and report the statements; change nothing.
    pub dry_run: bool,
    /// How long a statement may wait for a lock before it gives up.
    pub lock_timeout: Duration,
    /// Build on a Galera node with `wsrep_OSU_method = 'RSU'` (this node
    /// only) instead of refusing.
    pub galera_rsu: bool,
}

/// One database of the run, in the order of the report.
enum Entry {
    Read(Target),
    Unreadable(DatabaseIndexes),
}

/// Creates (or, in a dry run, lists) the missing indexes. `observer` is
/// asked to confirm before the first one; `cancel` stops the run between
/// two indexes.
pub async fn create_indexes(
    connections: &Connections,
    registry: &Registry,
    request: &IndexRequest,
    observer: &dyn Observer,
    cancel: &Cancel,
) -> Result<IndexesReport, Error> {
    let (entries, what) = read(connections, registry, request).await?;
    let result = build(&entries, &what, request, observer, cancel).await;
    for entry in &entries {
        if let Entry::Read(target) = entry {
            target.db.close().await;
        }
    }
    result
}

/// The first pass: every selected database, read. A single database that
/// cannot be read fails the command; with several cells, the others go on.
async fn read(
    connections: &Connections,
    registry: &Registry,
    request: &IndexRequest,
) -> Result<(Vec<Entry>, String), Error> {
    let access = if request.dry_run {
        Access::Read
    } else {
        Access::Write
    };
    if request.cells == CellSelection::Local {
        let url = connections.cell.clone().ok_or_else(|| {
            Error::Input(
                "no cell database given; pass --database-url (or set NOVA_PURGE_DATABASE_URL), --config-file with [database]/connection, or --all-cells".to_owned(),
            )
        })?;
        let what = url.redacted();
        let target = Target::read(url, None, registry, access, request.galera_rsu).await?;
        return Ok((vec![Entry::Read(target)], what));
    }
    let api_url = connections.api.clone().ok_or_else(|| {
        Error::Input(
            "--all-cells and --cell need the API database; pass --api-database-url or --config-file with [api_database]/connection".to_owned(),
        )
    })?;
    let api = ApiDatabase::open(api_url, registry, Access::Read).await?;
    let mappings = api.cell_mappings().await;
    api.close().await;
    let cells = select_cells(mappings?, &request.cells)?;
    let labels: Vec<&str> = cells.iter().map(|c| c.label()).collect();
    let what = format!("cells {}", labels.join(", "));
    let mut entries = Vec::new();
    for cell in cells {
        let (url, read) = match cell.url(connections) {
            Ok(url) => {
                let read = Target::read(
                    url.clone(),
                    Some(cell.clone()),
                    registry,
                    access,
                    request.galera_rsu,
                );
                (Some(url), read.await)
            }
            Err(err) => (None, Err(err)),
        };
        entries.push(match read {
            Ok(target) => Entry::Read(target),
            Err(err) => {
                tracing::warn!(cell = cell.label(), error = %err, "cell cannot be read; going on with the others");
                Entry::Unreadable(unreadable(url.as_ref(), &cell, &err))
            }
        });
    }
    Ok((entries, what))
}

/// The second pass: refuse, confirm, then build database by database.
async fn build(
    entries: &[Entry],
    what: &str,
    request: &IndexRequest,
    observer: &dyn Observer,
    cancel: &Cancel,
) -> Result<IndexesReport, Error> {
    let targets = || {
        entries.iter().filter_map(|entry| match entry {
            Entry::Read(target) => Some(target),
            Entry::Unreadable(_) => None,
        })
    };
    if let Some(refusal) = targets().find_map(Target::refusal) {
        return Err(refusal);
    }
    let statements: Vec<String> = targets()
        .flat_map(|target| {
            target
                .wanted
                .iter()
                .flat_map(|wanted| wanted.statements(target.db.backend()))
        })
        .map(|statement| statement.sql().to_owned())
        .collect();
    if !request.dry_run && !statements.is_empty() {
        observer.confirm_indexes(what, &statements)?;
    }
    let mut report = IndexesReport {
        dry_run: request.dry_run,
        interrupted: false,
        databases: Vec::new(),
    };
    for entry in entries {
        if cancel.is_cancelled() {
            report.interrupted = true;
            break;
        }
        match entry {
            Entry::Read(target) => build_database(target, request, cancel, &mut report).await,
            Entry::Unreadable(section) => report.databases.push(section.clone()),
        }
    }
    Ok(report)
}

/// One database's indexes, on one connection, in table order.
async fn build_database(
    target: &Target,
    request: &IndexRequest,
    cancel: &Cancel,
    report: &mut IndexesReport,
) {
    let mut section = target.section(request.lock_timeout);
    let method = match target.method {
        Ok(method) if !request.dry_run && target.has_work() => method,
        _ => {
            section.indexes = target
                .wanted
                .iter()
                .map(|wanted| apply::predict(&target.db, wanted))
                .collect();
            report.databases.push(section);
            return;
        }
    };
    match apply::session(&target.db, method, request.lock_timeout).await {
        Ok(mut session) => {
            for wanted in &target.wanted {
                // Between two indexes: a database begun has one attempted.
                if !section.indexes.is_empty() && cancel.is_cancelled() {
                    report.interrupted = true;
                    break;
                }
                let built = apply::build(&mut session, &target.db, wanted, request.lock_timeout);
                section.indexes.push(built.await);
            }
        }
        Err(err) => section.error = Some(err.to_string()),
    }
    report.databases.push(section);
}
