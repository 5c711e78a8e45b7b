//! Purging an own-row table: its rows older than the cutoff, found by
//! keyset over the primary key, deleted in batches of one transaction each.
//! A batch locks its rows (re-checking that they are still old and
//! deleted), leaves those that a row which stays still references through
//! a foreign key, deletes the rest (capturing them for the export), and
//! commits. A foreign key the catalogue did not show makes the batch go
//! row by row, so that only the row at fault stays.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Mutex;
use std::time::Instant;

use purge_api::{Db, Link, Scope, Stmt, Tx, Value};
use tracing::{info, warn};

use super::plan::{DeletedColumn, RowTable, RowsPlan};
use crate::control::Cancel;
use crate::database::errors::{is_foreign_key_violation, is_write_set_too_large};
use crate::error::{describe_sqlx, Error};
use crate::export::capture::{delete_captured, Capture};
use crate::export::writer::{CommitError, Recorder, TableRows};
use crate::purge::budget::Budgets;
use crate::purge::options::PurgeOptions;
use crate::purge::pacing::Pacer;
use crate::purge::report::{ScopeReport, SkippedRow, SKIPPED_SHOWN};
use crate::purge::retry::{batch_failure, with_retries};
use crate::purge::sizing::BatchSizer;

/// Purges the tables of `plan`, scope by scope.
pub struct RowEngine<'a> {
    pub db: &'a Db,
    pub plan: &'a RowsPlan,
    pub options: &'a PurgeOptions,
    pub capture: Capture,
    pub recorder: Option<Recorder<'a>>,
    pub cancel: Cancel,
    /// Rows per batch: `--batch-size`, within a Galera write-set limit.
    pub sizer: BatchSizer,
    /// `--max-number` of each scope, shared with the other cells of the run.
    pub budgets: &'a Budgets,
    /// Waits before each batch while replicas lag or the cluster is paused.
    pub pacer: &'a Pacer,
    /// In a dry run, the instances the instances scope would have purged
    /// first, with their rows.
    pub instances_gone: HashSet<String>,
    /// In a dry run, the keys of the rows it would have deleted, by table,
    /// for the tables another table of the plan references: a row that only
    /// such rows reference would go in the real run (its referencing rows
    /// go first), and the dry run must count it too.
    pub dry_deleted: Mutex<HashMap<String, HashSet<String>>>,
}

/// One row of a batch: its key, and the values foreign keys reference.
#[derive(Debug, Clone)]
struct Row {
    key: Value,
    /// (referenced column, value) for each foreign key into the table.
    referenced: Vec<Option<String>>,
}

/// What a batch did.
#[derive(Debug, Default)]
struct Outcome {
    deleted: u64,
    skipped: Vec<SkippedRow>,
}

impl<'a> RowEngine<'a> {
    /// Runs every table of every scope of the plan and returns each
    /// scope's figures. Stops between batches when cancelled.
    pub async fn run(&self) -> Result<Vec<(Scope, ScopeReport)>, Error> {
        let mut reports: Vec<(Scope, ScopeReport)> = Vec::new();
        for table in &self.plan.tables {
            if reports
                .last()
                .is_none_or(|(scope, _)| *scope != table.scope)
            {
                reports.push((table.scope, ScopeReport::default()));
            }
            let report = &mut reports.last_mut().expect("pushed").1;
            if self.cancel.is_cancelled() {
                break;
            }
            self.purge_table(table, report).await?;
        }
        Ok(reports)
    }

