//! What a purge target is: a table, how its rows reach an instance, and how
//! to count and delete the rows that belong to a batch of instances.

use async_trait::async_trait;
use chrono::NaiveDateTime;

use crate::sql::{Stmt, Tx};

/// Which of Nova's databases a target's table lives in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DatabaseKind {
    /// A cell database (`[database]/connection`): instances and their rows.
    Cell,
    /// The API database (`[api_database]/connection`): mappings and specs.
    Api,
}

impl DatabaseKind {
    pub fn name(self) -> &'static str {
        match self {
            DatabaseKind::Cell => "cell",
            DatabaseKind::Api => "api",
        }
    }
}

/// What a purge removes: deleted instances with all their rows (the
/// original purpose), or rows chosen by their own columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    /// Soft-deleted instances older than the cutoff, and every row that
    /// belongs to them.
    Instances,
    /// Every other row Nova soft-deleted (`deleted <> 0`) before the
    /// cutoff, whatever its instance: metadata keys, services, compute
    /// nodes, aggregates, legacy tables...
    Rows,
    /// `task_log` rows whose period ended before the cutoff.
    TaskLog,
    /// Rows of Nova's `shadow_*` tables (filled by `nova-manage db
    /// archive_deleted_rows`) deleted before the cutoff.
    Shadow,
}

impl Scope {
    /// Every scope, in the order a run purges them.
    pub const ALL: [Scope; 4] = [Scope::Instances, Scope::Rows, Scope::TaskLog, Scope::Shadow];

    /// The name `--scope` takes and reports show.
    pub fn name(self) -> &'static str {
        match self {
            Scope::Instances => "instances",
            Scope::Rows => "rows",
            Scope::TaskLog => "task-log",
            Scope::Shadow => "shadow",
        }
    }
}

/// The instances being purged in one transaction. Every one of them is
/// soft-deleted, older than the cutoff and locked by the engine.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InstanceBatch {
    /// `instances.id`, the primary key.
    pub ids: Vec<i64>,
    /// `instances.uuid`, which every child table links to.
    pub uuids: Vec<String>,
    /// Keys of the parent rows that two-hop links go through, by parent
    /// table, as the engine read (and, in a real run, locked) them. A
    /// [`Link::Through`] then matches `column IN (keys)`, which the column's
    /// index answers, instead of a subquery that MariaDB runs as a scan of
    /// the whole child table, locking every row of it until the commit.
    pub parent_keys: Vec<(&'static str, Vec<i64>)>,
}

impl InstanceBatch {
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// The keys read for `parent_table`, if the engine read them.
    pub fn parent_keys(&self, parent_table: &str) -> Option<&[i64]> {
        self.parent_keys
            .iter()
            .find(|(table, _)| *table == parent_table)
            .map(|(_, keys)| keys.as_slice())
    }
}

