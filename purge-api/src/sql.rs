//! A backend-neutral statement builder and transaction wrapper.
//!
//! sqlx's `Any` driver cannot be used here: it always writes `?`
//! placeholders (PostgreSQL wants `$n`) and has no date type. Instead every
//! statement is built once as a [`Stmt`] that knows its backend's quoting and
//! placeholder style, and [`Tx`] dispatches it to the concrete driver.

use chrono::NaiveDateTime;
use sqlx::{
    mysql::MySqlRow, pool::PoolConnection, postgres::PgRow, sqlite::SqliteRow, Database, Encode,
    MySql, Pool, Postgres, Row, Sqlite, Transaction, Type,
};

/// The database server family a connection talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// MariaDB or MySQL.
    MySql,
    Postgres,
    Sqlite,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Backend::MySql => "mysql",
            Backend::Postgres => "postgresql",
            Backend::Sqlite => "sqlite",
        }
    }

    /// Quotes an identifier, so that names such as Nova's `key` column are
    /// safe on every backend.
    pub fn quote(self, ident: &str) -> String {
        match self {
            Backend::MySql => format!("`{}`", ident.replace('`', "``")),
            Backend::Postgres | Backend::Sqlite => format!("\"{}\"", ident.replace('"', "\"\"")),
        }
    }
}

/// A bound parameter. Lists only ever appear on PostgreSQL, where one array
/// parameter replaces a long `IN (...)` list.
#[derive(Debug, Clone)]
enum Bind {
    Null,
    Text(String),
    Int(i64),
    Time(NaiveDateTime),
    TextArray(Vec<String>),
    IntArray(Vec<i64>),
}

/// A SQL statement under construction, with its parameters.
#[derive(Debug, Clone)]
pub struct Stmt {
    backend: Backend,
    sql: String,
    binds: Vec<Bind>,
}

impl Stmt {
    pub fn new(backend: Backend) -> Self {
        Stmt {
            backend,
            sql: String::new(),
            binds: Vec::new(),
        }
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub fn sql(&self) -> &str {
        &self.sql
    }

    /// Appends raw SQL text.
    pub fn push(&mut self, sql: &str) -> &mut Self {
        self.sql.push_str(sql);
        self
    }

    /// Appends a quoted identifier.
    pub fn ident(&mut self, name: &str) -> &mut Self {
        let quoted = self.backend.quote(name);
        self.push(&quoted)
    }

    pub fn bind_text(&mut self, value: &str) -> &mut Self {
        self.bind(Bind::Text(value.to_owned()))
    }

    /// A NULL parameter (typed as text, which every backend converts).
    pub fn bind_null(&mut self) -> &mut Self {
        self.bind(Bind::Null)
    }

    pub fn bind_int(&mut self, value: i64) -> &mut Self {
        self.bind(Bind::Int(value))
    }

    pub fn bind_time(&mut self, value: NaiveDateTime) -> &mut Self {
        self.bind(Bind::Time(value))
    }

    /// Appends ` IN (...)` for text values. On PostgreSQL the list is one
    /// array parameter, whatever its length, unnested into a subquery: the
    /// planner hashes it (or probes an index with each value), where
    /// `= ANY($n)` would compare every row of an unindexed column with every
    /// element of the array. An empty list matches nothing.
    pub fn in_text(&mut self, values: &[String]) -> &mut Self {
        if self.backend == Backend::Postgres {
            self.push(" IN (SELECT unnest(");
            self.bind(Bind::TextArray(values.to_vec()));
            return self.push("))");
        }
        self.in_list(values, |stmt, v| {
            stmt.bind_text(v);
        })
    }

    /// Appends ` IN (...)` for integer values, as [`Stmt::in_text`].
    pub fn in_int(&mut self, values: &[i64]) -> &mut Self {
        if self.backend == Backend::Postgres {
            self.push(" IN (SELECT unnest(");
            self.bind(Bind::IntArray(values.to_vec()));
            return self.push("))");
        }
        self.in_list(values, |stmt, v| {
            stmt.bind_int(*v);
        })
    }

    /// One parameter per value. On MySQL the list is padded to a few
    /// lengths by repeating its last value (a duplicate changes nothing in
    /// an `IN` list): each distinct statement text is a server-side
    /// prepare, one more round trip, and batches whose size follows the
    /// server's pace would otherwise each have lists of a new length.
    fn in_list<T>(&mut self, values: &[T], mut bind_one: impl FnMut(&mut Self, &T)) -> &mut Self {
        let Some(last) = values.last() else {
            return self.push(" IN (NULL)");
        };
        let length = match self.backend {
            Backend::MySql => padded_length(values.len()),
            Backend::Postgres | Backend::Sqlite => values.len(),
        };
        self.push(" IN (");
        for i in 0..length {
            if i > 0 {
                self.push(", ");
            }
            bind_one(self, values.get(i).unwrap_or(last));
        }
        self.push(")")
    }

    fn bind(&mut self, bind: Bind) -> &mut Self {
        self.binds.push(bind);
        match self.backend {
            Backend::Postgres => {
                let placeholder = format!("${}", self.binds.len());
                self.push(&placeholder)
            }
            Backend::MySql | Backend::Sqlite => self.push("?"),
        }
    }
}

/// A column value read back from a query, decoded loosely: enough for
/// identifiers, counts and catalogue names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Null,
    Int(i64),
    Text(String),
}

