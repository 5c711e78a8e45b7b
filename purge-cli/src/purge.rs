//! The `purge` command: one cell database given directly, or every cell
//! (or some) listed in the API database, each purged in turn, with the API
//! rows of purged instances removed after each batch.

use std::io::{self, BufRead, IsTerminal, Write};
use std::process::ExitCode;
use std::sync::Mutex;

use purge_api::{DatabaseKind, Registry};
use serde::Serialize;
use tracing::{info, warn};

use crate::api::{ApiDatabase, CellMapping};
use crate::check;
use crate::cli::{Format, PurgeArgs};
use crate::connect::DatabaseUrl;
use crate::engine::{ApiCleanup, Engine, Pacing, PurgeOptions};
use crate::error::{exit_code, Failure};
use crate::export::Export;
use crate::plan::Plan;
use crate::report::Report;
use crate::schema::Schema;

/// Where the databases are, once the command line and nova.conf are read.
#[derive(Debug, Clone, Default)]
pub struct Connections {
    /// The local cell database (`--database-url`, `[database]/connection`).
    pub cell: Option<DatabaseUrl>,
    /// The API database (`--api-database-url`, `[api_database]/connection`).
    pub api: Option<DatabaseUrl>,
    /// The local cell connection as written, and where it was set, which
    /// fills templated `cell_mappings.database_connection` values.
    pub template_base: Option<(String, String)>,
    /// `[database]/connection_parameters`, appended to every cell's URL.
    pub connection_parameters: String,
}

impl Connections {
    /// The URL of a cell listed in `cell_mappings`, as Nova connects to it
    /// (see [`crate::config::cell_url`]).
    pub fn cell_url(&self, mapping: &CellMapping) -> Result<DatabaseUrl, Failure> {
        let local = self
            .template_base
            .as_ref()
            .map(|(value, location)| (value.as_str(), location.as_str()));
        let converted = crate::config::cell_url(
            mapping.label(),
            &mapping.database_connection,
            local,
            &self.connection_parameters,
        )?;
        converted.log_adjustments();
        converted.database_url()
    }
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

impl RunReport {
    fn exit_code(&self) -> ExitCode {
        ExitCode::from(if self.total.interrupted {
            exit_code::INTERRUPTED
        } else if self.cells.iter().any(|c| c.error.is_some()) {
            exit_code::CELL_FAILED
        } else if self.total.more_remaining {
            exit_code::MORE_REMAINING
        } else {
            exit_code::DONE
        })
    }

    fn write_text(&self, out: &mut dyn Write) -> io::Result<()> {
        if self.cells.len() == 1 && self.cells[0].error.is_none() {
            return self.cells[0].report.write_text(out);
        }
        for cell in &self.cells {
            writeln!(
                out,
                "== cell {} ({}) ==",
                cell.name.as_deref().unwrap_or("-"),
                cell.uuid.as_deref().unwrap_or("-")
            )?;
            match &cell.error {
                Some(error) => writeln!(out, "FAILED: {error}")?,
                None => cell.report.write_text(out)?,
            }
            writeln!(out)?;
        }
        writeln!(out, "== all cells ==")?;
        self.total.write_text(out)
    }
}

pub async fn purge(
    connections: &Connections,
    registry: &Registry,
    args: &PurgeArgs,
    options: &PurgeOptions,
    pacing: Pacing,
    out: &mut dyn Write,
) -> Result<ExitCode, Failure> {
    // Created before anything is read or deleted: a name that is taken
    // stops the run at once.
    let export = args
        .export
        .as_deref()
        .map(Export::create)
        .transpose()?
        .map(Mutex::new);
    let run = Run {
        registry,
        options,
        pacing: &pacing,
        export: export.as_ref(),
    };
    let report = if args.all_cells || !args.cell.is_empty() {
        purge_cells(connections, &run, args).await?
    } else {
        purge_local_cell(connections, &run, args.yes).await?
    };
    match args.format {
        Format::Json => {
            serde_json::to_writer(&mut *out, &report).map_err(io::Error::from)?;
            writeln!(out)?;
        }
        Format::Text => report.write_text(out)?,
    }
    Ok(report.exit_code())
}

/// What every database of a run shares.
pub struct Run<'a> {
    pub registry: &'a Registry,
    pub options: &'a PurgeOptions,
    pub pacing: &'a Pacing,
    pub export: Option<&'a Mutex<Export>>,
}

