//! `purge --export PATH`: every row a purge deletes, written as JSON Lines
//! (see [`super::record`]) before the transaction that deletes it commits,
//! flushed and synced to disk, so that a crash never loses the record of a
//! committed delete.
//!
//! The file holds deleted user data (`user_data`, block device
//! `connection_info`, system metadata): it is created with mode 0600. It is
//! created only when the first batch has rows to record, so a run that is
//! refused, fails before its first delete or finds nothing leaves no file
//! behind, and the same command can simply be run again. That the name is
//! free is checked before anything is read or deleted.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use purge_api::Tx;
use serde_json::Value;

use super::record::{CommitRecord, Header, Place, Record, RowRecord, Source, FORMAT_VERSION};
use crate::error::Error;

/// An export file: its path, and once the first rows came, the open file.
pub struct Export {
    path: PathBuf,
    out: Option<BufWriter<File>>,
    batches: u64,
    /// The number each database was given in its `source` line.
    sources: HashMap<Place, u32>,
    /// Set by a write that failed. The file may then end in a line cut
    /// short, or keep one in its buffer: nothing more is written, so that
    /// no batch's lines, another cell's least of all, are glued to it and
    /// lost.
    broken: bool,
}

/// One table's rows of a batch, as JSON objects.
pub type TableRows = (String, Vec<Value>);

impl Export {
    /// Checks that `path` is free and its directory exists; creates nothing
    /// yet. An existing file is an error: an export is never overwritten.
    pub fn prepare(path: &Path) -> Result<Export, Error> {
        if path.symlink_metadata().is_ok() {
            return Err(Error::Input(format!(
                "{} already exists; nova-purge never overwrites an export, give --export a new file name",
                path.display()
            )));
        }
        let parent = match path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent,
            _ => Path::new("."),
        };
        if !parent.is_dir() {
            return Err(Error::Input(format!(
                "cannot create the export file {}: its directory does not exist",
                path.display()
            )));
        }
        Ok(Export {
            path: path.to_owned(),
            out: None,
            batches: 0,
            sources: HashMap::new(),
            broken: false,
        })
    }

    /// Numbers a new batch.
    fn next_batch(&mut self) -> u64 {
        self.batches += 1;
        self.batches
    }

    /// The open file, created (0600, never over an existing one) with its
    /// header on first use.
    fn file(&mut self) -> io::Result<&mut BufWriter<File>> {
        if self.out.is_none() {
            let file = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&self.path)?;
            let mut out = BufWriter::new(file);
            let created = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
            write_line(
                &mut out,
                &Record::Header(Header {
                    nova_purge_export: FORMAT_VERSION,
                    created,
                }),
            )?;
            self.out = Some(out);
        }
        Ok(self.out.as_mut().expect("just opened"))
    }

    /// The number of `place`'s source line, written first if it is new.
    fn source(&mut self, place: &Place) -> io::Result<u32> {
        if let Some(number) = self.sources.get(place) {
            return Ok(*number);
        }
        let number = u32::try_from(self.sources.len() + 1).unwrap_or(u32::MAX);
        let record = Record::Source(Source {
            source: number,
            database: place.database,
            cell: place.cell.clone(),
            cell_uuid: place.cell_uuid.clone(),
            backend: place.backend.clone(),
            name: place.name.clone(),
        });
        write_line(self.file()?, &record)?;
        self.sources.insert(place.clone(), number);
        Ok(number)
    }

    /// Writes a batch's rows and makes them durable.
    fn write_rows(&mut self, place: &Place, batch: u64, tables: &[TableRows]) -> io::Result<()> {
        let source = self.source(place)?;
        let out = self.file()?;
        for (table, rows) in tables {
            for row in rows {
                let Value::Object(row) = row else {
                    return Err(io::Error::other(format!(
                        "{table} returned a row that is not a JSON object"
                    )));
                };
                write_line(
                    out,
                    &Record::Row(RowRecord {
                        batch,
                        source,
                        table: table.clone(),
                        row: row.clone(),
                    }),
                )?;
            }
        }
        self.sync()
    }

    /// Records that the batch's transaction committed.
    fn write_commit(&mut self, place: &Place, batch: u64, instances: &[String]) -> io::Result<()> {
        let source = self.source(place)?;
        let record = Record::Committed(CommitRecord {
            batch,
            source,
            committed: instances.to_vec(),
        });
        write_line(self.file()?, &record)?;
        self.sync()
    }

    /// An error writing the file, naming it.
    fn failure(&self, source: io::Error) -> Error {
        Error::Export {
            path: self.path.clone(),
            source,
        }
    }

    fn sync(&mut self) -> io::Result<()> {
        let out = self.file()?;
        out.flush()?;
        out.get_ref().sync_data()
    }
}

fn write_line(out: &mut BufWriter<File>, record: &Record) -> io::Result<()> {
    serde_json::to_writer(&mut *out, record)?;
    out.write_all(b"\n")
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

/// One database's parts of a shared export.
#[derive(Clone)]
pub struct Recorder<'a> {
    pub export: &'a SharedExport,
    /// Where this database's parts come from.
    pub place: Place,
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
        rows: &[TableRows],
        instances: &[String],
    ) -> Result<(), CommitError> {
        self.write(|export| export.write_rows(&self.place, batch, rows))?;
        tx.commit().await?;
        self.write(|export| export.write_commit(&self.place, batch, instances))
    }

    /// Runs `action` under the lock: one batch's lines are written whole,
    /// never interleaved with another database's, whatever runs at once.
    fn write(&self, action: impl FnOnce(&mut Export) -> io::Result<()>) -> Result<(), CommitError> {
        let mut export = lock(self.export);
        if export.broken {
            let earlier =
                io::Error::other("an earlier write to it failed; nothing more is written");
            return Err(CommitError::Export(export.failure(earlier)));
        }
        action(&mut export).map_err(|e| {
            export.broken = true;
            CommitError::Export(export.failure(e))
        })
    }
}
