//! The API database side of a purge: the cells it lists, and the rows of
//! `instance_mappings`, `request_specs`, `instance_group_member` and
//! `build_requests` that belong to purged instances.
//!
//! Order across the two databases: a batch commits in its cell first, then
//! its API rows go in a second transaction. A run that dies in between
//! leaves API rows of instances that are gone; the next run finds them
//! (mappings of the cell, queued for delete, whose instance the cell no
//! longer has) and removes them before anything else. The other order would
//! remove API rows of instances that still exist, which Nova cannot survive.
//! API rows are only removed for an instance whose mapping points at the
//! cell it was purged from (or that has no mapping): after a cross-cell
//! resize the source cell keeps a deleted copy of an instance that lives on
//! in another cell, and its API rows are that live instance's.

use std::collections::{BTreeMap, BTreeSet};

use purge_api::{DatabaseKind, Db, Registry, Tx, Value};

use super::cells::CellSelection;
use super::plan::{Applied, Plan};
use crate::connections::Connections;
use crate::database::schema::Schema;
use crate::database::url::{Access, DatabaseUrl};
use crate::error::Error;
use crate::export::record::Place;
use crate::export::writer::{CommitError, Recorder, SharedExport};

/// Mappings examined per query when looking for leftovers.
const LEFTOVER_PAGE: usize = 1000;

/// One row of `cell_mappings`.
#[derive(Debug, Clone)]
pub struct CellMapping {
    pub id: i64,
    pub uuid: String,
    pub name: Option<String>,
    /// May be a template (`{scheme}://...`); see `config::fill_template`.
    pub database_connection: String,
}

impl CellMapping {
    /// The name if it has one, else the uuid.
    pub fn label(&self) -> &str {
        self.name.as_deref().unwrap_or(&self.uuid)
    }

    /// This cell's database, as Nova connects to it.
    pub fn url(&self, connections: &Connections) -> Result<DatabaseUrl, Error> {
        connections.cell_url(self.label(), &self.database_connection)
    }
}

pub struct ApiDatabase {
    pub db: Db,
    pub url: DatabaseUrl,
    plan: Plan,
    /// Where its rows come from, for the export.
    place: Place,
    /// Taken by each cleaning transaction: cells purged at once (`--jobs`)
    /// clean their API rows one after another, as a run of one cell at a
    /// time does, so that they never conflict with each other (a deadlock
    /// between two of them could not simply be retried: the batch's export
    /// number is fixed by then).
    writer: tokio::sync::Mutex<()>,
}

impl ApiDatabase {
    /// Connects and checks that this is a Nova API database.
    pub async fn open(
        url: DatabaseUrl,
        registry: &Registry,
        access: Access,
    ) -> Result<ApiDatabase, Error> {
        let (db, _) = url.open(access).await?;
        let schema = Schema::inspect(&db).await?;
        for table in ["cell_mappings", "instance_mappings"] {
            if !schema.has_table(table) {
                db.close().await;
                return Err(Error::Input(format!(
                    "{} is not a Nova API database: it has no `{table}` table; check --api-database-url or [api_database]/connection",
                    url.redacted()
                )));
            }
        }
        let plan = Plan::new(registry, &schema, db.backend(), DatabaseKind::Api);
        let place = Place {
            database: DatabaseKind::Api.into(),
            cell: None,
            cell_uuid: None,
            backend: Some(url.backend().name().to_owned()),
            name: Some(url.database_name(&schema)),
        };
        Ok(ApiDatabase {
            db,
            url,
            plan,
            place,
            writer: tokio::sync::Mutex::new(()),
        })
    }

    /// Targets of the API database that do not apply here.
    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// `cell_mappings` in id order, cell0 included.
    pub async fn cell_mappings(&self) -> Result<Vec<CellMapping>, Error> {
        let fail = |e| Error::database("cannot read cell_mappings from the API database", e);
        let mut tx = self.db.begin_read().await.map_err(fail)?;
        let mut stmt = tx.stmt();
        stmt.push("SELECT ");
        for (i, column) in ["id", "uuid", "name", "database_connection"]
            .iter()
            .enumerate()
        {
            if i > 0 {
                stmt.push(", ");
            }
            stmt.ident(column);
        }
        stmt.push(" FROM ")
            .ident("cell_mappings")
            .push(" ORDER BY ")
            .ident("id");
        let rows = tx.fetch_all(&stmt).await.map_err(fail)?;
        tx.rollback().await.map_err(fail)?;
        Ok(rows
            .into_iter()
            .filter_map(|row| {
                let mut values = row.into_iter();
                Some(CellMapping {
                    id: values.next()?.as_i64()?,
                    uuid: values.next()?.to_text()?,
                    name: values.next()?.to_text(),
                    database_connection: values.next()?.to_text().unwrap_or_default(),
                })
            })
            .collect())
    }

    /// Removes (or, in a dry run, counts) the API rows of `uuids`, purged
    /// from cell `cell_id`, in one transaction. Rows of instances mapped to
    /// another cell are left alone.
    pub async fn clean(
        &self,
        cell_id: i64,
        uuids: &[String],
        dry_run: bool,
        export: Option<(&SharedExport, u64)>,
    ) -> Result<Vec<(&'static str, u64)>, Error> {
        let fail = |e| {
            Error::database(
                "the cell batch committed, but removing its API database rows failed (the next run removes them)",
                e,
            )
        };
        let _turn = self.writer.lock().await;
        self.clean_rows(cell_id, uuids, dry_run, export)
            .await
            .map_err(|e| match e {
                CommitError::Database(e) => fail(e),
                CommitError::Export(failure) => failure,
            })
    }

