//! What is left in a database, summed up per table so that two databases can
//! be compared: row count, min/max/sum of `id`, and an order-independent
//! hash of every column of every row (computed by the server on MariaDB and
//! PostgreSQL, by the benchmark on SQLite). Only databases of the same
//! backend are compared.

use std::collections::hash_map::DefaultHasher;
use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};

use anyhow::{Context, Result};
use purge_api::{Backend, Db, Value};
use purge_engine::database::schema::{ColumnKind, Schema};

use crate::db::fetch;

/// The summary of one table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableSum {
    pub rows: i64,
    /// min, max and sum of `id`, when the table has one.
    pub ids: Option<(i64, i64, String)>,
    /// Order-independent hash of the rows' content ("" when not computed).
    pub hash: String,
}

pub type Sums = BTreeMap<String, TableSum>;

/// Summarises every table of `db`. `content` adds the row hash (a full scan
/// of every table).
pub async fn summarise(db: &Db, content: bool) -> Result<Sums> {
    let schema = Schema::inspect(db)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let backend = db.backend();
    let mut sums = Sums::new();
    for table in schema.tables() {
        let q = |s: &str| backend.quote(s);
        // An integer `id`: Nova's legacy `snapshots` (and its shadow) have
        // a text one, which cannot be summed.
        let has_id = schema.column_kind(table, "id") == Some(ColumnKind::Integer);
        let ids = if has_id {
            match backend {
                Backend::MySql => "MIN(`id`), MAX(`id`), CAST(COALESCE(SUM(`id`), 0) AS CHAR)",
                Backend::Postgres => r#"MIN("id"), MAX("id"), COALESCE(SUM("id"), 0)::text"#,
                Backend::Sqlite => r#"MIN("id"), MAX("id"), CAST(COALESCE(SUM("id"), 0) AS TEXT)"#,
            }
            .to_owned()
        } else {
            "NULL, NULL, NULL".to_owned()
        };
        let hash = match (content, backend) {
            (true, Backend::MySql) => {
                let columns: Vec<String> = schema
                    .columns(table)
                    .map(|c| format!("IFNULL({}, '~')", q(c)))
                    .collect();
                let row = format!("CRC32(CONCAT_WS('|', {}))", columns.join(", "));
                format!(
                    "CONCAT(CAST(COALESCE(SUM({row}), 0) AS CHAR), '/', CAST(BIT_XOR({row}) AS CHAR))"
                )
            }
            (true, Backend::Postgres) => {
                "COALESCE(SUM(hashtext(t::text)::bigint), 0)::text || '/' || \
                 COALESCE(BIT_XOR(hashtext(t::text)), 0)::text"
                    .to_owned()
            }
            _ => "NULL".to_owned(),
        };
        let sql = format!("SELECT COUNT(*), {ids}, {hash} FROM {} t", q(table));
        let rows = fetch(db, &sql).await?;
        let row = rows
            .into_iter()
            .next()
            .context("an aggregate returns a row")?;
        let int = |v: &Value| v.as_i64().unwrap_or(0);
        let mut sum = TableSum {
            rows: int(&row[0]),
            ids: has_id.then(|| {
                (
                    int(&row[1]),
                    int(&row[2]),
                    row[3].to_text().unwrap_or_default(),
                )
            }),
            hash: row[4].to_text().unwrap_or_default(),
        };
        if content && backend == Backend::Sqlite {
            sum.hash = sqlite_hash(db, table, &schema).await?;
        }
        sums.insert(table.to_owned(), sum);
    }
    Ok(sums)
}

/// Sum and xor of the hashes of every row, read by rowid pages.
async fn sqlite_hash(db: &Db, table: &str, schema: &Schema) -> Result<String> {
    let columns: Vec<String> = schema
        .columns(table)
        .map(|c| Backend::Sqlite.quote(c))
        .collect();
    let (mut sum, mut xor) = (0u64, 0u64);
    let mut after = i64::MIN;
    loop {
        let sql = format!(
            "SELECT rowid, {} FROM {} WHERE rowid > {after} ORDER BY rowid LIMIT 20000",
            columns.join(", "),
            Backend::Sqlite.quote(table)
        );
        let rows = fetch(db, &sql).await?;
        let Some(last) = rows.last() else { break };
        after = last[0].as_i64().context("rowid")?;
        for row in &rows {
            let mut hasher = DefaultHasher::new();
            for value in &row[1..] {
                value.to_text().hash(&mut hasher);
            }
            let h = hasher.finish();
            sum = sum.wrapping_add(h);
            xor ^= h;
        }
    }
    Ok(format!("{sum}/{xor}"))
}

/// Row counts of the tables the fill does not generate (the fixture's
/// shared parents, the legacy tables), which every purge must leave alone.
pub async fn counts(db: &Db, tables: &[&str]) -> Result<BTreeMap<String, i64>> {
    let mut out = BTreeMap::new();
    for table in tables {
        let sql = format!("SELECT COUNT(*) FROM {}", db.backend().quote(table));
        let rows = fetch(db, &sql).await?;
        let n = rows
            .first()
            .and_then(|r| r.first())
            .and_then(Value::as_i64)
            .unwrap_or(0);
        out.insert((*table).to_owned(), n);
    }
    Ok(out)
}

/// Differences between two summaries, one line each.
pub fn diff(left_name: &str, left: &Sums, right_name: &str, right: &Sums) -> Vec<String> {
    let mut out = Vec::new();
    for table in left
        .keys()
        .chain(right.keys().filter(|t| !left.contains_key(*t)))
    {
        match (left.get(table), right.get(table)) {
            (Some(l), Some(r)) if l == r => {}
            (l, r) => out.push(format!(
                "{table}: {left_name} {} vs {right_name} {}",
                describe(l),
                describe(r)
            )),
        }
    }
    out
}

fn describe(sum: Option<&TableSum>) -> String {
    match sum {
        None => "(no table)".to_owned(),
        Some(s) => match &s.ids {
            Some((min, max, total)) => format!(
                "{} rows, ids {min}..{max} sum {total}, hash {}",
                s.rows, s.hash
            ),
            None => format!("{} rows, hash {}", s.rows, s.hash),
        },
    }
}
