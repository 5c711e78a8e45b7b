//! `purge --export PATH`: every row a purge deletes, written as JSON Lines
//! (see [`super::record`]) before the transaction that deletes it commits,
//! flushed and synced to disk, so that a crash never loses the record of a
//! committed delete.

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use purge_api::{Backend, DatabaseKind, InstanceBatch, PurgeTarget, Tx};
use serde_json::Value;

use super::record::{CommitRecord, Header, Record, RowRecord, FORMAT_VERSION};
use crate::error::Error;

/// An export file being written.
pub struct Export {
    out: BufWriter<File>,
    path: PathBuf,
    batches: u64,
}

/// One table's rows of a batch, as JSON objects.
pub type TableRows = (&'static str, Vec<Value>);

impl Export {
    /// Creates the file; an existing file is an error, never overwritten.
    pub fn create(path: &Path) -> Result<Export, Error> {
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path)
            .map_err(|e| {
                Error::Input(if e.kind() == io::ErrorKind::AlreadyExists {
                    format!(
                        "{} already exists; nova-purge never overwrites an export, give --export a new file name",
                        path.display()
                    )
                } else {
                    format!("cannot create the export file {}: {e}", path.display())
                })
            })?;
        let mut export = Export {
            out: BufWriter::new(file),
            path: path.to_owned(),
            batches: 0,
        };
        let created = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        export
            .line(&Record::Header(Header {
                nova_purge_export: FORMAT_VERSION,
                created,
            }))
            .and_then(|()| export.sync())
            .map_err(|e| export.failure(e))?;
        Ok(export)
    }

    /// Numbers a new batch.
    fn next_batch(&mut self) -> u64 {
        self.batches += 1;
        self.batches
    }

    /// Writes a batch's rows and makes them durable.
    fn write_rows(&mut self, part: &Part<'_>, tables: &[TableRows]) -> io::Result<()> {
        for (table, rows) in tables {
            for row in rows {
                let Value::Object(row) = row else {
                    return Err(io::Error::other(format!(
                        "{table} returned a row that is not a JSON object"
                    )));
                };
                self.line(&Record::Row(RowRecord {
                    batch: part.batch,
                    database: part.database.into(),
                    cell: part.cell.map(str::to_owned),
                    table: (*table).to_owned(),
                    row: row.clone(),
                }))?;
            }
        }
        self.sync()
    }

    /// Records that the batch's transaction committed.
    fn write_commit(&mut self, part: &Part<'_>, instances: &[String]) -> io::Result<()> {
        self.line(&Record::Committed(CommitRecord {
            batch: part.batch,
            database: part.database.into(),
            cell: part.cell.map(str::to_owned),
            committed: instances.to_vec(),
        }))?;
        self.sync()
    }

    /// An error writing the file, naming it.
    fn failure(&self, source: io::Error) -> Error {
        Error::Export {
            path: self.path.clone(),
            source,
        }
    }

    fn line(&mut self, record: &Record) -> io::Result<()> {
        serde_json::to_writer(&mut self.out, record)?;
        self.out.write_all(b"\n")
    }

    fn sync(&mut self) -> io::Result<()> {
        self.out.flush()?;
        self.out.get_ref().sync_data()
    }
}

/// An export shared by the cells and the API database of one run.
pub type SharedExport = Mutex<Export>;

/// Locks the export; a writer that panicked leaves nothing to protect.
fn lock(export: &SharedExport) -> MutexGuard<'_, Export> {
    export
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Why a batch did not commit.
#[derive(Debug)]
pub enum CommitError {
    Database(sqlx::Error),
    /// The export file could not be written; the batch was rolled back.
    Export(Error),
}

impl From<sqlx::Error> for CommitError {
    fn from(err: sqlx::Error) -> Self {
        CommitError::Database(err)
    }
}

/// Where one batch's rows in one database go in the export: its number,
/// which database, and the cell's label.
#[derive(Debug, Clone, Copy)]
pub struct Part<'a> {
    pub batch: u64,
    pub database: DatabaseKind,
    pub cell: Option<&'a str>,
}

/// A batch's place in a shared export.
#[derive(Clone, Copy)]
pub struct Recorder<'a> {
    pub export: &'a SharedExport,
    pub cell: Option<&'a str>,
}

impl<'a> Recorder<'a> {
    /// Numbers a new batch.
    pub fn next_batch(&self) -> u64 {
        lock(self.export).next_batch()
    }

    /// Commits `tx` with its rows on disk first: the rows are written and
    /// synced, then the transaction commits, then the `committed` line is
    /// written. A committed delete therefore always has its record; rows
    /// without a `committed` line belong to a batch whose process died
    /// around its commit.
    pub async fn commit(
        &self,
        tx: Tx,
        batch: u64,
        database: DatabaseKind,
        rows: &[TableRows],
        instances: &[String],
    ) -> Result<(), CommitError> {
        let part = Part {
            batch,
            database,
            cell: self.cell,
        };
        self.write(|export| export.write_rows(&part, rows))?;
        tx.commit().await?;
        self.write(|export| export.write_commit(&part, instances))
    }

    fn write(&self, action: impl FnOnce(&mut Export) -> io::Result<()>) -> Result<(), CommitError> {
        let mut export = lock(self.export);
        action(&mut export).map_err(|e| CommitError::Export(export.failure(e)))
    }
}

/// The rows of `target` that belong to `batch`, each as a JSON object of
/// every column, rendered by the database itself.
pub async fn select_rows(
    tx: &mut Tx,
    target: &dyn PurgeTarget,
    columns: &[String],
    batch: &InstanceBatch,
) -> Result<Vec<Value>, sqlx::Error> {
    let mut stmt = tx.stmt();
    stmt.push("SELECT ");
    match tx.backend() {
        Backend::Postgres => {
            stmt.push("row_to_json(x)::text");
        }
        backend => {
            stmt.push(if backend == Backend::MySql {
                "JSON_OBJECT("
            } else {
                "json_object("
            });
            for (i, column) in columns.iter().enumerate() {
                if i > 0 {
                    stmt.push(", ");
                }
                stmt.push(&format!("'{}', x.", column.replace('\'', "''")))
                    .ident(column);
            }
            stmt.push(")");
        }
    }
    stmt.push(" FROM ").ident(target.table()).push(" x WHERE ");
    target.push_predicate(&mut stmt, batch);
    let rows = tx.fetch_all(&stmt).await?;
    rows.into_iter()
        .filter_map(|row| row.into_iter().next().and_then(|v| v.to_text()))
        .map(|text| {
            serde_json::from_str(&text).map_err(|e| {
                sqlx::Error::Decode(
                    format!("{} returned a row that is not JSON: {e}", target.table()).into(),
                )
            })
        })
        .collect()
}
