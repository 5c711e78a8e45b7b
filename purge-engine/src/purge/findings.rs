//! What the schema says about a plan before any row is read: tables no
//! target covers, targets skipped, link columns of the wrong type, and
//! lookups no index serves. `purge` logs these; `check` reports them.

use purge_api::{Backend, Link, Registration};
use serde::Serialize;

use super::plan::Plan;
use crate::database::ddl;
use crate::database::schema::{ColumnKind, Schema};

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
    /// A table with a `deleted` column that no target of any scope covers:
    /// its soft-deleted rows stay whatever `--scope` says.
    UncoveredSoftDelete,
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
        Link::Own { .. } => return None,
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
    let create = ddl::create_index(backend, &ddl::index_name(table, column), table, column);
    Some(Finding {
        severity: Severity::Warning,
        kind: FindingKind::MissingIndex,
        table: table.to_owned(),
        column: Some(column.to_owned()),
        message: format!(
            "no index starts with {table}.{column}, which {used_by} looks rows up by: each batch scans the table"
        ),
        suggestion: Some(format!(
            "`nova-purge create-indexes` creates it without blocking Nova's writes (try --dry-run first): {};",
            create.sql()
        )),
        blocked_candidates: None,
    })
}

/// Tables with a `deleted` column that no target of any scope covers.
pub fn uncovered_soft_delete(tables: &[String]) -> Vec<Finding> {
    tables
        .iter()
        .map(|table| Finding {
            severity: Severity::Warning,
            kind: FindingKind::UncoveredSoftDelete,
            table: table.clone(),
            column: Some("deleted".to_owned()),
            message: format!(
                "{table} has a deleted column, and no purge target of any scope covers it: its soft-deleted rows stay"
            ),
            suggestion: Some(
                "register a target of the rows scope for it (docs/adding-a-target.md)".to_owned(),
            ),
            blocked_candidates: None,
        })
        .collect()
}
