//! MySQL and MariaDB URLs (PyMySQL and MySQLdb keyword arguments) for
//! sqlx's MySQL driver.
//!
//! Its own file for what is MySQL's alone: the drivers' keyword names
//! (`passwd`, `db`, `unix_socket`, `ssl_ca`, ...); the character set,
//! always utf8mb4 on sqlx's side, so that Nova's `charset=utf8` is dropped
//! rather than translated; and TLS, which must never be silently lost, so
//! that the `ssl-mode` is derived from the `ssl_*` options as PyMySQL
//! derives it ([`MySqlTls`]).

use super::parse::{parse_bool, parse_port, SqlaUrl};
use super::write::{Host, Target};
use super::{ConvertedUrl, DROP_PLUGIN, DROP_TIMEOUT, DROP_UNUSED};

const DROP_UTF8: &str = "nova-purge always talks utf8mb4, a superset of utf8 (utf8mb3) \
that reads Nova's tables unchanged";
const DROP_CHARSET: &str = "nova-purge always talks utf8mb4; Nova's tables are utf8";
const DROP_COLLATION: &str = "follows nova-purge's utf8mb4 connection character set";
const DROP_OPTION_FILE: &str = "nova-purge does not read MySQL option files; \
put the user, password, host and TLS settings in the URL";
const DROP_TLS: &str = "a TLS setting sqlx does not have (TLS is still required)";

/// MySQL TLS settings as PyMySQL derives them from SQLAlchemy's `ssl_*`.
#[derive(Default)]
struct MySqlTls {
    mode: Option<&'static str>,
    ca: bool,
    capath: bool,
    check_hostname: Option<bool>,
    other: bool,
}

impl MySqlTls {
    fn mode(&self) -> Option<&'static str> {
        if self.mode.is_some() {
            return self.mode;
        }
        if self.ca || self.capath {
            return Some(if self.check_hostname.unwrap_or(true) {
                "VERIFY_IDENTITY"
            } else {
                "VERIFY_CA"
            });
        }
        (self.other || self.check_hostname.is_some()).then_some("REQUIRED")
    }
}

