//! What a purge of one database will do, decided once from the registry and
//! the live schema: which targets run, which are skipped because their table
//! is not there, and which tables can block an instance's purge.

use std::collections::BTreeMap;

use purge_api::{Backend, DatabaseKind, InstanceBatch, Link, Registration, Registry, Scope, Tx};
use tracing::{debug, warn};

use crate::export::capture::{delete_captured, Capture};
use crate::export::writer::TableRows;

use crate::database::schema::{ForeignKey, Schema};

/// A registered target that does not apply to this database.
#[derive(Debug, Clone)]
pub struct SkippedTarget {
    pub name: &'static str,
    pub table: &'static str,
    pub reason: String,
}

/// A foreign key from a table no target purges into rows a target does
/// purge. While such a row exists, the instance it belongs to cannot go.
#[derive(Debug, Clone)]
pub struct Blocker {
    pub foreign_key: ForeignKey,
    /// The column of `foreign_key.ref_table` that holds the instance uuid.
    link_column: &'static str,
}

impl Blocker {
    /// `table.column`, as reports name it.
    pub fn source(&self) -> String {
        format!("{}.{}", self.foreign_key.table, self.foreign_key.column)
    }

    /// The uuids of `batch` that this foreign key still references.
    pub async fn referenced(
        &self,
        tx: &mut Tx,
        batch: &InstanceBatch,
    ) -> Result<Vec<String>, sqlx::Error> {
        let fk = &self.foreign_key;
        let mut stmt = tx.stmt();
        stmt.push("SELECT DISTINCT p.")
            .ident(self.link_column)
            .push(" FROM ")
            .ident(&fk.ref_table)
            .push(" p JOIN ")
            .ident(&fk.table)
            .push(" c ON c.")
            .ident(&fk.column)
            .push(" = p.")
            .ident(&fk.ref_column)
            .push(" WHERE p.")
            .ident(self.link_column)
            .in_text(&batch.uuids);
        let rows = tx.fetch_all(&stmt).await?;
        Ok(rows
            .into_iter()
            .filter_map(|row| row.into_iter().next().and_then(|v| v.to_text()))
            .collect())
    }
}

#[derive(Debug)]
pub struct Plan {
    /// Targets to run, in registry order.
    pub active: Vec<&'static Registration>,
    /// The columns of each active target's table, for the audit export.
    pub columns: BTreeMap<&'static str, Vec<String>>,
    /// How the export takes the rows a delete removes on this server.
    pub capture: Capture,
    pub skipped_targets: Vec<SkippedTarget>,
    pub blockers: Vec<Blocker>,
}

impl Plan {
    pub fn new(
        registry: &Registry,
        schema: &Schema,
        backend: Backend,
        database: DatabaseKind,
    ) -> Plan {
        let mut active = Vec::new();
        let mut skipped_targets = Vec::new();
        for registration in registry.iter() {
            let target = registration.target;
            if target.database() != database || target.scope() != Scope::Instances {
                continue;
            }
            match missing_part(schema, registration) {
                None => active.push(registration),
                Some(reason) => {
                    debug!(target = target.name(), %reason, "target skipped");
                    skipped_targets.push(SkippedTarget {
                        name: target.name(),
                        table: target.table(),
                        reason,
                    });
                }
            }
        }
        let blockers = blockers(schema, &active);
        let columns = active
            .iter()
            .map(|r| {
                let table = r.target.table();
                (table, schema.columns(table).map(str::to_owned).collect())
            })
            .collect();
        Plan {
            active,
            columns,
            capture: schema.capture(backend),
            skipped_targets,
            blockers,
        }
    }
}

/// What [`Plan::apply`] did to a batch.
#[derive(Debug, Default)]
pub struct Applied {
    /// Rows deleted (or, in a dry run, counted) per target table, in order.
    pub rows: Vec<(&'static str, u64)>,
    /// The rows deleted, as JSON, when the export asked for them.
    pub exported: Vec<TableRows>,
}

impl Plan {
    /// Runs every active target on `batch` in registry order: counts in a
    /// dry run, deletes otherwise, and with `export` deletes capturing each
    /// deleted row as JSON.
    pub async fn apply(
        &self,
        tx: &mut Tx,
        batch: &InstanceBatch,
        dry_run: bool,
        export: Option<Capture>,
    ) -> Result<Applied, sqlx::Error> {
        let mut applied = Applied::default();
        for registration in &self.active {
            let target = registration.target;
            let rows = match (dry_run, export) {
                (true, _) => target.count(tx, batch).await?,
                (false, None) => target.delete(tx, batch).await?,
                (false, Some(capture)) => {
                    let columns = &self.columns[target.table()];
                    let predicate = |stmt: &mut purge_api::Stmt| target.push_predicate(stmt, batch);
                    let rows =
                        delete_captured(tx, target.table(), columns, predicate, capture).await?;
                    let count = rows.len() as u64;
                    applied.exported.push((target.table().to_owned(), rows));
                    count
                }
            };
            debug!(target = target.name(), rows, dry_run, "target applied");
            applied.rows.push((target.table(), rows));
        }
        Ok(applied)
    }
}

/// Why a target cannot run here, if it cannot.
fn missing_part(schema: &Schema, registration: &Registration) -> Option<String> {
    let target = registration.target;
    let table = target.table();
    let link = target.link();
    if !schema.has_table(table) {
        return Some(format!("table {table} does not exist in this database"));
    }
    if !schema.has_column(table, link.column()) {
        return Some(format!("table {table} has no column {}", link.column()));
    }
    if let Some(parent) = link.parent_table() {
        if !schema.has_table(parent) {
            return Some(format!(
                "table {parent}, through which {table} links, does not exist"
            ));
        }
    }
    None
}

/// Foreign keys from tables no active target covers into tables that active
/// targets purge.
fn blockers(schema: &Schema, active: &[&'static Registration]) -> Vec<Blocker> {
    let covers = |table: &str| active.iter().any(|r| r.target.table() == table);
    let mut blockers = Vec::new();
    for fk in &schema.foreign_keys {
        if covers(&fk.table) || fk.table == fk.ref_table {
            continue;
        }
        let Some(parent) = active.iter().find(|r| r.target.table() == fk.ref_table) else {
            continue;
        };
        let link_column = match parent.target.link() {
            Link::Instance => "uuid",
            Link::Column(column) | Link::SoftDeletedColumn(column) => column,
            Link::Through { .. } | Link::Own { .. } => {
                // Two hops from the instance: the engine cannot tell which
                // instance such a row holds back, but the database still
                // refuses the delete, and the engine then isolates the
                // instance that fails.
                warn!(
                    table = %fk.table,
                    references = %fk.ref_table,
                    "a table no target covers references a two-hop target; affected instances are found by trial"
                );
                continue;
            }
        };
        blockers.push(Blocker {
            foreign_key: fk.clone(),
            link_column,
        });
    }
    blockers
}