/// How the rows of a target's table belong to an instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Link {
    /// The `instances` table itself: the batch's own rows, matched by primary
    /// key. The target with this link always runs last in its database.
    Instance,
    /// Rows whose `column` holds one of the batch's instance uuids.
    Column(&'static str),
    /// As [`Link::Column`], but only rows that are themselves soft-deleted
    /// (`deleted <> 0`). For tables whose live rows are not instance data,
    /// such as `pci_devices`, which is host inventory.
    SoftDeletedColumn(&'static str),
    /// Rows whose `column` points at `parent_key` of rows in `parent_table`
    /// that belong to the batch through `parent_column` (two hops, as
    /// `instance_actions_events.action_id` → `instance_actions.id`).
    Through {
        column: &'static str,
        parent_table: &'static str,
        parent_key: &'static str,
        parent_column: &'static str,
    },
    /// Rows chosen by their own columns, not through an instance (every
    /// scope but [`Scope::Instances`]): `cutoff_column` before the cutoff,
    /// and, when `soft_deleted`, `deleted <> 0`.
    Own {
        cutoff_column: &'static str,
        soft_deleted: bool,
    },
}

impl Link {
    /// The column of the target's own table that carries the link.
    pub fn column(&self) -> &'static str {
        match self {
            Link::Instance => "id",
            Link::Column(column) | Link::SoftDeletedColumn(column) => column,
            Link::Through { column, .. } => column,
            Link::Own { cutoff_column, .. } => cutoff_column,
        }
    }

    /// Other tables the link reads, which must exist for the target to run.
    pub fn parent_table(&self) -> Option<&'static str> {
        match self {
            Link::Through { parent_table, .. } => Some(parent_table),
            _ => None,
        }
    }

    /// A short human description, as `nova-purge targets` prints it.
    pub fn describe(&self) -> String {
        match self {
            Link::Instance => "the instance row itself (instances.id)".to_owned(),
            Link::Column(column) => format!("{column} = instances.uuid"),
            Link::SoftDeletedColumn(column) => {
                format!("{column} = instances.uuid, only rows with deleted <> 0")
            }
            Link::Through {
                column,
                parent_table,
                parent_key,
                parent_column,
            } => format!("{column} = {parent_table}.{parent_key}, {parent_table}.{parent_column} = instances.uuid"),
            Link::Own {
                cutoff_column,
                soft_deleted: true,
            } => format!("its own rows with deleted <> 0 and {cutoff_column} before the cutoff"),
            Link::Own {
                cutoff_column,
                soft_deleted: false,
            } => format!("its own rows with {cutoff_column} before the cutoff"),
        }
    }

    /// Appends the predicate that selects a table's own rows older than
    /// `cutoff` (the part after `WHERE`), for [`Link::Own`]; `include_null`
    /// also takes rows whose cutoff column is NULL (undated rows).
    pub fn push_own_predicate(&self, stmt: &mut Stmt, cutoff: NaiveDateTime, include_null: bool) {
        let Link::Own {
            cutoff_column,
            soft_deleted,
        } = *self
        else {
            // Only own-row links select by date; anything else selects
            // nothing rather than everything.
            stmt.push("1 = 0");
            return;
        };
        if soft_deleted {
            stmt.ident("deleted").push(" <> 0 AND ");
        }
        stmt.push("(")
            .ident(cutoff_column)
            .push(" < ")
            .bind_time(cutoff);
        if include_null {
            stmt.push(" OR ").ident(cutoff_column).push(" IS NULL");
        }
        stmt.push(")");
    }

    /// Appends the predicate that selects a batch's rows under this link
    /// (the part after `WHERE`).
    pub fn push_predicate(&self, stmt: &mut Stmt, batch: &InstanceBatch) {
        match self {
            Link::Instance => {
                // Re-checking `deleted` costs nothing and makes it impossible
                // for this statement to remove a live instance.
                stmt.ident("id")
                    .in_int(&batch.ids)
                    .push(" AND ")
                    .ident("deleted")
                    .push(" <> 0");
            }
            Link::Column(column) => {
                stmt.ident(column).in_text(&batch.uuids);
            }
            Link::SoftDeletedColumn(column) => {
                stmt.ident(column)
                    .in_text(&batch.uuids)
                    .push(" AND ")
                    .ident("deleted")
                    .push(" <> 0");
            }
            Link::Through {
                column,
                parent_table,
                parent_key,
                parent_column,
            } => {
                if let Some(keys) = batch.parent_keys(parent_table) {
                    stmt.ident(column).in_int(keys);
                    return;
                }
                stmt.ident(column)
                    .push(" IN (SELECT ")
                    .ident(parent_key)
                    .push(" FROM ")
                    .ident(parent_table)
                    .push(" WHERE ")
                    .ident(parent_column)
                    .in_text(&batch.uuids)
                    .push(")");
            }
            Link::Own { .. } => {
                // Own-row targets are not reached through instances.
                stmt.push("1 = 0");
            }
        }
    }
}

/// One table whose rows belong to instances and must go with them.
///
/// Implementations register themselves with [`crate::register_target!`].
/// Which rows belong to a batch is said once, by
/// [`PurgeTarget::push_predicate`] (by default derived from
/// [`PurgeTarget::link`]); counting, exporting and deleting all use it, so
/// the dry run, the audit export and the real run always agree. A target
/// whose rows a [`Link`] cannot describe overrides `push_predicate`.
#[async_trait]
pub trait PurgeTarget: Send + Sync + 'static {
    /// Unique name, used for ordering (`before`) and in reports.
    fn name(&self) -> &'static str;

    /// The table the rows are deleted from.
    fn table(&self) -> &'static str;

    /// The database the table lives in.
    fn database(&self) -> DatabaseKind {
        DatabaseKind::Cell
    }

    /// How the table's rows reach an instance, or, for the other scopes,
    /// which of its own rows go ([`Link::Own`]).
    fn link(&self) -> Link;

    /// What this target purges; [`Scope::Instances`] unless said otherwise.
    fn scope(&self) -> Scope {
        Scope::Instances
    }

    /// For a target that stands for a family of tables (every table whose
    /// name starts with this prefix, as Nova's `shadow_*`), the prefix; its
    /// [`PurgeTarget::table`] is then only a label.
    fn family(&self) -> Option<&'static str> {
        None
    }

    /// Appends the condition (after `WHERE`) that selects the rows of this
    /// target's table belonging to `batch`. Column names stay unqualified:
    /// the table may be aliased.
    fn push_predicate(&self, stmt: &mut Stmt, batch: &InstanceBatch) {
        self.link().push_predicate(stmt, batch);
    }

    /// Counts the rows that [`PurgeTarget::delete`] would remove for `batch`.
    async fn count(&self, tx: &mut Tx, batch: &InstanceBatch) -> Result<u64, sqlx::Error> {
        let mut stmt = tx.stmt();
        stmt.push("SELECT COUNT(*) FROM ")
            .ident(self.table())
            .push(" WHERE ");
        self.push_predicate(&mut stmt, batch);
        tx.fetch_count(&stmt).await
    }

    /// Deletes the rows that belong to `batch`, inside the engine's
    /// transaction, and returns how many went.
    async fn delete(&self, tx: &mut Tx, batch: &InstanceBatch) -> Result<u64, sqlx::Error> {
        let mut stmt = tx.stmt();
        stmt.push("DELETE FROM ")
            .ident(self.table())
            .push(" WHERE ");
        self.push_predicate(&mut stmt, batch);
        tx.execute(&stmt).await
    }
}

