//! Writing the URL sqlx reads: [`Target`], the decoded parts a dialect
//! fills in (user, password, host, port, database, query), and
//! [`Target::build`], which writes them out with every part
//! percent-encoded.
//!
//! The dialects share it because the hard part is the same for all: what
//! sqlx decodes from the written URL must be exactly what SQLAlchemy read
//! from nova.conf, so `build` parses its own output with the `url` crate
//! (sqlx's parser) and refuses a URL that does not read back unchanged.
//! It also writes the redacted form shown in logs.

use std::borrow::Cow;
use std::net::Ipv6Addr;

use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use url::Url;

use super::parse::{parse_port, unquote, SqlaUrl};
use super::{ConvertedUrl, DroppedOption};

/// Everything but ASCII letters, digits and `-._~` is percent-encoded in the
/// URLs written for sqlx, which percent-decodes user name, password and
/// database name: what it decodes is then exactly what SQLAlchemy had.
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// A host in the URL written for sqlx.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Host {
    Name(String),
    Ipv6(String),
    /// A PostgreSQL socket directory.
    Socket(String),
}

/// The parts of the URL written for sqlx, decoded.
pub(super) struct Target {
    scheme: &'static str,
    pub(super) username: Option<String>,
    pub(super) password: Option<String>,
    pub(super) host: Option<Host>,
    pub(super) port: Option<u16>,
    pub(super) database: Option<String>,
    pub(super) query: Vec<(&'static str, String)>,
    dropped: Vec<DroppedOption>,
    pub(super) notes: Vec<String>,
}

impl Target {
    pub(super) fn new(scheme: &'static str, url: &SqlaUrl<'_>) -> Result<Target, String> {
        Ok(Target {
            scheme,
            username: url.username.map(|u| unquote(u, "user name")).transpose()?,
            password: url.password.map(|p| unquote(p, "password")).transpose()?,
            host: match url.host {
                None | Some("") => None,
                Some(host) if url.ipv6 => Some(Host::Ipv6(host.to_owned())),
                Some(host) => Some(Host::Name(host.to_owned())),
            },
            port: url
                .port
                .filter(|port| !port.is_empty())
                .map(parse_port)
                .transpose()?,
            database: url.database.map(str::to_owned),
            query: Vec::new(),
            dropped: Vec::new(),
            notes: Vec::new(),
        })
    }

    pub(super) fn drop_option(&mut self, key: &str, reason: &'static str) {
        self.dropped.push(DroppedOption {
            key: key.to_owned(),
            reason,
        });
    }

    /// `name`, `name:port` or `[v6]:port` from a `host=` option.
    pub(super) fn set_host_and_port(&mut self, value: &str) -> Result<(), String> {
        let (host, port) = if let Some(inside) = value.strip_prefix('[') {
            let (address, tail) = inside
                .split_once(']')
                .ok_or("the IPv6 address in the host option has no `]`")?;
            let port = match tail {
                "" => None,
                tail => Some(
                    tail.strip_prefix(':')
                        .ok_or("the host option cannot be parsed")?,
                ),
            };
            (Host::Ipv6(address.to_owned()), port)
        } else if value.matches(':').count() > 1 {
            (Host::Ipv6(value.to_owned()), None)
        } else {
            match value.split_once(':') {
                Some((host, port)) => (Host::Name(host.to_owned()), Some(port)),
                None => (Host::Name(value.to_owned()), None),
            }
        };
        self.host = Some(host);
        if let Some(port) = port {
            self.port = Some(parse_port(port)?);
        }
        Ok(())
    }

    pub(super) fn require_database(&self) -> Result<(), String> {
        match &self.database {
            Some(database) if !database.is_empty() => Ok(()),
            _ => Err("the URL names no database".to_owned()),
        }
    }

