//! The purge itself: candidates found by keyset over `instances.id`, then
//! one transaction per batch that locks the batch's instance rows, deletes
//! their rows target by target in registry order, deletes the instances and
//! commits. Killed at any point, each instance is either whole or gone, and
//! a rerun carries on from what is left.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::time::Instant;

use purge_api::{Db, InstanceBatch, Link, Tx};
use tracing::{info, warn};

use super::api_database::ApiDatabase;
use super::budget::Budget;
use super::options::PurgeOptions;
use super::pacing::Pacer;
use super::plan::Plan;
use super::report::{Report, SkippedInstance, SkippedTargetReport};
use super::retry::{batch_failure, with_retries};
use super::sizing::BatchSizer;
use crate::control::{Cancel, Observer};
use crate::database::errors::{is_foreign_key_violation, is_write_set_too_large};
use crate::error::{describe_sqlx, Error};
use crate::export::writer::{CommitError, Recorder, TableRows};

/// Rows an instance costs, guessed before the first batch says: Nova writes
/// a few tens per instance.
const ROWS_PER_INSTANCE_GUESS: f64 = 40.0;

/// A candidate instance: its primary key and uuid.
#[derive(Debug, Clone)]
struct Candidate {
    id: i64,
    uuid: String,
}

/// What one batch did: usually one transaction, several when a foreign key
/// the catalogue did not show made it retry its instances one by one.
#[derive(Debug, Default)]
struct BatchOutcome {
    /// Each committed transaction (or, in a dry run, each that would be).
    committed: Vec<Committed>,
    rows: Vec<(&'static str, u64)>,
    skipped: Vec<SkippedInstance>,
}

/// One committed cell transaction: its instances, whose API rows go next,
/// recorded under the same batch number in the export.
#[derive(Debug, Default)]
struct Committed {
    /// The batch's number in the export file, when there is one.
    export_batch: Option<u64>,
    /// The instances purged (or, in a dry run, that would be).
    purged: Vec<String>,
}

impl BatchOutcome {
    fn purged(&self) -> usize {
        self.committed.iter().map(|c| c.purged.len()).sum()
    }
}

/// The API database rows of a cell's purged instances, cleaned after each
/// batch's cell commit (see `api.rs` for the order and why).
#[derive(Clone, Copy)]
pub struct ApiCleanup<'a> {
    pub api: &'a ApiDatabase,
    /// This cell's `cell_mappings.id`.
    pub cell_id: i64,
}

/// Purges one database according to `plan`.
pub struct Engine<'a> {
    db: &'a Db,
    plan: &'a Plan,
    options: &'a PurgeOptions,
    api: Option<ApiCleanup<'a>>,
    recorder: Option<Recorder<'a>>,
    observer: &'a dyn Observer,
    cancel: Cancel,
    sizer: BatchSizer,
    /// `--max-number`, shared with the other cells of the run.
    budget: Budget,
    /// Waits before each batch while replicas lag or the cluster is paused.
    pacer: Option<&'a Pacer>,
    /// In a dry run, the instances it would have purged (the own-row scopes
    /// that run next must not count their rows again).
    dry_run_purged: RefCell<HashSet<String>>,
}

impl<'a> Engine<'a> {
    pub fn new(db: &'a Db, plan: &'a Plan, options: &'a PurgeOptions) -> Self {
        Engine {
            db,
            plan,
            options,
            api: None,
            recorder: None,
            observer: &crate::control::Silent,
            cancel: Cancel::default(),
            sizer: BatchSizer::new(options.batch_size, None, ROWS_PER_INSTANCE_GUESS)
                .with_target(options.batch_time),
            budget: Budget::new(options.max_number),
            pacer: None,
            dry_run_purged: RefCell::default(),
        }
    }

    /// In a dry run, the instances the run would have purged.
    pub fn dry_run_purged(&self) -> HashSet<String> {
        self.dry_run_purged.take()
    }

    /// Keeps each batch's write set within a Galera cluster's
    /// `wsrep_max_ws_rows`.
    pub fn with_write_set_limit(mut self, rows: Option<u64>) -> Self {
        self.sizer = BatchSizer::new(self.options.batch_size, rows, ROWS_PER_INSTANCE_GUESS)
            .with_target(self.options.batch_time);
        self
    }

    /// Writes every deleted row to the export before each commit.
    pub fn with_export(mut self, recorder: Recorder<'a>) -> Self {
        self.recorder = Some(recorder);
        self
    }

