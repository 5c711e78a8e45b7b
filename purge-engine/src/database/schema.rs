//! Reads the live schema: which tables and columns exist and which foreign
//! keys point where. Read from the catalogue of the database at hand, never
//! assumed: Nova releases add and drop tables, and operators add their own.

use std::collections::{BTreeMap, BTreeSet};

use purge_api::{Backend, Db, Value};

use crate::error::Error;
use crate::export::capture::Capture;

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
    /// The server's version string (`10.11.19-MariaDB-...`, `PostgreSQL
    /// 15.4 ...`, `3.46.0` for SQLite).
    pub server_version: String,
    /// The database's name on its server (the current database on MariaDB
    /// and PostgreSQL, `main` on SQLite).
    pub database_name: String,
    /// Table name → column name → declared type, lower case as the
    /// catalogue gives it (`varchar`, `character varying`, `VARCHAR(36)`...).
    tables: BTreeMap<String, BTreeMap<String, String>>,
    pub foreign_keys: Vec<ForeignKey>,
    /// Table name → columns that lead an index (the primary key included):
    /// what a lookup by that column can use.
    indexed: BTreeMap<String, BTreeSet<String>>,
    /// Table name → its primary key's columns, in key order.
    primary_keys: BTreeMap<String, Vec<String>>,
}