impl Value {
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Int(v) => Some(*v),
            Value::Text(s) => s.parse().ok(),
            Value::Null => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Text(s) => Some(s),
            _ => None,
        }
    }

    /// The value as text, integers included (catalogue columns are integers
    /// on one backend and strings on another).
    pub fn to_text(&self) -> Option<String> {
        match self {
            Value::Text(s) => Some(s.clone()),
            Value::Int(v) => Some(v.to_string()),
            Value::Null => None,
        }
    }
}

/// The length a list of `n` values is padded to: `n` up to 8, then the
/// next multiple of a quarter of the power of two below it (at most a
/// quarter more parameters, four lengths per doubling).
fn padded_length(n: usize) -> usize {
    if n <= 8 {
        return n;
    }
    let step = 1 << (n.ilog2() - 2);
    n.div_ceil(step) * step
}

/// A connection pool to one database.
#[derive(Debug, Clone)]
pub enum Db {
    MySql(Pool<MySql>),
    Postgres(Pool<Postgres>),
    Sqlite(Pool<Sqlite>),
}

impl Db {
    pub fn backend(&self) -> Backend {
        match self {
            Db::MySql(_) => Backend::MySql,
            Db::Postgres(_) => Backend::Postgres,
            Db::Sqlite(_) => Backend::Sqlite,
        }
    }

    /// A new statement for this database's backend.
    pub fn stmt(&self) -> Stmt {
        Stmt::new(self.backend())
    }

    /// Starts a transaction that will only read.
    pub async fn begin_read(&self) -> Result<Tx, sqlx::Error> {
        Ok(Tx(match self {
            Db::MySql(pool) => TxInner::MySql(pool.begin().await?),
            Db::Postgres(pool) => TxInner::Postgres(pool.begin().await?),
            Db::Sqlite(pool) => TxInner::Sqlite(pool.begin().await?),
        }))
    }

    /// Starts a transaction that will write. On SQLite it takes the write
    /// lock at once (`BEGIN IMMEDIATE`): a deferred transaction that reads
    /// first cannot upgrade to a writer if another connection wrote meanwhile.
    pub async fn begin_write(&self) -> Result<Tx, sqlx::Error> {
        match self {
            Db::Sqlite(pool) => Ok(Tx(TxInner::Sqlite(
                pool.begin_with("BEGIN IMMEDIATE").await?,
            ))),
            _ => self.begin_read().await,
        }
    }

