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

use purge_api::{Backend, Stmt, Tx};
use serde_json::Value;

/// How a server gives back the rows a delete removes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Capture {
    /// `DELETE ... RETURNING`.
    Returning,
    /// `SELECT ... FOR UPDATE`, then `DELETE` with the same predicate.
    LockingRead,
}

/// Deletes the rows of `table` that `predicate` selects (it appends the
/// condition after `WHERE`) and returns them, each as a JSON object of
/// every one of `columns`.
pub async fn delete_captured(
    tx: &mut Tx,
    table: &str,
    columns: &[String],
    predicate: impl Fn(&mut Stmt),
    capture: Capture,
) -> Result<Vec<Value>, sqlx::Error> {
    let from = |stmt: &mut Stmt| {
        stmt.ident(table);
        if stmt.backend() == Backend::Postgres {
            stmt.push(" AS x");
        }
        stmt.push(" WHERE ");
        predicate(stmt);
    };
    let texts = match capture {
        Capture::Returning => {
            let mut stmt = tx.stmt();
            stmt.push("DELETE FROM ");
            from(&mut stmt);
            stmt.push(" RETURNING ");
            push_row_json(&mut stmt, columns);
            column_texts(tx.fetch_all(&stmt).await?)
        }
        Capture::LockingRead => {
            let mut select = tx.stmt();
            select.push("SELECT ");
            push_row_json(&mut select, columns);
            select.push(" FROM ");
            from(&mut select);
            if select.backend() != Backend::Sqlite {
                select.push(" FOR UPDATE");
            }
            let texts = column_texts(tx.fetch_all(&select).await?);
            let mut delete = tx.stmt();
            delete.push("DELETE FROM ");
            from(&mut delete);
            let deleted = tx.execute(&delete).await?;
            if deleted != texts.len() as u64 {
                return Err(sqlx::Error::Protocol(format!(
                    "{table}: {deleted} rows deleted but {} read for the export; the batch was rolled back",
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
                sqlx::Error::Decode(format!("{table} returned a row that is not JSON: {e}").into())
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
