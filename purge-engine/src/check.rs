//! `nova-purge check`: what in this database the registry does not cover,
//! what will make a purge slow, and what a purge would remove. Deletes
//! nothing. `purge` logs the same findings before it starts.

use std::collections::BTreeMap;

use purge_api::{Backend, Db, Link, Registration, Registry};
use serde::Serialize;

use crate::connections::Connections;
use crate::database::schema::{ColumnKind, Schema};
use crate::error::Error;
use crate::purge::engine::Engine;
use crate::purge::options::PurgeOptions;
use crate::purge::plan::Plan;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Candidates will be skipped, or the database cannot be purged.
    Blocking,
    /// The purge runs, but something is left out or slow.
    Warning,
}

/// What a finding is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FindingKind {
    /// Not a usable Nova cell database.
    NotNova,
    /// A table no target covers references rows a target purges.
    UncoveredTable,
    /// A registered target does not apply to this database.
    TargetSkipped,
    /// A link column holds values of the wrong type.
    LinkType,
    /// A lookup column that no index leads.
    MissingIndex,
}

#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub severity: Severity,
    pub kind: FindingKind,
    pub table: String,
    pub column: Option<String>,
    pub message: String,
    /// What an operator may do about it (SQL to run, a document to read).
    pub suggestion: Option<String>,
    /// For `uncovered-table`: purge candidates it holds back.
    pub blocked_candidates: Option<u64>,
}

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
    let plan = Plan::new(registry, &schema, purge_api::DatabaseKind::Cell);
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

/// What the schema alone says: uncovered tables, skipped targets, link
/// columns of the wrong type, missing indexes. Uncovered tables start as
/// warnings; `check` raises those that hold candidates back.
pub fn findings(schema: &Schema, plan: &Plan, backend: Backend) -> Vec<Finding> {
    let mut findings = Vec::new();
    for blocker in &plan.blockers {
        let fk = &blocker.foreign_key;
        findings.push(Finding {
            severity: Severity::Warning,
            kind: FindingKind::UncoveredTable,
            table: fk.table.clone(),
            column: Some(fk.column.clone()),
            message: format!(
                "{}.{} references {}.{} and no purge target covers {}: a purge skips every instance it references",
                fk.table, fk.column, fk.ref_table, fk.ref_column, fk.table
            ),
            suggestion: Some(
                "clean up those rows, or register a target for the table (docs/adding-a-target.md)"
                    .to_owned(),
            ),
            blocked_candidates: None,
        });
    }
    for skipped in &plan.skipped_targets {
        findings.push(Finding {
            severity: Severity::Warning,
            kind: FindingKind::TargetSkipped,
            table: skipped.table.to_owned(),
            column: None,
            message: format!("target {} is skipped: {}", skipped.name, skipped.reason),
            suggestion: None,
            blocked_candidates: None,
        });
    }
    for registration in &plan.active {
        findings.extend(link_type_finding(schema, registration));
        let target = registration.target;
        if target.link() != Link::Instance {
            findings.extend(missing_index(
                schema,
                backend,
                target.table(),
                target.link().column(),
                target.name(),
            ));
        }
    }
    for blocker in &plan.blockers {
        let fk = &blocker.foreign_key;
        findings.extend(missing_index(
            schema,
            backend,
            &fk.table,
            &fk.column,
            "the skip check",
        ));
    }
    findings
}

fn link_type_finding(schema: &Schema, registration: &Registration) -> Option<Finding> {
    let target = registration.target;
    let link = target.link();
    let expected = match link {
        Link::Instance | Link::Through { .. } => ColumnKind::Integer,
        Link::Column(_) | Link::SoftDeletedColumn(_) => ColumnKind::Text,
    };
    let column = link.column();
    let found = schema.column_kind(target.table(), column)?;
    if found == expected {
        return None;
    }
    let declared = schema.column_type(target.table(), column).unwrap_or("?");
    Some(Finding {
        severity: Severity::Blocking,
        kind: FindingKind::LinkType,
        table: target.table().to_owned(),
        column: Some(column.to_owned()),
        message: format!(
            "{}.{column} is {declared}, but target {} expects {} values there",
            target.table(),
            target.name(),
            match expected {
                ColumnKind::Text => "instance uuid (text)",
                _ => "integer key",
            }
        ),
        suggestion: Some(format!(
            "fix the target at {} or the column",
            registration.defined_at
        )),
        blocked_candidates: None,
    })
}

fn missing_index(
    schema: &Schema,
    backend: Backend,
    table: &str,
    column: &str,
    used_by: &str,
) -> Option<Finding> {
    if schema.has_leading_index(table, column) {
        return None;
    }
    let q = |name: &str| backend.quote(name);
    Some(Finding {
        severity: Severity::Warning,
        kind: FindingKind::MissingIndex,
        table: table.to_owned(),
        column: Some(column.to_owned()),
        message: format!(
            "no index starts with {table}.{column}, which {used_by} looks rows up by: each batch scans the table"
        ),
        suggestion: Some(format!(
            "an operator may choose to run: CREATE INDEX {} ON {} ({});",
            q(&format!("{table}_{column}_purge_idx")),
            q(table),
            q(column)
        )),
        blocked_candidates: None,
    })
}
