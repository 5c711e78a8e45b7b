//! Database URLs: validation, redaction and connecting.

use std::path::PathBuf;
use std::str::FromStr;

use purge_api::{Backend, Db};
use sqlx::mysql::MySqlConnectOptions;
use sqlx::pool::PoolOptions;
use sqlx::postgres::PgConnectOptions;
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection};
use tokio::time::timeout;
use tracing::info;
use url::Url;

use crate::database::schema::Schema;
use crate::database::server::{self, GaleraNode, ServerFacts};
use crate::error::Error;
use crate::limits::CONNECT_TIMEOUT;
use crate::secrets;

/// A database URL that has been checked for a supported scheme and shape.
#[derive(Clone)]
pub struct DatabaseUrl {
    raw: String,
    backend: Backend,
    /// The file, for SQLite.
    sqlite_path: Option<PathBuf>,
}

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.redacted())
    }
}

const EXPECTED: &str = "use mysql://USER:PASSWORD@HOST[:PORT]/DATABASE, \
postgresql://USER:PASSWORD@HOST[:PORT]/DATABASE or sqlite://PATH";

impl DatabaseUrl {
    /// Checks a URL. The error never repeats the URL: it may hold a password.
    pub fn parse(raw: &str) -> Result<DatabaseUrl, Error> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Err(Error::Input(format!(
                "the database URL is empty; {EXPECTED}"
            )));
        }
        let scheme = raw
            .split_once("://")
            .map(|(scheme, _)| scheme)
            .unwrap_or("");
        let backend = match scheme {
            "mysql" => Backend::MySql,
            "postgres" | "postgresql" => Backend::Postgres,
            "sqlite" => return DatabaseUrl::parse_sqlite(raw),
            "" => {
                return Err(Error::Input(format!(
                    "the database URL has no scheme; {EXPECTED}"
                )))
            }
            other => {
                let shown: String = other.chars().take(20).collect();
                return Err(Error::Input(format!(
                    "unsupported database URL scheme `{shown}`; {EXPECTED}"
                )));
            }
        };
        let url = Url::parse(raw).map_err(|e| {
            Error::Input(format!(
                "the database URL cannot be parsed ({e}); {EXPECTED}"
            ))
        })?;
        if url.host_str().is_none_or(str::is_empty) {
            return Err(Error::Input(format!(
                "the database URL names no host; {EXPECTED}"
            )));
        }
        // `user:pa/ss@host` parses as host `user`, port `pa` and a path with
        // the rest of the password in it: refuse what only parses by accident.
        let after_authority = [
            url.path(),
            url.query().unwrap_or(""),
            url.fragment().unwrap_or(""),
        ];
        if after_authority.iter().any(|part| part.contains('@')) || url.fragment().is_some() {
            return Err(Error::Input(format!(
                "the database URL has an `@` or `#` after its host: a password with `/`, `?`, `#` or `@` in it must be percent-encoded (%2F, %3F, %23, %40); {EXPECTED}"
            )));
        }
        if url.path().trim_start_matches('/').is_empty() {
            return Err(Error::Input(format!(
                "the database URL names no database; {EXPECTED}"
            )));
        }
        register_secrets(&url);
        Ok(DatabaseUrl {
            raw: raw.to_owned(),
            backend,
            sqlite_path: None,
        })
    }

    fn parse_sqlite(raw: &str) -> Result<DatabaseUrl, Error> {
        let rest = &raw["sqlite://".len()..];
        let path = rest.split_once('?').map_or(rest, |(path, _)| path);
        if path.is_empty() || path.starts_with(':') {
            return Err(Error::Input(
                "a SQLite database URL must name a file: sqlite://PATH (relative) or sqlite:///PATH (absolute)".to_owned(),
            ));
        }
        let path = PathBuf::from(path);
        // sqlx would happily create a new, empty database here: refuse.
        if !path.is_file() {
            return Err(Error::Input(format!(
                "SQLite database file {} does not exist; give the path of an existing Nova database",
                path.display()
            )));
        }
        Ok(DatabaseUrl {
            raw: raw.to_owned(),
            backend: Backend::Sqlite,
            sqlite_path: Some(path),
        })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// True when both URLs name the same database on the same server,
    /// whatever the credentials and options.
    pub fn same_database(&self, other: &DatabaseUrl) -> bool {
        if self.backend != other.backend {
            return false;
        }
        if self.backend == Backend::Sqlite {
            let canonical =
                |url: &DatabaseUrl| url.sqlite_path.as_ref().and_then(|p| p.canonicalize().ok());
            return canonical(self).is_some() && canonical(self) == canonical(other);
        }
        match (Url::parse(&self.raw), Url::parse(&other.raw)) {
            (Ok(a), Ok(b)) => {
                let host = |u: &Url| u.host_str().map(|h| h.to_lowercase());
                host(&a) == host(&b)
                    && a.port_or_known_default().or(self.default_port())
                        == b.port_or_known_default().or(self.default_port())
                    && a.path().trim_matches('/') == b.path().trim_matches('/')
            }
            _ => false,
        }
    }

    /// The server that holds the database, as a key: host (lower case) and
    /// port for MariaDB/MySQL and PostgreSQL, the file for SQLite (a file
    /// is its own server). Two spellings of one host (a name and its
    /// address) are two keys.
    pub fn server(&self) -> String {
        if let Some(path) = &self.sqlite_path {
            let path = path.canonicalize().unwrap_or_else(|_| path.clone());
            return format!("sqlite:{}", path.display());
        }
        let url = Url::parse(&self.raw).ok();
        let host = url
            .as_ref()
            .and_then(|u| u.host_str().map(str::to_lowercase))
            .unwrap_or_default();
        let port = url
            .as_ref()
            .and_then(Url::port_or_known_default)
            .or(self.default_port())
            .unwrap_or_default();
        format!("{}:{host}:{port}", self.backend.name())
    }

    /// The database's name, as an export records where rows came from: the
    /// name the server reports, or the file for SQLite.
    pub fn database_name(&self, schema: &Schema) -> String {
        match &self.sqlite_path {
            Some(path) => path
                .canonicalize()
                .unwrap_or_else(|_| path.clone())
                .display()
                .to_string(),
            None => schema.database_name.clone(),
        }
    }

    fn userinfo_password(&self) -> Option<String> {
        Url::parse(&self.raw).ok()?.password().map(str::to_owned)
    }

    fn default_port(&self) -> Option<u16> {
        match self.backend {
            Backend::MySql => Some(3306),
            Backend::Postgres => Some(5432),
            Backend::Sqlite => None,
        }
    }

    /// The URL with every credential (the password, and query options such
    /// as `password` or `sslpassword`) replaced by `***`, safe for output
    /// and logs.
    pub fn redacted(&self) -> String {
        if self.backend == Backend::Sqlite {
            return self.raw.clone();
        }
        match Url::parse(&self.raw) {
            Ok(mut url) => {
                if url.password().is_some() {
                    // Cannot fail: a URL with a password has a host.
                    let _ = url.set_password(Some("***"));
                }
                let query: Vec<(String, String)> = url
                    .query_pairs()
                    .map(|(key, value)| {
                        let value = if secrets::is_credential_option(&key) {
                            "***".to_owned()
                        } else {
                            value.into_owned()
                        };
                        (key.into_owned(), value)
                    })
                    .collect();
                if !query.is_empty() {
                    url.query_pairs_mut().clear().extend_pairs(query);
                }
                url.to_string()
            }
            Err(_) => format!("{}://***", self.backend.name()),
        }
    }

    /// The URL sqlx is given, without credential query options (a driver
    /// may echo an option it does not know, value included), and the
    /// password to set instead: the URL's own, or its `password` option.
    fn for_driver(&self) -> Result<(String, Option<String>), Error> {
        let mut url = Url::parse(&self.raw).map_err(|e| {
            Error::Input(format!(
                "the database URL cannot be parsed ({e}); {EXPECTED}"
            ))
        })?;
        let mut password = None;
        let mut kept = Vec::new();
        for (key, value) in url.query_pairs() {
            if !secrets::is_credential_option(&key) {
                kept.push((key.into_owned(), value.into_owned()));
            } else if key == "password" {
                password = Some(value.into_owned());
            } else {
                return Err(Error::Input(format!(
                    "the database URL's `{key}` option is not supported (an encrypted TLS key needs its password, which nova-purge cannot use: give a key without a passphrase, readable only by this user)"
                )));
            }
        }
        url.set_query(None);
        if !kept.is_empty() {
            url.query_pairs_mut().extend_pairs(kept);
        }
        Ok((url.to_string(), password))
    }

    /// Opens a small pool to read from; see [`DatabaseUrl::open`].
    pub async fn connect(&self) -> Result<Db, Error> {
        Ok(self.open(Access::Read).await?.0)
    }

    /// Opens a small pool, with what the server is. Two connections: one may
    /// read the next candidates while the other holds a batch's
    /// transaction. A first connection is made directly: a pool would retry
    /// a refused connection until its timeout and then report only the
    /// timeout, not the cause. On it the server's facts are read
    /// ([`ServerFacts`]) and logged; a Galera node outside the primary
    /// component is refused, and so, for [`Access::Write`], is a read-only
    /// server or a replica.
    pub async fn open(&self, access: Access) -> Result<(Db, ServerFacts), Error> {
        let what = format!("cannot connect to {}", self.redacted());
        let fail = |e| Error::database(&what, e);
        let usage = |e: sqlx::Error| Error::Input(format!("{what}: {e}; {EXPECTED}"));
        let timed_out = |_| Error::database(&what, sqlx::Error::PoolTimedOut);
        let (db, facts) = match self.backend {
            Backend::MySql => {
                let (raw, password) = self.for_driver()?;
                // Room for every statement of a batch at each of the list
                // lengths a ramping batch size goes through (see
                // `Stmt::in_list`): a statement evicted is prepared again.
                let mut options = MySqlConnectOptions::from_str(&raw)
                    .map_err(usage)?
                    .statement_cache_capacity(MYSQL_STATEMENT_CACHE);
                if let Some(password) = password.filter(|_| self.userinfo_password().is_none()) {
                    options = options.password(&password);
                }
                let mut first = timeout(CONNECT_TIMEOUT, options.connect())
                    .await
                    .map_err(timed_out)?
                    .map_err(fail)?;
                let facts = server::mysql_facts(&mut first).await.map_err(fail)?;
                first.close().await.map_err(fail)?;
                let mut pool = pool_options();
                if facts.galera.is_some() {
                    // Reads wait until this node has applied what the
                    // others committed before them (docs/architecture.md,
                    // "Clusters").
                    pool = pool.after_connect(|conn, _| {
                        Box::pin(async move {
                            sqlx::query("SET SESSION wsrep_sync_wait = 1")
                                .execute(conn)
                                .await
                                .map(drop)
                        })
                    });
                }
                (Db::MySql(pool.connect_lazy_with(options)), facts)
            }
            Backend::Postgres => {
                let (raw, password) = self.for_driver()?;
                let mut options = PgConnectOptions::from_str(&raw).map_err(usage)?;
                if let Some(password) = password {
                    options = options.password(&password);
                }
                let mut first = timeout(CONNECT_TIMEOUT, options.connect())
                    .await
                    .map_err(timed_out)?
                    .map_err(fail)?;
                let facts = server::postgres_facts(&mut first).await.map_err(fail)?;
                first.close().await.map_err(fail)?;
                (
                    Db::Postgres(pool_options().connect_lazy_with(options)),
                    facts,
                )
            }
            Backend::Sqlite => {
                let path = self
                    .sqlite_path
                    .as_ref()
                    .expect("parsed SQLite URLs have a path");
                // foreign_keys is ON by default in sqlx; said here because the
                // purge relies on it. create_if_missing stays false.
                let options = SqliteConnectOptions::new()
                    .filename(path)
                    .foreign_keys(true)
                    .busy_timeout(CONNECT_TIMEOUT);
                let pool = pool_options().connect_with(options).await.map_err(fail)?;
                (Db::Sqlite(pool), ServerFacts::default())
            }
        };
        info!(database = %self.redacted(), "connected: {facts}");
        let refusal = facts
            .galera
            .as_ref()
            .and_then(GaleraNode::refusal)
            .or_else(|| match access {
                Access::Write => facts.read_only.as_ref().map(|why| {
                    format!("{why}: nova-purge deletes only on the primary; check the URL (--database-url, [database]/connection)")
                }),
                Access::Read => None,
            });
        if let Some(why) = refusal {
            db.close().await;
            return Err(Error::Input(format!("{}: {why}", self.redacted())));
        }
        Ok((db, facts))
    }
}