/// `--database-url` (or `[database]/connection`) alone, with the API rows
/// cleaned when an API database is known and lists this cell.
async fn purge_local_cell(
    connections: &Connections,
    run: &Run<'_>,
    confirmed: bool,
) -> Result<RunReport, Failure> {
    let registry = run.registry;
    let url = connections.cell.as_ref().ok_or_else(|| {
        Failure::Usage(
            "no cell database given; pass --database-url (or set NOVA_PURGE_DATABASE_URL), --config-file with [database]/connection, or --all-cells"
                .to_owned(),
        )
    })?;
    let api = match &connections.api {
        Some(api_url) => Some(ApiDatabase::open(api_url.clone(), registry).await?),
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
        let label = mapping.as_ref().map(|m| m.label().to_owned());
        let report = purge_database(url, run, confirmed, cleanup, label).await?;
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
) -> Result<Option<CellMapping>, Failure> {
    Ok(api.cell_mappings().await?.into_iter().find(|mapping| {
        connections
            .cell_url(mapping)
            .is_ok_and(|cell| cell.same_database(url))
    }))
}

/// `--all-cells` or `--cell`: every selected cell of the API database in
/// turn. A cell that fails is reported and the others go on.
async fn purge_cells(
    connections: &Connections,
    run: &Run<'_>,
    args: &PurgeArgs,
) -> Result<RunReport, Failure> {
    let Run {
        registry, options, ..
    } = *run;
    let api_url = connections.api.as_ref().ok_or_else(|| {
        Failure::Usage(
            "--all-cells and --cell need the API database; pass --api-database-url or --config-file with [api_database]/connection"
                .to_owned(),
        )
    })?;
    let api = ApiDatabase::open(api_url.clone(), registry).await?;
    let result = async {
        let cells = select_cells(api.cell_mappings().await?, args)?;
        if !options.dry_run && !args.yes {
            let names: Vec<&str> = cells.iter().map(CellMapping::label).collect();
            confirm(&format!("cells {}", names.join(", ")), options)?;
        }
        let mut report = RunReport {
            total: Report::empty(api.url.redacted(), options),
            cells: Vec::new(),
        };
        for mapping in cells {
            if crate::interrupt::requested() {
                report.total.interrupted = true;
                break;
            }
            let remaining = PurgeOptions {
                max_number: options
                    .max_number
                    .map(|max| max.saturating_sub(report.total.instances)),
                ..options.clone()
            };
            let cell_run = Run { options: &remaining, ..*run };
            info!(cell = mapping.label(), "purging cell");
            let outcome = match connections.cell_url(&mapping) {
                Ok(url) => {
                    let cleanup = ApiCleanup { api: &api, cell_id: mapping.id };
                    let label = Some(mapping.label().to_owned());
                    purge_database(&url, &cell_run, true, Some(cleanup), label).await
                }
                Err(failure) => Err(failure),
            };
            let cell = match outcome {
                Ok(cell_report) => {
                    report.total.merge(&cell_report);
                    CellReport { name: mapping.name.clone(), uuid: Some(mapping.uuid.clone()), error: None, report: cell_report }
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

/// The cells `--all-cells` or `--cell NAME_OR_UUID` select, in id order.
fn select_cells(mappings: Vec<CellMapping>, args: &PurgeArgs) -> Result<Vec<CellMapping>, Failure> {
    if args.all_cells {
        return Ok(mappings);
    }
    for wanted in &args.cell {
        if !mappings
            .iter()
            .any(|m| m.uuid == *wanted || m.name.as_deref() == Some(wanted.as_str()))
        {
            let known: Vec<&str> = mappings.iter().map(CellMapping::label).collect();
            return Err(Failure::Usage(format!(
                "no cell named `{wanted}` in the API database; known cells: {}",
                known.join(", ")
            )));
        }
    }
    Ok(mappings
        .into_iter()
        .filter(|m| {
            args.cell
                .iter()
                .any(|w| *w == m.uuid || m.name.as_deref() == Some(w.as_str()))
        })
        .collect())
}

/// Connects, checks that the database is a Nova cell database, asks for
/// confirmation where needed, logs what `check` would say, and purges.
pub async fn purge_database(
    url: &DatabaseUrl,
    run: &Run<'_>,
    confirmed: bool,
    api: Option<ApiCleanup<'_>>,
    label: Option<String>,
) -> Result<Report, Failure> {
    let Run {
        registry,
        options,
        pacing,
        export,
    } = *run;
    let db = url.connect().await?;
    let result = async {
        let schema = Schema::inspect(&db).await?;
        schema.require_nova_cell()?;
        if !options.dry_run && !confirmed {
            confirm(&url.redacted(), options)?;
        }
        let plan = Plan::new(registry, &schema, DatabaseKind::Cell);
        for finding in check::findings(&schema, &plan, db.backend()) {
            match finding.kind {
                "uncovered-table" | "link-type" => warn!("{}", finding.message),
                _ => info!("{}", finding.message),
            }
        }
        let mut engine = Engine::new(&db, &plan, options).with_pacing(pacing.clone());
        if let Some(api) = api {
            engine = engine.with_api(api);
        }
        if let Some(export) = export {
            engine = engine.with_export(export, label);
        }
        engine.run(url.redacted()).await
    }
    .await;
    db.close().await;
    result
}

/// Asks on the terminal before deleting; refuses outright when there is no
/// terminal to ask on, so that a script never deletes without `--yes`.
fn confirm(what: &str, options: &PurgeOptions) -> Result<(), Failure> {
    let stdin = io::stdin();
    if !stdin.is_terminal() {
        return Err(Failure::Usage(
            "refusing to delete without confirmation: standard input is not a terminal; \
             pass --yes (and consider --dry-run first)"
                .to_owned(),
        ));
    }
    eprint!(
        "This PERMANENTLY deletes every instance in {what} deleted before {} UTC, with all its rows.\n\
         Run with --dry-run first to see what would go. Type 'yes' to continue: ",
        options.cutoff.format("%Y-%m-%d %H:%M:%S"),
    );
    let mut answer = String::new();
    stdin.lock().read_line(&mut answer)?;
    if answer.trim() != "yes" {
        return Err(Failure::Usage(
            "not confirmed; nothing was deleted".to_owned(),
        ));
    }
    Ok(())
}
