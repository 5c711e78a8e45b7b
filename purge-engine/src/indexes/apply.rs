//! Builds the indexes of one database on one connection: its session
//! settings first, then each index, each statement its own transaction. A
//! lock wait that timed out, or a refusal, is that index's outcome and the
//! next index is still tried: they do not depend on each other. Whatever a
//! failure leaves behind is found and said.

use std::time::{Duration, Instant};

use purge_api::{Backend, Db, Session};

use super::method::Method;
use super::plan::{existing, Action, Wanted};
use super::report::{IndexReport, Outcome};
use crate::database::ddl;
use crate::database::errors::is_lock_timeout;
use crate::error::{describe_sqlx, Error};

/// The connection that builds the indexes, with its settings applied.
pub async fn session(db: &Db, method: Method, lock_timeout: Duration) -> Result<Session, Error> {
    let fail = |e| Error::database("cannot set up the session that builds the indexes", e);
    let mut session = db.session().await.map_err(fail)?;
    for setting in method.session_settings(lock_timeout) {
        session.execute(&setting).await.map_err(fail)?;
    }
    Ok(session)
}

/// What a dry run reports for `wanted`: what a real run would do.
pub fn predict(db: &Db, wanted: &Wanted) -> IndexReport {
    let mut report = report(db, wanted);
    if let Action::Conflict(why) = &wanted.action {
        report.outcome = Outcome::Failed;
        report.message = Some(why.clone());
    }
    report
}

/// Builds `wanted` on `session`.
pub async fn build(
    session: &mut Session,
    db: &Db,
    wanted: &Wanted,
    lock_timeout: Duration,
) -> IndexReport {
    let mut report = predict(db, wanted);
    if report.outcome == Outcome::Failed {
        return report;
    }
    let started = Instant::now();
    for statement in wanted.statements(db.backend()) {
        tracing::info!(index = %wanted.name, "{}", statement.sql());
        if let Err(err) = session.execute(&statement).await {
            report.elapsed_ms = Some(millis(started));
            let left = leftover(session, db, wanted).await;
            let (outcome, message) = failure(&err, db.backend(), wanted, lock_timeout, &left);
            tracing::warn!(index = %wanted.name, "not created: {message}");
            (report.outcome, report.message) = (outcome, Some(message));
            return report;
        }
    }
    report.outcome = Outcome::Created;
    report.elapsed_ms = Some(millis(started));
    report
}

/// What a failed statement means for the index, with what is `left` of it.
fn failure(
    err: &sqlx::Error,
    backend: Backend,
    wanted: &Wanted,
    lock_timeout: Duration,
    left: &str,
) -> (Outcome, String) {
    if !is_lock_timeout(err) {
        return (Outcome::Failed, format!("{}; {left}", describe(err)));
    }
    let on = match backend {
        Backend::Sqlite => "the database",
        _ => &wanted.table,
    };
    (
        Outcome::TimedOut,
        format!(
            "gave up after {lock_timeout:?} waiting for a lock on {on}, which Nova (or another session) held; {left}; run again when Nova is quieter, or with a longer --lock-timeout"
        ),
    )
}

fn report(db: &Db, wanted: &Wanted) -> IndexReport {
    IndexReport {
        table: wanted.table.clone(),
        column: wanted.column.clone(),
        name: wanted.name.clone(),
        statements: wanted
            .statements(db.backend())
            .iter()
            .map(|s| s.sql().to_owned())
            .collect(),
        outcome: Outcome::WouldCreate,
        message: None,
        elapsed_ms: None,
    }
}

/// What a failed statement left of the index. MariaDB/MySQL undo a failed
/// ALTER whole and SQLite's CREATE INDEX is one transaction; a failed
/// `CREATE INDEX CONCURRENTLY` leaves an INVALID index, which is dropped
/// (concurrently, under the same lock timeout) when it can be.
async fn leftover(session: &mut Session, db: &Db, wanted: &Wanted) -> String {
    match db.backend() {
        Backend::MySql => {
            return "the server undid the ALTER whole: nothing of it is left".to_owned()
        }
        Backend::Sqlite => return "it was rolled back: nothing of it is left".to_owned(),
        Backend::Postgres => {}
    }
    let invalid = match existing(db, &wanted.table, &wanted.name).await {
        Ok(Some(found)) => found.is_invalid_index_on(&wanted.table),
        Ok(None) => return "nothing of it is left".to_owned(),
        Err(err) => {
            return format!(
                "whether it left an INVALID index {} is unknown ({err}): the next run drops and rebuilds one",
                wanted.name
            )
        }
    };
    if !invalid {
        return format!(
            "an index named {} is there all the same: `nova-purge check` says whether it serves the lookup",
            wanted.name
        );
    }
    match session.execute(&ddl::drop_invalid_index(&wanted.name)).await {
        Ok(()) => "the INVALID index it left was dropped: nothing of it is left".to_owned(),
        Err(err) => format!(
            "an INVALID index {name} is left (no query uses it; dropping it failed: {}): the next run drops and rebuilds it, or drop it with DROP INDEX CONCURRENTLY {name}",
            describe_sqlx(&err),
            name = wanted.name
        ),
    }
}

/// The server's refusal in one line, with what to do about the usual
/// ones. Not `describe_sqlx`'s hints: those are a purge's (grants of
/// DELETE), and a build needs others.
fn describe(err: &sqlx::Error) -> String {
    let sqlx::Error::Database(db) = err else {
        return describe_sqlx(err);
    };
    let mysql = db
        .try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>()
        .map(|e| e.number());
    let hint = match (mysql, db.code().as_deref()) {
        // ER_ALTER_OPERATION_NOT_SUPPORTED(_REASON): LOCK=NONE refused.
        (Some(1845 | 1846), _) => {
            " (the server cannot build this index without locking the table: build it at a quiet hour, or with pt-online-schema-change)"
        }
        // ER_TABLEACCESS_DENIED_ERROR; PostgreSQL insufficient_privilege
        // ("must be owner of table").
        (Some(1142), _) | (None, Some("42501")) => {
            " (run it as the user that owns Nova's tables, as nova.conf's does: PostgreSQL lets only a table's owner index it, MariaDB/MySQL need the ALTER privilege)"
        }
        _ => "",
    };
    format!("{}{hint}", db.message().replace('\n', " "))
}

fn millis(started: Instant) -> u64 {
    u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX)
}