    /// One connection outside any transaction; see [`Session`].
    pub async fn session(&self) -> Result<Session, sqlx::Error> {
        Ok(match self {
            Db::MySql(pool) => Session::MySql(pool.acquire().await?),
            Db::Postgres(pool) => Session::Postgres(pool.acquire().await?),
            Db::Sqlite(pool) => Session::Sqlite(pool.acquire().await?),
        })
    }

    pub async fn close(&self) {
        match self {
            Db::MySql(pool) => pool.close().await,
            Db::Postgres(pool) => pool.close().await,
            Db::Sqlite(pool) => pool.close().await,
        }
    }
}

/// One connection of a pool, outside any transaction: for the statements a
/// transaction must not wrap (PostgreSQL's `CREATE INDEX CONCURRENTLY`) and
/// the session settings they run under, which stay on this connection.
/// Each statement commits on its own.
pub enum Session {
    MySql(PoolConnection<MySql>),
    Postgres(PoolConnection<Postgres>),
    Sqlite(PoolConnection<Sqlite>),
}

impl Session {
    pub fn backend(&self) -> Backend {
        match self {
            Session::MySql(_) => Backend::MySql,
            Session::Postgres(_) => Backend::Postgres,
            Session::Sqlite(_) => Backend::Sqlite,
        }
    }

    /// Runs one statement without parameters (DDL and `SET` take none),
    /// as plain text: no prepared statement, and on PostgreSQL the simple
    /// protocol, in which a statement outside `BEGIN` is its own
    /// transaction.
    pub async fn execute(&mut self, stmt: &Stmt) -> Result<(), sqlx::Error> {
        assert!(
            stmt.binds.is_empty(),
            "a session statement takes no parameters: {}",
            stmt.sql
        );
        let sql = sqlx::raw_sql(&stmt.sql);
        match self {
            Session::MySql(conn) => sql.execute(&mut **conn).await.map(drop),
            Session::Postgres(conn) => sql.execute(&mut **conn).await.map(drop),
            Session::Sqlite(conn) => sql.execute(&mut **conn).await.map(drop),
        }
    }
}

/// An open transaction on one of the three backends. Dropped without
/// [`Tx::commit`], it rolls back.
pub struct Tx(TxInner);

enum TxInner {
    MySql(Transaction<'static, MySql>),
    Postgres(Transaction<'static, Postgres>),
    Sqlite(Transaction<'static, Sqlite>),
}

/// Binds scalar parameters; shared by the backends that expand lists into
/// one placeholder per value.
fn bind_scalars<'q, DB>(
    mut query: sqlx::query::Query<'q, DB, <DB as Database>::Arguments<'q>>,
    binds: &'q [Bind],
) -> sqlx::query::Query<'q, DB, <DB as Database>::Arguments<'q>>
where
    DB: Database,
    &'q str: Encode<'q, DB> + Type<DB>,
    Option<&'q str>: Encode<'q, DB> + Type<DB>,
    i64: Encode<'q, DB> + Type<DB>,
    NaiveDateTime: Encode<'q, DB> + Type<DB>,
{
    for bind in binds {
        query = match bind {
            Bind::Null => query.bind(None::<&str>),
            Bind::Text(v) => query.bind(v.as_str()),
            Bind::Int(v) => query.bind(*v),
            Bind::Time(v) => query.bind(*v),
            Bind::TextArray(_) | Bind::IntArray(_) => {
                unreachable!("Stmt only builds array parameters for PostgreSQL")
            }
        };
    }
    query
}

fn bind_postgres<'q>(
    mut query: sqlx::query::Query<'q, Postgres, sqlx::postgres::PgArguments>,
    binds: &'q [Bind],
) -> sqlx::query::Query<'q, Postgres, sqlx::postgres::PgArguments> {
    for bind in binds {
        query = match bind {
            Bind::Null => query.bind(None::<&str>),
            Bind::Text(v) => query.bind(v.as_str()),
            Bind::Int(v) => query.bind(*v),
            Bind::Time(v) => query.bind(*v),
            Bind::TextArray(v) => query.bind(v.as_slice()),
            Bind::IntArray(v) => query.bind(v.as_slice()),
        };
    }
    query
}

