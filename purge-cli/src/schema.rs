//! Reads the live schema: which tables and columns exist and which foreign
//! keys point where. Read from the catalogue of the database at hand, never
//! assumed: Nova releases add and drop tables, and operators add their own.

use std::collections::{BTreeMap, BTreeSet};

use purge_api::{Backend, Db, Value};

use crate::error::Failure;

/// One column of a foreign key (Nova's are all single-column).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ForeignKey {
    pub table: String,
    pub column: String,
    pub ref_table: String,
    pub ref_column: String,
}

#[derive(Debug, Default)]
pub struct Schema {
    /// Table name → its column names.
    tables: BTreeMap<String, BTreeSet<String>>,
    pub foreign_keys: Vec<ForeignKey>,
}

impl Schema {
    /// Every table, in name order.
    pub fn tables(&self) -> impl Iterator<Item = &str> {
        self.tables.keys().map(String::as_str)
    }

    /// The columns of `table`, in name order (empty if there is no such table).
    pub fn columns(&self, table: &str) -> impl Iterator<Item = &str> {
        self.tables
            .get(table)
            .into_iter()
            .flatten()
            .map(String::as_str)
    }

    pub fn has_table(&self, table: &str) -> bool {
        self.tables.contains_key(table)
    }

    pub fn has_column(&self, table: &str, column: &str) -> bool {
        self.tables
            .get(table)
            .is_some_and(|columns| columns.contains(column))
    }

    /// Reads the schema of the database (the current schema on PostgreSQL).
    pub async fn inspect(db: &Db) -> Result<Schema, Failure> {
        let fail = |e| Failure::database("cannot read the database schema", e);
        let (columns_sql, foreign_keys_sql) = catalogue_queries(db.backend());
        let mut tx = db.begin_read().await.map_err(fail)?;
        let mut schema = Schema::default();
        let mut stmt = tx.stmt();
        stmt.push(columns_sql);
        for row in tx.fetch_all(&stmt).await.map_err(fail)? {
            let [table, column] = texts(&row);
            schema.tables.entry(table).or_default().insert(column);
        }
        let mut stmt = tx.stmt();
        stmt.push(foreign_keys_sql);
        for row in tx.fetch_all(&stmt).await.map_err(fail)? {
            let [table, column, ref_table, ref_column] = texts(&row);
            schema.foreign_keys.push(ForeignKey {
                table,
                column,
                ref_table,
                ref_column,
            });
        }
        tx.rollback().await.map_err(fail)?;
        schema.foreign_keys.sort();
        schema.foreign_keys.dedup();
        Ok(schema)
    }

    /// Refuses a database that cannot be a Nova cell database, before
    /// anything else is read or deleted.
    pub fn require_nova_cell(&self) -> Result<(), Failure> {
        if !self.has_table("instances") {
            return Err(Failure::Usage(
                "this is not a Nova cell database: it has no `instances` table; check --database-url".to_owned(),
            ));
        }
        for column in ["id", "uuid", "deleted", "deleted_at"] {
            if !self.has_column("instances", column) {
                return Err(Failure::Usage(format!(
                    "this is not a usable Nova cell database: table `instances` has no `{column}` column; check --database-url"
                )));
            }
        }
        Ok(())
    }
}

/// Catalogue rows are decoded as text whatever their SQL type; a NULL (an
/// SQLite foreign key to an implicit primary key) reads as `id`.
fn texts<const N: usize>(row: &[Value]) -> [String; N] {
    std::array::from_fn(|i| {
        row.get(i)
            .and_then(Value::to_text)
            .unwrap_or_else(|| "id".to_owned())
    })
}

/// (columns query, foreign keys query) for a backend, each returning names in
/// the order `texts` expects.
fn catalogue_queries(backend: Backend) -> (&'static str, &'static str) {
    match backend {
        Backend::MySql => (
            "SELECT table_name, column_name FROM information_schema.columns \
             WHERE table_schema = DATABASE()",
            "SELECT table_name, column_name, referenced_table_name, referenced_column_name \
             FROM information_schema.key_column_usage \
             WHERE table_schema = DATABASE() AND referenced_table_name IS NOT NULL",
        ),
        Backend::Postgres => (
            "SELECT table_name::text, column_name::text FROM information_schema.columns \
             WHERE table_schema = current_schema()",
            // pg_catalog rather than information_schema: the latter hides
            // constraints on tables the current user does not own.
            "SELECT cl.relname::text, att.attname::text, rcl.relname::text, ratt.attname::text \
             FROM pg_constraint c \
             JOIN pg_class cl ON cl.oid = c.conrelid \
             JOIN pg_namespace n ON n.oid = cl.relnamespace \
             JOIN pg_class rcl ON rcl.oid = c.confrelid \
             CROSS JOIN LATERAL unnest(c.conkey, c.confkey) AS k(attnum, fattnum) \
             JOIN pg_attribute att ON att.attrelid = c.conrelid AND att.attnum = k.attnum \
             JOIN pg_attribute ratt ON ratt.attrelid = c.confrelid AND ratt.attnum = k.fattnum \
             WHERE c.contype = 'f' AND n.nspname = current_schema()",
        ),
        Backend::Sqlite => (
            "SELECT m.name, p.name FROM sqlite_master m \
             JOIN pragma_table_info(m.name) p WHERE m.type = 'table'",
            r#"SELECT m.name, p."from", p."table", p."to" FROM sqlite_master m
             JOIN pragma_foreign_key_list(m.name) p WHERE m.type = 'table'"#,
        ),
    }
}