    /// Draws the instances it purges from `budget`, which the other cells
    /// of the run share, instead of a `--max-number` of its own.
    pub fn with_budget(mut self, budget: Budget) -> Self {
        self.budget = budget;
        self
    }

    /// Also removes the purged instances' rows from the API database.
    pub fn with_api(mut self, api: ApiCleanup<'a>) -> Self {
        self.api = Some(api);
        self
    }

    /// Waits before each batch while `pacer` says the cloud cannot take it.
    pub fn with_pacer(mut self, pacer: &'a Pacer) -> Self {
        self.pacer = Some(pacer);
        self
    }

    /// Reports progress to `observer` and stops when `cancel` is cancelled.
    pub fn with_control(mut self, observer: &'a dyn Observer, cancel: Cancel) -> Self {
        self.observer = observer;
        self.cancel = cancel;
        self
    }

    /// Runs the whole purge and returns its report. On a database error the
    /// batch in flight is rolled back; earlier batches stay committed. After
    /// Ctrl-C it stops once the batch in flight has committed.
    pub async fn run(&self, database: String) -> Result<Report, Error> {
        let started = Instant::now();
        let mut report = self.empty_report(database);
        if let Some(cleanup) = self.api {
            self.clean_api_leftovers(cleanup, &mut report).await?;
        }
        self.start_progress().await?;
        let mut after_id = 0;
        loop {
            if self.cancel.is_cancelled() {
                report.interrupted = true;
                break;
            }
            if self.budget.is_spent() {
                report.more_remaining = !self.candidates(after_id, 1).await?.is_empty();
                break;
            }
            if report.batches > 0 {
                if let Some(pause) = self.options.sleep {
                    let paused = Instant::now();
                    self.cancel.sleep(pause).await;
                    report.paused_ms += elapsed_ms(paused);
                }
            }
            if let Some(pacer) = self.pacer {
                let paused = pacer.before_batch(&self.cancel).await?;
                report.paused_ms += u64::try_from(paused.as_millis()).unwrap_or(u64::MAX);
                if self.cancel.is_cancelled() {
                    report.interrupted = true;
                    break;
                }
            }
            // Drawn after any pause, so that a paused cell holds no budget
            // another could use. None: spent meanwhile, or cancelled while
            // waiting for it; the checks above end the loop.
            let Some(grant) = self.budget.draw(self.sizer.next(), &self.cancel).await else {
                continue;
            };
            let candidates = self.candidates(after_id, grant.size()).await?;
            let Some(last) = candidates.last() else { break };
            after_id = last.id;
            let batch_started = Instant::now();
            let outcome = self.purge_batch(&candidates).await?;
            let batch_ms = elapsed_ms(batch_started);
            info!(
                batch = report.batches + 1,
                instances = outcome.purged(),
                skipped = outcome.skipped.len(),
                ms = batch_ms,
                dry_run = self.options.dry_run,
                "batch done"
            );
            report.batches += 1;
            report.max_batch_ms = report.max_batch_ms.max(batch_ms);
            report.batch_sizes.push(candidates.len());
            report.instances += outcome.purged() as u64;
            grant.spend(outcome.purged() as u64);
            if self.options.dry_run {
                let purged = outcome
                    .committed
                    .iter()
                    .flat_map(|c| c.purged.iter().cloned());
                self.dry_run_purged.borrow_mut().extend(purged);
            }
            self.sizer.observe(
                candidates.len(),
                outcome.purged(),
                outcome.rows.iter().map(|(_, n)| n).sum(),
                batch_started.elapsed(),
            );
            report.add_rows(outcome.rows);
            report.skipped_instances.extend(outcome.skipped);
            if let Some(cleanup) = self.api {
                for committed in &outcome.committed {
                    let export = self
                        .recorder
                        .as_ref()
                        .map(|r| r.export)
                        .zip(committed.export_batch);
                    let rows = cleanup
                        .api
                        .clean(
                            cleanup.cell_id,
                            &committed.purged,
                            self.options.dry_run,
                            export,
                        )
                        .await?;
                    report.add_rows(rows);
                }
            }
            self.observer.batch_done(report.instances);
        }
        self.observer.database_finished(report.instances);
        report.elapsed_ms = elapsed_ms(started);
        Ok(report)
    }

