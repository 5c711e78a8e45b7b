//! A whole purge run: one cell database given directly, or every cell (or
//! some) listed in the API database, each purged in turn, with the API rows
//! of purged instances removed after each batch.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Mutex;

use purge_api::{DatabaseKind, Registry, Scope};
use serde::Serialize;
use tracing::{info, warn};

use super::api_database::{ApiDatabase, CellMapping};
use super::engine::{ApiCleanup, Engine};
use super::findings::{findings, FindingKind};
use super::options::PurgeOptions;
use super::pacing::Pacer;
use super::plan::Plan;
use super::report::{Report, SkippedTargetReport};
use super::rows::engine::RowEngine;
use super::rows::plan::RowsPlan;
use super::sizing::BatchSizer;
use crate::connections::Connections;
use crate::control::{Cancel, Observer};
use crate::database::schema::Schema;
use crate::database::url::{Access, DatabaseUrl};
use crate::error::Error;
use crate::export::record::Place;
use crate::export::writer::{Export, Recorder, SharedExport};

/// Which cell databases a run purges.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CellSelection {
    /// The local cell database (`--database-url`, `[database]/connection`),
    /// with its API rows when the API database lists it.
    Local,
    /// Every cell of the API database's `cell_mappings`, cell0 included.
    All,
    /// The cells of `cell_mappings` with these names or uuids.
    Named(Vec<String>),
}

/// A purge run, as plain values.
#[derive(Debug, Clone)]
pub struct PurgeRequest {
    pub options: PurgeOptions,
    pub cells: CellSelection,
    /// Write every deleted row to this new file before each commit.
    pub export: Option<PathBuf>,
}

/// One cell's part of a multi-cell report.
#[derive(Debug, Clone, Serialize)]
pub struct CellReport {
    pub name: Option<String>,
    pub uuid: Option<String>,
    /// Why this cell could not be purged (null when it was).
    pub error: Option<String>,
    #[serde(flatten)]
    pub report: Report,
}

/// The whole run: totals at the top level, as for one database, plus a
/// section per cell.
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    #[serde(flatten)]
    pub total: Report,
    pub cells: Vec<CellReport>,
}

/// Runs a purge: creates the export (before anything is read, so that a
/// name that is taken stops the run at once), then purges the selected
/// cells. `observer` hears of progress and is asked to confirm before the
/// first delete; `cancel` stops the run after the batch in flight.
pub async fn purge(
    connections: &Connections,
    registry: &Registry,
    request: &PurgeRequest,
    observer: &dyn Observer,
    cancel: &Cancel,
) -> Result<RunReport, Error> {
    let export = request
        .export
        .as_deref()
        .map(Export::prepare)
        .transpose()?
        .map(Mutex::new);
    let run = Run {
        registry,
        options: &request.options,
        export: export.as_ref(),
        observer,
        cancel,
        replicas: &connections.replicas,
    };
    match &request.cells {
        CellSelection::Local => purge_local_cell(connections, &run).await,
        selection => purge_cells(connections, &run, selection).await,
    }
}

/// What every database of a run shares.
struct Run<'a> {
    registry: &'a Registry,
    options: &'a PurgeOptions,
    export: Option<&'a SharedExport>,
    observer: &'a dyn Observer,
    cancel: &'a Cancel,
    /// Replicas of the local cell database, to watch while purging it.
    replicas: &'a [DatabaseUrl],
}

/// `--database-url` (or `[database]/connection`) alone, with the API rows
/// cleaned when an API database is known and lists this cell.
async fn purge_local_cell(connections: &Connections, run: &Run<'_>) -> Result<RunReport, Error> {
    let registry = run.registry;
    let url = connections.cell.as_ref().ok_or_else(|| {
        Error::Input(
            "no cell database given; pass --database-url (or set NOVA_PURGE_DATABASE_URL), --config-file with [database]/connection, or --all-cells"
                .to_owned(),
        )
    })?;
    let api = match &connections.api {
        Some(api_url) => {
            Some(ApiDatabase::open(api_url.clone(), registry, access(run.options)).await?)
        }
        None => None,
    };
    let result = async {
        let mapping = match &api {
            Some(api) => own_cell(api, connections, url).await?,
            None => None,
        };
        if api.is_some() && mapping.is_none() {
            warn!(
                "no cell in the API database's cell_mappings has this database; its API rows will not be cleaned (use --all-cells or --cell)"
            );
        }
        let cleanup = api.as_ref().zip(mapping.as_ref()).map(|(api, mapping)| ApiCleanup {
            api,
            cell_id: mapping.id,
        });
        let report = purge_database(url, run, Confirm::Database, cleanup, mapping.as_ref()).await?;
        Ok(RunReport {
            total: report.clone(),
            cells: vec![CellReport {
                name: mapping.as_ref().and_then(|m| m.name.clone()),
                uuid: mapping.map(|m| m.uuid),
                error: None,
                report,
            }],
        })
    }
    .await;
    if let Some(api) = api {
        api.close().await;
    }
    result
}

