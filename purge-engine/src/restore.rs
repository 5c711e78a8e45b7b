//! `nova-purge restore PATH`: puts back what `purge --export` recorded,
//! parents before children, one transaction per batch and database.
//!
//! A batch whose `committed` line is missing belongs to a run that died
//! around its commit: if its instances are still in the cell, the delete
//! never happened and the batch is skipped; if they are gone, it did and the
//! batch is restored. A row that conflicts with one in the database now (a
//! key that exists again) stops the restore with the batch rolled back.

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use purge_api::{Backend, DatabaseKind, Db, Registry, Tx};
use serde::Serialize;
use serde_json::Value;
use tracing::info;

use crate::connections::Connections;
use crate::export::record::{Record, FORMAT_VERSION};

use crate::database::url::DatabaseUrl;
use crate::error::{describe_sqlx, Error};
use crate::purge::api_database::ApiDatabase;

/// What `restore` is asked to do.
#[derive(Debug, Clone)]
pub struct RestoreOptions {
    /// A file written by `purge --export`.
    pub path: PathBuf,
    /// Check that every row can be put back; restore nothing.
    pub dry_run: bool,
}

/// One batch of one database, as recorded.
#[derive(Debug, Default)]
struct Part {
    cell: Option<String>,
    rows: Vec<(String, serde_json::Map<String, Value>)>,
    committed: bool,
}

#[derive(Debug, Default, Serialize)]
pub struct RestoreReport {
    pub dry_run: bool,
    /// Batch parts put back (a batch has a cell part and maybe an API part).
    pub restored: u64,
    /// Table → rows put back (or that would be).
    pub tables: BTreeMap<String, u64>,
    /// Batch parts left out, and why.
    pub skipped: Vec<String>,
}

/// Puts back the rows of an export, batch by batch.
pub async fn restore(
    connections: &Connections,
    registry: &Registry,
    options: &RestoreOptions,
) -> Result<RestoreReport, Error> {
    let parts = read(&options.path)?;
    let rank = parents_first(registry);
    let mut databases = Databases::new(connections, registry);
    let mut report = RestoreReport {
        dry_run: options.dry_run,
        ..RestoreReport::default()
    };
    let outcome = async {
        for ((batch, database), part) in &parts {
            let db = databases.get(*database, part.cell.as_deref()).await?;
            if !part.committed && still_present(db, &part.rows).await? {
                report.skipped.push(format!(
                    "batch {batch} ({}): its run died before committing it, and its rows are still in the database",
                    database.name()
                ));
                continue;
            }
            put_back(db, *batch, part, &rank, options.dry_run).await?;
            report.restored += 1;
            for (table, _) in &part.rows {
                *report.tables.entry(table.clone()).or_default() += 1;
            }
            info!(batch, database = database.name(), rows = part.rows.len(), "batch restored");
        }
        Ok::<(), Error>(())
    }
    .await;
    databases.close().await;
    outcome?;
    Ok(report)
}

