//! A Nova-shaped schema for the demo, the tests and the benchmark: every
//! table a purge touches or must respect, with Nova's keys, unique
//! constraints, indexes and foreign keys on each backend (MariaDB creates an
//! index for every foreign key by itself; PostgreSQL and SQLite do not, which
//! is why `instance_actions_events.action_id` and `migrations.instance_uuid`
//! are unindexed there, as in Nova). Columns a purge never reads are
//! abridged; the compatibility suite (tests/nova-compat) runs against the
//! full schema that Nova's own migrations create.
//!
//! The tables are data, in `cell_tables.rs` and `api_tables.rs`; this file
//! holds the column types and turns a table into each backend's DDL.

mod api_tables;
mod cell_tables;

use purge_api::{Backend, Db};

use api_tables::API_TABLES;
use cell_tables::TABLES;

#[derive(Debug, Clone, Copy)]
enum Ty {
    /// Auto-increment integer primary key.
    Serial,
    /// Auto-increment 64-bit primary key (share_mapping).
    BigSerial,
    Int,
    Str(u16),
    Text,
    MediumText,
    DateTime,
    Bool,
}

#[derive(Debug, Clone, Copy)]
struct Col {
    name: &'static str,
    ty: Ty,
    not_null: bool,
}

const fn col(name: &'static str, ty: Ty) -> Col {
    Col {
        name,
        ty,
        not_null: false,
    }
}

const fn req(name: &'static str, ty: Ty) -> Col {
    Col {
        name,
        ty,
        not_null: true,
    }
}

/// `created_at`, `updated_at`, `deleted_at`, `deleted`: Nova's soft delete.
const SOFT_DELETE: [Col; 4] = [
    col("created_at", Ty::DateTime),
    col("updated_at", Ty::DateTime),
    col("deleted_at", Ty::DateTime),
    col("deleted", Ty::Int),
];
const TIMESTAMPS: [Col; 2] = [
    col("created_at", Ty::DateTime),
    col("updated_at", Ty::DateTime),
];

struct Table {
    name: &'static str,
    /// Nova's common columns for this table (soft delete or timestamps).
    common: &'static [Col],
    columns: &'static [Col],
    primary_key: &'static [&'static str],
    unique: &'static [&'static [&'static str]],
    indexes: &'static [&'static [&'static str]],
    /// (column, referenced table, referenced column)
    foreign_keys: &'static [(&'static str, &'static str, &'static str)],
}

const ID: Col = req("id", Ty::Serial);
const INSTANCE_UUID: Col = col("instance_uuid", Ty::Str(36));
const TO_INSTANCE: (&str, &str, &str) = ("instance_uuid", "instances", "uuid");

/// Every cell table the fixture can create, parents first.
pub fn table_names() -> impl Iterator<Item = &'static str> {
    TABLES.iter().map(|t| t.name)
}

/// The statements that create the cell schema on `backend`, leaving out the
/// tables named in `without` (to play an older or newer Nova).
pub(crate) fn ddl(backend: Backend, without: &[&str]) -> Vec<String> {
    TABLES
        .iter()
        .filter(|table| !without.contains(&table.name))
        .flat_map(|table| table_ddl(backend, table))
        .collect()
}

/// Creates the cell schema in an empty database.
pub(crate) async fn create(db: &Db, without: &[&str]) -> Result<(), sqlx::Error> {
    execute_all(db, ddl(db.backend(), without)).await
}

/// Creates the API schema in an empty database.
pub(crate) async fn create_api(db: &Db) -> Result<(), sqlx::Error> {
    let statements = API_TABLES
        .iter()
        .flat_map(|table| table_ddl(db.backend(), table))
        .collect();
    execute_all(db, statements).await
}

async fn execute_all(db: &Db, statements: Vec<String>) -> Result<(), sqlx::Error> {
    let mut tx = db.begin_write().await?;
    for sql in statements {
        let mut stmt = tx.stmt();
        stmt.push(&sql);
        tx.execute(&stmt).await?;
    }
    tx.commit().await
}

fn column_type(backend: Backend, ty: Ty) -> &'static str {
    use Backend::*;
    match (ty, backend) {
        (Ty::Serial, MySql) => "INT NOT NULL AUTO_INCREMENT",
        (Ty::Serial, Postgres) => "SERIAL",
        (Ty::Serial, Sqlite) => "INTEGER",
        (Ty::BigSerial, MySql) => "BIGINT NOT NULL AUTO_INCREMENT",
        (Ty::BigSerial, Postgres) => "BIGSERIAL",
        // Only INTEGER PRIMARY KEY is an auto-assigned rowid in SQLite.
        (Ty::BigSerial, Sqlite) => "INTEGER",
        (Ty::Int, _) => "INTEGER",
        (Ty::Str(_), _) => "VARCHAR",
        (Ty::Text, _) => "TEXT",
        (Ty::MediumText, MySql) => "MEDIUMTEXT",
        (Ty::MediumText, _) => "TEXT",
        (Ty::DateTime, Postgres) => "TIMESTAMP WITHOUT TIME ZONE",
        (Ty::DateTime, _) => "DATETIME",
        (Ty::Bool, MySql) => "TINYINT(1)",
        (Ty::Bool, _) => "BOOLEAN",
    }
}

fn table_ddl(backend: Backend, table: &Table) -> Vec<String> {
    let q = |name: &str| backend.quote(name);
    let list = |names: &[&str]| names.iter().map(|n| q(n)).collect::<Vec<_>>().join(", ");
    let mut parts: Vec<String> = table
        .columns
        .iter()
        .take(1)
        .chain(table.common)
        .chain(table.columns.iter().skip(1))
        .map(|c| {
            let mut ty = column_type(backend, c.ty).to_owned();
            if let Ty::Str(len) = c.ty {
                ty = format!("{ty}({len})");
            }
            let null = if c.not_null && !ty.contains("NOT NULL") {
                " NOT NULL"
            } else {
                ""
            };
            format!("{} {ty}{null}", q(c.name))
        })
        .collect();
    parts.push(format!("PRIMARY KEY ({})", list(table.primary_key)));
    for (i, unique) in table.unique.iter().enumerate() {
        parts.push(format!(
            "CONSTRAINT {} UNIQUE ({})",
            q(&format!("uniq_{}_{i}", table.name)),
            list(unique)
        ));
    }
    for (column, ref_table, ref_column) in table.foreign_keys {
        parts.push(format!(
            "CONSTRAINT {} FOREIGN KEY ({}) REFERENCES {} ({})",
            q(&format!("{}_{column}_fkey", table.name)),
            q(column),
            q(ref_table),
            q(ref_column)
        ));
    }
    let engine = if backend == Backend::MySql {
        " ENGINE=InnoDB DEFAULT CHARSET=utf8"
    } else {
        ""
    };
    let mut statements = vec![format!(
        "CREATE TABLE {} (\n  {}\n){engine}",
        q(table.name),
        parts.join(",\n  ")
    )];
    for (i, index) in table.indexes.iter().enumerate() {
        statements.push(format!(
            "CREATE INDEX {} ON {} ({})",
            q(&format!("{}_idx{i}", table.name)),
            q(table.name),
            list(index)
        ));
    }
    statements
}