impl Tx {
    pub fn backend(&self) -> Backend {
        match &self.0 {
            TxInner::MySql(_) => Backend::MySql,
            TxInner::Postgres(_) => Backend::Postgres,
            TxInner::Sqlite(_) => Backend::Sqlite,
        }
    }

    /// A new statement for this transaction's backend.
    pub fn stmt(&self) -> Stmt {
        Stmt::new(self.backend())
    }

    /// Runs a statement and returns the number of rows it changed.
    pub async fn execute(&mut self, stmt: &Stmt) -> Result<u64, sqlx::Error> {
        let sql = stmt.sql.as_str();
        Ok(match &mut self.0 {
            TxInner::MySql(tx) => bind_scalars(sqlx::query(sql), &stmt.binds)
                .execute(&mut **tx)
                .await?
                .rows_affected(),
            TxInner::Postgres(tx) => bind_postgres(sqlx::query(sql), &stmt.binds)
                .execute(&mut **tx)
                .await?
                .rows_affected(),
            TxInner::Sqlite(tx) => bind_scalars(sqlx::query(sql), &stmt.binds)
                .execute(&mut **tx)
                .await?
                .rows_affected(),
        })
    }

    /// Runs a query and returns its rows, every column decoded as a [`Value`].
    pub async fn fetch_all(&mut self, stmt: &Stmt) -> Result<Vec<Vec<Value>>, sqlx::Error> {
        let sql = stmt.sql.as_str();
        match &mut self.0 {
            TxInner::MySql(tx) => {
                let rows = bind_scalars(sqlx::query(sql), &stmt.binds)
                    .fetch_all(&mut **tx)
                    .await?;
                Ok(rows.iter().map(values_mysql).collect())
            }
            TxInner::Postgres(tx) => {
                let rows = bind_postgres(sqlx::query(sql), &stmt.binds)
                    .fetch_all(&mut **tx)
                    .await?;
                Ok(rows.iter().map(values_postgres).collect())
            }
            TxInner::Sqlite(tx) => {
                let rows = bind_scalars(sqlx::query(sql), &stmt.binds)
                    .fetch_all(&mut **tx)
                    .await?;
                Ok(rows.iter().map(values_sqlite).collect())
            }
        }
    }

    /// Runs a query whose first row's first column is a number (a `COUNT`).
    pub async fn fetch_count(&mut self, stmt: &Stmt) -> Result<u64, sqlx::Error> {
        let rows = self.fetch_all(stmt).await?;
        let count = rows
            .first()
            .and_then(|row| row.first())
            .and_then(Value::as_i64)
            .unwrap_or(0);
        Ok(u64::try_from(count).unwrap_or(0))
    }

    pub async fn commit(self) -> Result<(), sqlx::Error> {
        match self.0 {
            TxInner::MySql(tx) => tx.commit().await,
            TxInner::Postgres(tx) => tx.commit().await,
            TxInner::Sqlite(tx) => tx.commit().await,
        }
    }

    pub async fn rollback(self) -> Result<(), sqlx::Error> {
        match self.0 {
            TxInner::MySql(tx) => tx.rollback().await,
            TxInner::Postgres(tx) => tx.rollback().await,
            TxInner::Sqlite(tx) => tx.rollback().await,
        }
    }
}

