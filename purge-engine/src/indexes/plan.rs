//! What one database needs: the lookups `check` finds no index serving
//! (the same findings, not a second opinion), each with the index
//! nova-purge would create and what may stand in its way under that name:
//! an INVALID index a failed PostgreSQL build left, or someone else's
//! index or table.

use std::collections::BTreeSet;

use purge_api::{Backend, DatabaseKind, Db, Registry, Stmt};

use crate::database::ddl;
use crate::database::schema::Schema;
use crate::error::Error;
use crate::purge::findings::{findings, FindingKind};
use crate::purge::plan::Plan;

/// An index a lookup needs.
#[derive(Debug, Clone)]
pub struct Wanted {
    pub table: String,
    pub column: String,
    /// `nova_purge_<table>_<column>`.
    pub name: String,
    pub action: Action,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Nothing has the name: create it.
    Create,
    /// An INVALID index of that name on the table, what an interrupted or
    /// failed `CREATE INDEX CONCURRENTLY` leaves: ours by its name and
    /// serving no query, so it is dropped (concurrently) and built again.
    RebuildInvalid,
    /// The name is taken by something that is not that: left alone.
    Conflict(String),
}

impl Wanted {
    /// The statements that create it, in order (none for a conflict).
    pub fn statements(&self, backend: Backend) -> Vec<Stmt> {
        let create = || ddl::create_index(backend, &self.name, &self.table, &self.column);
        match self.action {
            Action::Create => vec![create()],
            Action::RebuildInvalid => vec![ddl::drop_invalid_index(&self.name), create()],
            Action::Conflict(_) => Vec::new(),
        }
    }
}

/// The indexes this Nova cell database lacks, in table order. Refuses a
/// database that is not one.
pub async fn wanted(db: &Db, registry: &Registry) -> Result<Vec<Wanted>, Error> {
    let schema = Schema::inspect(db).await?;
    schema.require_nova_cell()?;
    let plan = Plan::new(registry, &schema, db.backend(), DatabaseKind::Cell);
    // Two targets (or a target and the skip check) may look up the same
    // column: one index serves both.
    let lookups: BTreeSet<(String, String)> = findings(&schema, &plan, db.backend())
        .into_iter()
        .filter(|finding| finding.kind == FindingKind::MissingIndex)
        .filter_map(|finding| Some((finding.table, finding.column?)))
        .collect();
    let mut wanted = Vec::new();
    for (table, column) in lookups {
        let name = ddl::index_name(&table, &column);
        let action = match existing(db, &table, &name).await? {
            None => Action::Create,
            Some(found) if found.is_invalid_index_on(&table) => Action::RebuildInvalid,
            Some(found) => Action::Conflict(found.conflict(&name, &table, &column)),
        };
        wanted.push(Wanted {
            table,
            column,
            name,
            action,
        });
    }
    Ok(wanted)
}

/// Whatever holds an index's name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Existing {
    /// The table it belongs to (or its own name, for a table).
    pub table: String,
    /// `Some(valid)` for an index (always valid but on PostgreSQL), `None`
    /// for anything else of that name.
    pub valid: Option<bool>,
}

impl Existing {
    pub fn is_invalid_index_on(&self, table: &str) -> bool {
        self.valid == Some(false) && self.table == table
    }

    fn conflict(&self, name: &str, table: &str, column: &str) -> String {
        let what = match self.valid {
            Some(_) if self.table == table => {
                format!("an index named {name} exists on {table} but does not start with {column}")
            }
            Some(_) => format!("an index named {name} exists on table {}", self.table),
            None => format!(
                "something that is not an index (a table, a view, a sequence) is named {name}"
            ),
        };
        format!("{what}: it is not one nova-purge built for this lookup; drop or rename it, then run again")
    }
}

/// What holds `name` in this database (for MariaDB/MySQL, whose index
/// names are per table: on `table`), read from the catalogue.
pub async fn existing(db: &Db, table: &str, name: &str) -> Result<Option<Existing>, Error> {
    let fail = |e| Error::database(&format!("cannot look for an index named {name}"), e);
    let mut tx = db.begin_read().await.map_err(fail)?;
    let mut stmt = tx.stmt();
    match db.backend() {
        Backend::Postgres => {
            stmt.push(
                "SELECT coalesce(t.relname, c.relname)::text, i.indisvalid FROM pg_class c \
                 JOIN pg_namespace n ON n.oid = c.relnamespace \
                 LEFT JOIN pg_index i ON i.indexrelid = c.oid \
                 LEFT JOIN pg_class t ON t.oid = i.indrelid \
                 WHERE n.nspname = current_schema() AND c.relname = ",
            )
            .bind_text(name);
        }
        Backend::MySql => {
            stmt.push(
                "SELECT DISTINCT table_name, 1 FROM information_schema.statistics \
                 WHERE table_schema = DATABASE() AND table_name = ",
            )
            .bind_text(table)
            .push(" AND index_name = ")
            .bind_text(name);
        }
        Backend::Sqlite => {
            stmt.push("SELECT tbl_name, type = 'index' FROM sqlite_master WHERE name = ")
                .bind_text(name);
        }
    }
    let rows = tx.fetch_all(&stmt).await.map_err(fail)?;
    tx.rollback().await.map_err(fail)?;
    Ok(rows.into_iter().next().map(|row| {
        let table = row.first().and_then(|v| v.to_text()).unwrap_or_default();
        let is_index = row.get(1).and_then(|v| v.as_i64());
        let valid = match db.backend() {
            // indisvalid: NULL when the relation is not an index.
            Backend::Postgres => is_index.map(|valid| valid != 0),
            _ => (is_index == Some(1)).then_some(true),
        };
        Existing { table, valid }
    }))
}