/// How a command uses a database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Only reads (`check`, a dry run): a read-only server or a replica will do.
    Read,
    /// Deletes or inserts (`purge`, `restore`): only a writable primary.
    Write,
}

/// Prepared statements kept per MySQL connection.
const MYSQL_STATEMENT_CACHE: usize = 1_000;

/// Tells the scrubber about the URL's password and credential options, in
/// the form the operator wrote them and percent-decoded.
fn register_secrets(url: &Url) {
    if let Some(password) = url.password() {
        secrets::register(password);
        if let Ok(decoded) = percent_encoding::percent_decode_str(password).decode_utf8() {
            secrets::register(&decoded);
        }
    }
    for (key, value) in url.query_pairs() {
        if secrets::is_credential_option(&key) {
            secrets::register(&value);
        }
    }
}

fn pool_options<DB: sqlx::Database>() -> PoolOptions<DB> {
    PoolOptions::new()
        .max_connections(2)
        .acquire_timeout(CONNECT_TIMEOUT)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usage_message(raw: &str) -> String {
        match DatabaseUrl::parse(raw) {
            Err(Error::Input(message)) => message,
            other => panic!("expected a usage error for {raw}, got {other:?}"),
        }
    }

    #[test]
    fn passwords_are_redacted() {
        let url = DatabaseUrl::parse("mysql://nova:s3cret@db.example/nova").unwrap();
        assert_eq!(url.redacted(), "mysql://nova:***@db.example/nova");
        assert!(!format!("{url:?}").contains("s3cret"));
    }

    #[test]
    fn bad_urls_are_refused_without_echoing_them() {
        for raw in [
            "",
            "oracle://u:s3cret@h/db",
            "s3cret",
            "mysql://u:s3cret@/db",
            "postgresql://u:s3cret@host",
            "sqlite://",
            "sqlite://:memory:",
        ] {
            let message = usage_message(raw);
            assert!(!message.contains("s3cret"), "{message}");
        }
    }

    #[test]
    fn a_missing_sqlite_file_is_an_error_not_a_new_database() {
        let message = usage_message("sqlite:///nonexistent/nova.sqlite");
        assert!(message.contains("does not exist"), "{message}");
        assert!(!std::path::Path::new("/nonexistent/nova.sqlite").exists());
    }

    #[test]
    fn supported_schemes_pick_their_backend() {
        for (raw, backend) in [
            ("mysql://root@127.0.0.1/nova", Backend::MySql),
            ("postgres://root@127.0.0.1/nova", Backend::Postgres),
            ("postgresql://root@localhost:5432/nova", Backend::Postgres),
        ] {
            assert_eq!(DatabaseUrl::parse(raw).unwrap().backend(), backend);
        }
    }

    #[test]
    fn cells_on_one_server_share_a_server_key_whatever_the_database() {
        let server = |raw: &str| DatabaseUrl::parse(raw).unwrap().server();
        assert_eq!(
            server("mysql://a:x@DB1/nova_cell1"),
            server("mysql://b@db1:3306/nova_cell2?charset=utf8")
        );
        assert_ne!(server("mysql://a@db1/c1"), server("mysql://a@db1:3307/c1"));
        assert_ne!(server("mysql://a@db1/c1"), server("mysql://a@db2/c1"));
        assert_eq!(
            server("postgresql://a@db1/c1"),
            server("postgres://a@db1:5432/c2")
        );
        let dir = tempfile::tempdir().unwrap();
        let (one, two) = (dir.path().join("one"), dir.path().join("two"));
        std::fs::write(&one, "").unwrap();
        std::fs::write(&two, "").unwrap();
        let sqlite = |path: &std::path::Path| server(&format!("sqlite://{}", path.display()));
        assert_ne!(sqlite(&one), sqlite(&two), "each file is its own server");
    }
}
