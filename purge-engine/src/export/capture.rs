//! Deleting a target's rows and taking them for the export in one step, so
//! that the export holds exactly the rows that were deleted even while Nova
//! keeps writing: a row a concurrent writer adds between a `SELECT` and the
//! `DELETE` would otherwise go unrecorded.
//!
//! Where the server can, the `DELETE` itself returns the rows
//! (`RETURNING`: PostgreSQL, SQLite 3.35+, MariaDB 10.5+), each rendered as
//! JSON by the database. Elsewhere (MySQL 8) a locking read takes the rows
//! first (`SELECT ... FOR UPDATE`, whose next-key locks keep new matching
//! rows out until the commit), then the same predicate deletes them, and a
//! count that differs fails the batch rather than export the wrong rows.

use purge_api::{Backend, InstanceBatch, PurgeTarget, Stmt, Tx};
use serde_json::Value;

/// How a server gives back the rows a delete removes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Capture {
    /// `DELETE ... RETURNING`.
    Returning,
    /// `SELECT ... FOR UPDATE`, then `DELETE` with the same predicate.
    LockingRead,
}

/// Deletes the rows of `target` that belong to `batch` and returns them,
/// each as a JSON object of every one of `columns`.
pub async fn delete_captured(
    tx: &mut Tx,
    target: &dyn PurgeTarget,
    columns: &[String],
    batch: &InstanceBatch,
    capture: Capture,
) -> Result<Vec<Value>, sqlx::Error> {
    let texts = match capture {
        Capture::Returning => {
            let mut stmt = tx.stmt();
            stmt.push("DELETE FROM ").ident(target.table());
            if stmt.backend() == Backend::Postgres {
                stmt.push(" AS x");
            }
            stmt.push(" WHERE ");
            target.push_predicate(&mut stmt, batch);
            stmt.push(" RETURNING ");
            push_row_json(&mut stmt, columns);
            column_texts(tx.fetch_all(&stmt).await?)
        }
        Capture::LockingRead => {
            let mut select = tx.stmt();
            select.push("SELECT ");
            push_row_json(&mut select, columns);
            select.push(" FROM ").ident(target.table());
            if select.backend() == Backend::Postgres {
                select.push(" AS x");
            }
            select.push(" WHERE ");
            target.push_predicate(&mut select, batch);
            if select.backend() != Backend::Sqlite {
                select.push(" FOR UPDATE");
            }
            let texts = column_texts(tx.fetch_all(&select).await?);
            let deleted = target.delete(tx, batch).await?;
            if deleted != texts.len() as u64 {
                return Err(sqlx::Error::Protocol(format!(
                    "{}: {deleted} rows deleted but {} read for the export; the batch was rolled back",
                    target.table(),
                    texts.len()
                )));
            }
            texts
        }
    };
    texts
        .into_iter()
        .map(|text| {
            serde_json::from_str(&text).map_err(|e| {
                sqlx::Error::Decode(
                    format!("{} returned a row that is not JSON: {e}", target.table()).into(),
                )
            })
        })
        .collect()
}

/// The whole row as JSON text: `row_to_json` of the row alias `x` on
/// PostgreSQL; `JSON_OBJECT`/`json_object` of every column elsewhere, the
/// column names bound as parameters so that no name is ever spliced into a
/// string literal.
fn push_row_json(stmt: &mut Stmt, columns: &[String]) {
    if stmt.backend() == Backend::Postgres {
        stmt.push("row_to_json(x)::text");
        return;
    }
    stmt.push(if stmt.backend() == Backend::MySql {
        "JSON_OBJECT("
    } else {
        "json_object("
    });
    for (i, column) in columns.iter().enumerate() {
        if i > 0 {
            stmt.push(", ");
        }
        stmt.bind_text(column).push(", ").ident(column);
    }
    stmt.push(")");
}

fn column_texts(rows: Vec<Vec<purge_api::Value>>) -> Vec<String> {
    rows.into_iter()
        .filter_map(|row| row.into_iter().next().and_then(|v| v.to_text()))
        .collect()
}
