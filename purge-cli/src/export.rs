//! `purge --export PATH`: every row a purge deletes, written as JSON Lines
//! before the transaction that deletes it commits, flushed and synced to
//! disk, so that a crash never loses the record of a committed delete.
//! `nova-purge restore` reads it back.
//!
//! Lines, in order:
//!
//! ```text
//! {"nova_purge_export":1,"created":"2026-11-29T16:00:00Z"}
//! {"batch":1,"database":"cell","cell":"cell1","table":"instances","row":{"id":7,"uuid":"...",...}}
//! {"batch":1,"database":"cell","cell":"cell1","committed":["<instance uuid>",...]}
//! {"batch":1,"database":"api","cell":"cell1","table":"instance_mappings","row":{...}}
//! {"batch":1,"database":"api","cell":"cell1","committed":["<instance uuid>",...]}
//! ```
//!
//! A batch's rows are written before its commit, the `committed` line
//! after. Rows without a `committed` line belong to a batch whose process
//! died around its commit: `restore` then looks at the database to tell
//! whether the delete happened.
//!
//! Each `row` is the database's own JSON rendering of the whole row
//! (`row_to_json` on PostgreSQL, `JSON_OBJECT`/`json_object` of every column
//! on MariaDB/MySQL and SQLite): timestamps, NULLs, large text and numbers
//! come back exactly as they went in.

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use purge_api::{Backend, DatabaseKind, InstanceBatch, PurgeTarget, Tx};
use serde_json::{json, Value};

use crate::error::Failure;

/// Format version written in the first line.
const FORMAT: u32 = 1;

pub struct Export {
    out: BufWriter<File>,
    path: PathBuf,
    batches: u64,
}

/// One table's rows of a batch, as JSON objects.
pub type TableRows = (&'static str, Vec<Value>);

impl Export {
    /// Creates the file; an existing file is an error, never overwritten.
    pub fn create(path: &Path) -> Result<Export, Failure> {
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path)
            .map_err(|e| {
                Failure::Usage(if e.kind() == io::ErrorKind::AlreadyExists {
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
            .line(&json!({ "nova_purge_export": FORMAT, "created": created }))
            .and_then(|()| export.sync())
            .map_err(|e| export.failure(e))?;
        Ok(export)
    }

    /// Numbers a new batch.
    pub fn next_batch(&mut self) -> u64 {
        self.batches += 1;
        self.batches
    }

    /// Writes a batch's rows and makes them durable. Called before the
    /// batch's transaction commits.
    pub fn write_rows(
        &mut self,
        batch: u64,
        database: DatabaseKind,
        cell: Option<&str>,
        tables: &[TableRows],
    ) -> io::Result<()> {
        for (table, rows) in tables {
            for row in rows {
                self.line(&json!({
                    "batch": batch,
                    "database": database.name(),
                    "cell": cell,
                    "table": table,
                    "row": row,
                }))?;
            }
        }
        self.sync()
    }

    /// Records that the batch's transaction in `database` committed.
    pub fn committed(
        &mut self,
        batch: u64,
        database: DatabaseKind,
        cell: Option<&str>,
        instances: &[String],
    ) -> io::Result<()> {
        self.line(&json!({
            "batch": batch,
            "database": database.name(),
            "cell": cell,
            "committed": instances,
        }))?;
        self.sync()
    }

    /// An error writing the file, naming it.
    pub fn failure(&self, err: io::Error) -> Failure {
        Failure::Database(format!(
            "cannot write the export file {}: {err}",
            self.path.display()
        ))
    }

    fn line(&mut self, value: &Value) -> io::Result<()> {
        serde_json::to_writer(&mut self.out, value)?;
        self.out.write_all(b"\n")
    }

    fn sync(&mut self) -> io::Result<()> {
        self.out.flush()?;
        self.out.get_ref().sync_data()
    }
}

/// Locks the export; a writer that panicked leaves nothing to protect.
fn lock(export: &Mutex<Export>) -> MutexGuard<'_, Export> {
    export
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Numbers a new batch of a shared export.
pub fn next_batch(export: &Mutex<Export>) -> u64 {
    lock(export).next_batch()
}

/// [`Export::write_rows`] on a shared export; the lock is not held past it.
pub fn record_rows(
    export: &Mutex<Export>,
    batch: u64,
    database: DatabaseKind,
    cell: Option<&str>,
    tables: &[TableRows],
) -> Result<(), Failure> {
    let mut export = lock(export);
    export
        .write_rows(batch, database, cell, tables)
        .map_err(|e| export.failure(e))
}

/// [`Export::committed`] on a shared export.
pub fn record_commit(
    export: &Mutex<Export>,
    batch: u64,
    database: DatabaseKind,
    cell: Option<&str>,
    instances: &[String],
) -> Result<(), Failure> {
    let mut export = lock(export);
    export
        .committed(batch, database, cell, instances)
        .map_err(|e| export.failure(e))
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
