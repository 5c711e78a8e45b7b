//! A whole purge run: one cell database given directly, or every cell (or
//! some) listed in the API database, up to `--jobs` of them at once but
//! never two on one server (see [`super::schedule`]), with the API rows of
//! purged instances removed after each batch. Whatever order the cells end
//! in, the report lists them in cell_mappings order and adds up their
//! totals in that order, as a run of one cell at a time does.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Instant;

use purge_api::{DatabaseKind, Registry, Scope};
use serde::Serialize;
use tracing::{info, info_span, warn, Instrument};

use super::api_database::{select_cells, ApiDatabase, CellMapping};
use super::budget::Budgets;
use super::engine::{ApiCleanup, Engine};
use super::findings::{findings, FindingKind};
use super::options::PurgeOptions;
use super::pacing::Pacer;
use super::plan::Plan;
use super::progress::RunProgress;
use super::report::{Report, SkippedTargetReport};
use super::rows::engine::RowEngine;
use super::rows::plan::RowsPlan;
use super::schedule::{self, Job};
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
    /// With several cells, how many are purged at once, at most; never two
    /// on one database server. 1 purges them in turn.
    pub jobs: usize,
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
    let budgets = Budgets::new(request.options.max_number);
    let run = Run {
        registry,
        options: &request.options,
        export: export.as_ref(),
        budgets: &budgets,
        observer,
        cancel,
        replicas: &connections.replicas,
    };
    match &request.cells {
        CellSelection::Local => purge_local_cell(connections, &run).await,
        selection => purge_cells(connections, &run, selection, request.jobs).await,
    }
}

/// What every database of a run shares.
#[derive(Clone, Copy)]
struct Run<'a> {
    registry: &'a Registry,
    options: &'a PurgeOptions,
    export: Option<&'a SharedExport>,
    /// `--max-number`, which every cell draws from.
    budgets: &'a Budgets,
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

/// `--all-cells` or `--cell`: every selected cell of the API database, up
/// to `jobs` at once. A cell that fails is reported and the others go on.
async fn purge_cells(
    connections: &Connections,
    run: &Run<'_>,
    selection: &CellSelection,
    jobs: usize,
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
            run.observer
                .confirm(&format!("cells {}", names.join(", ")))?;
        }
        let started = Instant::now();
        let outcomes = purge_each(connections, run, &api, &cells, jobs).await;
        let mut report = RunReport {
            total: Report::empty(api.url.redacted(), options),
            cells: Vec::new(),
        };
        for (mapping, outcome) in cells.iter().zip(outcomes) {
            let Some(outcome) = outcome else {
                // Never started: Ctrl-C came first.
                report.total.interrupted = true;
                continue;
            };
            let (report_of_cell, error) = match outcome {
                Ok(cell_report) => {
                    report.total.merge(&cell_report);
                    (cell_report, None)
                }
                Err(failure) => (
                    Report::empty(String::new(), options),
                    Some(failure.to_string()),
                ),
            };
            report.cells.push(CellReport {
                name: mapping.name.clone(),
                uuid: Some(mapping.uuid.clone()),
                error,
                report: report_of_cell,
            });
        }
        // Wall time: with cells at once, the sum of theirs would overstate it.
        report.total.elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        Ok(report)
    }
    .await;
    api.close().await;
    result
}

/// Purges `cells`, up to `jobs` at once and never two on one server, and
/// returns each one's outcome in their order; `None` for a cell that never
/// started because the run was cancelled. With more than one at once,
/// progress is the run's, not a cell's (see [`RunProgress`]).
async fn purge_each(
    connections: &Connections,
    run: &Run<'_>,
    api: &ApiDatabase,
    cells: &[CellMapping],
    jobs: usize,
) -> Vec<Option<Result<Report, Error>>> {
    let together = (jobs > 1 && cells.len() > 1)
        .then(|| RunProgress::start(run.observer, cells.len(), run.options.dry_run));
    let cell_progress: Vec<_> = (0..cells.len())
        .map(|index| together.as_ref().map(|whole| whole.cell(index)))
        .collect();
    let work = cells
        .iter()
        .zip(&cell_progress)
        .map(|(mapping, progress)| {
            let span = info_span!("cell", cell = %mapping.label());
            let url = span.in_scope(|| mapping.url(connections));
            let observer: &dyn Observer = match progress {
                Some(progress) => progress,
                None => run.observer,
            };
            let cell_run = Run {
                observer,
                replicas: url
                    .as_ref()
                    .map_or(&[], |url| replicas_of(connections, url)),
                ..*run
            };
            Job {
                server: url.as_ref().ok().map(DatabaseUrl::server),
                work: purge_cell(cell_run, api, mapping, url).instrument(span),
            }
        })
        .collect();
    let outcomes = schedule::run(
        jobs,
        work,
        || run.cancel.is_cancelled(),
        |counts| {
            if let Some(whole) = &together {
                whole.cells(counts.running, counts.finished, counts.total);
            }
        },
    )
    .await;
    if let Some(whole) = &together {
        whole.finish();
    }
    outcomes
}

/// One cell of `cell_mappings`, its API rows cleaned after each batch.
async fn purge_cell(
    run: Run<'_>,
    api: &ApiDatabase,
    mapping: &CellMapping,
    url: Result<DatabaseUrl, Error>,
) -> Result<Report, Error> {
    info!(cell = mapping.label(), "purging cell");
    let cleanup = ApiCleanup {
        api,
        cell_id: mapping.id,
    };
    let outcome = match url {
        Ok(url) => purge_database(&url, &run, Confirm::Done, Some(cleanup), Some(mapping)).await,
        Err(failure) => Err(failure),
    };
    if let Err(failure) = &outcome {
        warn!(cell = mapping.label(), error = %failure, "cell failed; going on with the others");
    }
    outcome
}

/// The replicas given (`--replica-url`, `[database]/slave_connection`) are
/// those of the local cell database: watched while purging that cell only.
fn replicas_of<'a>(connections: &'a Connections, cell: &DatabaseUrl) -> &'a [DatabaseUrl] {
    match &connections.cell {
        Some(local) if local.same_database(cell) => &connections.replicas,
        _ => &[],
    }
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
        budgets,
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
                .with_pacer(&pacer)
                .with_budget(budgets.of(Scope::Instances));
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
                budgets,
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