    /// API rows of instances an earlier run purged from this cell but died
    /// before removing from the API database.
    async fn clean_api_leftovers(
        &self,
        cleanup: ApiCleanup<'_>,
        report: &mut Report,
    ) -> Result<(), Error> {
        let leftovers = cleanup.api.leftovers(cleanup.cell_id, self.db).await?;
        if leftovers.is_empty() {
            return Ok(());
        }
        warn!(
            instances = leftovers.len(),
            "removing API database rows of instances an earlier run purged"
        );
        for chunk in leftovers.chunks(self.options.batch_size) {
            let export = self
                .recorder
                .as_ref()
                .map(|recorder| (recorder.export, recorder.next_batch()));
            let rows = cleanup
                .api
                .clean(cleanup.cell_id, chunk, self.options.dry_run, export)
                .await?;
            report.add_rows(rows);
        }
        report.api_leftovers = leftovers.len() as u64;
        Ok(())
    }

    /// Tells the observer the run starts, with the number of candidates
    /// when it wants it.
    async fn start_progress(&self) -> Result<(), Error> {
        let total = if self.observer.wants_total() {
            let cap = self.budget.left().unwrap_or(u64::MAX);
            Some(self.count_candidates().await?.min(cap))
        } else {
            None
        };
        self.observer.database_started(total, self.options.dry_run);
        Ok(())
    }

    async fn count_candidates(&self) -> Result<u64, Error> {
        let fail = |e| Error::database("cannot count candidate instances", e);
        let mut tx = self.db.begin_read().await.map_err(fail)?;
        let mut stmt = tx.stmt();
        stmt.push("SELECT COUNT(*) FROM ")
            .ident("instances")
            .push(" WHERE ");
        self.push_candidate_predicate(&mut stmt);
        let count = tx.fetch_count(&stmt).await.map_err(fail)?;
        tx.rollback().await.map_err(fail)?;
        Ok(count)
    }

    fn empty_report(&self, database: String) -> Report {
        let mut table_order = Vec::new();
        let api_targets = self
            .api
            .iter()
            .flat_map(|cleanup| cleanup.api.plan().active.iter());
        for registration in self.plan.active.iter().chain(api_targets) {
            let table = registration.target.table().to_owned();
            if !table_order.contains(&table) {
                table_order.push(table);
            }
        }
        Report {
            tables: table_order.iter().map(|t| (t.clone(), 0)).collect(),
            skipped_targets: self
                .plan
                .skipped_targets
                .iter()
                .map(|s| SkippedTargetReport {
                    name: s.name.to_owned(),
                    table: s.table.to_owned(),
                    reason: s.reason.clone(),
                })
                .collect(),
            api_cleaned: self.api.is_some(),
            table_order,
            ..Report::empty(database, self.options)
        }
    }

    /// The next candidates after `after_id`, in primary-key order. Read
    /// without locks: the batch transaction re-checks them under lock.
    async fn candidates(&self, after_id: i64, limit: usize) -> Result<Vec<Candidate>, Error> {
        let fail = |e| Error::database("cannot read candidate instances", e);
        let mut tx = self.db.begin_read().await.map_err(fail)?;
        let mut stmt = tx.stmt();
        stmt.push("SELECT ")
            .ident("id")
            .push(", ")
            .ident("uuid")
            .push(" FROM ")
            .ident("instances")
            .push(" WHERE ");
        self.push_candidate_predicate(&mut stmt);
        stmt.push(" AND ")
            .ident("id")
            .push(" > ")
            .bind_int(after_id)
            .push(" ORDER BY ")
            .ident("id")
            .push(" LIMIT ")
            .bind_int(i64::try_from(limit).unwrap_or(i64::MAX));
        let rows = tx.fetch_all(&stmt).await.map_err(fail)?;
        tx.rollback().await.map_err(fail)?;
        Ok(rows.into_iter().filter_map(candidate_from_row).collect())
    }

    /// `deleted <> 0 AND deleted_at < cutoff`: soft-deleted (NULL counts as
    /// live, as `<>` is never true for it) and old enough. Never by vm_state.
    fn push_candidate_predicate(&self, stmt: &mut purge_api::Stmt) {
        stmt.ident("deleted")
            .push(" <> 0 AND ")
            .ident("deleted_at")
            .push(" < ")
            .bind_time(self.options.cutoff);
    }

