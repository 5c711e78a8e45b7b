//! The floor: what the purge costs when written by hand as set-based SQL.
//! One DELETE per table, children first, no batching, all in one
//! transaction. Written independently of the purge targets (not derived
//! from the registry), so that the equality check also cross-checks them.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use purge_api::{Backend, Db, Stmt};

use crate::fill::Times;

/// The statement shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Shape {
    /// JOIN on MariaDB (multi-table DELETE), USING on PostgreSQL, IN on
    /// SQLite (which has neither).
    Auto,
    /// `DELETE FROM t WHERE link IN (SELECT uuid FROM instances WHERE ...)`.
    In,
    /// Joins (MariaDB `DELETE t FROM t JOIN instances ...`, PostgreSQL
    /// `DELETE FROM t USING instances ...`).
    Join,
}

impl Shape {
    /// As in `--floor-shape`.
    pub fn name(self) -> &'static str {
        match self {
            Shape::Auto => "auto",
            Shape::In => "in",
            Shape::Join => "join",
        }
    }
}

/// Tables linked to an instance by one column, in the order the floor
/// deletes them, with whether only soft-deleted rows may go.
const LINKED: &[(&str, &str, bool)] = &[
    ("block_device_mapping", "instance_uuid", false),
    ("console_auth_tokens", "instance_uuid", false),
    ("consoles", "instance_uuid", false),
    ("instance_actions", "instance_uuid", false),
    ("instance_extra", "instance_uuid", false),
    ("instance_faults", "instance_uuid", false),
    ("instance_id_mappings", "uuid", false),
    ("instance_info_caches", "instance_uuid", false),
    ("instance_metadata", "instance_uuid", false),
    ("instance_system_metadata", "instance_uuid", false),
    ("migrations", "instance_uuid", false),
    ("pci_devices", "instance_uuid", true),
    (
        "security_group_instance_association",
        "instance_uuid",
        false,
    ),
    ("share_mapping", "instance_uuid", false),
    ("tags", "resource_id", false),
    ("virtual_interfaces", "instance_uuid", false),
];

/// The result of the floor: rows deleted per table and the time taken
/// from BEGIN to COMMIT.
#[derive(Debug, Clone)]
pub struct FloorRun {
    pub tables: Vec<(&'static str, u64, Duration)>,
    pub elapsed: Duration,
    /// The statement shape of the instances floor (`None`: an own-row
    /// scope's, which has one shape).
    pub shape: Option<Shape>,
}

impl FloorRun {
    pub fn rows(&self) -> u64 {
        self.tables.iter().map(|(_, rows, _)| rows).sum()
    }
}

/// The statements, in order.
pub fn statements(backend: Backend, shape: Shape, times: &Times) -> Vec<(&'static str, Stmt)> {
    let shape = resolve(backend, shape);
    let q = |s: &str| backend.quote(s);
    let candidate = |stmt: &mut Stmt, alias: &str| {
        stmt.push(&format!(
            "{alias}{} <> 0 AND {alias}{} < ",
            q("deleted"),
            q("deleted_at")
        ))
        .bind_time(times.cutoff);
    };
    let mut out = Vec::new();
    // Events first: they hang off actions.
    let mut stmt = Stmt::new(backend);
    match (shape, backend) {
        (Shape::Join, Backend::MySql) => {
            stmt.push(&format!(
                "DELETE e FROM {} e JOIN {} a ON e.{} = a.{} JOIN {} i ON a.{} = i.{} WHERE ",
                q("instance_actions_events"),
                q("instance_actions"),
                q("action_id"),
                q("id"),
                q("instances"),
                q("instance_uuid"),
                q("uuid"),
            ));
            candidate(&mut stmt, "i.");
        }
        (Shape::Join, _) => {
            stmt.push(&format!(
                "DELETE FROM {} e USING {} a, {} i WHERE e.{} = a.{} AND a.{} = i.{} AND ",
                q("instance_actions_events"),
                q("instance_actions"),
                q("instances"),
                q("action_id"),
                q("id"),
                q("instance_uuid"),
                q("uuid"),
            ));
            candidate(&mut stmt, "i.");
        }
        _ => {
            stmt.push(&format!(
                "DELETE FROM {} WHERE {} IN (SELECT {} FROM {} WHERE {} IN (SELECT {} FROM {} WHERE ",
                q("instance_actions_events"),
                q("action_id"),
                q("id"),
                q("instance_actions"),
                q("instance_uuid"),
                q("uuid"),
                q("instances"),
            ));
            candidate(&mut stmt, "");
            stmt.push("))");
        }
    }
    out.push(("instance_actions_events", stmt));
    for (table, column, soft_deleted_only) in LINKED {
        let mut stmt = Stmt::new(backend);
        match (shape, backend) {
            (Shape::Join, Backend::MySql) => {
                stmt.push(&format!(
                    "DELETE t FROM {} t JOIN {} i ON t.{} = i.{} WHERE ",
                    q(table),
                    q("instances"),
                    q(column),
                    q("uuid")
                ));
                candidate(&mut stmt, "i.");
                if *soft_deleted_only {
                    stmt.push(&format!(" AND t.{} <> 0", q("deleted")));
                }
            }
            (Shape::Join, _) => {
                stmt.push(&format!(
                    "DELETE FROM {} t USING {} i WHERE t.{} = i.{} AND ",
                    q(table),
                    q("instances"),
                    q(column),
                    q("uuid")
                ));
                candidate(&mut stmt, "i.");
                if *soft_deleted_only {
                    stmt.push(&format!(" AND t.{} <> 0", q("deleted")));
                }
            }
            _ => {
                stmt.push(&format!(
                    "DELETE FROM {} WHERE {} IN (SELECT {} FROM {} WHERE ",
                    q(table),
                    q(column),
                    q("uuid"),
                    q("instances")
                ));
                candidate(&mut stmt, "");
                stmt.push(")");
                if *soft_deleted_only {
                    stmt.push(&format!(" AND {} <> 0", q("deleted")));
                }
            }
        }
        out.push((*table, stmt));
    }
    let mut stmt = Stmt::new(backend);
    stmt.push(&format!("DELETE FROM {} WHERE ", q("instances")));
    candidate(&mut stmt, "");
    out.push(("instances", stmt));
    out
}

fn resolve(backend: Backend, shape: Shape) -> Shape {
    match (shape, backend) {
        (_, Backend::Sqlite) => Shape::In,
        (Shape::Auto, _) => Shape::Join,
        (shape, _) => shape,
    }
}

/// Runs the floor in one transaction.
pub async fn run(db: &Db, shape: Shape, times: &Times) -> Result<FloorRun> {
    let statements = statements(db.backend(), shape, times);
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
        shape: Some(resolve(db.backend(), shape)),
    })
}
