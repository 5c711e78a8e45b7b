//! What the own-row scopes purge in one database: each registered target
//! of those scopes, a family (`shadow_*`) expanded into its tables, checked
//! against the live schema, and ordered so that a table's rows go before
//! the rows of the tables they reference.

use std::collections::{BTreeMap, BTreeSet};

use purge_api::{Link, Registration, Registry, Scope};

use super::super::plan::SkippedTarget;
use crate::database::schema::{ColumnKind, ForeignKey, Schema};

/// One table of an own-row scope, ready to purge.
#[derive(Debug, Clone)]
pub struct RowTable {
    /// The registered target's name (a family's, for its members).
    pub name: &'static str,
    pub scope: Scope,
    pub table: String,
    pub link: Link,
    /// Its single-column primary key, the keyset the batches walk.
    pub key: String,
    pub key_is_integer: bool,
    /// Every column, for the export.
    pub columns: Vec<String>,
    /// Foreign keys from other tables into this one: a row they still
    /// reference stays.
    pub referenced_by: Vec<ForeignKey>,
    /// The type of its `deleted` column, when the link looks at it.
    pub deleted: DeletedColumn,
    /// The column by which the instances scope reaches this table's rows
    /// (`instance_uuid`), when it does: in a dry run of both scopes, the
    /// rows of the instances the instances scope would purge are not this
    /// scope's to count.
    pub instance_link: Option<&'static str>,
}

/// How a table's `deleted` column marks a soft-deleted row. Nova's is an
/// integer (the row's id); tables of long-removed features kept older
/// types, which PostgreSQL will not compare with 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeletedColumn {
    /// `deleted <> 0`.
    Integer,
    /// A boolean (`dns_domains`; MariaDB's BOOLEAN is an integer): true.
    Boolean,
    /// A string (`snapshots`, whose id is one): the id, `''` when live.
    Text,
}

#[derive(Debug, Default)]
pub struct RowsPlan {
    /// Tables in the order they are purged: scope by scope, children first.
    pub tables: Vec<RowTable>,
    pub skipped: Vec<SkippedTarget>,
    /// Tables with a `deleted` column that no target of any scope covers.
    pub uncovered: Vec<String>,
}

impl RowsPlan {
    /// The plan for `scopes` (those other than `instances` are planned here).
    pub fn new(registry: &Registry, schema: &Schema, scopes: &BTreeSet<Scope>) -> RowsPlan {
        let mut plan = RowsPlan {
            uncovered: uncovered_soft_deleted_tables(registry, schema),
            ..RowsPlan::default()
        };
        for scope in scopes.iter().filter(|s| **s != Scope::Instances) {
            let mut tables = Vec::new();
            for registration in registry.iter() {
                let target = registration.target;
                if target.scope() != *scope {
                    continue;
                }
                // A family's members are its tables that have the column it
                // dates rows by (`shadow_alembic_version` has none), but for
                // those a target of the scope names itself (dated otherwise).
                let names: Vec<String> = match target.family() {
                    Some(prefix) => schema
                        .tables()
                        .filter(|t| t.starts_with(prefix) && t.len() > prefix.len())
                        .filter(|t| schema.has_column(t, target.link().column()))
                        .filter(|t| !named_in_scope(registry, *scope, t))
                        .map(str::to_owned)
                        .collect(),
                    None => vec![target.table().to_owned()],
                };
                for table in names {
                    // A table Nova no longer has (or never had, in this
                    // release) is nothing to report: the scope takes every
                    // soft-deleting table that is there.
                    if !schema.has_table(&table) {
                        continue;
                    }
                    match row_table(registration, *scope, &table, schema, registry) {
                        Ok(row_table) => tables.push(row_table),
                        Err(reason) => plan.skipped.push(SkippedTarget {
                            name: target.name(),
                            table: target.table(),
                            reason,
                        }),
                    }
                }
            }
            plan.tables.extend(children_first(tables));
        }
        plan
    }
}

impl RowsPlan {
    /// The key of a table of the plan.
    pub fn key_of(&self, table: &str) -> Option<&str> {
        self.tables
            .iter()
            .find(|t| t.table == table)
            .map(|t| t.key.as_str())
    }
}

/// Whether a target of `scope` other than a family names `table` itself.
fn named_in_scope(registry: &Registry, scope: Scope, table: &str) -> bool {
    registry.iter().any(|r| {
        r.target.scope() == scope && r.target.family().is_none() && r.target.table() == table
    })
}

