//! SQLAlchemy URLs (`mysql+pymysql://...`, `postgresql+psycopg2://...`,
//! `sqlite:////path`), as nova.conf holds them, turned into the URLs
//! nova-purge and sqlx read.
//!
//! A conversion has three steps, each in its own file because each
//! imitates a different piece of upstream code:
//!
//! 1. `parse.rs` splits the text as SQLAlchemy 2.0 does, nothing decoded
//!    yet, and reads the query as Python's `parse_qsl`.
//! 2. One file per dialect (`mysql.rs`, `postgres.rs`, `sqlite.rs`) turns
//!    each query option, a keyword argument of the Python driver, into an
//!    sqlx option or drops it with a reason. The drivers' keywords, TLS
//!    rules and socket spellings differ, so each is read against its own
//!    driver.
//! 3. `write.rs` writes the URL for sqlx, percent-encoding every part, and
//!    checks that sqlx's URL parser reads the same parts back.
//!
//! This file is the entry point ([`sqlalchemy_to_database_url`]), the
//! choice of dialect, and the result ([`ConvertedUrl`], with the options
//! left out as [`DroppedOption`]s). Errors are one phrase (a `String`)
//! that never repeats the value; the caller says where the value came
//! from. `docs/configuration.md` lists what happens to each option.

mod mysql;
mod parse;
mod postgres;
mod sqlite;
mod write;

use std::fmt;

use crate::database::url::DatabaseUrl;
use crate::error::Error;
use mysql::convert_mysql;
use parse::{parse_qsl, SqlaUrl, CANNOT_PARSE};
use postgres::convert_postgres;
use sqlite::convert_sqlite;

/// A nova-purge database URL converted from a SQLAlchemy URL, with what was
/// changed on the way. `Debug` shows the redacted form.
#[derive(Clone, PartialEq, Eq)]
pub struct ConvertedUrl {
    url: String,
    redacted: String,
    dropped: Vec<DroppedOption>,
    notes: Vec<String>,
    source: Option<String>,
}

/// A query option of the SQLAlchemy URL that the nova-purge URL leaves out.
/// The value is not kept: it may be a secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DroppedOption {
    /// The option's name, as in the URL.
    pub key: String,
    /// Why it was left out.
    pub reason: &'static str,
}

impl fmt::Display for DroppedOption {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.key, self.reason)
    }
}

impl ConvertedUrl {
    /// The URL for [`DatabaseUrl::parse`]. Holds the password.
    pub fn as_str(&self) -> &str {
        &self.url
    }

    pub fn into_string(self) -> String {
        self.url
    }

    /// The URL with the password replaced by `***`, for logs and messages.
    pub fn redacted(&self) -> &str {
        &self.redacted
    }

    /// Query options left out, in URL order; worth a log line each.
    pub fn dropped(&self) -> &[DroppedOption] {
        &self.dropped
    }

    /// Other changes worth a log line (a missing host taken as localhost,
    /// a relative SQLite path, ...).
    pub fn notes(&self) -> &[String] {
        &self.notes
    }

    /// Where the URL came from (`/etc/nova/nova.conf: [database] connection`),
    /// when it came from a [`NovaConfig`](super::NovaConfig).
    pub fn source(&self) -> Option<&str> {
        self.source.as_deref()
    }

    /// Checks the URL with [`DatabaseUrl::parse`]; its errors are prefixed
    /// with [`source`](Self::source).
    pub fn database_url(&self) -> Result<DatabaseUrl, Error> {
        DatabaseUrl::parse(&self.url).map_err(|failure| match (failure, &self.source) {
            (Error::Input(message), Some(source)) => Error::Input(format!("{source}: {message}")),
            (failure, _) => failure,
        })
    }

    /// Logs each dropped option and note at info level, naming the source.
    pub fn log_adjustments(&self) {
        let source = self.source.as_deref().unwrap_or("the database URL");
        for dropped in &self.dropped {
            tracing::info!("{source}: option {dropped}");
        }
        for note in &self.notes {
            tracing::info!("{source}: {note}");
        }
    }

    pub(super) fn with_source(mut self, source: String) -> ConvertedUrl {
        self.source = Some(source);
        self
    }

    pub(super) fn with_note(mut self, note: String) -> ConvertedUrl {
        self.notes.push(note);
        self
    }
}

impl fmt::Debug for ConvertedUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConvertedUrl")
            .field("url", &self.redacted)
            .field("dropped", &self.dropped)
            .field("notes", &self.notes)
            .field("source", &self.source)
            .finish()
    }
}

/// Converts a SQLAlchemy URL (`mysql+pymysql://...`, `postgresql+psycopg2://...`,
/// `sqlite:////path`) into a nova-purge URL (`mysql://`, `postgresql://`,
/// `sqlite://PATH`); `docs/configuration.md` says what becomes of each
/// query option. The error is one phrase that never repeats the value.
pub fn sqlalchemy_to_database_url(value: &str) -> Result<ConvertedUrl, String> {
    convert_url(value, "")
}