pub(super) fn convert_mysql(
    url: &SqlaUrl<'_>,
    query: Vec<(String, String)>,
) -> Result<ConvertedUrl, String> {
    let mut target = Target::new("mysql", url)?;
    let mut tls = MySqlTls::default();
    let mut socket = None;
    let mut charset = None;
    let mut tls_files = Vec::new();
    for (key, value) in query {
        match key.as_str() {
            "user" => target.username = Some(value),
            "passwd" | "password" => target.password = Some(value),
            "host" => target.set_host_and_port(&value)?,
            "port" => target.port = Some(parse_port(&value)?),
            "db" | "database" => target.database = Some(value),
            "unix_socket" | "socket" => socket = Some(value),
            "charset" => match value.to_ascii_lowercase().as_str() {
                "utf8mb4" => charset = Some("utf8mb4"),
                "utf8" | "utf8mb3" => {
                    charset = None;
                    target.drop_option(&key, DROP_UTF8);
                }
                _ => {
                    charset = None;
                    target.drop_option(&key, DROP_CHARSET);
                }
            },
            "collation" => target.drop_option(&key, DROP_COLLATION),
            // PyMySQL's names, then sqlx's own (as in a nova-purge URL).
            "ssl_ca" | "ssl-ca" | "sslca" => {
                tls.ca = true;
                tls_files.push(("ssl-ca", value));
            }
            "ssl_cert" | "ssl-cert" | "sslcert" => {
                tls.other = true;
                tls_files.push(("ssl-cert", value));
            }
            "ssl_key" | "ssl-key" | "sslkey" => {
                tls.other = true;
                tls_files.push(("ssl-key", value));
            }
            "ssl_capath" => {
                tls.capath = true;
                target.drop_option(&key, DROP_TLS);
            }
            "ssl_check_hostname" => {
                tls.check_hostname =
                    Some(parse_bool(&value).ok_or("ssl_check_hostname must be true or false")?);
            }
            "ssl_mode" | "ssl-mode" | "sslmode" => {
                let mode = match value.to_ascii_uppercase().as_str() {
                    "DISABLED" => "DISABLED",
                    "PREFERRED" => "PREFERRED",
                    "REQUIRED" => "REQUIRED",
                    "VERIFY_CA" => "VERIFY_CA",
                    "VERIFY_IDENTITY" => "VERIFY_IDENTITY",
                    _ => {
                        return Err("ssl_mode must be DISABLED, PREFERRED, REQUIRED, VERIFY_CA \
                                    or VERIFY_IDENTITY"
                            .to_owned())
                    }
                };
                tls.mode = Some(mode);
            }
            "ssl_disabled" => target.drop_option(&key, DROP_UNUSED),
            other if other.starts_with("ssl") => {
                tls.other = true;
                target.drop_option(&key, DROP_TLS);
            }
            "read_default_file" | "read_default_group" => {
                target.drop_option(&key, DROP_OPTION_FILE)
            }
            "plugin" => target.drop_option(&key, DROP_PLUGIN),
            "connect_timeout" | "read_timeout" | "write_timeout" => {
                target.drop_option(&key, DROP_TIMEOUT)
            }
            _ => target.drop_option(&key, DROP_UNUSED),
        }
    }
    if let Some(mode) = tls.mode() {
        target.query.push(("ssl-mode", mode.to_owned()));
    }
    target.query.extend(tls_files);
    if let Some(socket) = socket {
        target.query.push(("socket", socket));
        if target.host.is_none() {
            target.host = Some(Host::Name("localhost".to_owned()));
        }
    }
    if let Some(charset) = charset {
        target.query.push(("charset", charset.to_owned()));
    }
    if target.host.is_none() {
        target.host = Some(Host::Name("localhost".to_owned()));
        target
            .notes
            .push("no host given: connecting to localhost over TCP".to_owned());
    }
    target.require_database()?;
    target.build()
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use sqlx::mysql::{MySqlConnectOptions, MySqlSslMode};

    use super::*;
    use crate::config::sqlalchemy::sqlalchemy_to_database_url;
    use crate::config::testing::{convert, convert_err, dropped_keys, sqlx_password};

    #[test]
    fn mysql_drivers_all_become_mysql() {
        for scheme in [
            "mysql",
            "mysql+pymysql",
            "mysql+mysqldb",
            "mariadb+pymysql",
            "MySQL+PyMySQL",
        ] {
            let url = convert(&format!("{scheme}://nova:secret@ctl/nova"));
            assert_eq!(url.as_str(), "mysql://nova:secret@ctl/nova");
            assert_eq!(url.redacted(), "mysql://nova:***@ctl/nova");
            assert!(url.dropped().is_empty() && url.notes().is_empty());
        }
    }

    #[test]
    fn mysql_charsets() {
        let url = convert("mysql+pymysql://nova:secret@ctl/nova?charset=utf8");
        assert_eq!(url.as_str(), "mysql://nova:secret@ctl/nova");
        assert_eq!(url.dropped()[0].reason, DROP_UTF8);
        let url = convert("mysql+pymysql://nova:secret@ctl/nova?charset=utf8mb4");
        assert_eq!(url.as_str(), "mysql://nova:secret@ctl/nova?charset=utf8mb4");
        assert_eq!(
            MySqlConnectOptions::from_str(url.as_str())
                .unwrap()
                .get_charset(),
            "utf8mb4"
        );
        let url =
            convert("mysql+pymysql://nova:secret@ctl/nova?charset=latin1&collation=latin1_bin");
        assert_eq!(url.as_str(), "mysql://nova:secret@ctl/nova");
        assert_eq!(dropped_keys(&url), ["charset", "collation"]);
    }

    #[test]
    fn mysql_query_options_override_and_translate() {
        let url = convert(
            "mysql+pymysql://x:y@/ignored?user=nova&passwd=s%26cret&db=nova\
             &unix_socket=/var/run/mysqld/mysqld.sock&read_default_file=/etc/my.cnf\
             &plugin=dbcounter&connect_timeout=5&local_infile=1",
        );
        assert_eq!(
            url.as_str(),
            "mysql://nova:s%26cret@localhost/nova?socket=%2Fvar%2Frun%2Fmysqld%2Fmysqld.sock"
        );
        assert_eq!(
            dropped_keys(&url),
            [
                "read_default_file",
                "plugin",
                "connect_timeout",
                "local_infile"
            ]
        );
        assert_eq!(url.dropped()[0].reason, DROP_OPTION_FILE);
        let options = MySqlConnectOptions::from_str(url.as_str()).unwrap();
        assert_eq!(
            options.get_socket().map(|p| p.to_str().unwrap()),
            Some("/var/run/mysqld/mysqld.sock")
        );
        assert_eq!(sqlx_password(url.as_str()).as_deref(), Some("s&cret"));
    }

    #[test]
    fn mysql_without_a_host_connects_to_localhost_with_a_note() {
        let url = convert("mysql+pymysql://nova:secret@/nova");
        assert_eq!(url.as_str(), "mysql://nova:secret@localhost/nova");
        assert_eq!(url.notes().len(), 1);
        let url = convert("mysql://nova@ctl:3306/nova");
        assert_eq!(url.as_str(), "mysql://nova@ctl:3306/nova");
        assert_eq!(url.redacted(), url.as_str());
    }

    #[test]
    fn mysql_tls_is_never_silently_dropped() {
        let url = convert("mysql+pymysql://nova:secret@ctl/nova?ssl_ca=/etc/ca.pem");
        assert_eq!(
            url.as_str(),
            "mysql://nova:secret@ctl/nova?ssl-mode=VERIFY_IDENTITY&ssl-ca=%2Fetc%2Fca.pem"
        );
        let options = MySqlConnectOptions::from_str(url.as_str()).unwrap();
        assert!(matches!(
            options.get_ssl_mode(),
            MySqlSslMode::VerifyIdentity
        ));
        let url =
            convert("mysql+pymysql://nova:secret@ctl/nova?ssl_ca=/ca.pem&ssl_check_hostname=false");
        assert!(
            url.as_str().contains("ssl-mode=VERIFY_CA"),
            "{}",
            url.as_str()
        );
        let url = convert("mysql+pymysql://nova:secret@ctl/nova?ssl_cert=/c.pem&ssl_key=/k.pem");
        assert_eq!(
            url.as_str(),
            "mysql://nova:secret@ctl/nova?ssl-mode=REQUIRED&ssl-cert=%2Fc.pem&ssl-key=%2Fk.pem"
        );
        let url =
            convert("mysql+pymysql://nova:secret@ctl/nova?ssl_cipher=AES&ssl_verify_cert=true");
        assert!(
            url.as_str().ends_with("?ssl-mode=REQUIRED"),
            "{}",
            url.as_str()
        );
        assert_eq!(dropped_keys(&url), ["ssl_cipher", "ssl_verify_cert"]);
        let url = convert("mysql+mysqldb://nova:secret@ctl/nova?ssl_mode=disabled&ssl_ca=/ca.pem");
        assert!(
            url.as_str().contains("ssl-mode=DISABLED"),
            "{}",
            url.as_str()
        );
        assert!(
            convert_err("mysql://nova@ctl/nova?ssl_mode=sometimes").contains("ssl_mode must be")
        );
        assert!(
            convert_err("mysql://nova@ctl/nova?ssl_check_hostname=maybe").contains("true or false")
        );
    }

    #[test]
    fn mysql_ipv6_and_ports() {
        let url = convert("mysql+pymysql://nova:secret@[fd00::1]:3307/nova");
        assert_eq!(url.as_str(), "mysql://nova:secret@[fd00::1]:3307/nova");
        assert_eq!(
            MySqlConnectOptions::from_str(url.as_str())
                .unwrap()
                .get_port(),
            3307
        );
        for bad in [
            "ctl:0",
            "ctl:65536",
            "ctl:33o6",
            "ctl:-1",
            "[zz::1]",
            "ctl host",
            "ct/l",
        ] {
            let value = format!("mysql://nova:SECRETpw@{bad}/nova");
            if let Err(message) = sqlalchemy_to_database_url(&value) {
                assert!(!message.contains("SECRET"), "{message}");
            } else {
                // `ct/l` is host `ct` and database `l/nova`: valid.
                assert_eq!(bad, "ct/l");
            }
        }
    }

    #[test]
    fn mysql_needs_a_database() {
        assert_eq!(
            convert_err("mysql+pymysql://nova:secret@ctl"),
            "the URL names no database"
        );
        assert_eq!(
            convert_err("mysql+pymysql://nova:secret@ctl/"),
            "the URL names no database"
        );
    }
}
