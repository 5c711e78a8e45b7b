//! Reading a SQLAlchemy URL as SQLAlchemy 2.0 reads it: the split of its
//! `_parse_url` regular expression ([`SqlaUrl`]), the query as Python's
//! `parse_qsl`, and the small readers (`asbool`, ports, `unquote`) the
//! dialects share.
//!
//! Nothing here decides what an option means; that is each dialect's
//! file. The split follows SQLAlchemy exactly, backtracking included,
//! because a password may hold `/`, `?`, `#` and `:` unescaped and must
//! end up in the same part it does for Nova.

use std::borrow::Cow;

use percent_encoding::percent_decode_str;

pub(super) const CANNOT_PARSE: &str =
    "cannot parse the URL (expected DIALECT[+DRIVER]://USER:PASSWORD@HOST[:PORT]/DATABASE[?OPTIONS])";

/// A URL split as SQLAlchemy 2.0's `_parse_url` regular expression splits
/// it; every part still as written (not percent-decoded).
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct SqlaUrl<'a> {
    pub(super) name: &'a str,
    pub(super) username: Option<&'a str>,
    pub(super) password: Option<&'a str>,
    /// Without the brackets of an IPv6 address.
    pub(super) host: Option<&'a str>,
    pub(super) ipv6: bool,
    pub(super) port: Option<&'a str>,
    pub(super) database: Option<&'a str>,
    pub(super) query: Option<&'a str>,
}

impl<'a> SqlaUrl<'a> {
    /// Follows
    /// `(?P<name>[\w\+]+)://(?:(?P<username>[^:/]*)(?::(?P<password>[^@]*))?@)?`
    /// `(?:(?:\[(?P<ipv6host>[^/\?]+)\]|(?P<ipv4host>[^/:\?]+))?(?::(?P<port>[^/\?]*))?)?`
    /// `(?:/(?P<database>[^\?]*))?(?:\?(?P<query>.*))?`, including its
    /// backtracking; text the expression would leave unmatched is an error.
    pub(super) fn parse(text: &'a str) -> Result<SqlaUrl<'a>, String> {
        let name_len = text
            .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == '+'))
            .unwrap_or(text.len());
        if name_len == 0 || !text[name_len..].starts_with("://") {
            return Err(CANNOT_PARSE.to_owned());
        }
        let mut url = SqlaUrl {
            name: &text[..name_len],
            ..SqlaUrl::default()
        };
        let rest = &text[name_len + 3..];

        // User name and password: the user name runs to the first `:` or
        // `/`; a password after that `:` runs to the first `@`. Without a
        // password, the user name ends at the last `@` before that point.
        let run = rest.find([':', '/']).unwrap_or(rest.len());
        let mut host_start = 0;
        if rest[run..].starts_with(':') {
            if let Some(at) = rest[run + 1..].find('@') {
                url.username = Some(&rest[..run]);
                url.password = Some(&rest[run + 1..run + 1 + at]);
                host_start = run + 1 + at + 1;
            }
        }
        if url.username.is_none() {
            if let Some(at) = rest[..run].rfind('@') {
                url.username = Some(&rest[..at]);
                host_start = at + 1;
            }
        }

        // Host: `[IPv6]` up to the last `]` before any `/` or `?`, else a
        // name up to `/`, `:` or `?`.
        let hostpart = &rest[host_start..];
        let mut consumed = 0;
        if let Some(inside) = hostpart.strip_prefix('[') {
            let run = inside.find(['/', '?']).unwrap_or(inside.len());
            if let Some(close) = inside[..run].rfind(']').filter(|&close| close > 0) {
                url.host = Some(&inside[..close]);
                url.ipv6 = true;
                consumed = close + 2;
            }
        }
        if url.host.is_none() {
            let end = hostpart.find(['/', ':', '?']).unwrap_or(hostpart.len());
            if end > 0 {
                url.host = Some(&hostpart[..end]);
                consumed = end;
            }
        }
        let mut after = &hostpart[consumed..];
        if let Some(port) = after.strip_prefix(':') {
            let end = port.find(['/', '?']).unwrap_or(port.len());
            url.port = Some(&port[..end]);
            after = &port[end..];
        }
        if let Some(database) = after.strip_prefix('/') {
            let end = database.find('?').unwrap_or(database.len());
            url.database = Some(&database[..end]);
            after = &database[end..];
        }
        if let Some(query) = after.strip_prefix('?') {
            let end = query.find('\n').unwrap_or(query.len());
            url.query = Some(&query[..end]);
            after = &query[end..];
        }
        if !after.is_empty() {
            return Err(CANNOT_PARSE.to_owned());
        }
        Ok(url)
    }
}