/// Decodes each column loosely: integers and booleans as [`Value::Int`],
/// text, timestamps and numbers with a fraction as [`Value::Text`].
/// Catalogue columns come back as binary strings on some MySQL versions,
/// hence the byte fallback.
macro_rules! decode_values {
    ($name:ident, $row:ty) => {
        fn $name(row: &$row) -> Vec<Value> {
            (0..row.len())
                .map(|i| {
                    if let Ok(v) = row.try_get::<Option<i64>, _>(i) {
                        return v.map_or(Value::Null, Value::Int);
                    }
                    if let Ok(v) = row.try_get::<Option<i32>, _>(i) {
                        return v.map_or(Value::Null, |v| Value::Int(v.into()));
                    }
                    if let Ok(v) = row.try_get::<Option<i16>, _>(i) {
                        return v.map_or(Value::Null, |v| Value::Int(v.into()));
                    }
                    if let Ok(v) = row.try_get::<Option<bool>, _>(i) {
                        return v.map_or(Value::Null, |v| Value::Int(v.into()));
                    }
                    if let Ok(v) = row.try_get::<Option<String>, _>(i) {
                        return v.map_or(Value::Null, Value::Text);
                    }
                    if let Ok(v) = row.try_get::<Option<NaiveDateTime>, _>(i) {
                        return v.map_or(Value::Null, |v| Value::Text(v.to_string()));
                    }
                    if let Ok(v) = row.try_get::<Option<f64>, _>(i) {
                        return v.map_or(Value::Null, |v| Value::Text(v.to_string()));
                    }
                    match row.try_get::<Option<Vec<u8>>, _>(i) {
                        Ok(Some(bytes)) => {
                            Value::Text(String::from_utf8_lossy(&bytes).into_owned())
                        }
                        _ => Value::Null,
                    }
                })
                .collect()
        }
    };
}

decode_values!(values_mysql, MySqlRow);
decode_values!(values_postgres, PgRow);
decode_values!(values_sqlite, SqliteRow);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postgres_numbers_placeholders_and_binds_lists_as_one_array() {
        let mut stmt = Stmt::new(Backend::Postgres);
        stmt.push("DELETE FROM ")
            .ident("tags")
            .push(" WHERE ")
            .ident("resource_id")
            .in_text(&["a".into(), "b".into()])
            .push(" AND x = ")
            .bind_int(1);
        assert_eq!(
            stmt.sql(),
            r#"DELETE FROM "tags" WHERE "resource_id" IN (SELECT unnest($1)) AND x = $2"#
        );
    }

    #[test]
    fn mysql_quotes_with_backticks_and_expands_lists() {
        let mut stmt = Stmt::new(Backend::MySql);
        stmt.ident("key")
            .in_text(&["a".into(), "b".into(), "c".into()]);
        assert_eq!(stmt.sql(), "`key` IN (?, ?, ?)");
        assert_eq!(stmt.binds.len(), 3);
    }

    #[test]
    fn mysql_pads_lists_to_a_few_lengths_with_the_last_value() {
        let ids = |n: i64| (1..=n).collect::<Vec<_>>();
        let text = |n: i64| {
            let mut stmt = Stmt::new(Backend::MySql);
            stmt.ident("id").in_int(&ids(n));
            stmt
        };
        assert_eq!(
            text(490).sql(),
            text(512).sql(),
            "one statement for 449 to 512"
        );
        assert_ne!(text(512).sql(), text(513).sql());
        let padded = text(9);
        assert_eq!(padded.binds.len(), 10);
        assert!(
            matches!(padded.binds[9], Bind::Int(9)),
            "{:?}",
            padded.binds
        );
        for n in 1..20_000 {
            let length = padded_length(n);
            assert!(length >= n && length <= n + n / 4, "{n} -> {length}");
        }
        assert_eq!(
            Stmt::new(Backend::Sqlite)
                .ident("id")
                .in_int(&ids(9))
                .binds
                .len(),
            9
        );
    }

    #[test]
    fn an_empty_list_matches_nothing_instead_of_breaking_the_syntax() {
        let mut stmt = Stmt::new(Backend::Sqlite);
        stmt.ident("id").in_int(&[]);
        assert_eq!(stmt.sql(), r#""id" IN (NULL)"#);
    }

    #[test]
    fn quoting_doubles_embedded_quote_characters() {
        assert_eq!(Backend::MySql.quote("a`b"), "`a``b`");
        assert_eq!(Backend::Sqlite.quote("a\"b"), "\"a\"\"b\"");
    }
}
