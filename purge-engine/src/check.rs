//! `nova-purge check`: what in this database the registry does not cover,
//! what will make a purge slow, and what a purge would remove. Deletes
//! nothing. `purge` logs the same findings before it starts.

use std::collections::{BTreeMap, BTreeSet};

use purge_api::{Db, Registry, Scope};
use serde::Serialize;

use crate::connections::Connections;
use crate::database::schema::Schema;
use crate::error::Error;
use crate::purge::engine::Engine;
use crate::purge::findings::{findings, uncovered_soft_delete};
use crate::purge::plan::Plan;
use crate::purge::rows::plan::RowsPlan;
use crate::purge::PurgeOptions;
pub use crate::purge::{Finding, FindingKind, Severity};

#[derive(Debug, Clone, Serialize)]
pub struct Candidates {
    /// Instances deleted before the cutoff.
    pub total: u64,
    /// Of those, what a purge would remove.
    pub purgeable: u64,
    /// Of those, what a purge would skip.
    pub skipped: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct CheckReport {
    pub database: String,
    /// False when this is not a usable Nova cell database.
    pub usable: bool,
    pub older_than_days: u32,
    pub cutoff: String,
    pub candidates: Option<Candidates>,
    /// Rows the candidates hold, per table (what a purge would delete).
    pub tables: BTreeMap<String, u64>,
    pub findings: Vec<Finding>,
}

impl CheckReport {
    /// The most serious finding's severity, if there is any finding.
    pub fn worst(&self) -> Option<Severity> {
        self.findings.iter().map(|f| f.severity).min()
    }
}

/// `nova-purge check` on the cell database of `connections`.
pub async fn run(
    connections: &Connections,
    registry: &Registry,
    older_than_days: u32,
) -> Result<CheckReport, Error> {
    let url = connections.cell.as_ref().ok_or_else(|| {
        Error::Input(
            "no cell database given; pass --database-url (or set NOVA_PURGE_DATABASE_URL) or --config-file with [database]/connection".to_owned(),
        )
    })?;
    let options = PurgeOptions {
        dry_run: true,
        ..PurgeOptions::older_than(older_than_days)?
    };
    let db = url.connect().await?;
    let report = check(&db, url.redacted(), registry, &options).await;
    db.close().await;
    report
}

/// Inspects the database and, when it is a Nova cell database, runs a dry
/// run for the figures.
async fn check(
    db: &Db,
    database: String,
    registry: &Registry,
    options: &PurgeOptions,
) -> Result<CheckReport, Error> {
    let schema = Schema::inspect(db).await?;
    let mut report = CheckReport {
        database: database.clone(),
        usable: true,
        older_than_days: options.older_than_days,
        cutoff: options
            .cutoff
            .and_utc()
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        candidates: None,
        tables: BTreeMap::new(),
        findings: Vec::new(),
    };
    if let Err(Error::Input(message)) = schema.require_nova_cell() {
        report.usable = false;
        report.findings.push(Finding {
            severity: Severity::Blocking,
            kind: FindingKind::NotNova,
            table: "instances".to_owned(),
            column: None,
            message,
            suggestion: None,
            blocked_candidates: None,
        });
        return Ok(report);
    }
    let plan = Plan::new(
        registry,
        &schema,
        db.backend(),
        purge_api::DatabaseKind::Cell,
    );
    let dry_run = PurgeOptions {
        dry_run: true,
        max_number: None,
        ..options.clone()
    };
    let figures = Engine::new(db, &plan, &dry_run).run(database).await?;
    let skipped = figures.skipped_instances.len() as u64;
    report.candidates = Some(Candidates {
        total: figures.instances + skipped,
        purgeable: figures.instances,
        skipped,
    });
    report.findings = findings(&schema, &plan, db.backend());
    let every_scope: BTreeSet<Scope> = Scope::ALL.into_iter().collect();
    let rows_plan = RowsPlan::new(registry, &schema, &every_scope);
    report
        .findings
        .extend(uncovered_soft_delete(&rows_plan.uncovered));
    for finding in &mut report.findings {
        if finding.kind != FindingKind::UncoveredTable {
            continue;
        }
        let source = format!(
            "{}.{}",
            finding.table,
            finding.column.as_deref().unwrap_or("")
        );
        let blocked = figures
            .skipped_instances
            .iter()
            .filter(|s| s.blocked_by.contains(&source))
            .count() as u64;
        finding.blocked_candidates = Some(blocked);
        finding.message = format!(
            "{} ({blocked} purge candidates held back now)",
            finding.message
        );
        if blocked > 0 {
            finding.severity = Severity::Blocking;
        }
    }
    report.findings.sort_by_key(|f| f.severity);
    report.tables = figures.tables;
    Ok(report)
}