    /// Purges one batch, split when the database refuses it: in two halves
    /// when a Galera cluster finds its write set too large, one instance at
    /// a time when a foreign key the schema did not reveal holds one back
    /// (only the instance at fault is then skipped).
    async fn purge_batch(&self, candidates: &[Candidate]) -> Result<BatchOutcome, Error> {
        let mut total = BatchOutcome::default();
        let mut chunks = vec![candidates];
        while let Some(chunk) = chunks.pop() {
            match self.try_batch_with_retries(chunk).await {
                Ok(outcome) => {
                    total.committed.extend(outcome.committed);
                    total.rows.extend(outcome.rows);
                    total.skipped.extend(outcome.skipped);
                }
                Err(CommitError::Database(e)) if is_write_set_too_large(&e) && chunk.len() > 1 => {
                    warn!(instances = chunk.len(), error = %describe_sqlx(&e), "the cluster refused the batch's write set as too large; halving the batch");
                    self.sizer.refused(chunk.len());
                    let (first, second) = chunk.split_at(chunk.len() / 2);
                    chunks.push(second);
                    chunks.push(first);
                }
                Err(CommitError::Database(e))
                    if is_foreign_key_violation(&e) && chunk.len() > 1 =>
                {
                    warn!(error = %e, "batch refused by a foreign key; retrying its instances one by one");
                    chunks.extend(chunk.iter().rev().map(std::slice::from_ref));
                }
                Err(CommitError::Database(e)) if is_foreign_key_violation(&e) => {
                    total.skipped.push(fk_skip(&chunk[0], &e));
                }
                Err(e) => return Err(batch_failure(e)),
            }
        }
        Ok(total)
    }

    /// Runs a batch, again after a transient conflict with a concurrent
    /// writer.
    async fn try_batch_with_retries(
        &self,
        candidates: &[Candidate],
    ) -> Result<BatchOutcome, CommitError> {
        with_retries(|| self.try_batch(candidates)).await
    }

    async fn try_batch(&self, candidates: &[Candidate]) -> Result<BatchOutcome, CommitError> {
        let dry_run = self.options.dry_run;
        let mut tx = if dry_run {
            self.db.begin_read().await?
        } else {
            self.db.begin_write().await?
        };
        let locked = self.lock_instances(&mut tx, candidates).await?;
        let blocked = self.blocked(&mut tx, &locked).await?;
        let mut batch = InstanceBatch {
            ids: locked
                .iter()
                .filter(|c| !blocked.contains_key(&c.uuid))
                .map(|c| c.id)
                .collect(),
            uuids: locked
                .iter()
                .filter(|c| !blocked.contains_key(&c.uuid))
                .map(|c| c.uuid.clone())
                .collect(),
            parent_keys: Vec::new(),
        };
        let mut outcome = BatchOutcome {
            committed: vec![Committed {
                export_batch: None,
                purged: batch.uuids.clone(),
            }],
            skipped: blocked_report(blocked),
            rows: Vec::with_capacity(self.plan.active.len()),
        };
        let mut exported: Vec<TableRows> = Vec::new();
        if !batch.is_empty() {
            batch.parent_keys = self.two_hop_parents(&mut tx, &batch).await?;
            let applied = self
                .plan
                .apply(
                    &mut tx,
                    &batch,
                    dry_run,
                    self.recorder.as_ref().map(|_| self.plan.capture),
                )
                .await?;
            outcome.rows = applied.rows;
            exported = applied.exported;
        }
        if dry_run {
            tx.rollback().await?;
            return Ok(outcome);
        }
        match &self.recorder {
            Some(recorder) if !batch.is_empty() => {
                let number = recorder.next_batch();
                recorder.commit(tx, number, &exported, &batch.uuids).await?;
                outcome.committed[0].export_batch = Some(number);
            }
            _ => tx.commit().await?,
        }
        Ok(outcome)
    }

    /// Re-reads the candidates inside the batch transaction, still
    /// soft-deleted and old enough, and in a real run locks their rows
    /// (`FOR UPDATE`; SQLite's `BEGIN IMMEDIATE` already holds the write
    /// lock). A concurrent insert of a child row then waits for the commit
    /// and fails on the vanished parent, instead of leaving an orphan.
    async fn lock_instances(
        &self,
        tx: &mut Tx,
        candidates: &[Candidate],
    ) -> Result<Vec<Candidate>, sqlx::Error> {
        if !self.options.dry_run && tx.backend() == purge_api::Backend::MySql {
            // A child row's foreign-key check locks the parent's entry in the
            // unique index on instances.uuid, not the primary key. Lock that
            // entry too, by uuid alone (with more conditions MariaDB may read
            // through (uuid, deleted) and leave it unlocked): else a late
            // child insert deadlocks with the DELETE FROM instances.
            let uuids: Vec<String> = candidates.iter().map(|c| c.uuid.clone()).collect();
            let mut lock = tx.stmt();
            lock.push("SELECT ")
                .ident("id")
                .push(" FROM ")
                .ident("instances")
                .push(" WHERE ")
                .ident("uuid")
                .in_text(&uuids)
                .push(" FOR UPDATE");
            tx.fetch_all(&lock).await?;
        }
        let ids: Vec<i64> = candidates.iter().map(|c| c.id).collect();
        let mut stmt = tx.stmt();
        stmt.push("SELECT ")
            .ident("id")
            .push(", ")
            .ident("uuid")
            .push(" FROM ")
            .ident("instances")
            .push(" WHERE ")
            .ident("id")
            .in_int(&ids)
            .push(" AND ");
        self.push_candidate_predicate(&mut stmt);
        stmt.push(" ORDER BY ").ident("id");
        if !self.options.dry_run && tx.backend() != purge_api::Backend::Sqlite {
            stmt.push(" FOR UPDATE");
        }
        let rows = tx.fetch_all(&stmt).await?;
        Ok(rows.into_iter().filter_map(candidate_from_row).collect())
    }

