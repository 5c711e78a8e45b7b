//! `nova-purge restore PATH`: puts back what `purge --export` recorded,
//! each part (a batch's rows in one database) in one transaction, parents
//! before children, and only where it came from.
//!
//! Two passes over the file ([`scan`], then the restore itself), so that
//! everything that can be checked is checked before anything is written:
//! every table must be a registered target of the database it came from,
//! and every source (a cell by its `cell_mappings` uuid or name, the API
//! database) must be placed on a database of the same backend and name
//! (unless told otherwise). The second pass holds one part's rows at a
//! time.
//!
//! A damaged file (a line cut short by `kill -9` or a full disk, a line
//! that is not a line of an export) does not stop the restore: every whole
//! committed part is put back, and the report says which lines could not be
//! read and which parts they reached. A part without its `committed` line
//! belongs to a run that died around its commit: if its instances are
//! still in the database the delete never happened and the part is
//! skipped; if they are gone, it did, and the part is restored.

mod insert;
mod scan;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;

use purge_api::{Db, Registry};
use serde::Serialize;
use tracing::info;

use crate::connections::Connections;
use crate::database::schema::Schema;
use crate::database::url::{Access, DatabaseUrl};
use crate::error::Error;
use crate::export::record::{Database, Place, Record};
use crate::purge::api_database::ApiDatabase;
use insert::{put_back, still_present, Rows};
use scan::{parse, Lines, PartKey, Scan};

/// What `restore` is asked to do.
#[derive(Debug, Clone)]
pub struct RestoreOptions {
    /// A file written by `purge --export`.
    pub path: PathBuf,
    /// Check that every row can be put back; restore nothing.
    pub dry_run: bool,
    /// Put rows back into a database of another backend or name than the
    /// one they were deleted from (a copy, say).
    pub allow_other_source: bool,
}

#[derive(Debug, Default, Serialize)]
pub struct RestoreReport {
    pub dry_run: bool,
    /// Batch parts put back (a batch has a cell part and maybe an API part).
    pub restored: u64,
    /// Table → rows put back (or that would be).
    pub tables: BTreeMap<String, u64>,
    /// Batch parts left out because their delete never happened, and why.
    pub skipped: Vec<String>,
    /// Lines of the file that could not be read, and why.
    pub unreadable: Vec<String>,
    /// Batch parts not restored because damage reached them.
    pub incomplete: Vec<String>,
}

impl RestoreReport {
    /// True when every line was read and every part it could restore was
    /// whole.
    pub fn complete(&self) -> bool {
        self.unreadable.is_empty() && self.incomplete.is_empty()
    }
}

/// Puts back the rows of an export, part by part.
pub async fn restore(
    connections: &Connections,
    registry: &Registry,
    options: &RestoreOptions,
) -> Result<RestoreReport, Error> {
    let scan = Scan::read(&options.path)?;
    check_tables(&scan, registry)?;
    let mut report = RestoreReport {
        dry_run: options.dry_run,
        unreadable: scan
            .unreadable
            .iter()
            .map(|(line, why)| format!("line {line}: {why}"))
            .collect(),
        ..RestoreReport::default()
    };
    for ((batch, source), part) in &scan.parts {
        if let Some(why) = &part.damaged {
            report.incomplete.push(format!(
                "batch {batch} ({}): not restored: {why}",
                describe(&scan.sources[source])
            ));
        }
    }
    let targets = Targets::place(&scan, connections, registry, options).await?;
    let outcome = put_back_parts(&scan, &targets, registry, options, &mut report).await;
    targets.close().await;
    outcome?;
    Ok(report)
}

/// The second pass: each whole part, in the reverse of the order it was
/// deleted in (an undo log's order: a table the `rows` scope emptied after
/// its children gets its rows back before them), its rows read from where
/// the first pass found them. Memory holds one part at a time.
async fn put_back_parts(
    scan: &Scan,
    targets: &Targets,
    registry: &Registry,
    options: &RestoreOptions,
    report: &mut RestoreReport,
) -> Result<(), Error> {
    let rank = parents_first(registry);
    let mut parts: Vec<(&PartKey, &scan::PartInfo)> = scan
        .parts
        .iter()
        .filter(|(_, part)| part.damaged.is_none())
        .collect();
    parts.sort_by_key(|(_, part)| std::cmp::Reverse(part.committed.unwrap_or(part.last_line)));
    for (key, part) in parts {
        let rows = read_rows(scan, options, *key, part)?;
        let committed = part.committed.is_some();
        restore_part(
            scan, targets, *key, &rows, &rank, options, report, committed,
        )
        .await?;
    }
    Ok(())
}

/// A part's rows, read from the byte range the first pass recorded.
fn read_rows(
    scan: &Scan,
    options: &RestoreOptions,
    key: PartKey,
    part: &scan::PartInfo,
) -> Result<Rows, Error> {
    let mut rows = Rows::new();
    if part.rows == 0 {
        return Ok(rows);
    }
    let mut lines = Lines::open_at(&options.path, part.rows_start, part.first_line)?;
    while lines.offset() < part.rows_end {
        let Some(line) = lines.next() else { break };
        let (_, line) = line?;
        let (row_key, table, row) = match parse(&line) {
            Ok(Record::Row(row)) => ((row.batch, row.source), row.table, row.row),
            Ok(Record::RowV1(row)) => (
                (row.batch, scan.v1_number(row.database, row.cell)),
                row.table,
                row.row,
            ),
            _ => continue,
        };
        if row_key == key {
            rows.push((table, row));
        }
    }
    Ok(rows)
}

