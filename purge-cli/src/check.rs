//! `nova-purge check`: what in this database the registry does not cover,
//! what will make a purge slow, and what a purge would remove. Deletes
//! nothing. `purge` logs the same findings before it starts.

use std::collections::BTreeMap;
use std::io::{self, Write};

use purge_api::{Backend, Db, Link, Registration};
use serde::Serialize;

use crate::engine::{Engine, PurgeOptions};
use crate::error::{exit_code, Failure};
use crate::plan::Plan;
use crate::schema::{ColumnKind, Schema};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Candidates will be skipped, or the database cannot be purged.
    Blocking,
    /// The purge runs, but something is left out or slow.
    Warning,
}

#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub severity: Severity,
    /// `not-nova`, `uncovered-table`, `target-skipped`, `link-type` or `missing-index`.
    pub kind: &'static str,
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
    pub fn exit_code(&self) -> u8 {
        match self.findings.iter().map(|f| f.severity).min() {
            None => exit_code::DONE,
            Some(Severity::Warning) => exit_code::CHECK_WARNINGS,
            Some(Severity::Blocking) => exit_code::CHECK_BLOCKING,
        }
    }

    pub fn write_json(&self, out: &mut dyn Write) -> io::Result<()> {
        serde_json::to_writer_pretty(&mut *out, self)?;
        writeln!(out)
    }

    pub fn write_text(&self, out: &mut dyn Write) -> io::Result<()> {
        writeln!(out, "database:   {}", self.database)?;
        if let Some(c) = &self.candidates {
            writeln!(
                out,
                "candidates: {} instances deleted before {} ({} days): {} purgeable, {} would be skipped",
                c.total, self.cutoff, self.older_than_days, c.purgeable, c.skipped
            )?;
            writeln!(out, "rows a purge would delete, by table:")?;
            let width = self.tables.keys().map(String::len).max().unwrap_or(0);
            for (table, rows) in &self.tables {
                writeln!(out, "  {table:<width$}  {rows:>10}")?;
            }
        }
        if self.findings.is_empty() {
            writeln!(out, "no problems found")?;
        }
        for finding in &self.findings {
            let label = match finding.severity {
                Severity::Blocking => "BLOCKING",
                Severity::Warning => "warning ",
            };
            writeln!(out, "{label}  {}", finding.message)?;
            if let Some(suggestion) = &finding.suggestion {
                writeln!(out, "          {suggestion}")?;
            }
        }
        let count = |s| self.findings.iter().filter(|f| f.severity == s).count();
        writeln!(
            out,
            "{} blocking, {} warnings (exit code {})",
            count(Severity::Blocking),
            count(Severity::Warning),
            self.exit_code()
        )
    }
}

/// Inspects the database and, when it is a Nova cell database, runs a dry
/// run for the figures.
pub async fn check(
    db: &Db,
    database: String,
    registry: &purge_api::Registry,
    options: &PurgeOptions,
) -> Result<CheckReport, Failure> {
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
    if let Err(Failure::Usage(message)) = schema.require_nova_cell() {
        report.usable = false;
        report.findings.push(Finding {
            severity: Severity::Blocking,
            kind: "not-nova",
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
        if finding.kind != "uncovered-table" {
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
            kind: "uncovered-table",
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
            kind: "target-skipped",
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
        kind: "link-type",
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
        kind: "missing-index",
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