    /// Reads the keys of the parent rows that two-hop targets reach the
    /// instance through (the batch's `instance_actions`), so that their
    /// children are found by key; in a real run also locks them. A
    /// concurrent insert of a child of such a row (a late action event) then
    /// waits for the commit and fails on the vanished parent, instead of
    /// landing between the delete of the children and that of the parents.
    async fn two_hop_parents(
        &self,
        tx: &mut Tx,
        batch: &InstanceBatch,
    ) -> Result<Vec<(&'static str, Vec<i64>)>, sqlx::Error> {
        // SQLite's BEGIN IMMEDIATE already excludes every other writer.
        let lock = !self.options.dry_run && tx.backend() != purge_api::Backend::Sqlite;
        let mut keys = Vec::new();
        for registration in &self.plan.active {
            let Link::Through {
                parent_table,
                parent_key,
                parent_column,
                ..
            } = registration.target.link()
            else {
                continue;
            };
            let mut stmt = tx.stmt();
            stmt.push("SELECT ")
                .ident(parent_key)
                .push(" FROM ")
                .ident(parent_table)
                .push(" WHERE ")
                .ident(parent_column)
                .in_text(&batch.uuids);
            if lock {
                stmt.push(" FOR UPDATE");
            }
            let rows = tx.fetch_all(&stmt).await?;
            // A key that is not an integer leaves the subquery form in use.
            let ids: Option<Vec<i64>> = rows
                .iter()
                .map(|row| row.first().and_then(purge_api::Value::as_i64))
                .collect();
            if let Some(ids) = ids {
                keys.push((parent_table, ids));
            }
        }
        Ok(keys)
    }

    /// The batch's instances still referenced from tables no target covers,
    /// each with the `table.column`s that hold it.
    async fn blocked(
        &self,
        tx: &mut Tx,
        locked: &[Candidate],
    ) -> Result<BTreeMap<String, BTreeSet<String>>, sqlx::Error> {
        let mut blocked: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        if self.plan.blockers.is_empty() || locked.is_empty() {
            return Ok(blocked);
        }
        let batch = InstanceBatch {
            ids: locked.iter().map(|c| c.id).collect(),
            uuids: locked.iter().map(|c| c.uuid.clone()).collect(),
            parent_keys: Vec::new(),
        };
        for blocker in &self.plan.blockers {
            for uuid in blocker.referenced(tx, &batch).await? {
                blocked.entry(uuid).or_default().insert(blocker.source());
            }
        }
        Ok(blocked)
    }
}

fn blocked_report(blocked: BTreeMap<String, BTreeSet<String>>) -> Vec<SkippedInstance> {
    blocked
        .into_iter()
        .map(|(uuid, sources)| {
            let sources: Vec<String> = sources.into_iter().collect();
            SkippedInstance {
                uuid,
                reason: format!(
                    "still referenced by {}, which no purge target covers (see docs/adding-a-target.md)",
                    sources.join(", ")
                ),
                blocked_by: sources,
            }
        })
        .collect()
}

fn fk_skip(candidate: &Candidate, err: &sqlx::Error) -> SkippedInstance {
    SkippedInstance {
        uuid: candidate.uuid.clone(),
        reason: format!("the database refused the delete: {}", describe_sqlx(err)),
        blocked_by: Vec::new(),
    }
}

fn candidate_from_row(row: Vec<purge_api::Value>) -> Option<Candidate> {
    let mut values = row.into_iter();
    let id = values.next()?.as_i64()?;
    let uuid = values.next()?.to_text()?;
    Some(Candidate { id, uuid })
}

fn elapsed_ms(since: Instant) -> u64 {
    u64::try_from(since.elapsed().as_millis()).unwrap_or(u64::MAX)
}
