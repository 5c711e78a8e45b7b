//! Putting a part's rows back: one transaction, parents first, each row
//! inserted with the values it was exported with; and telling whether an
//! uncommitted part's delete happened at all.

use std::collections::HashMap;

use purge_api::{Backend, Db, Tx};
use serde_json::{Map, Value};

use crate::error::{describe_sqlx, Error};

/// A part's rows, as read from the export: (table, row).
pub type Rows = Vec<(String, Map<String, Value>)>;

/// True when the part's instances (or, for an API part, its instances'
/// mappings) are still in the database: the batch never committed.
pub async fn still_present(db: &Db, rows: &Rows) -> Result<bool, Error> {
    let probe = rows.iter().find_map(|(table, row)| match table.as_str() {
        "instances" => Some(("instances", "uuid", row.get("uuid")?.as_str()?.to_owned())),
        "instance_mappings" => Some((
            "instance_mappings",
            "instance_uuid",
            row.get("instance_uuid")?.as_str()?.to_owned(),
        )),
        _ => None,
    });
    let Some((table, column, uuid)) = probe else {
        return Ok(false);
    };
    let fail = |e| Error::database("cannot read the database", e);
    let mut tx = db.begin_read().await.map_err(fail)?;
    let mut stmt = tx.stmt();
    stmt.push("SELECT COUNT(*) FROM ")
        .ident(table)
        .push(" WHERE ")
        .ident(column)
        .push(" = ")
        .bind_text(&uuid);
    let count = tx.fetch_count(&stmt).await.map_err(fail)?;
    tx.rollback().await.map_err(fail)?;
    Ok(count > 0)
}

/// Inserts a part's rows, parents first, in one transaction.
pub async fn put_back(
    db: &Db,
    batch: u64,
    rows: &Rows,
    rank: &HashMap<&'static str, usize>,
    dry_run: bool,
) -> Result<(), Error> {
    let mut rows: Vec<&(String, Map<String, Value>)> = rows.iter().collect();
    rows.sort_by_key(|(table, _)| rank.get(table.as_str()).copied().unwrap_or(usize::MAX));
    let fail = |e| Error::database(&format!("batch {batch}"), e);
    let mut tx = db.begin_write().await.map_err(fail)?;
    for (table, row) in rows {
        if let Err(e) = insert(&mut tx, table, row).await {
            return Err(Error::Database(format!(
                "restore stopped at batch {batch}: a {table} row cannot be put back ({}); that batch was rolled back, earlier batches stay restored",
                describe_sqlx(&e)
            )));
        }
    }
    if dry_run {
        tx.rollback().await.map_err(fail)
    } else {
        tx.commit().await.map_err(fail)
    }
}

/// One row back into its table. PostgreSQL turns the JSON into the row type
/// itself (timestamps, enums, INET); MariaDB and SQLite take each value
/// with the JSON type it was exported with.
async fn insert(tx: &mut Tx, table: &str, row: &Map<String, Value>) -> Result<u64, sqlx::Error> {
    let mut stmt = tx.stmt();
    stmt.push("INSERT INTO ").ident(table);
    if tx.backend() == Backend::Postgres {
        stmt.push(" SELECT * FROM json_populate_record(NULL::")
            .ident(table)
            .push(", ")
            .bind_text(&Value::Object(row.clone()).to_string())
            .push("::json)");
        return tx.execute(&stmt).await;
    }
    stmt.push(" (");
    for (i, column) in row.keys().enumerate() {
        if i > 0 {
            stmt.push(", ");
        }
        stmt.ident(column);
    }
    stmt.push(") VALUES (");
    for (i, value) in row.values().enumerate() {
        if i > 0 {
            stmt.push(", ");
        }
        match value {
            Value::Null => stmt.bind_null(),
            Value::Bool(b) => stmt.bind_int(i64::from(*b)),
            Value::Number(n) => match n.as_i64() {
                Some(int) => stmt.bind_int(int),
                None => stmt.bind_text(&n.to_string()),
            },
            Value::String(s) => stmt.bind_text(s),
            other => stmt.bind_text(&other.to_string()),
        };
    }
    stmt.push(")");
    tx.execute(&stmt).await
}