/// The cell mapping whose database is `url`, if the API database lists it.
async fn own_cell(
    api: &ApiDatabase,
    connections: &Connections,
    url: &DatabaseUrl,
) -> Result<Option<CellMapping>, Error> {
    Ok(api.cell_mappings().await?.into_iter().find(|mapping| {
        mapping
            .url(connections)
            .is_ok_and(|cell| cell.same_database(url))
    }))
}

/// `--all-cells` or `--cell`: every selected cell of the API database in
/// turn. A cell that fails is reported and the others go on.
async fn purge_cells(
    connections: &Connections,
    run: &Run<'_>,
    selection: &CellSelection,
) -> Result<RunReport, Error> {
    let Run {
        registry, options, ..
    } = *run;
    let api_url = connections.api.as_ref().ok_or_else(|| {
        Error::Input(
            "--all-cells and --cell need the API database; pass --api-database-url or --config-file with [api_database]/connection"
                .to_owned(),
        )
    })?;
    let api = ApiDatabase::open(api_url.clone(), registry, access(options)).await?;
    let result = async {
        let cells = select_cells(api.cell_mappings().await?, selection)?;
        if !options.dry_run {
            let names: Vec<&str> = cells.iter().map(CellMapping::label).collect();
            run.observer.confirm(&format!("cells {}", names.join(", ")))?;
        }
        let mut report = RunReport {
            total: Report::empty(api.url.redacted(), options),
            cells: Vec::new(),
        };
        for mapping in cells {
            if run.cancel.is_cancelled() {
                report.total.interrupted = true;
                break;
            }
            let remaining = PurgeOptions {
                max_number: options
                    .max_number
                    .map(|max| max.saturating_sub(report.total.instances)),
                ..options.clone()
            };
            info!(cell = mapping.label(), "purging cell");
            let outcome = match mapping.url(connections) {
                Ok(url) => {
                    let cell_run = Run {
                        options: &remaining,
                        replicas: replicas_of(connections, &url),
                        ..*run
                    };
                    let cleanup = ApiCleanup {
                        api: &api,
                        cell_id: mapping.id,
                    };
                    purge_database(&url, &cell_run, Confirm::Done, Some(cleanup), Some(&mapping))
                        .await
                }
                Err(failure) => Err(failure),
            };
            let cell = match outcome {
                Ok(cell_report) => {
                    report.total.merge(&cell_report);
                    CellReport {
                        name: mapping.name.clone(),
                        uuid: Some(mapping.uuid.clone()),
                        error: None,
                        report: cell_report,
                    }
                }
                Err(failure) => {
                    warn!(cell = mapping.label(), error = %failure, "cell failed; going on with the others");
                    CellReport {
                        name: mapping.name.clone(),
                        uuid: Some(mapping.uuid.clone()),
                        error: Some(failure.to_string()),
                        report: Report::empty(String::new(), options),
                    }
                }
            };
            report.cells.push(cell);
        }
        Ok(report)
    }
    .await;
    api.close().await;
    result
}

/// The replicas given (`--replica-url`, `[database]/slave_connection`) are
/// those of the local cell database: watched while purging that cell only.
fn replicas_of<'a>(connections: &'a Connections, cell: &DatabaseUrl) -> &'a [DatabaseUrl] {
    match &connections.cell {
        Some(local) if local.same_database(cell) => &connections.replicas,
        _ => &[],
    }
}