/// Python's `parse_qsl` (3.10+): `&`-separated, `+` is a space, %-escapes
/// decoded (invalid UTF-8 replaced); fields without `=` or with an empty
/// value are skipped.
pub(super) fn parse_qsl(query: &str) -> Vec<(String, String)> {
    let unquote_plus = |text: &str| {
        let spaced = text.replace('+', " ");
        String::from_utf8_lossy(&percent_decode_str(&spaced).collect::<Vec<u8>>()).into_owned()
    };
    query
        .split('&')
        .filter_map(|field| {
            let (key, value) = field.split_once('=')?;
            (!value.is_empty()).then(|| (unquote_plus(key), unquote_plus(value)))
        })
        .collect()
}

/// SQLAlchemy's `asbool`.
pub(super) fn parse_bool(text: &str) -> Option<bool> {
    match text.trim().to_ascii_lowercase().as_str() {
        "true" | "yes" | "on" | "y" | "t" | "1" => Some(true),
        "false" | "no" | "off" | "n" | "f" | "0" => Some(false),
        _ => None,
    }
}

pub(super) fn parse_port(text: &str) -> Result<u16, String> {
    text.trim()
        .parse::<u16>()
        .ok()
        .filter(|port| *port > 0 && text.trim().bytes().all(|b| b.is_ascii_digit()))
        .ok_or_else(|| "the port is not a number from 1 to 65535".to_owned())
}

/// Percent-decodes a user name or password as Python's `unquote` does,
/// refusing what would not be UTF-8 (sqlx could not use it either).
pub(super) fn unquote(raw: &str, what: &str) -> Result<String, String> {
    percent_decode_str(raw)
        .decode_utf8()
        .map(Cow::into_owned)
        .map_err(|_| format!("the {what} is not valid UTF-8 once its %-escapes are decoded"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlalchemy_urls_split_as_sqlalchemy_splits_them() {
        let url =
            SqlaUrl::parse("mysql+pymysql://nova:pa/ss?#:x@ctl:3306/nova?charset=utf8").unwrap();
        assert_eq!(
            url,
            SqlaUrl {
                name: "mysql+pymysql",
                username: Some("nova"),
                password: Some("pa/ss?#:x"),
                host: Some("ctl"),
                ipv6: false,
                port: Some("3306"),
                database: Some("nova"),
                query: Some("charset=utf8"),
            }
        );
        // Without a password, the user name ends at the last `@`.
        let url = SqlaUrl::parse("mysql://a@b@ctl/nova").unwrap();
        assert_eq!((url.username, url.host), (Some("a@b"), Some("ctl")));
        // The password ends at the first `@`.
        let url = SqlaUrl::parse("mysql://u:p@ss@ctl/nova").unwrap();
        assert_eq!((url.password, url.host), (Some("p"), Some("ss@ctl")));
        let url = SqlaUrl::parse("postgresql://[::1]:5432/nova").unwrap();
        assert_eq!(
            (url.host, url.ipv6, url.port),
            (Some("::1"), true, Some("5432"))
        );
        let url = SqlaUrl::parse("sqlite:////var/lib/nova/nova.sqlite").unwrap();
        assert_eq!(
            (url.host, url.database),
            (None, Some("/var/lib/nova/nova.sqlite"))
        );
        let url = SqlaUrl::parse("sqlite://").unwrap();
        assert_eq!(url.database, None);
        for bad in [
            "",
            "mysql",
            "mysql:/x",
            "://h/db",
            "my sql://h/db",
            "mysql://[::1]x/db",
            "mysql://h/db?a=1\nb",
        ] {
            assert!(SqlaUrl::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn query_strings_parse_like_parse_qsl() {
        assert_eq!(
            parse_qsl("a=1&&b=&c&d=x+y%2B%zz&=e&a=2"),
            vec![
                ("a".to_owned(), "1".to_owned()),
                ("d".to_owned(), "x y+%zz".to_owned()),
                ("".to_owned(), "e".to_owned()),
                ("a".to_owned(), "2".to_owned()),
            ]
        );
    }
}
