//! The statements the fixture writes with: [`Value`] and [`insert`] (one row
//! of column values, on any backend), and the few UPDATEs and lookups the
//! per-instance rows need.

use chrono::NaiveDateTime;
use purge_api::Tx;

/// A value to write into one column with [`insert`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Value<'a> {
    /// A string (VARCHAR, TEXT, or an enum, INET... column).
    Text(&'a str),
    /// An integer.
    Int(i64),
    /// A naive UTC timestamp, as Nova writes them.
    Time(NaiveDateTime),
}

/// Inserts one row of `(column, value)` pairs into `table`; returns the
/// number of rows inserted.
pub async fn insert(
    tx: &mut Tx,
    table: &str,
    values: &[(&str, Value<'_>)],
) -> Result<u64, sqlx::Error> {
    let mut stmt = tx.stmt();
    stmt.push("INSERT INTO ").ident(table).push(" (");
    for (i, (column, _)) in values.iter().enumerate() {
        if i > 0 {
            stmt.push(", ");
        }
        stmt.ident(column);
    }
    stmt.push(") VALUES (");
    for (i, (_, value)) in values.iter().enumerate() {
        if i > 0 {
            stmt.push(", ");
        }
        match value {
            Value::Text(s) => stmt.bind_text(s),
            Value::Int(n) => stmt.bind_int(*n),
            Value::Time(t) => stmt.bind_time(*t),
        };
    }
    stmt.push(")");
    tx.execute(&stmt).await
}

/// Nova's soft delete of the rows of `table` whose `column` is `value`:
/// `deleted = id`, `deleted_at = when`.
pub(crate) async fn soft_delete(
    tx: &mut Tx,
    table: &str,
    column: &str,
    value: &str,
    when: NaiveDateTime,
) -> Result<(), sqlx::Error> {
    let mut stmt = tx.stmt();
    stmt.push("UPDATE ")
        .ident(table)
        .push(" SET ")
        .ident("deleted")
        .push(" = ")
        .ident("id")
        .push(", ")
        .ident("deleted_at")
        .push(" = ")
        .bind_time(when)
        .push(" WHERE ")
        .ident(column)
        .push(" = ")
        .bind_text(value);
    tx.execute(&stmt).await?;
    Ok(())
}

/// Deletes the rows of `table` whose `column` is `value`.
pub(crate) async fn hard_delete(
    tx: &mut Tx,
    table: &str,
    column: &str,
    value: &str,
) -> Result<(), sqlx::Error> {
    let mut stmt = tx.stmt();
    stmt.push("DELETE FROM ")
        .ident(table)
        .push(" WHERE ")
        .ident(column)
        .push(" = ")
        .bind_text(value);
    tx.execute(&stmt).await?;
    Ok(())
}

/// Sets `deleted_at` on the instance `id` and nothing else (Nova's
/// restorable soft delete keeps `deleted = 0`).
pub(crate) async fn set_deleted_at(
    tx: &mut Tx,
    id: i64,
    when: NaiveDateTime,
) -> Result<(), sqlx::Error> {
    let mut stmt = tx.stmt();
    stmt.push("UPDATE ")
        .ident("instances")
        .push(" SET ")
        .ident("deleted_at")
        .push(" = ")
        .bind_time(when)
        .push(" WHERE ")
        .ident("id")
        .push(" = ")
        .bind_int(id);
    tx.execute(&stmt).await?;
    Ok(())
}

/// `instances.id` of the instance `uuid`.
pub(crate) async fn instance_id(tx: &mut Tx, uuid: &str) -> Result<i64, sqlx::Error> {
    let mut stmt = tx.stmt();
    stmt.push("SELECT ")
        .ident("id")
        .push(" FROM ")
        .ident("instances")
        .push(" WHERE ")
        .ident("uuid")
        .push(" = ")
        .bind_text(uuid);
    Ok(tx.fetch_count(&stmt).await? as i64)
}

/// The highest `id` in `table` among the rows of the instance `uuid`.
pub(crate) async fn last_id(tx: &mut Tx, table: &str, uuid: &str) -> Result<i64, sqlx::Error> {
    let mut stmt = tx.stmt();
    stmt.push("SELECT MAX(")
        .ident("id")
        .push(") FROM ")
        .ident(table)
        .push(" WHERE ")
        .ident("instance_uuid")
        .push(" = ")
        .bind_text(uuid);
    Ok(tx.fetch_count(&stmt).await? as i64)
}