    async fn clean_rows(
        &self,
        cell_id: i64,
        uuids: &[String],
        dry_run: bool,
        export: Option<(&SharedExport, u64)>,
    ) -> Result<Vec<(&'static str, u64)>, CommitError> {
        if uuids.is_empty() {
            return Ok(Vec::new());
        }
        let mut tx = if dry_run {
            self.db.begin_read().await?
        } else {
            self.db.begin_write().await?
        };
        let eligible = eligible(&mut tx, cell_id, uuids).await?;
        let batch = purge_api::InstanceBatch {
            uuids: eligible,
            ..purge_api::InstanceBatch::default()
        };
        let mut applied = Applied::default();
        if !batch.uuids.is_empty() {
            applied = self
                .plan
                .apply(&mut tx, &batch, dry_run, export.map(|_| self.plan.capture))
                .await?;
        }
        let (rows, exported) = (applied.rows, applied.exported);
        if dry_run {
            tx.rollback().await?;
            return Ok(rows);
        }
        match export {
            Some((export, number)) if !batch.uuids.is_empty() => {
                let recorder = Recorder {
                    export,
                    place: self.place.clone(),
                };
                recorder.commit(tx, number, &exported, &batch.uuids).await?;
            }
            _ => tx.commit().await?,
        }
        Ok(rows)
    }

    /// Instances mapped to cell `cell_id` and queued for delete that the
    /// cell no longer has: what a run that died between its cell commit and
    /// its API commit left behind (or Nova's archive, which removes the
    /// mapping itself, so rarely). Mappings not queued for delete are never
    /// taken: Nova maps an instance to its cell before creating it there.
    pub async fn leftovers(&self, cell_id: i64, cell: &Db) -> Result<Vec<String>, Error> {
        let fail = |e| Error::database("cannot look for API rows of purged instances", e);
        let mut leftovers = Vec::new();
        let mut after_id = 0;
        loop {
            let mut tx = self.db.begin_read().await.map_err(fail)?;
            let mut stmt = tx.stmt();
            stmt.push("SELECT ")
                .ident("id")
                .push(", ")
                .ident("instance_uuid")
                .push(" FROM ")
                .ident("instance_mappings")
                .push(" WHERE ")
                .ident("cell_id")
                .push(" = ")
                .bind_int(cell_id)
                .push(" AND ")
                .ident("queued_for_delete")
                .push(" = TRUE AND ")
                .ident("id")
                .push(" > ")
                .bind_int(after_id)
                .push(" ORDER BY ")
                .ident("id")
                .push(" LIMIT ")
                .bind_int(LEFTOVER_PAGE as i64);
            let page = tx.fetch_all(&stmt).await.map_err(fail)?;
            tx.rollback().await.map_err(fail)?;
            let Some(last) = page.last() else { break };
            after_id = last.first().and_then(Value::as_i64).unwrap_or(i64::MAX);
            let uuids: Vec<String> = page
                .iter()
                .filter_map(|row| row.get(1).and_then(Value::to_text))
                .collect();
            let present = present_in(cell, &uuids).await.map_err(fail)?;
            leftovers.extend(uuids.into_iter().filter(|u| !present.contains(u)));
        }
        Ok(leftovers)
    }

    pub async fn close(&self) {
        self.db.close().await;
    }
}

/// The cells a selection names, in id order; an unknown name is an error
/// that lists the known ones. (`create-indexes` uses it; `purge`'s run over
/// the cells still has its own copy in cells.rs.)
pub fn select_cells(
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

/// The uuids whose mapping points at `cell_id`, or that have no mapping.
async fn eligible(tx: &mut Tx, cell_id: i64, uuids: &[String]) -> Result<Vec<String>, sqlx::Error> {
    let mut stmt = tx.stmt();
    stmt.push("SELECT ")
        .ident("instance_uuid")
        .push(", ")
        .ident("cell_id")
        .push(" FROM ")
        .ident("instance_mappings")
        .push(" WHERE ")
        .ident("instance_uuid")
        .in_text(uuids);
    let mapped: BTreeMap<String, Option<i64>> = tx
        .fetch_all(&stmt)
        .await?
        .into_iter()
        .filter_map(|row| {
            let mut values = row.into_iter();
            let uuid = values.next()?.to_text()?;
            Some((uuid, values.next().and_then(|v| v.as_i64())))
        })
        .collect();
    Ok(uuids
        .iter()
        .filter(|uuid| mapped.get(*uuid).is_none_or(|cell| *cell == Some(cell_id)))
        .cloned()
        .collect())
}

/// Which of `uuids` the cell's `instances` table still has.
async fn present_in(cell: &Db, uuids: &[String]) -> Result<BTreeSet<String>, sqlx::Error> {
    let mut tx = cell.begin_read().await?;
    let mut stmt = tx.stmt();
    stmt.push("SELECT ")
        .ident("uuid")
        .push(" FROM ")
        .ident("instances")
        .push(" WHERE ")
        .ident("uuid")
        .in_text(uuids);
    let rows = tx.fetch_all(&stmt).await?;
    tx.rollback().await?;
    Ok(rows
        .into_iter()
        .filter_map(|row| row.into_iter().next().and_then(|v| v.to_text()))
        .collect())
}