    /// Writes the URL, and checks that the url crate (which sqlx uses) reads
    /// every part back as it was.
    pub(super) fn build(self) -> Result<ConvertedUrl, String> {
        let host = self.host.as_ref().ok_or("the URL names no host")?;
        let host_text = match host {
            Host::Name(name) => {
                check_host_name(name)?;
                name.clone()
            }
            Host::Ipv6(address) => {
                address
                    .parse::<Ipv6Addr>()
                    .map_err(|_| "the IPv6 address in `[ ]` is not valid".to_owned())?;
                format!("[{address}]")
            }
            Host::Socket(dir) => utf8_percent_encode(dir, COMPONENT).to_string(),
        };
        // `password` comes percent-encoded (or as `***`).
        let write = |password: Option<String>| {
            let mut url = format!("{}://", self.scheme);
            if self.username.is_some() || password.is_some() {
                let username = self.username.as_deref().unwrap_or("");
                url.extend(utf8_percent_encode(username, COMPONENT));
                if let Some(password) = password {
                    url.push(':');
                    url.push_str(&password);
                }
                url.push('@');
            }
            url.push_str(&host_text);
            if let Some(port) = self.port {
                url.push_str(&format!(":{port}"));
            }
            url.push('/');
            url.extend(utf8_percent_encode(
                self.database.as_deref().unwrap_or(""),
                COMPONENT,
            ));
            if !self.query.is_empty() {
                url.push('?');
                url.push_str(
                    &url::form_urlencoded::Serializer::new(String::new())
                        .extend_pairs(self.query.iter().map(|(key, value)| (*key, value)))
                        .finish(),
                );
            }
            url
        };
        let password = self.password.as_deref().filter(|p| !p.is_empty());
        let raw = write(password.map(|p| utf8_percent_encode(p, COMPONENT).to_string()));
        let redacted = write(password.map(|_| "***".to_owned()));
        self.check_round_trip(&raw, host)?;
        Ok(ConvertedUrl {
            url: raw,
            redacted,
            dropped: self.dropped,
            notes: self.notes,
            source: None,
        })
    }

    fn check_round_trip(&self, raw: &str, host: &Host) -> Result<(), String> {
        const UNREPRESENTABLE: &str =
            "the URL cannot be written in a form sqlx reads back unchanged";
        let parsed = Url::parse(raw).map_err(|_| UNREPRESENTABLE.to_owned())?;
        let decode = |text: &str| {
            percent_decode_str(text)
                .decode_utf8()
                .map(Cow::into_owned)
                .ok()
        };
        let same_username =
            decode(parsed.username()).as_deref() == Some(self.username.as_deref().unwrap_or(""));
        let same_password = match self.password.as_deref().filter(|p| !p.is_empty()) {
            Some(password) => parsed.password().and_then(decode).as_deref() == Some(password),
            None => parsed.password().is_none(),
        };
        let same_host = match (host, parsed.host_str()) {
            (Host::Name(name), Some(read)) => read == name,
            (Host::Ipv6(_), Some(read)) => read.starts_with('['),
            (Host::Socket(dir), Some(read)) => decode(read).as_deref() == Some(dir.as_str()),
            (_, None) => false,
        };
        let same_database = decode(parsed.path().trim_start_matches('/')).as_deref()
            == Some(self.database.as_deref().unwrap_or(""));
        if same_username && same_password && same_host && same_database {
            Ok(())
        } else {
            Err(UNREPRESENTABLE.to_owned())
        }
    }
}

/// Host names as MySQL and PostgreSQL clients take them. Never repeats the
/// name: with an unescaped `@` in a password, part of it ends up here.
fn check_host_name(name: &str) -> Result<(), String> {
    if name.contains('@') {
        return Err(
            "the host name contains `@`: an `@` in the user name or password \
                    must be written %40"
                .to_owned(),
        );
    }
    if name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'))
    {
        Ok(())
    } else {
        Err("the host name is not valid (letters, digits, `-`, `.` and `_` only)".to_owned())
    }
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use sqlx::mysql::MySqlConnectOptions;

    use crate::config::testing::{convert, convert_err, sqlx_password};

    #[test]
    fn percent_encoded_credentials_survive_into_sqlx() {
        let url = convert("mysql+pymysql://n%40va:p%40ss%2Fw%3Ard%25+x@ctl:3307/nova%41db");
        let options = MySqlConnectOptions::from_str(url.as_str()).unwrap();
        assert_eq!(options.get_username(), "n@va");
        assert_eq!(sqlx_password(url.as_str()).as_deref(), Some("p@ss/w:rd%+x"));
        assert_eq!(options.get_host(), "ctl");
        assert_eq!(options.get_port(), 3307);
        // SQLAlchemy does not decode the database name; neither does the result.
        assert_eq!(options.get_database(), Some("nova%41db"));
        assert!(!url.redacted().contains("ss"), "{}", url.redacted());
    }

    #[test]
    fn unescaped_special_characters_in_a_password_survive() {
        let url = convert("mysql+pymysql://nova:p/a?s#s:w+rd@ctl/nova");
        assert_eq!(sqlx_password(url.as_str()).as_deref(), Some("p/a?s#s:w+rd"));
        let options = MySqlConnectOptions::from_str(url.as_str()).unwrap();
        assert_eq!(
            (options.get_host(), options.get_database()),
            ("ctl", Some("nova"))
        );
    }

    #[test]
    fn an_unescaped_at_sign_in_a_password_is_explained_not_shown() {
        let message = convert_err("mysql+pymysql://nova:SECRET@pw@ctl/nova");
        assert!(message.contains("%40"), "{message}");
        assert!(
            !message.contains("SECRET") && !message.contains("pw"),
            "{message}"
        );
    }
}