/// A target fully described by its table and link: what
/// [`crate::register_target!`] builds from a declaration.
#[derive(Debug)]
pub struct TableTarget {
    pub name: &'static str,
    pub table: &'static str,
    pub database: DatabaseKind,
    pub link: Link,
    pub scope: Scope,
    pub family: Option<&'static str>,
}

impl PurgeTarget for TableTarget {
    fn name(&self) -> &'static str {
        self.name
    }

    fn table(&self) -> &'static str {
        self.table
    }

    fn database(&self) -> DatabaseKind {
        self.database
    }

    fn link(&self) -> Link {
        self.link
    }

    fn scope(&self) -> Scope {
        self.scope
    }

    fn family(&self) -> Option<&'static str> {
        self.family
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sql::Backend;

    fn batch() -> InstanceBatch {
        InstanceBatch {
            ids: vec![7, 9],
            uuids: vec!["u7".into(), "u9".into()],
            parent_keys: Vec::new(),
        }
    }

    fn predicate(link: Link, backend: Backend) -> String {
        let mut stmt = Stmt::new(backend);
        link.push_predicate(&mut stmt, &batch());
        stmt.sql().to_owned()
    }

    #[test]
    fn the_instance_link_matches_by_primary_key_and_never_a_live_row() {
        assert_eq!(
            predicate(Link::Instance, Backend::MySql),
            "`id` IN (?, ?) AND `deleted` <> 0"
        );
    }

    #[test]
    fn soft_deleted_links_only_match_rows_deleted_themselves() {
        assert_eq!(
            predicate(Link::SoftDeletedColumn("instance_uuid"), Backend::Postgres),
            r#""instance_uuid" IN (SELECT unnest($1)) AND "deleted" <> 0"#
        );
    }

    #[test]
    fn a_two_hop_link_uses_the_parent_keys_the_engine_read() {
        let link = Link::Through {
            column: "action_id",
            parent_table: "instance_actions",
            parent_key: "id",
            parent_column: "instance_uuid",
        };
        let mut stmt = Stmt::new(Backend::MySql);
        let batch = InstanceBatch {
            parent_keys: vec![("instance_actions", vec![3, 4])],
            ..batch()
        };
        link.push_predicate(&mut stmt, &batch);
        assert_eq!(stmt.sql(), "`action_id` IN (?, ?)");
    }

    #[test]
    fn own_rows_are_chosen_by_their_date_and_deleted_flag() {
        let cutoff = chrono::NaiveDate::from_ymd_opt(2026, 1, 1)
            .unwrap()
            .and_hms_opt(0, 0, 0)
            .unwrap();
        let mut stmt = Stmt::new(Backend::MySql);
        Link::Own {
            cutoff_column: "deleted_at",
            soft_deleted: true,
        }
        .push_own_predicate(&mut stmt, cutoff, false);
        assert_eq!(stmt.sql(), "`deleted` <> 0 AND (`deleted_at` < ?)");
        let mut stmt = Stmt::new(Backend::Postgres);
        Link::Own {
            cutoff_column: "deleted_at",
            soft_deleted: false,
        }
        .push_own_predicate(&mut stmt, cutoff, true);
        assert_eq!(stmt.sql(), r#"("deleted_at" < $1 OR "deleted_at" IS NULL)"#);
        let mut stmt = Stmt::new(Backend::Sqlite);
        Link::Column("instance_uuid").push_own_predicate(&mut stmt, cutoff, true);
        assert_eq!(stmt.sql(), "1 = 0");
    }

    #[test]
    fn a_two_hop_link_selects_through_the_parent_table() {
        let link = Link::Through {
            column: "action_id",
            parent_table: "instance_actions",
            parent_key: "id",
            parent_column: "instance_uuid",
        };
        assert_eq!(
            predicate(link, Backend::Sqlite),
            r#""action_id" IN (SELECT "id" FROM "instance_actions" WHERE "instance_uuid" IN (?, ?))"#
        );
    }
}