/// Restores one part, or skips it when it never committed and its
/// instances are still there.
#[allow(clippy::too_many_arguments)]
async fn restore_part(
    scan: &Scan,
    targets: &Targets,
    (batch, source): PartKey,
    rows: &Rows,
    rank: &HashMap<&'static str, usize>,
    options: &RestoreOptions,
    report: &mut RestoreReport,
    committed: bool,
) -> Result<(), Error> {
    let place = &scan.sources[&source];
    let db = targets.db(source);
    if !committed && still_present(db, rows).await? {
        report.skipped.push(format!(
            "batch {batch} ({}): its run died before committing it, and its rows are still in the database",
            describe(place)
        ));
        return Ok(());
    }
    put_back(db, batch, rows, rank, options.dry_run).await?;
    report.restored += 1;
    for (table, _) in rows {
        *report.tables.entry(table.clone()).or_default() += 1;
    }
    info!(
        batch,
        source = describe(place),
        rows = rows.len(),
        "batch restored"
    );
    Ok(())
}

/// Every table of every part must be one nova-purge purges, in the kind of
/// database the part came from: a hand-made line must not write to
/// `services` or `cell_mappings`.
fn check_tables(scan: &Scan, registry: &Registry) -> Result<(), Error> {
    let purged_here = |database: Database, table: &str| {
        registry
            .iter()
            .filter(|r| Database::from(r.target.database()) == database)
            .any(|r| match r.target.family() {
                Some(prefix) => table.starts_with(prefix) && table.len() > prefix.len(),
                None => r.target.table() == table,
            })
    };
    for ((batch, source), part) in &scan.parts {
        let place = &scan.sources[source];
        if let Some(table) = part
            .tables
            .iter()
            .find(|t| !purged_here(place.database, t.as_str()))
        {
            return Err(Error::Input(format!(
                "the export's batch {batch} (line {}) has rows of `{}`, which is not a table nova-purge purges in the {} database; refusing to restore anything",
                part.first_line,
                crate::untrusted::escape(table),
                match place.database {
                    Database::Cell => "cell",
                    Database::Api => "API",
                }
            )));
        }
    }
    Ok(())
}

/// A source, for messages: `cell cell1 (uuid)`, `the API database`.
fn describe(place: &Place) -> String {
    match place.database {
        Database::Api => "API database".to_owned(),
        Database::Cell => match (&place.cell, &place.cell_uuid) {
            (Some(name), Some(uuid)) => {
                format!(
                    "cell {} ({})",
                    crate::untrusted::escape(name),
                    crate::untrusted::escape(uuid)
                )
            }
            (Some(name), None) => format!("cell {}", crate::untrusted::escape(name)),
            (None, Some(uuid)) => format!("cell {}", crate::untrusted::escape(uuid)),
            (None, None) => "the cell database".to_owned(),
        },
    }
}

/// Table → position when restoring: the reverse of the purge order, so
/// `instances` comes first and `instance_actions` before its events.
fn parents_first(registry: &Registry) -> HashMap<&'static str, usize> {
    let tables: Vec<&'static str> = registry.iter().map(|r| r.target.table()).collect();
    tables
        .iter()
        .rev()
        .enumerate()
        .map(|(i, table)| (*table, i))
        .collect()
}

/// Each source of the export, placed on a connected database.
struct Targets {
    api: Option<ApiDatabase>,
    cells: Vec<Db>,
    /// Source number → index into `cells`, or `None` for the API database.
    by_source: BTreeMap<u32, Option<usize>>,
}

impl Targets {
    /// Places every source that has parts, connects, and checks that each
    /// database is the one the rows came from. Writes nothing; refuses with
    /// one line when a source cannot be placed.
    async fn place(
        scan: &Scan,
        connections: &Connections,
        registry: &Registry,
        options: &RestoreOptions,
    ) -> Result<Targets, Error> {
        let used: BTreeSet<u32> = scan.parts.keys().map(|(_, source)| *source).collect();
        let mut targets = Targets {
            api: None,
            cells: Vec::new(),
            by_source: BTreeMap::new(),
        };
        let result = targets
            .connect_all(scan, &used, connections, registry, options)
            .await;
        match result {
            Ok(()) => Ok(targets),
            Err(e) => {
                targets.close().await;
                Err(e)
            }
        }
    }

