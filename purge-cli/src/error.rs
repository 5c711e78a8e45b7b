//! Failures that end a command, each with its exit code and a one-line
//! message that says what to do.

use std::process::ExitCode;

/// The documented exit codes (docs/cli.md). Stable: scripts depend on them.
pub mod exit_code {
    /// Done; nothing is left to purge.
    pub const DONE: u8 = 0;
    /// A database or runtime error ended the run. Batches committed before
    /// it stay purged; the batch in flight was rolled back.
    pub const DATABASE_ERROR: u8 = 1;
    /// Bad usage or input. Nothing was deleted.
    pub const USAGE: u8 = 2;
    /// Done, but `--max-number` stopped the run with candidates left.
    pub const MORE_REMAINING: u8 = 3;
    /// `check`: warnings only (the purge will run, with the limits reported).
    pub const CHECK_WARNINGS: u8 = 4;
    /// `check`: blocking problems (candidates will be skipped, or the
    /// database cannot be purged at all).
    pub const CHECK_BLOCKING: u8 = 5;
    /// Some cells were purged, but at least one failed (its error is in the
    /// report).
    pub const CELL_FAILED: u8 = 6;
    /// Ctrl-C stopped the run after a committed batch; run again to continue.
    pub const INTERRUPTED: u8 = 130;
}

#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// Bad usage or input: the operator must change the command.
    #[error("{0}")]
    Usage(String),
    /// The database refused or failed; the message says what was attempted.
    #[error("{0}")]
    Database(String),
    /// The report could not be written.
    #[error("cannot write the report: {0}")]
    Output(#[from] std::io::Error),
}

impl Failure {
    pub fn exit_code(&self) -> ExitCode {
        ExitCode::from(match self {
            Failure::Usage(_) => exit_code::USAGE,
            Failure::Database(_) | Failure::Output(_) => exit_code::DATABASE_ERROR,
        })
    }

    /// Wraps a database error met while doing `what`, with a hint where the
    /// cause is one an operator can fix.
    pub fn database(what: &str, err: sqlx::Error) -> Failure {
        Failure::Database(format!("{what}: {}", describe_sqlx(&err)))
    }
}

/// One line for a sqlx error: the server's own message, without sqlx's
/// prefixes, plus what to check when the cause is a usual one.
pub fn describe_sqlx(err: &sqlx::Error) -> String {
    let one_line = |s: String| s.replace('\n', " ");
    match err {
        sqlx::Error::Database(db) => {
            let code = db.code().map(|c| c.into_owned()).unwrap_or_default();
            let hint = match code.as_str() {
                // MySQL access denied; PostgreSQL invalid password / authorization.
                "28000" | "28P01" => "; check the user name and password",
                // Unknown database (MySQL 1049 is SQLSTATE 42000 with this text).
                "3D000" => "; check the database name",
                // PostgreSQL read_only_sql_transaction.
                "25006" => "; the server or database is read-only (default_transaction_read_only): purge on the primary",
                // PostgreSQL insufficient_privilege.
                "42501" => "; grant the user DELETE on every table `nova-purge targets` lists",
                _ if db.message().contains("command denied") => {
                    "; grant the user DELETE on every table `nova-purge targets` lists"
                }
                _ if db.message().contains("read-only") || db.message().contains("read_only") => {
                    "; the server is read-only: purge on the primary"
                }
                _ if db.message().contains("Unknown database") => "; check the database name",
                _ if db.message().contains("Access denied") => {
                    "; check the user name, password and grants"
                }
                _ => "",
            };
            one_line(format!("{}{hint}", db.message()))
        }
        sqlx::Error::Io(io)
            if matches!(
                io.kind(),
                std::io::ErrorKind::UnexpectedEof
                    | std::io::ErrorKind::ConnectionReset
                    | std::io::ErrorKind::ConnectionAborted
                    | std::io::ErrorKind::BrokenPipe
            ) =>
        {
            one_line(format!(
                "the connection to the database was lost ({io}); every batch is whole or undone, run again to carry on"
            ))
        }
        sqlx::Error::Io(io) => one_line(format!(
            "{io}; check that the server is running and that host and port are right"
        )),
        sqlx::Error::PoolTimedOut => {
            "timed out waiting for a connection; check that the server is reachable".to_owned()
        }
        sqlx::Error::Tls(tls) => one_line(format!("TLS failed: {tls}")),
        other => one_line(other.to_string()),
    }
}

/// True for errors that say a row is still referenced by a foreign key, on
/// any of the three backends.
pub fn is_foreign_key_violation(err: &sqlx::Error) -> bool {
    let sqlx::Error::Database(db) = err else {
        return false;
    };
    matches!(db.kind(), sqlx::error::ErrorKind::ForeignKeyViolation)
        || db.message().contains("FOREIGN KEY constraint failed")
}

/// True for errors that a retry of the same transaction may not meet again:
/// deadlocks, lock wait timeouts, serialization failures, a busy SQLite.
/// Nova keeps writing while nova-purge deletes; these are its footprints.
pub fn is_transient(err: &sqlx::Error) -> bool {
    let sqlx::Error::Database(db) = err else {
        return false;
    };
    if let Some(mysql) = db.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>() {
        // ER_LOCK_DEADLOCK, ER_LOCK_WAIT_TIMEOUT
        return matches!(mysql.number(), 1213 | 1205);
    }
    let code = db.code().unwrap_or_default();
    if db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
        // SQLITE_BUSY and SQLITE_LOCKED, with their extended codes.
        return code
            .parse::<u32>()
            .is_ok_and(|code| matches!(code & 0xff, 5 | 6));
    }
    // PostgreSQL: serialization_failure, deadlock_detected, lock_not_available.
    matches!(code.as_ref(), "40001" | "40P01" | "55P03")
}
