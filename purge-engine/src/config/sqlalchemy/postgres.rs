//! PostgreSQL URLs (psycopg2 and psycopg, whose query options are libpq
//! keywords) for sqlx's PostgreSQL driver.
//!
//! Its own file because libpq's keywords are not PyMySQL's: the host
//! option may name a socket directory (written for sqlx as a
//! percent-encoded host), several hosts are refused rather than half
//! used, and the TLS options keep libpq's names, which sqlx reads as
//! libpq does.

use super::parse::{parse_port, unquote, SqlaUrl};
use super::write::{Host, Target};
use super::{ConvertedUrl, DROP_PLUGIN, DROP_TIMEOUT, DROP_UNUSED};

const DROP_ENCODING: &str = "sqlx always talks UTF8";
const DROP_PASSFILE: &str = "sqlx reads ~/.pgpass or $PGPASSFILE itself";

pub(super) fn convert_postgres(
    url: &SqlaUrl<'_>,
    query: Vec<(String, String)>,
) -> Result<ConvertedUrl, String> {
    let mut target = Target::new("postgresql", url)?;
    // sqlx's (and libpq URIs') way of naming a socket directory: as the
    // host, percent-encoded.
    if let Some(Host::Name(name)) = &target.host {
        if name.starts_with("%2F") || name.starts_with("%2f") {
            target.host = Some(Host::Socket(unquote(name, "host")?));
        }
    }
    let mut query_hosts = 0;
    for (key, value) in query {
        match key.as_str() {
            "host" => {
                query_hosts += 1;
                if query_hosts > 1 || value.contains(',') {
                    return Err("several hosts (a multi-host URL) are not supported".to_owned());
                }
                if target.host.is_some() {
                    return Err("both the URL and its host option name a host".to_owned());
                }
                if value.starts_with('/') {
                    target.host = Some(Host::Socket(value));
                } else {
                    target.set_host_and_port(&value)?;
                }
            }
            "port" => target.port = Some(parse_port(&value)?),
            "dbname" => target.database = Some(value),
            "user" => target.username = Some(value),
            "password" => target.password = Some(value),
            "sslmode" | "ssl-mode" => {
                let mode = match value.to_ascii_lowercase().as_str() {
                    "disable" => "disable",
                    "allow" => "allow",
                    "prefer" => "prefer",
                    "require" => "require",
                    "verify-ca" => "verify-ca",
                    "verify-full" => "verify-full",
                    _ => {
                        return Err(
                            "sslmode must be disable, allow, prefer, require, verify-ca \
                                    or verify-full"
                                .to_owned(),
                        )
                    }
                };
                target.query.push(("sslmode", mode.to_owned()));
            }
            // libpq's names, then sqlx's own (as in a nova-purge URL).
            "sslrootcert" | "ssl-root-cert" | "ssl-ca" => target.query.push(("sslrootcert", value)),
            "sslcert" | "ssl-cert" => target.query.push(("sslcert", value)),
            "sslkey" | "ssl-key" => target.query.push(("sslkey", value)),
            "application_name" => target.query.push(("application_name", value)),
            "options" => target.query.push(("options", value)),
            "connect_timeout" => target.drop_option(&key, DROP_TIMEOUT),
            "client_encoding" => target.drop_option(&key, DROP_ENCODING),
            "passfile" => target.drop_option(&key, DROP_PASSFILE),
            "plugin" => target.drop_option(&key, DROP_PLUGIN),
            _ => target.drop_option(&key, DROP_UNUSED),
        }
    }
    if target.host.is_none() {
        target.host = Some(Host::Name("localhost".to_owned()));
        target.notes.push(
            "no host given: connecting to localhost over TCP (libpq would use its Unix socket; \
             add ?host=/var/run/postgresql for that)"
                .to_owned(),
        );
    }
    target.require_database()?;
    target.build()
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use sqlx::postgres::{PgConnectOptions, PgSslMode};

    use crate::config::testing::{convert, convert_err, dropped_keys, sqlx_password};
    use crate::database::url::DatabaseUrl;

    #[test]
    fn postgresql_urls() {
        for scheme in [
            "postgresql",
            "postgresql+psycopg2",
            "postgresql+psycopg",
            "postgres",
        ] {
            let url = convert(&format!("{scheme}://nova:secret@ctl:5433/nova"));
            assert_eq!(url.as_str(), "postgresql://nova:secret@ctl:5433/nova");
        }
        let url = convert(
            "postgresql+psycopg2://nova@ctl/nova?sslmode=verify-full&sslrootcert=/ca.pem\
             &application_name=purge&client_encoding=utf8&connect_timeout=3&target_session_attrs=any",
        );
        assert_eq!(
            url.as_str(),
            "postgresql://nova@ctl/nova?sslmode=verify-full&sslrootcert=%2Fca.pem&application_name=purge"
        );
        assert_eq!(
            dropped_keys(&url),
            ["client_encoding", "connect_timeout", "target_session_attrs"]
        );
        let options = PgConnectOptions::from_str(url.as_str()).unwrap();
        assert!(matches!(options.get_ssl_mode(), PgSslMode::VerifyFull));
    }

    #[test]
    fn postgresql_socket_directories_become_the_host() {
        let url = convert("postgresql+psycopg2://nova:secret@/nova?host=/var/run/postgresql");
        assert_eq!(
            url.as_str(),
            "postgresql://nova:secret@%2Fvar%2Frun%2Fpostgresql/nova"
        );
        let options = PgConnectOptions::from_str(url.as_str()).unwrap();
        assert_eq!(
            options.get_socket().map(|p| p.to_str().unwrap()),
            Some("/var/run/postgresql")
        );
        assert!(DatabaseUrl::parse(url.as_str()).is_ok());
    }

    #[test]
    fn postgresql_credentials_in_the_query_move_into_the_url() {
        let url =
            convert("postgresql://ctl/nova?user=nova&password=SECRET%20pw&dbname=other&port=6432");
        assert_eq!(url.as_str(), "postgresql://nova:SECRET%20pw@ctl:6432/other");
        assert_eq!(url.redacted(), "postgresql://nova:***@ctl:6432/other");
        assert_eq!(sqlx_password(url.as_str()).as_deref(), Some("SECRET pw"));
    }

    #[test]
    fn postgresql_refusals() {
        assert!(convert_err("postgresql://nova@/nova?host=a,b").contains("several hosts"));
        assert!(convert_err("postgresql://nova@/nova?host=a&host=b").contains("several hosts"));
        assert!(convert_err("postgresql://nova@ctl/nova?host=other").contains("both"));
        assert!(
            convert_err("postgresql://nova@ctl/nova?sslmode=always").contains("sslmode must be")
        );
        let url = convert("postgresql://nova@/nova");
        assert_eq!(url.as_str(), "postgresql://nova@localhost/nova");
        assert_eq!(url.notes().len(), 1);
    }
}
