//! The floor of the own-row scopes: what an operator would write by hand.
//! One set-based DELETE per table, no batching, all in one transaction:
//!
//! - `rows`: every table with a `deleted` column but `instances` (and
//!   `task_log`, which has its own scope), children before parents,
//!   `DELETE FROM t WHERE deleted <> 0 AND deleted_at < :cutoff`, and, for a
//!   table that other tables reference, `AND NOT EXISTS (SELECT 1 FROM child
//!   WHERE child.fk = t.id)`: its children were deleted just before, so
//!   what is left of them stays, and so does the row it references;
//! - `task-log`: `DELETE FROM task_log WHERE period_ending < :cutoff`;
//! - `shadow`: `DELETE FROM shadow_x WHERE deleted_at < :cutoff`, per
//!   shadow table.
//!
//! Written from the fixture schema, independently of the purge targets and
//! of the row engine's plan, so that the equality check cross-checks them.

use std::time::Instant;

use anyhow::{bail, Context, Result};
use purge_api::{Backend, Db, Scope, Stmt};

use crate::fill::Times;
use crate::floor::FloorRun;

/// A foreign key into a table: (referencing table, its column, the
/// referenced column).
type Reference = (&'static str, &'static str, &'static str);

/// The `rows` scope's tables in the order the floor deletes them (children
/// first), each with the foreign keys into it.
const ROWS: &[(&str, &[Reference])] = &[
    ("instance_actions_events", &[]),
    (
        "instance_actions",
        &[("instance_actions_events", "action_id", "id")],
    ),
    ("consoles", &[]),
    ("console_pools", &[("consoles", "pool_id", "id")]),
    ("fixed_ips", &[]),
    ("block_device_mapping", &[]),
    ("instance_extra", &[]),
    ("instance_faults", &[]),
    ("instance_id_mappings", &[]),
    ("instance_info_caches", &[]),
    ("instance_metadata", &[]),
    ("instance_system_metadata", &[]),
    ("migrations", &[]),
    ("virtual_interfaces", &[]),
    ("pci_devices", &[]),
    ("compute_nodes", &[("pci_devices", "compute_node_id", "id")]),
    ("security_group_instance_association", &[]),
    (
        "security_groups",
        &[(
            "security_group_instance_association",
            "security_group_id",
            "id",
        )],
    ),
    ("services", &[]),
    ("aggregate_hosts", &[]),
    ("aggregates", &[("aggregate_hosts", "aggregate_id", "id")]),
];

const SHADOW: &[&str] = &["shadow_instance_metadata", "shadow_services"];

/// The statements, in order.
pub fn statements(
    backend: Backend,
    scope: Scope,
    times: &Times,
) -> Result<Vec<(&'static str, Stmt)>> {
    let q = |s: &str| backend.quote(s);
    let mut out = Vec::new();
    match scope {
        Scope::Rows => {
            for (table, references) in ROWS {
                let mut stmt = Stmt::new(backend);
                stmt.push(&format!(
                    "DELETE FROM {} WHERE {} <> 0 AND {} < ",
                    q(table),
                    q("deleted"),
                    q("deleted_at")
                ))
                .bind_time(times.cutoff);
                for (child, column, key) in *references {
                    stmt.push(&format!(
                        " AND NOT EXISTS (SELECT 1 FROM {} c WHERE c.{} = {}.{})",
                        q(child),
                        q(column),
                        q(table),
                        q(key)
                    ));
                }
                out.push((*table, stmt));
            }
        }
        Scope::TaskLog => {
            let mut stmt = Stmt::new(backend);
            stmt.push(&format!(
                "DELETE FROM {} WHERE {} < ",
                q("task_log"),
                q("period_ending")
            ))
            .bind_time(times.cutoff);
            out.push(("task_log", stmt));
        }
        Scope::Shadow => {
            for table in SHADOW {
                let mut stmt = Stmt::new(backend);
                stmt.push(&format!(
                    "DELETE FROM {} WHERE {} < ",
                    q(table),
                    q("deleted_at")
                ))
                .bind_time(times.cutoff);
                out.push((*table, stmt));
            }
        }
        Scope::Instances => bail!("the instances floor is floor::statements"),
    }
    Ok(out)
}

/// Runs the floor of `scope` in one transaction.
pub async fn run(db: &Db, scope: Scope, times: &Times) -> Result<FloorRun> {
    let statements = statements(db.backend(), scope, times)?;
    let started = Instant::now();
    let mut tx = db.begin_write().await?;
    let mut tables = Vec::new();
    for (table, stmt) in &statements {
        let t = Instant::now();
        let rows = tx
            .execute(stmt)
            .await
            .with_context(|| format!("floor statement failed: {}", stmt.sql()))?;
        tables.push((*table, rows, t.elapsed()));
    }
    tx.commit().await?;
    Ok(FloorRun {
        tables,
        elapsed: started.elapsed(),
        shape: None,
    })
}

#[cfg(test)]
mod tests {
    use purge_engine::database::schema::Schema;

    use super::*;

    /// Every fixture table with a `deleted` column but `instances`,
    /// `task_log` and the shadow tables is in the rows floor, after the
    /// tables that reference it.
    #[tokio::test]
    async fn the_rows_floor_covers_every_soft_deleting_table_children_first() {
        let copy = crate::db::create(Backend::Sqlite)
            .await
            .expect("a database");
        let db = crate::db::connect(&copy, true).await.expect("connect");
        purge_fixture::Fixture::full()
            .create(&db)
            .await
            .expect("schema");
        let schema = Schema::inspect(&db).await.expect("inspect");
        db.close().await;
        copy.drop_db().await.expect("drop");
        let floor: Vec<&str> = ROWS.iter().map(|(t, _)| *t).collect();
        for table in schema.tables() {
            let own = ["instances", "task_log"].contains(&table) || table.starts_with("shadow_");
            if schema.has_column(table, "deleted") && !own {
                assert!(floor.contains(&table), "the rows floor misses {table}");
            }
        }
        for fk in &schema.foreign_keys {
            let (Some(child), Some(parent)) = (
                floor.iter().position(|t| *t == fk.table),
                floor.iter().position(|t| *t == fk.ref_table),
            ) else {
                continue;
            };
            assert!(child < parent, "{} goes before {}", fk.table, fk.ref_table);
            let references = ROWS[parent].1;
            assert!(
                references.contains(&(
                    fk.table.as_str(),
                    fk.column.as_str(),
                    fk.ref_column.as_str()
                )),
                "the floor checks {}.{}",
                fk.table,
                fk.column
            );
        }
    }
}
