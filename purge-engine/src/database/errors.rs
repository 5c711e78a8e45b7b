//! What a database error means for a purge: a foreign-key refusal, or a
//! transient conflict that a retry may not meet again; and for an index
//! build, a lock wait that timed out. (The one line an operator reads is
//! `crate::error::describe_sqlx`.)

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

/// True when the statement gave up waiting for a lock (MariaDB/MySQL's
/// `lock_wait_timeout` or `innodb_lock_wait_timeout`, PostgreSQL's
/// `lock_timeout`, SQLite's busy timeout): someone else held it longer.
pub fn is_lock_timeout(err: &sqlx::Error) -> bool {
    let sqlx::Error::Database(db) = err else {
        return false;
    };
    if let Some(mysql) = db.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>() {
        // ER_LOCK_WAIT_TIMEOUT
        return mysql.number() == 1205;
    }
    let code = db.code().unwrap_or_default();
    if db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
        // SQLITE_BUSY, with its extended codes.
        return code.parse::<u32>().is_ok_and(|code| code & 0xff == 5);
    }
    // PostgreSQL: lock_not_available.
    code == "55P03"
}

/// True when a Galera cluster refused a transaction's write set as too
/// large (`wsrep_max_ws_rows`, `wsrep_max_ws_size`): the same rows in
/// smaller batches will do.
pub fn is_write_set_too_large(err: &sqlx::Error) -> bool {
    let sqlx::Error::Database(db) = err else {
        return false;
    };
    let message = db.message();
    message.contains("wsrep_max_ws")
        || message.contains("Transaction size exceed")
        || (message.contains("during COMMIT") && message.contains("too long"))
}