/// What kind of values a column holds, as far as a purge cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnKind {
    Text,
    Integer,
    Other,
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
            .flat_map(|columns| columns.keys())
            .map(String::as_str)
    }

    pub fn has_table(&self, table: &str) -> bool {
        self.tables.contains_key(table)
    }

    pub fn has_column(&self, table: &str, column: &str) -> bool {
        self.tables
            .get(table)
            .is_some_and(|columns| columns.contains_key(column))
    }

    /// The kind of a column's values, from its declared type.
    pub fn column_kind(&self, table: &str, column: &str) -> Option<ColumnKind> {
        let declared = self.tables.get(table)?.get(column)?.to_lowercase();
        Some(
            if ["char", "text", "clob"]
                .iter()
                .any(|t| declared.contains(t))
            {
                ColumnKind::Text
            } else if declared.contains("int") {
                ColumnKind::Integer
            } else {
                ColumnKind::Other
            },
        )
    }

    /// The declared type of a column, as the catalogue gives it.
    pub fn column_type(&self, table: &str, column: &str) -> Option<&str> {
        self.tables.get(table)?.get(column).map(String::as_str)
    }

    /// The primary key's column, when the table has a single-column one.
    pub fn single_primary_key(&self, table: &str) -> Option<&str> {
        match self.primary_keys.get(table).map(Vec::as_slice) {
            Some([column]) => Some(column),
            _ => None,
        }
    }

    /// True when some index (or the primary key) starts with `column`.
    pub fn has_leading_index(&self, table: &str, column: &str) -> bool {
        self.indexed
            .get(table)
            .is_some_and(|columns| columns.contains(column))
    }

    /// Reads the schema of the database (the current schema on PostgreSQL).
    pub async fn inspect(db: &Db) -> Result<Schema, Error> {
        let fail = |e| Error::database("cannot read the database schema", e);
        let queries = catalogue_queries(db.backend());
        let mut tx = db.begin_read().await.map_err(fail)?;
        let mut schema = Schema::default();
        let mut read = async |sql: &str| {
            let mut stmt = tx.stmt();
            stmt.push(sql);
            tx.fetch_all(&stmt).await.map_err(fail)
        };
        for row in read(queries.server).await? {
            [schema.server_version, schema.database_name] = texts(&row);
        }
        for row in read(queries.columns).await? {
            let [table, column, declared] = texts(&row);
            schema
                .tables
                .entry(table)
                .or_default()
                .insert(column, declared);
        }
        for row in read(queries.foreign_keys).await? {
            let [table, column, ref_table, ref_column] = texts(&row);
            schema.foreign_keys.push(ForeignKey {
                table,
                column,
                ref_table,
                ref_column,
            });
        }
        for row in read(queries.primary_keys).await? {
            let [table, column] = texts(&row);
            schema.primary_keys.entry(table).or_default().push(column);
        }
        for sql in queries.leading_index_columns {
            for row in read(sql).await? {
                let [table, column] = texts(&row);
                schema.indexed.entry(table).or_default().insert(column);
            }
        }
        tx.rollback().await.map_err(fail)?;
        schema.foreign_keys.sort();
        schema.foreign_keys.dedup();
        Ok(schema)
    }

    /// How this server gives back the rows a delete removes, for the export:
    /// `DELETE ... RETURNING` on PostgreSQL, SQLite 3.35+ and MariaDB 10.5+,
    /// a locking read first elsewhere (MySQL).
    ///
    /// `NOVA_PURGE_EXPORT_CAPTURE=locking-read` forces the locking read, so
    /// that the tests exercise MySQL's method on the servers they have.
    pub fn capture(&self, backend: Backend) -> Capture {
        if std::env::var("NOVA_PURGE_EXPORT_CAPTURE").as_deref() == Ok("locking-read") {
            return Capture::LockingRead;
        }
        let at_least = |major: u32, minor: u32| {
            let mut numbers = self
                .server_version
                .split(|c: char| !c.is_ascii_digit())
                .filter(|part| !part.is_empty())
                .map(|part| part.parse::<u32>().unwrap_or(0));
            let found = (numbers.next().unwrap_or(0), numbers.next().unwrap_or(0));
            found >= (major, minor)
        };
        let returning = match backend {
            Backend::Postgres => true,
            Backend::Sqlite => at_least(3, 35),
            Backend::MySql => self.server_version.contains("MariaDB") && at_least(10, 5),
        };
        if returning {
            Capture::Returning
        } else {
            Capture::LockingRead
        }
    }

    /// Refuses a database that cannot be a Nova cell database, before
    /// anything else is read or deleted.
    pub fn require_nova_cell(&self) -> Result<(), Error> {
        if !self.has_table("instances") {
            return Err(Error::Input(
                "this is not a Nova cell database: it has no `instances` table; check --database-url".to_owned(),
            ));
        }
        for column in ["id", "uuid", "deleted", "deleted_at"] {
            if !self.has_column("instances", column) {
                return Err(Error::Input(format!(
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

/// The catalogue queries of one backend, each returning names in the order
/// `texts` expects.
struct CatalogueQueries {
    /// (version, database name)
    server: &'static str,
    /// (table, column, declared type)
    columns: &'static str,
    /// (table, column, referenced table, referenced column)
    foreign_keys: &'static str,
    /// (table, column) of every primary key column, in key order
    primary_keys: &'static str,
    /// (table, column) for the first column of every index and primary key
    leading_index_columns: &'static [&'static str],
}

fn catalogue_queries(backend: Backend) -> CatalogueQueries {
    match backend {
        Backend::MySql => CatalogueQueries {
            server: "SELECT VERSION(), DATABASE()",
            columns: "SELECT table_name, column_name, data_type FROM information_schema.columns \
                      WHERE table_schema = DATABASE()",
            foreign_keys: "SELECT table_name, column_name, referenced_table_name, referenced_column_name \
                           FROM information_schema.key_column_usage \
                           WHERE table_schema = DATABASE() AND referenced_table_name IS NOT NULL",
            primary_keys: "SELECT table_name, column_name FROM information_schema.key_column_usage \
                           WHERE table_schema = DATABASE() AND constraint_name = 'PRIMARY' \
                           ORDER BY table_name, ordinal_position",
            leading_index_columns: &["SELECT table_name, column_name FROM information_schema.statistics \
                                      WHERE table_schema = DATABASE() AND seq_in_index = 1"],
        },
        Backend::Postgres => CatalogueQueries {
            server: "SELECT version(), current_database()::text",
            columns: "SELECT table_name::text, column_name::text, data_type::text \
                      FROM information_schema.columns WHERE table_schema = current_schema()",
            // pg_catalog rather than information_schema: the latter hides
            // constraints on tables the current user does not own.
            foreign_keys: "SELECT cl.relname::text, att.attname::text, rcl.relname::text, ratt.attname::text \
                           FROM pg_constraint c \
                           JOIN pg_class cl ON cl.oid = c.conrelid \
                           JOIN pg_namespace n ON n.oid = cl.relnamespace \
                           JOIN pg_class rcl ON rcl.oid = c.confrelid \
                           CROSS JOIN LATERAL unnest(c.conkey, c.confkey) AS k(attnum, fattnum) \
                           JOIN pg_attribute att ON att.attrelid = c.conrelid AND att.attnum = k.attnum \
                           JOIN pg_attribute ratt ON ratt.attrelid = c.confrelid AND ratt.attnum = k.fattnum \
                           WHERE c.contype = 'f' AND n.nspname = current_schema()",
            primary_keys: "SELECT t.relname::text, a.attname::text FROM pg_index i \
                           JOIN pg_class t ON t.oid = i.indrelid \
                           JOIN pg_namespace n ON n.oid = t.relnamespace \
                           CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, position) \
                           JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum \
                           WHERE i.indisprimary AND n.nspname = current_schema() \
                           ORDER BY t.relname, k.position",
            // An INVALID index (what a failed CREATE INDEX CONCURRENTLY
            // leaves) serves no query: it does not count.
            leading_index_columns: &["SELECT t.relname::text, a.attname::text FROM pg_index i \
                                      JOIN pg_class t ON t.oid = i.indrelid \
                                      JOIN pg_namespace n ON n.oid = t.relnamespace \
                                      JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = i.indkey[0] \
                                      WHERE n.nspname = current_schema() AND i.indisvalid"],
        },
        Backend::Sqlite => CatalogueQueries {
            server: "SELECT sqlite_version(), 'main'",
            columns: "SELECT m.name, p.name, p.type FROM sqlite_master m \
                      JOIN pragma_table_info(m.name) p WHERE m.type = 'table'",
            foreign_keys: r#"SELECT m.name, p."from", p."table", p."to" FROM sqlite_master m
                           JOIN pragma_foreign_key_list(m.name) p WHERE m.type = 'table'"#,
            primary_keys: "SELECT m.name, p.name FROM sqlite_master m \
                           JOIN pragma_table_info(m.name) p WHERE m.type = 'table' AND p.pk > 0 \
                           ORDER BY m.name, p.pk",
            leading_index_columns: &[
                "SELECT m.name, ii.name FROM sqlite_master m \
                 JOIN pragma_index_list(m.name) il JOIN pragma_index_info(il.name) ii \
                 WHERE m.type = 'table' AND ii.seqno = 0",
                // An INTEGER PRIMARY KEY is the rowid and has no index entry.
                "SELECT m.name, p.name FROM sqlite_master m \
                 JOIN pragma_table_info(m.name) p WHERE m.type = 'table' AND p.pk = 1",
            ],
        },
    }
}