/// Dialects named in errors; any other name is not repeated.
const KNOWN_DIALECTS: &[&str] = &[
    "oracle",
    "mssql",
    "sybase",
    "firebird",
    "db2",
    "ibm_db_sa",
    "cockroachdb",
    "redshift",
    "snowflake",
    "access",
    "informix",
    "hana",
    "vertica",
    "teradatasql",
    "sqlserver",
];

/// [`sqlalchemy_to_database_url`], with `extra_query` (a section's
/// `connection_parameters`) appended to the URL's query as oslo.db does.
pub(super) fn convert_url(value: &str, extra_query: &str) -> Result<ConvertedUrl, String> {
    let value = value.trim();
    if value.is_empty() {
        return Err("the URL is empty".to_owned());
    }
    // A multi-line value (a continuation line in nova.conf) is a mistake,
    // and control characters belong in no part of a URL.
    if value.contains(char::is_control) {
        return Err("the URL holds a line break or another control character".to_owned());
    }
    let url = SqlaUrl::parse(value)?;
    let name = url.name.to_ascii_lowercase();
    let (dialect, driver) = match name.split_once('+') {
        Some((dialect, driver)) => (dialect, Some(driver)),
        None => (name.as_str(), None),
    };
    if driver.is_some_and(|driver| driver.is_empty() || driver.contains('+')) {
        return Err(CANNOT_PARSE.to_owned());
    }
    let mut query = parse_qsl(url.query.unwrap_or(""));
    query.extend(parse_qsl(extra_query));
    match dialect {
        "mysql" | "mariadb" => convert_mysql(&url, query),
        "postgresql" | "postgres" => convert_postgres(&url, query),
        "sqlite" => convert_sqlite(&url, driver, query),
        known if KNOWN_DIALECTS.contains(&known) => Err(format!(
            "unsupported database dialect `{known}`; nova-purge reads mysql, postgresql and sqlite URLs"
        )),
        _ => Err(
            "unsupported database dialect; nova-purge reads mysql, postgresql and sqlite URLs"
                .to_owned(),
        ),
    }
}

// Reasons for dropping an option that more than one dialect gives.
const DROP_PLUGIN: &str = "a SQLAlchemy engine plugin, not a connection setting";
const DROP_TIMEOUT: &str = "nova-purge has its own timeouts";
const DROP_UNUSED: &str = "not a setting nova-purge uses";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::testing::{convert, convert_err};

    #[test]
    fn nova_purge_urls_convert_to_themselves() {
        for url in [
            "mysql://nova:p%40ss@ctl:3307/nova?ssl-mode=VERIFY_IDENTITY&ssl-ca=%2Fca.pem",
            "mysql://nova@localhost/nova?socket=%2Frun%2Fmysqld.sock&charset=utf8mb4",
            "postgresql://nova:secret@ctl/nova?sslmode=verify-full&sslrootcert=%2Fca.pem",
            "postgresql://nova@%2Fvar%2Frun%2Fpostgresql/nova",
        ] {
            let converted = convert(url);
            assert_eq!(converted.as_str(), url);
            assert!(converted.dropped().is_empty(), "{url}");
        }
        let converted = convert("mysql://nova@ctl/nova?sslmode=required&sslca=/ca.pem");
        assert_eq!(
            converted.as_str(),
            "mysql://nova@ctl/nova?ssl-mode=REQUIRED&ssl-ca=%2Fca.pem"
        );
        let converted = convert("postgres://nova@ctl/nova?ssl-mode=require&ssl-ca=/ca.pem");
        assert_eq!(
            converted.as_str(),
            "postgresql://nova@ctl/nova?sslmode=require&sslrootcert=%2Fca.pem"
        );
    }

    #[test]
    fn unknown_dialects_are_refused_and_named_only_when_known() {
        assert!(convert_err("oracle+cx_oracle://u:p@h/db").contains("`oracle`"));
        assert!(convert_err("mssql+pyodbc://u:p@h/db").contains("`mssql`"));
        let message = convert_err("SECRETdialect://u:p@h/db");
        assert!(
            message.starts_with("unsupported database dialect;"),
            "{message}"
        );
        assert!(convert_err("mysql+://u:p@h/db").starts_with("cannot parse"));
        assert!(convert_err("mysql+a+b://u:p@h/db").starts_with("cannot parse"));
        assert_eq!(convert_err("   "), "the URL is empty");
    }

    #[test]
    fn converted_urls_are_accepted_by_database_url() {
        for value in [
            "mysql+pymysql://nova:p%40ss@ctl/nova?charset=utf8",
            "postgresql+psycopg2://nova:p@ss@ctl/nova",
            "postgresql://nova:x@[::1]/nova",
        ] {
            match sqlalchemy_to_database_url(value) {
                Ok(url) => {
                    let parsed = DatabaseUrl::parse(url.as_str()).unwrap();
                    assert!(!format!("{parsed:?}").contains("ss@"));
                }
                Err(message) => assert!(message.contains("%40"), "{message}"),
            }
        }
    }
}
