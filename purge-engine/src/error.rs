//! The errors the engine returns. Each variant says who must act: the
//! operator's input ([`Error::Input`]), the database ([`Error::Database`]),
//! the audit export's disk ([`Error::Export`]) or the build
//! ([`Error::Registry`]). The command line maps them to exit codes.

use std::path::PathBuf;

use purge_api::RegistryError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad input (a URL, nova.conf, an export file, a refused confirmation):
    /// the operator must change the command. Nothing was deleted.
    #[error("{0}")]
    Input(String),
    /// The database refused or failed; the message says what was attempted.
    #[error("{0}")]
    Database(String),
    /// The audit export could not be written; the batch in flight was rolled
    /// back.
    #[error("cannot write the export file {}: {source}", path.display())]
    Export {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The targets linked into this binary do not form a valid registry.
    #[error("the purge target registry is invalid: {0}")]
    Registry(#[from] RegistryError),
}

impl Error {
    /// Wraps a database error met while doing `what`, with a hint where the
    /// cause is one an operator can fix.
    pub fn database(what: &str, err: sqlx::Error) -> Error {
        Error::Database(format!("{what}: {}", describe_sqlx(&err)))
    }

    /// True when the operator's input was at fault and nothing was deleted.
    pub fn is_input(&self) -> bool {
        matches!(self, Error::Input(_))
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

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
        sqlx::Error::Io(io) if io.to_string().contains("invalid peer certificate") => {
            one_line(describe_certificate_error(&io.to_string()))
        }
        sqlx::Error::Io(io) => one_line(format!(
            "{io}; check that the server is running and that host and port are right"
        )),
        sqlx::Error::PoolTimedOut => {
            "timed out waiting for a connection; check that the server is reachable".to_owned()
        }
        sqlx::Error::Tls(tls) if tls.to_string().contains("does not support TLS") => {
            "TLS was asked for (ssl_ca, ssl-mode, sslmode=require...), but the server does not offer it; nova-purge never falls back to plaintext: enable TLS on the server, or drop the TLS options".to_owned()
        }
        sqlx::Error::Tls(tls) => one_line(format!("TLS failed: {tls}")),
        other => one_line(other.to_string()),
    }
}

/// A certificate the TLS handshake refused, in words that say what to fix.
fn describe_certificate_error(message: &str) -> String {
    if message.contains("UnknownIssuer") {
        "TLS: the server's certificate is not signed by the CA given (ssl_ca, sslrootcert); give the CA that signed it".to_owned()
    } else if message.contains("NotValidForName") {
        "TLS: the server's certificate is not valid for the host name in the URL; connect by a name it holds, or verify the chain only (ssl_check_hostname=false, sslmode=verify-ca)".to_owned()
    } else if message.contains("Expired") {
        "TLS: the server's certificate has expired".to_owned()
    } else {
        format!("TLS: {message}")
    }
}