/// The cells a selection names, in id order.
fn select_cells(
    mappings: Vec<CellMapping>,
    selection: &CellSelection,
) -> Result<Vec<CellMapping>, Error> {
    let wanted = match selection {
        CellSelection::Named(wanted) => wanted,
        CellSelection::All | CellSelection::Local => return Ok(mappings),
    };
    let matches = |mapping: &CellMapping, name: &str| {
        mapping.uuid == name || mapping.name.as_deref() == Some(name)
    };
    if let Some(unknown) = wanted
        .iter()
        .find(|name| !mappings.iter().any(|m| matches(m, name)))
    {
        let known: Vec<&str> = mappings.iter().map(CellMapping::label).collect();
        return Err(Error::Input(format!(
            "no cell named `{unknown}` in the API database; known cells: {}",
            known.join(", ")
        )));
    }
    Ok(mappings
        .into_iter()
        .filter(|m| wanted.iter().any(|name| matches(m, name)))
        .collect())
}

/// A dry run only reads; a real run deletes, and must reach a writable
/// primary.
fn access(options: &PurgeOptions) -> Access {
    if options.dry_run {
        Access::Read
    } else {
        Access::Write
    }
}

/// Whether a database still needs the observer's confirmation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Confirm {
    /// Ask, naming this database, once it is known to be a Nova cell.
    Database,
    /// Already confirmed for the whole run.
    Done,
}

/// Connects, checks that the database is a Nova cell database, asks for
/// confirmation where needed, logs what `check` would say, and purges.
async fn purge_database(
    url: &DatabaseUrl,
    run: &Run<'_>,
    confirm: Confirm,
    api: Option<ApiCleanup<'_>>,
    mapping: Option<&CellMapping>,
) -> Result<Report, Error> {
    let Run {
        registry,
        options,
        export,
        observer,
        cancel,
        replicas,
    } = *run;
    let (db, facts) = url.open(access(options)).await?;
    let write_set_rows = facts.galera.as_ref().map(|g| g.max_ws_rows);
    let result = async {
        let pacer = Pacer::prepare(&db, &facts, options, replicas).await?;
        let schema = Schema::inspect(&db).await?;
        schema.require_nova_cell()?;
        if !options.dry_run && confirm == Confirm::Database {
            observer.confirm(&url.redacted())?;
        }
        let plan = Plan::new(registry, &schema, db.backend(), DatabaseKind::Cell);
        for finding in findings(&schema, &plan, db.backend()) {
            match finding.kind {
                FindingKind::UncoveredTable | FindingKind::LinkType => {
                    warn!("{}", finding.message)
                }
                _ => info!("{}", finding.message),
            }
        }
        let recorder = export.map(|export| Recorder {
            export,
            place: Place {
                database: DatabaseKind::Cell.into(),
                cell: mapping.and_then(|m| m.name.clone()),
                cell_uuid: mapping.map(|m| m.uuid.clone()),
                backend: Some(url.backend().name().to_owned()),
                name: Some(url.database_name(&schema)),
            },
        });
        let mut instances_gone = HashSet::new();
        let mut report = if options.scopes.contains(&Scope::Instances) {
            let mut engine = Engine::new(&db, &plan, options)
                .with_control(observer, cancel.clone())
                .with_write_set_limit(write_set_rows)
                .with_pacer(&pacer);
            if let Some(api) = api {
                engine = engine.with_api(api);
            }
            if let Some(recorder) = recorder.clone() {
                engine = engine.with_export(recorder);
            }
            let report = engine.run(url.redacted()).await?;
            instances_gone = engine.dry_run_purged();
            report
        } else {
            Report::empty(url.redacted(), options)
        };
        if options.scopes.iter().any(|s| *s != Scope::Instances) {
            let rows_plan = RowsPlan::new(registry, &schema, &options.scopes);
            for table in &rows_plan.uncovered {
                info!(%table, "a table with a deleted column that no purge target covers: its soft-deleted rows stay");
            }
            let engine = RowEngine {
                db: &db,
                plan: &rows_plan,
                options,
                capture: plan.capture,
                recorder,
                cancel: cancel.clone(),
                sizer: BatchSizer::new(options.batch_size, write_set_rows, 1.0)
                    .with_target(options.batch_time),
                pacer: &pacer,
                instances_gone,
                dry_deleted: Default::default(),
            };
            for (scope, figures) in engine.run().await? {
                report.more_remaining |= figures.more_remaining;
                report.paused_ms += figures.paused_ms;
                report.scopes.insert(scope.name(), figures);
            }
            report.skipped_targets.extend(rows_plan.skipped.iter().map(|s| SkippedTargetReport {
                name: s.name.to_owned(),
                table: s.table.to_owned(),
                reason: s.reason.clone(),
            }));
            report.interrupted |= cancel.is_cancelled();
        }
        Ok(report)
    }
    .await;
    db.close().await;
    result
}
