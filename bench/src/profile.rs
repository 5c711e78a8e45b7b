//! `--profile` (MariaDB): the server's time per statement shape during one
//! measured step, from the slow log. performance_schema would be cheaper,
//! but it cannot be switched on without a restart, and the shared server
//! runs without it. So for the measured step only, the slow log goes to
//! `mysql.slow_log` with `long_query_time = 0` (globals, restored at the
//! end, also after an error); the step's rows are those of its database.
//! Logging every statement costs time: a profiled run's wall time is not
//! comparable with an unprofiled one's.

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use purge_api::{Db, Value};

use crate::db::{execute_raw, fetch};

/// The globals the profile changes, as they were.
pub struct Profiler {
    database: String,
    old: Vec<(&'static str, String)>,
    /// The server's clock when logging started.
    since: String,
}

/// One statement shape.
#[derive(Debug, Clone, Default)]
pub struct Shape {
    pub text: String,
    pub count: u64,
    pub seconds: f64,
    pub rows_examined: u64,
    /// Rows changed (DML) or sent (SELECT).
    pub rows: u64,
}

/// Every shape of one step, the costliest first.
#[derive(Debug, Clone, Default)]
pub struct Profile {
    pub shapes: Vec<Shape>,
}

const SETTINGS: [(&str, &str); 4] = [
    ("log_output", "'TABLE'"),
    ("long_query_time", "0"),
    ("log_slow_filter", "''"),
    ("slow_query_log", "1"),
];

impl Profiler {
    /// Starts logging every statement; `db` (the benchmark's connection,
    /// which runs the floor) logs too.
    pub async fn start(db: &Db, database: &str) -> Result<Profiler> {
        let mut old = Vec::new();
        for (name, _) in SETTINGS {
            let value = scalar(db, &format!("SELECT @@GLOBAL.{name}")).await?;
            old.push((name, value));
        }
        let mut profiler = Profiler {
            database: database.to_owned(),
            old,
            since: String::new(),
        };
        let started = async {
            for (name, value) in SETTINGS {
                execute_raw(db, &format!("SET GLOBAL {name} = {value}")).await?;
            }
            // A session copies these when it connects.
            for (name, value) in &SETTINGS[1..] {
                execute_raw(db, &format!("SET SESSION {name} = {value}")).await?;
            }
            scalar(db, "SELECT CAST(NOW(6) AS CHAR)").await
        }
        .await;
        match started {
            Ok(since) => {
                profiler.since = since;
                Ok(profiler)
            }
            Err(e) => {
                profiler.restore(db).await.ok();
                Err(e)
            }
        }
    }

    /// Reads what the step logged and puts the globals back.
    pub async fn finish(self, db: &Db) -> Result<Profile> {
        let read = self.read(db).await;
        let restored = self.restore(db).await;
        let profile = read?;
        restored?;
        Ok(profile)
    }

    async fn restore(&self, db: &Db) -> Result<()> {
        // Logging off first, the rest after.
        for (name, value) in self.old.iter().rev() {
            let value = if *name == "long_query_time" || *name == "slow_query_log" {
                value.clone()
            } else {
                format!("'{value}'")
            };
            execute_raw(db, &format!("SET GLOBAL {name} = {value}")).await?;
        }
        for (name, _) in &SETTINGS[1..] {
            execute_raw(db, &format!("SET SESSION {name} = @@GLOBAL.{name}")).await?;
        }
        Ok(())
    }

    async fn read(&self, db: &Db) -> Result<Profile> {
        let rows = fetch(
            db,
            &format!(
                "SELECT CONVERT(sql_text USING utf8mb4), \
                 CAST(TIME_TO_SEC(query_time) AS CHAR), \
                 CAST(rows_examined AS CHAR), CAST(GREATEST(rows_affected, rows_sent) AS CHAR) \
                 FROM mysql.slow_log \
                 WHERE db = '{}' AND start_time > '{}'",
                self.database, self.since
            ),
        )
        .await?;
        let mut shapes: BTreeMap<String, Shape> = BTreeMap::new();
        for row in rows {
            let text = row.first().and_then(Value::to_text).unwrap_or_default();
            let number = |i: usize| {
                row.get(i)
                    .and_then(Value::to_text)
                    .and_then(|t| t.parse::<f64>().ok())
                    .unwrap_or(0.0)
            };
            let shape = normalise(&text);
            if shape.starts_with("SET SESSION ") {
                continue;
            }
            let entry = shapes.entry(shape.clone()).or_insert_with(|| Shape {
                text: shape,
                ..Shape::default()
            });
            entry.count += 1;
            entry.seconds += number(1);
            entry.rows_examined += number(2) as u64;
            entry.rows += number(3) as u64;
        }
        let mut shapes: Vec<Shape> = shapes.into_values().collect();
        shapes.sort_by(|a, b| b.seconds.total_cmp(&a.seconds));
        Ok(Profile { shapes })
    }
}

async fn scalar(db: &Db, sql: &str) -> Result<String> {
    fetch(db, sql)
        .await?
        .first()
        .and_then(|r| r.first())
        .and_then(Value::to_text)
        .with_context(|| format!("no value: {sql}"))
}

/// A statement's shape: literals as `?`, lists of them (IN lists, rows of
/// VALUES) collapsed to one, whitespace collapsed.
pub fn normalise(sql: &str) -> String {
    let mut out = String::new();
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' | '"' => {
                while let Some(d) = chars.next() {
                    if d == '\\' {
                        chars.next();
                    } else if d == c {
                        if chars.peek() == Some(&c) {
                            chars.next();
                        } else {
                            break;
                        }
                    }
                }
                out.push('?');
            }
            '0'..='9'
                if !out
                    .chars()
                    .last()
                    .is_some_and(|p| p.is_alphanumeric() || p == '_' || p == '`') =>
            {
                while chars
                    .peek()
                    .is_some_and(|d| d.is_ascii_alphanumeric() || *d == '.')
                {
                    chars.next();
                }
                out.push('?');
            }
            c if c.is_whitespace() => {
                if !out.ends_with(' ') {
                    out.push(' ');
                }
            }
            c => out.push(c),
        }
    }
    let mut shape = out.trim().to_owned();
    for (many, one) in [
        ("?, ?", "?"),
        ("?,?", "?"),
        ("(?), (?)", "(?)"),
        ("(?),(?)", "(?)"),
    ] {
        while shape.contains(many) {
            shape = shape.replace(many, one);
        }
    }
    shape
}

#[cfg(test)]
mod tests {
    use super::normalise;

    #[test]
    fn literals_and_lists_collapse() {
        assert_eq!(
            normalise("DELETE FROM `t1` WHERE id IN (1, 2,3) AND x = 'a''b'"),
            "DELETE FROM `t1` WHERE id IN (?) AND x = ?"
        );
        assert_eq!(
            normalise("INSERT INTO t VALUES (1, 'a'), (2, 'b')"),
            "INSERT INTO t VALUES (?)"
        );
    }
}