/// The table as the engine needs it, or why it cannot be purged here.
fn row_table(
    registration: &'static Registration,
    scope: Scope,
    table: &str,
    schema: &Schema,
    registry: &Registry,
) -> Result<RowTable, String> {
    let link = registration.target.link();
    let Link::Own {
        cutoff_column,
        soft_deleted,
    } = link
    else {
        return Err(format!(
            "target {} of scope {} does not choose rows by their own columns",
            registration.name(),
            scope.name()
        ));
    };
    if !schema.has_column(table, cutoff_column) {
        return Err(format!("table {table} has no column {cutoff_column}"));
    }
    if soft_deleted && !schema.has_column(table, "deleted") {
        return Err(format!("table {table} has no column deleted"));
    }
    let key = schema
        .single_primary_key(table)
        .ok_or_else(|| format!("table {table} has no single-column primary key to walk"))?
        .to_owned();
    let key_is_integer = schema.column_kind(table, &key) == Some(ColumnKind::Integer);
    let deleted_type = schema.column_type(table, "deleted").unwrap_or_default();
    let deleted = if deleted_type.to_lowercase().contains("bool") {
        DeletedColumn::Boolean
    } else if schema.column_kind(table, "deleted") == Some(ColumnKind::Text) {
        DeletedColumn::Text
    } else {
        DeletedColumn::Integer
    };
    let referenced_by = schema
        .foreign_keys
        .iter()
        .filter(|fk| fk.ref_table == table && fk.table != table)
        .cloned()
        .collect();
    Ok(RowTable {
        name: registration.name(),
        scope,
        table: table.to_owned(),
        link,
        key,
        key_is_integer,
        columns: schema.columns(table).map(str::to_owned).collect(),
        referenced_by,
        deleted,
        instance_link: instance_link(registry, table),
    })
}

/// The column of `table` an instances-scope target links it by, if one
/// does directly.
fn instance_link(registry: &Registry, table: &str) -> Option<&'static str> {
    registry
        .iter()
        .filter(|r| r.target.scope() == Scope::Instances && r.target.table() == table)
        .find_map(|r| match r.target.link() {
            Link::Column(column) | Link::SoftDeletedColumn(column) => Some(column),
            _ => None,
        })
}

/// Orders one scope's tables so that a table whose rows reference another's
/// comes first (Kahn's algorithm over the live foreign keys, ties in
/// registry order). Tables caught in a cycle keep registry order; the
/// database refuses what cannot go, and the engine then takes the rows one
/// by one.
fn children_first(tables: Vec<RowTable>) -> Vec<RowTable> {
    let names: BTreeSet<&str> = tables.iter().map(|t| t.table.as_str()).collect();
    // parent → the children (in this scope) that must go before it.
    let mut waiting: BTreeMap<usize, BTreeSet<usize>> = BTreeMap::new();
    let index: BTreeMap<&str, usize> = tables
        .iter()
        .enumerate()
        .map(|(i, t)| (t.table.as_str(), i))
        .collect();
    for (i, table) in tables.iter().enumerate() {
        let children: BTreeSet<usize> = table
            .referenced_by
            .iter()
            .filter(|fk| names.contains(fk.table.as_str()))
            .map(|fk| index[fk.table.as_str()])
            .collect();
        waiting.insert(i, children);
    }
    let mut order = Vec::with_capacity(tables.len());
    let mut placed = BTreeSet::new();
    while placed.len() < tables.len() {
        let ready = (0..tables.len())
            .find(|i| !placed.contains(i) && waiting[i].iter().all(|c| placed.contains(c)))
            .or_else(|| (0..tables.len()).find(|i| !placed.contains(i)))
            .expect("a table is left");
        placed.insert(ready);
        order.push(ready);
    }
    let mut tables: Vec<Option<RowTable>> = tables.into_iter().map(Some).collect();
    order
        .into_iter()
        .map(|i| tables[i].take().expect("each placed once"))
        .collect()
}

/// Tables with a `deleted` column that no target covers: not `instances`
/// (the instances scope), no own-row target names them, no family takes
/// them.
fn uncovered_soft_deleted_tables(registry: &Registry, schema: &Schema) -> Vec<String> {
    let named: BTreeSet<&str> = registry
        .iter()
        .filter(|r| r.target.family().is_none())
        .filter(|r| r.target.scope() != Scope::Instances || r.target.link() == Link::Instance)
        .map(|r| r.target.table())
        .collect();
    let families: Vec<&str> = registry.iter().filter_map(|r| r.target.family()).collect();
    schema
        .tables()
        .filter(|t| schema.has_column(t, "deleted"))
        .filter(|t| !named.contains(t))
        .filter(|t| !families.iter().any(|prefix| t.starts_with(prefix)))
        .map(str::to_owned)
        .collect()
}