/// Reads the export into (batch, database) → part, in batch order.
fn read(path: &Path) -> Result<BTreeMap<(u64, DatabaseKind), Part>, Error> {
    let file = std::fs::File::open(path)
        .map_err(|e| Error::Input(format!("cannot read {}: {e}", path.display())))?;
    let malformed = |line: usize, what: &str| {
        Error::Input(format!(
            "{}: line {line}: {what}; is this a file written by `nova-purge purge --export`?",
            path.display()
        ))
    };
    let mut parts: BTreeMap<(u64, DatabaseKind), Part> = BTreeMap::new();
    for (index, line) in BufReader::new(file).lines().enumerate() {
        let number = index + 1;
        let line =
            line.map_err(|e| Error::Input(format!("cannot read {}: {e}", path.display())))?;
        let record: Record = serde_json::from_str(&line).map_err(|_| {
            if number == 1 {
                malformed(1, "no export header")
            } else if serde_json::from_str::<Value>(&line).is_ok() {
                malformed(number, "not a line of an export")
            } else {
                malformed(number, "not JSON")
            }
        })?;
        match (number, record) {
            (1, Record::Header(header)) if header.nova_purge_export == FORMAT_VERSION => {}
            (1, _) => return Err(malformed(1, "no export header")),
            (_, Record::Header(_)) => return Err(malformed(number, "a second header")),
            (_, Record::Row(row)) => {
                let part = parts.entry((row.batch, row.database.into())).or_default();
                part.cell = row.cell;
                part.rows.push((row.table, row.row));
            }
            (_, Record::Committed(commit)) => {
                let part = parts
                    .entry((commit.batch, commit.database.into()))
                    .or_default();
                part.cell = commit.cell;
                part.committed = true;
            }
        }
    }
    Ok(parts)
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

/// True when the part's instances (or, for an API part, its instances'
/// mappings) are still in the database: the batch never committed.
async fn still_present(
    db: &Db,
    rows: &[(String, serde_json::Map<String, Value>)],
) -> Result<bool, Error> {
    let probe = rows.iter().find_map(|(table, row)| match table.as_str() {
        "instances" => Some(("instances", "uuid", row.get("uuid")?.as_str()?.to_owned())),
        "instance_mappings" => Some((
            "instance_mappings",
            "instance_uuid",
            row.get("instance_uuid")?.as_str()?.to_owned(),
        )),
        _ => None,
    });
    let Some((table, column, uuid)) = probe else {
        return Ok(false);
    };
    let fail = |e| Error::database("cannot read the database", e);
    let mut tx = db.begin_read().await.map_err(fail)?;
    let mut stmt = tx.stmt();
    stmt.push("SELECT COUNT(*) FROM ")
        .ident(table)
        .push(" WHERE ")
        .ident(column)
        .push(" = ")
        .bind_text(&uuid);
    let count = tx.fetch_count(&stmt).await.map_err(fail)?;
    tx.rollback().await.map_err(fail)?;
    Ok(count > 0)
}

/// Inserts a part's rows, parents first, in one transaction.
async fn put_back(
    db: &Db,
    batch: u64,
    part: &Part,
    rank: &HashMap<&'static str, usize>,
    dry_run: bool,
) -> Result<(), Error> {
    let mut rows: Vec<&(String, serde_json::Map<String, Value>)> = part.rows.iter().collect();
    rows.sort_by_key(|(table, _)| rank.get(table.as_str()).copied().unwrap_or(usize::MAX));
    let fail = |e| Error::database(&format!("batch {batch}"), e);
    let mut tx = db.begin_write().await.map_err(fail)?;
    for (table, row) in rows {
        if let Err(e) = insert(&mut tx, table, row).await {
            return Err(Error::Database(format!(
                "restore stopped at batch {batch}: a {table} row cannot be put back ({}); that batch was rolled back, earlier batches stay restored",
                describe_sqlx(&e)
            )));
        }
    }
    if dry_run {
        tx.rollback().await.map_err(fail)
    } else {
        tx.commit().await.map_err(fail)
    }
}

/// One row back into its table. PostgreSQL turns the JSON into the row type
/// itself (timestamps, enums, INET); MariaDB and SQLite take each value
/// with the JSON type it was exported with.
async fn insert(
    tx: &mut Tx,
    table: &str,
    row: &serde_json::Map<String, Value>,
) -> Result<u64, sqlx::Error> {
    let mut stmt = tx.stmt();
    stmt.push("INSERT INTO ").ident(table);
    if tx.backend() == Backend::Postgres {
        stmt.push(" SELECT * FROM json_populate_record(NULL::")
            .ident(table)
            .push(", ")
            .bind_text(&Value::Object(row.clone()).to_string())
            .push("::json)");
        return tx.execute(&stmt).await;
    }
    stmt.push(" (");
    for (i, column) in row.keys().enumerate() {
        if i > 0 {
            stmt.push(", ");
        }
        stmt.ident(column);
    }
    stmt.push(") VALUES (");
    for (i, value) in row.values().enumerate() {
        if i > 0 {
            stmt.push(", ");
        }
        match value {
            Value::Null => stmt.bind_null(),
            Value::Bool(b) => stmt.bind_int(i64::from(*b)),
            Value::Number(n) => match n.as_i64() {
                Some(int) => stmt.bind_int(int),
                None => stmt.bind_text(&n.to_string()),
            },
            Value::String(s) => stmt.bind_text(s),
            other => stmt.bind_text(&other.to_string()),
        };
    }
    stmt.push(")");
    tx.execute(&stmt).await
}

/// The databases a restore writes to, connected on first use.
struct Databases<'a> {
    connections: &'a Connections,
    registry: &'a Registry,
    api: Option<ApiDatabase>,
    cells: HashMap<Option<String>, Db>,
}

impl<'a> Databases<'a> {
    fn new(connections: &'a Connections, registry: &'a Registry) -> Self {
        Databases {
            connections,
            registry,
            api: None,
            cells: HashMap::new(),
        }
    }

    async fn api(&mut self) -> Result<&ApiDatabase, Error> {
        if self.api.is_none() {
            let url = self.connections.api.clone().ok_or_else(|| {
                Error::Input(
                    "the export holds API database rows or names cells; pass --api-database-url or --config-file with [api_database]/connection".to_owned(),
                )
            })?;
            self.api = Some(ApiDatabase::open(url, self.registry).await?);
        }
        Ok(self.api.as_ref().expect("just opened"))
    }

    /// The API database, or the cell a part names (the local cell when the
    /// export names none, or when it is the only cell given).
    async fn get(&mut self, database: DatabaseKind, cell: Option<&str>) -> Result<&Db, Error> {
        if database == DatabaseKind::Api {
            return Ok(&self.api().await?.db);
        }
        let key = if self.connections.api.is_some() {
            cell.map(str::to_owned)
        } else {
            None
        };
        if !self.cells.contains_key(&key) {
            let url: DatabaseUrl = match &key {
                Some(name) => {
                    let mapping = self
                        .api()
                        .await?
                        .cell_mappings()
                        .await?
                        .into_iter()
                        .find(|m| m.name.as_deref() == Some(name.as_str()) || m.uuid == *name)
                        .ok_or_else(|| Error::Input(format!("the export names cell `{name}`, which the API database does not list")))?;
                    mapping.url(self.connections)?
                }
                None => self.connections.cell.clone().ok_or_else(|| {
                    Error::Input("no cell database given; pass --database-url or --config-file with [database]/connection".to_owned())
                })?,
            };
            let db = url.connect().await?;
            self.cells.insert(key.clone(), db);
        }
        Ok(&self.cells[&key])
    }

    async fn close(self) {
        for db in self.cells.values() {
            db.close().await;
        }
        if let Some(api) = self.api {
            api.close().await;
        }
    }
}