    async fn connect_all(
        &mut self,
        scan: &Scan,
        used: &BTreeSet<u32>,
        connections: &Connections,
        registry: &Registry,
        options: &RestoreOptions,
    ) -> Result<(), Error> {
        let cells: Vec<&Place> = used
            .iter()
            .map(|s| &scan.sources[s])
            .filter(|p| p.database == Database::Cell)
            .collect();
        let names_cells = cells
            .iter()
            .any(|p| p.cell.is_some() || p.cell_uuid.is_some());
        let needs_api = used
            .iter()
            .any(|s| scan.sources[s].database == Database::Api)
            || (names_cells && cells.len() > 1);
        if needs_api || (names_cells && connections.api.is_some()) {
            let url = connections.api.clone().ok_or_else(|| {
                Error::Input(format!(
                    "the export holds rows of {}; restore needs the API database to put each back where it came from: pass --api-database-url or --config-file with [api_database]/connection",
                    used.iter().map(|s| describe(&scan.sources[s])).collect::<Vec<_>>().join(", ")
                ))
            })?;
            self.api = Some(ApiDatabase::open(url, registry, access(options)).await?);
        }
        let mut opened: BTreeMap<String, usize> = BTreeMap::new();
        for source in used {
            let place = &scan.sources[source];
            if place.database == Database::Api {
                let api = self.api.as_ref().expect("opened above");
                let schema = Schema::inspect(&api.db).await?;
                check_same(place, &api.url, &schema, options)?;
                self.by_source.insert(*source, None);
                continue;
            }
            let url = self.cell_url(place, connections).await?;
            let key = url.redacted();
            let index = match opened.get(&key) {
                Some(index) => *index,
                None => {
                    let (db, _) = url.open(access(options)).await?;
                    self.cells.push(db);
                    opened.insert(key, self.cells.len() - 1);
                    self.cells.len() - 1
                }
            };
            let schema = Schema::inspect(&self.cells[index]).await?;
            schema.require_nova_cell()?;
            check_same(place, &url, &schema, options)?;
            self.by_source.insert(*source, Some(index));
        }
        Ok(())
    }

    /// The database a cell source goes back to: the cell `cell_mappings`
    /// lists under its uuid (or name), when the API database is known;
    /// else the cell database given.
    async fn cell_url(
        &self,
        place: &Place,
        connections: &Connections,
    ) -> Result<DatabaseUrl, Error> {
        let Some(api) = &self.api else {
            return connections.cell.clone().ok_or_else(|| {
                Error::Input(
                    "no cell database given; pass --database-url or --config-file with [database]/connection"
                        .to_owned(),
                )
            });
        };
        if place.cell.is_none() && place.cell_uuid.is_none() {
            return connections.cell.clone().ok_or_else(|| {
                Error::Input(
                    "the export holds rows of a cell database that no cell mapping named; pass --database-url for it".to_owned(),
                )
            });
        }
        let mappings = api.cell_mappings().await?;
        let mapping = mappings
            .iter()
            .find(|m| place.cell_uuid.as_deref() == Some(m.uuid.as_str()))
            .or_else(|| {
                mappings.iter().find(|m| {
                    place.cell_uuid.is_none() && place.cell.is_some() && m.name == place.cell
                })
            })
            .ok_or_else(|| {
                Error::Input(format!(
                    "the export holds rows of {}, which the API database's cell_mappings does not list; refusing to restore anything",
                    describe(place)
                ))
            })?;
        mapping.url(connections)
    }

    fn db(&self, source: u32) -> &Db {
        match self.by_source[&source] {
            Some(index) => &self.cells[index],
            None => &self.api.as_ref().expect("placed").db,
        }
    }

    async fn close(self) {
        for db in &self.cells {
            db.close().await;
        }
        if let Some(api) = self.api {
            api.close().await;
        }
    }
}

/// A dry run only reads; a real restore writes, and must reach a writable
/// primary.
fn access(options: &RestoreOptions) -> Access {
    if options.dry_run {
        Access::Read
    } else {
        Access::Write
    }
}

/// Refuses to put rows into a database of another backend or name than the
/// one they were deleted from, unless told to.
fn check_same(
    place: &Place,
    url: &DatabaseUrl,
    schema: &Schema,
    options: &RestoreOptions,
) -> Result<(), Error> {
    if options.allow_other_source {
        return Ok(());
    }
    let backend = url.backend().name();
    let name = url.database_name(schema);
    let other_backend = place.backend.as_deref().is_some_and(|b| b != backend);
    let other_name = place.name.as_deref().is_some_and(|n| n != name);
    if other_backend || other_name {
        return Err(Error::Input(format!(
            "the rows of {} were deleted from {} database {}, not from this {} database {}; refusing to restore anything (pass --allow-other-source to restore into another database)",
            describe(place),
            crate::untrusted::escape(place.backend.as_deref().unwrap_or("?")),
            crate::untrusted::escape(place.name.as_deref().unwrap_or("?")),
            backend,
            crate::untrusted::escape(&name),
        )));
    }
    Ok(())
}

impl Scan {
    /// The number the first pass gave a format 1 line's database and cell.
    fn v1_number(&self, database: Database, cell: Option<String>) -> u32 {
        let place = Place {
            database,
            cell,
            cell_uuid: None,
            backend: None,
            name: None,
        };
        self.sources
            .iter()
            .find(|(_, p)| **p == place)
            .map(|(number, _)| *number)
            .unwrap_or(u32::MAX)
    }
}
