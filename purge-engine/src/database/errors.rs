//! What a database error means for a purge: one line an operator can act
//! on, and whether it is a foreign-key refusal or a transient conflict that
//! a retry may not meet again.

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