    async fn purge_table(&self, table: &RowTable, report: &mut ScopeReport) -> Result<(), Error> {
        let mut after: Option<Value> = None;
        let before = report.rows;
        loop {
            if self.cancel.is_cancelled() {
                return Ok(());
            }
            let budget = self.budgets.of(table.scope);
            if budget.is_spent() {
                report.more_remaining |=
                    !self.candidates(table, after.as_ref(), 1).await?.is_empty();
                return Ok(());
            }
            if report.batches > 0 {
                if let Some(pause) = self.options.sleep {
                    let paused = Instant::now();
                    self.cancel.sleep(pause).await;
                    report.paused_ms += paused.elapsed().as_millis() as u64;
                }
            }
            report.paused_ms += self.pacer.before_batch(&self.cancel).await?.as_millis() as u64;
            if self.cancel.is_cancelled() {
                return Ok(());
            }
            // After any pause, as in the instances engine.
            let Some(grant) = budget.draw(self.sizer.next(), &self.cancel).await else {
                continue;
            };
            let keys = self.candidates(table, after.as_ref(), grant.size()).await?;
            let Some(last) = keys.last() else { break };
            after = Some(last.clone());
            let started = Instant::now();
            let outcome = self.purge_batch(table, &keys).await?;
            let elapsed = started.elapsed();
            let batch_ms = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX);
            info!(
                scope = table.scope.name(),
                table = %table.table,
                batch = report.batches + 1,
                rows = outcome.deleted,
                skipped = outcome.skipped.len(),
                ms = batch_ms,
                dry_run = self.options.dry_run,
                "batch done"
            );
            report.batches += 1;
            report.rows += outcome.deleted;
            grant.spend(outcome.deleted);
            report.max_batch_ms = report.max_batch_ms.max(batch_ms);
            report.batch_sizes.push(keys.len());
            self.sizer.observe(
                keys.len(),
                outcome.deleted as usize,
                outcome.deleted,
                elapsed,
            );
            if outcome.deleted > 0 {
                *report.tables.entry(table.table.clone()).or_default() += outcome.deleted;
            }
            report.skipped_rows += outcome.skipped.len() as u64;
            let shown = report
                .skipped
                .iter()
                .filter(|s| s.table == table.table)
                .count();
            report.skipped.extend(
                outcome
                    .skipped
                    .into_iter()
                    .take(SKIPPED_SHOWN.saturating_sub(shown)),
            );
        }
        info!(
            scope = table.scope.name(),
            target = table.name,
            table = %table.table,
            rows = report.rows - before,
            dry_run = self.options.dry_run,
            "table done"
        );
        Ok(())
    }

    /// The next keys after `after`, in key order, of rows old enough. Read
    /// without locks: the batch re-checks them under lock.
    async fn candidates(
        &self,
        table: &RowTable,
        after: Option<&Value>,
        limit: usize,
    ) -> Result<Vec<Value>, Error> {
        let fail = |e| Error::database(&format!("cannot read {}", table.table), e);
        let mut tx = self.db.begin_read().await.map_err(fail)?;
        let mut stmt = tx.stmt();
        stmt.push("SELECT ")
            .ident(&table.key)
            .push(" FROM ")
            .ident(&table.table)
            .push(" WHERE ");
        self.push_predicate(table, &mut stmt);
        if let Some(after) = after {
            stmt.push(" AND ").ident(&table.key).push(" > ");
            bind(&mut stmt, after);
        }
        stmt.push(" ORDER BY ")
            .ident(&table.key)
            .push(" LIMIT ")
            .bind_int(i64::try_from(limit).unwrap_or(i64::MAX));
        let rows = tx.fetch_all(&stmt).await.map_err(fail)?;
        tx.rollback().await.map_err(fail)?;
        Ok(rows
            .into_iter()
            .filter_map(|row| row.into_iter().next())
            .collect())
    }

    /// The table's own predicate. `deleted` is an integer in Nova's tables,
    /// but a boolean or text in a few legacy ones on PostgreSQL
    /// (`dns_domains`, `snapshots`), where `<> 0` would not even compile.
    fn push_predicate(&self, table: &RowTable, stmt: &mut Stmt) {
        let undated = table.scope == Scope::Shadow && self.options.undated_shadow_rows;
        let test = match table.deleted {
            DeletedColumn::Integer => None,
            DeletedColumn::Boolean => Some(" <> FALSE AND "),
            DeletedColumn::Text => Some(" NOT IN ('', '0') AND "),
        };
        match (table.link, test) {
            (
                Link::Own {
                    cutoff_column,
                    soft_deleted: true,
                },
                Some(test),
            ) => {
                stmt.ident("deleted").push(test);
                Link::Own {
                    cutoff_column,
                    soft_deleted: false,
                }
                .push_own_predicate(stmt, self.options.cutoff, undated);
            }
            (link, _) => link.push_own_predicate(stmt, self.options.cutoff, undated),
        }
    }

    /// One batch, retried after transient conflicts, split when the
    /// database refuses it: in two halves when a Galera cluster finds its
    /// write set too large, row by row when a foreign key the catalogue did
    /// not show holds one back (only that row then stays).
    async fn purge_batch(&self, table: &RowTable, keys: &[Value]) -> Result<Outcome, Error> {
        let mut total = Outcome::default();
        let mut chunks = vec![keys];
        while let Some(chunk) = chunks.pop() {
            match with_retries(|| self.try_batch(table, chunk)).await {
                Ok(outcome) => {
                    total.deleted += outcome.deleted;
                    total.skipped.extend(outcome.skipped);
                }
                Err(CommitError::Database(e)) if is_write_set_too_large(&e) && chunk.len() > 1 => {
                    warn!(table = %table.table, rows = chunk.len(), "the cluster refused the batch's write set as too large; halving the batch");
                    self.sizer.refused(chunk.len());
                    let (first, second) = chunk.split_at(chunk.len() / 2);
                    chunks.push(second);
                    chunks.push(first);
                }
                Err(CommitError::Database(e))
                    if is_foreign_key_violation(&e) && chunk.len() > 1 =>
                {
                    warn!(table = %table.table, error = %describe_sqlx(&e), "batch refused by a foreign key; retrying its rows one by one");
                    chunks.extend(chunk.iter().rev().map(std::slice::from_ref));
                }
                Err(CommitError::Database(e)) if is_foreign_key_violation(&e) => {
                    total.skipped.push(SkippedRow {
                        table: table.table.clone(),
                        key: chunk[0].to_text().unwrap_or_default(),
                        reason: format!("the database refused the delete: {}", describe_sqlx(&e)),
                    });
                }
                Err(e) => return Err(batch_failure(e)),
            }
        }
        Ok(total)
    }

    async fn try_batch(&self, table: &RowTable, keys: &[Value]) -> Result<Outcome, CommitError> {
        let dry_run = self.options.dry_run;
        let mut tx = if dry_run {
            self.db.begin_read().await?
        } else {
            self.db.begin_write().await?
        };
        // With no foreign key into the table there is nothing to check
        // between reading the rows and deleting them: the DELETE re-checks
        // the predicate and locks the rows itself, and reading and locking
        // them first did that work twice. A dry run still reads them, to
        // count them; so does a run with an export, whose commit record
        // lists the keys of the batch.
        let locked = if !dry_run && table.referenced_by.is_empty() && self.recorder.is_none() {
            keys.iter()
                .map(|key| Row {
                    key: key.clone(),
                    referenced: Vec::new(),
                })
                .collect()
        } else {
            self.lock(&mut tx, table, keys, !dry_run).await?
        };
        let blocked = self.referenced(&mut tx, table, &locked).await?;
        let mut outcome = Outcome::default();
        let mut keep = Vec::new();
        for row in locked {
            match blocked.iter().find(|(column, values)| {
                row.referenced[*column]
                    .as_ref()
                    .is_some_and(|value| values.contains(value))
            }) {
                Some((column, _)) => {
                    let fk = &table.referenced_by[*column];
                    outcome.skipped.push(SkippedRow {
                        table: table.table.clone(),
                        key: row.key.to_text().unwrap_or_default(),
                        reason: format!(
                            "still referenced by {}.{}, whose row stays",
                            fk.table, fk.column
                        ),
                    });
                }
                None => keep.push(row.key),
            }
        }
        if keep.is_empty() || dry_run {
            outcome.deleted = keep.len() as u64;
            tx.rollback().await?;
            if dry_run && self.referenced_elsewhere(table) {
                let mut deleted = self.dry_deleted();
                let keys = deleted.entry(table.table.clone()).or_default();
                keys.extend(keep.iter().filter_map(Value::to_text));
            }
            return Ok(outcome);
        }
        let predicate = |stmt: &mut Stmt| {
            stmt.ident(&table.key);
            push_in(stmt, table, &keep);
            stmt.push(" AND ");
            self.push_predicate(table, stmt);
        };
        match &self.recorder {
            Some(recorder) => {
                let rows = delete_captured(
                    &mut tx,
                    &table.table,
                    &table.columns,
                    predicate,
                    self.capture,
                )
                .await?;
                outcome.deleted = rows.len() as u64;
                let number = recorder.next_batch();
                let keys: Vec<String> = keep.iter().filter_map(Value::to_text).collect();
                let exported: Vec<TableRows> = vec![(table.table.clone(), rows)];
                recorder.commit(tx, number, &exported, &keys).await?;
            }
            None => {
                let mut stmt = tx.stmt();
                stmt.push("DELETE FROM ")
                    .ident(&table.table)
                    .push(" WHERE ");
                predicate(&mut stmt);
                outcome.deleted = tx.execute(&stmt).await?;
                tx.commit().await?;
            }
        }
        Ok(outcome)
    }

    /// Re-reads the batch's rows, still old enough, with the values foreign
    /// keys reference; in a real run locks them (`FOR UPDATE`; SQLite's
    /// `BEGIN IMMEDIATE` already holds the write lock), so that a row
    /// inserted meanwhile to reference one waits, then fails on its vanished
    /// parent.
    async fn lock(
        &self,
        tx: &mut Tx,
        table: &RowTable,
        keys: &[Value],
        lock: bool,
    ) -> Result<Vec<Row>, sqlx::Error> {
        let mut stmt = tx.stmt();
        stmt.push("SELECT ").ident(&table.key);
        for fk in &table.referenced_by {
            stmt.push(", ").ident(&fk.ref_column);
        }
        let instance_link = table
            .instance_link
            .filter(|_| self.options.dry_run && !self.instances_gone.is_empty());
        if let Some(column) = instance_link {
            stmt.push(", ").ident(column);
        }
        stmt.push(" FROM ")
            .ident(&table.table)
            .push(" WHERE ")
            .ident(&table.key);
        push_in(&mut stmt, table, keys);
        stmt.push(" AND ");
        self.push_predicate(table, &mut stmt);
        if lock && tx.backend() != purge_api::Backend::Sqlite {
            stmt.push(" FOR UPDATE");
        }
        Ok(tx
            .fetch_all(&stmt)
            .await?
            .into_iter()
            .filter_map(|row| {
                let mut values: Vec<Option<String>> =
                    row.iter().skip(1).map(Value::to_text).collect();
                // A row of an instance the instances scope purged first is
                // gone already in the real run.
                if instance_link.is_some() {
                    let instance = values.pop().flatten();
                    if instance.is_some_and(|uuid| self.instances_gone.contains(&uuid)) {
                        return None;
                    }
                }
                Some(Row {
                    key: row.into_iter().next()?,
                    referenced: values,
                })
            })
            .collect())
    }

    /// For each foreign key into the table, the values of the batch that a
    /// row of the referencing table still holds.
    async fn referenced(
        &self,
        tx: &mut Tx,
        table: &RowTable,
        rows: &[Row],
    ) -> Result<Vec<(usize, BTreeSet<String>)>, sqlx::Error> {
        let mut found = Vec::new();
        for (i, fk) in table.referenced_by.iter().enumerate() {
            let values: Vec<String> = rows
                .iter()
                .filter_map(|row| row.referenced[i].clone())
                .collect();
            if values.is_empty() {
                continue;
            }
            // Compared as text: the referencing column may be an integer,
            // and PostgreSQL does not compare an integer with text itself.
            let as_text = if tx.backend() == purge_api::Backend::Postgres {
                "::text"
            } else {
                ""
            };
            // In a dry run the referencing rows it would have deleted are
            // still there: read their keys to leave them out.
            let child_key = if self.options.dry_run {
                self.plan.key_of(&fk.table)
            } else {
                None
            };
            let mut stmt = tx.stmt();
            stmt.push("SELECT DISTINCT ")
                .ident(&fk.column)
                .push(as_text);
            if let Some(key) = child_key {
                stmt.push(", ").ident(key).push(as_text);
            }
            stmt.push(" FROM ")
                .ident(&fk.table)
                .push(" WHERE ")
                .ident(&fk.column)
                .push(as_text)
                .in_text(&values);
            let rows = tx.fetch_all(&stmt).await?;
            let gone = self.dry_deleted();
            let gone = gone.get(&fk.table);
            let referenced: BTreeSet<String> = rows
                .into_iter()
                .filter(|row| {
                    let key = row.get(1).and_then(Value::to_text);
                    !key.is_some_and(|key| gone.is_some_and(|gone| gone.contains(&key)))
                })
                .filter_map(|row| row.into_iter().next().and_then(|v| v.to_text()))
                .collect();
            if !referenced.is_empty() {
                found.push((i, referenced));
            }
        }
        Ok(found)
    }
}

impl RowEngine<'_> {
    fn dry_deleted(&self) -> std::sync::MutexGuard<'_, HashMap<String, HashSet<String>>> {
        self.dry_deleted
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// True when another table of the plan has a foreign key into `table`.
    fn referenced_elsewhere(&self, table: &RowTable) -> bool {
        self.plan
            .tables
            .iter()
            .any(|other| other.referenced_by.iter().any(|fk| fk.table == table.table))
    }
}

/// ` IN (...)` for keys of the table's key type.
fn push_in(stmt: &mut Stmt, table: &RowTable, keys: &[Value]) {
    if table.key_is_integer {
        let ints: Vec<i64> = keys.iter().filter_map(Value::as_i64).collect();
        stmt.in_int(&ints);
    } else {
        let texts: Vec<String> = keys.iter().filter_map(Value::to_text).collect();
        stmt.in_text(&texts);
    }
}

fn bind(stmt: &mut Stmt, value: &Value) {
    match value {
        Value::Int(v) => stmt.bind_int(*v),
        Value::Text(v) => stmt.bind_text(v),
        Value::Null => stmt.bind_null(),
    };
}
