//! Nova's cell URL templates: [`fill_template`] fills a cell mapping's
//! `database_connection` (`{scheme}://{username}:{password}@...`) from the
//! local `[database]/connection`, as `CellMapping.format_db_url` does.
//!
//! Nova splits the local URL with Python's `urllib.parse.urlparse`, not
//! with SQLAlchemy, and fills the template with `str.format`; a password
//! or host may come out differently under any other parser. So this file
//! carries its own small imitation of both ([`PyUrl`], `parse_netloc`,
//! `format_template`), used for nothing else. Errors never repeat the
//! template or the local URL.

use std::collections::HashMap;
use std::net::Ipv6Addr;

/// The placeholders Nova fills, listed in errors.
const PLACEHOLDERS: &str =
    "{scheme}, {username}, {password}, {hostname}, {port}, {path}, {query}, {fragment}";

/// Fills a cell mapping's `database_connection` template from the local
/// `[database]/connection` URL, as Nova's `CellMapping.format_db_url` does.
/// A value without `{` is returned as it is.
///
/// The local URL is split by Python's `urllib.parse.urlparse`, and each
/// placeholder gets the same text Nova would put there:
///
/// - `{scheme}`: the scheme, lower case (`mysql+pymysql`);
/// - `{username}`, `{password}`: as written, still percent-encoded; the
///   user information ends at the *last* `@`, the password at the first `:`
///   after the user name;
/// - `{hostname}`: lower case, an IPv6 address without its brackets;
/// - `{port}`: the port as a number (`03306` gives `3306`);
/// - `{path}`: the path without its leading `/` (the database name);
/// - `{query}`, `{fragment}`: after `?` and `#`, as written.
///
/// When the local URL's host part lists several hosts separated by commas,
/// `{username1}`, `{password1}`, `{hostname1}`, `{port1}`, `{username2}`,
/// ... are also filled from each, as Nova does for oslo.messaging-style URLs.
///
/// `{{` and `}}` are literal braces (Python's `str.format`). Where Nova
/// would write `None` (a placeholder whose part is missing from the local
/// URL, such as `{port}` when it has no port), this is an error instead; so
/// are format specifications and unknown placeholders, which make Nova log
/// an error and use the template unfilled. Errors never repeat the template
/// or the local URL.
pub fn fill_template(template: &str, local: &str) -> Result<String, String> {
    if !template.contains('{') {
        return Ok(template.to_owned());
    }
    let values = template_values(local)?;
    format_template(template, &values)
}

/// Python's `str.format(**values)` for plain `{name}` fields.
fn format_template(
    template: &str,
    values: &HashMap<String, Option<String>>,
) -> Result<String, String> {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(at) = rest.find(['{', '}']) {
        out.push_str(&rest[..at]);
        let brace = &rest[at..at + 1];
        let after = &rest[at + 1..];
        if let Some(tail) = after.strip_prefix(brace) {
            out.push_str(brace);
            rest = tail;
            continue;
        }
        if brace == "}" {
            return Err("the template has a single `}` (write `}}` for a literal one)".to_owned());
        }
        let close = after
            .find('}')
            .ok_or("the template has a `{` without its `}`")?;
        let field = &after[..close];
        if field.contains('{') {
            return Err("the template has nested `{ }`, which Nova cannot fill".to_owned());
        }
        if field.contains(['!', ':']) {
            return Err(format!(
                "the template uses a conversion or format specification; only plain \
                 placeholders are supported: {PLACEHOLDERS}"
            ));
        }
        match values.get(field) {
            Some(Some(value)) => out.push_str(value),
            Some(None) => {
                return Err(format!(
                    "the template uses {{{field}}}, but [database] connection has no {}",
                    describe_placeholder(field)
                ))
            }
            None => {
                return Err(format!(
                    "the template uses a placeholder Nova does not fill; it fills {PLACEHOLDERS}"
                ))
            }
        }
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// "port" for `port` or `port2`.
fn describe_placeholder(field: &str) -> &'static str {
    match field.trim_end_matches(|c: char| c.is_ascii_digit()) {
        "username" => "user name",
        "password" => "password",
        "hostname" => "host name",
        "port" => "port",
        _ => "such part",
    }
}

/// The values Nova's `CellMapping._format_url` offers, from `urlparse`.
fn template_values(local: &str) -> Result<HashMap<String, Option<String>>, String> {
    let parts = PyUrl::parse(local)?;
    let mut values: HashMap<String, Option<String>> = HashMap::new();
    values.insert("scheme".into(), Some(parts.scheme.clone()));
    values.insert("username".into(), parts.username().map(str::to_owned));
    values.insert("password".into(), parts.password().map(str::to_owned));
    values.insert("hostname".into(), parts.hostname());
    values.insert("port".into(), parts.port()?.map(|port| port.to_string()));
    values.insert("query".into(), Some(parts.query.clone()));
    values.insert("fragment".into(), Some(parts.fragment.clone()));
    values.insert(
        "path".into(),
        Some(parts.path.trim_start_matches('/').to_owned()),
    );
    if parts.netloc.contains(',') {
        for (index, netloc) in parts.netloc.split(',').enumerate() {
            let index = index + 1;
            let these = parse_netloc(netloc)?;
            values.insert(format!("username{index}"), these.username);
            values.insert(format!("password{index}"), these.password);
            values.insert(format!("hostname{index}"), these.hostname);
            values.insert(format!("port{index}"), these.port);
        }
    }
    Ok(values)
}

/// Python's `urllib.parse.urlparse` result, and the properties Nova reads.
#[derive(Debug, Default, PartialEq, Eq)]
struct PyUrl {
    scheme: String,
    netloc: String,
    path: String,
    query: String,
    fragment: String,
}

const LOCAL_NOT_A_URL: &str = "[database] connection cannot be split as a URL";

impl PyUrl {
    fn parse(url: &str) -> Result<PyUrl, String> {
        // Leading C0 controls and spaces are stripped; tabs and newlines
        // removed anywhere.
        let url: String = url
            .trim_start_matches(|c: char| c <= ' ')
            .chars()
            .filter(|c| !matches!(c, '\t' | '\r' | '\n'))
            .collect();
        let mut parts = PyUrl::default();
        let mut rest = url.as_str();
        if let Some(colon) = rest.find(':') {
            let scheme = &rest[..colon];
            if colon > 0
                && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
                && scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
            {
                parts.scheme = scheme.to_ascii_lowercase();
                rest = &rest[colon + 1..];
            }
        }
        if let Some(after) = rest.strip_prefix("//") {
            let end = after.find(['/', '?', '#']).unwrap_or(after.len());
            parts.netloc = after[..end].to_owned();
            rest = &after[end..];
            let open = parts.netloc.contains('[');
            let close = parts.netloc.contains(']');
            if open != close {
                return Err(format!("{LOCAL_NOT_A_URL} (unbalanced `[ ]`)"));
            }
            if open {
                let bracketed = parts
                    .netloc
                    .split_once('[')
                    .map(|(_, after)| after.split_once(']').map_or(after, |(inside, _)| inside))
                    .unwrap_or("");
                check_bracketed_host(bracketed)?;
            }
        }
        if let Some((before, fragment)) = rest.split_once('#') {
            parts.fragment = fragment.to_owned();
            rest = before;
        }
        if let Some((before, query)) = rest.split_once('?') {
            parts.query = query.to_owned();
            rest = before;
        }
        // `;params` are split off the last path segment only for schemes
        // that use them, which here means a URL without a scheme.
        if parts.scheme.is_empty() {
            let from = rest.rfind('/').unwrap_or(0);
            if let Some(semicolon) = rest[from..].find(';') {
                rest = &rest[..from + semicolon];
            }
        }
        parts.path = rest.to_owned();
        Ok(parts)
    }

    fn userinfo(&self) -> Option<&str> {
        self.netloc.rsplit_once('@').map(|(userinfo, _)| userinfo)
    }

    fn username(&self) -> Option<&str> {
        self.userinfo()
            .map(|userinfo| userinfo.split_once(':').map_or(userinfo, |(user, _)| user))
    }

    fn password(&self) -> Option<&str> {
        self.userinfo()
            .and_then(|userinfo| userinfo.split_once(':'))
            .map(|(_, password)| password)
    }

    /// (host, port) as `_hostinfo` splits them.
    fn hostinfo(&self) -> (&str, Option<&str>) {
        let hostinfo = self
            .netloc
            .rsplit_once('@')
            .map_or(self.netloc.as_str(), |(_, host)| host);
        let (hostname, port) = match hostinfo.split_once('[') {
            Some((_, bracketed)) => {
                let (hostname, after) = bracketed.split_once(']').unwrap_or((bracketed, ""));
                (hostname, after.split_once(':').map_or("", |(_, port)| port))
            }
            None => hostinfo.split_once(':').unwrap_or((hostinfo, "")),
        };
        (hostname, (!port.is_empty()).then_some(port))
    }

    fn hostname(&self) -> Option<String> {
        let (hostname, _) = self.hostinfo();
        if hostname.is_empty() {
            return None;
        }
        // Lower case, except an IPv6 zone after `%`.
        Some(match hostname.split_once('%') {
            Some((address, zone)) => format!("{}%{zone}", address.to_lowercase()),
            None => hostname.to_lowercase(),
        })
    }

    fn port(&self) -> Result<Option<u32>, String> {
        let (_, port) = self.hostinfo();
        let Some(port) = port else {
            return Ok(None);
        };
        let bad = || format!("{LOCAL_NOT_A_URL} (its port is not a number from 0 to 65535)");
        if !port.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        let digits = port.trim_start_matches('0');
        if digits.len() > 5 {
            return Err(bad());
        }
        let number = if digits.is_empty() {
            0
        } else {
            digits.parse::<u32>().map_err(|_| bad())?
        };
        if number > 65535 {
            return Err(bad());
        }
        Ok(Some(number))
    }
}

/// Python's `_check_bracketed_host`: an IPv6 address (with an optional
/// zone) or an IPvFuture `v<hex>.<text>`; IPv4 in brackets is refused.
fn check_bracketed_host(host: &str) -> Result<(), String> {
    let bad = || format!("{LOCAL_NOT_A_URL} (the address in `[ ]` is not valid)");
    if let Some(future) = host.strip_prefix('v') {
        let valid = future.split_once('.').is_some_and(|(version, rest)| {
            !version.is_empty()
                && version.bytes().all(|b| b.is_ascii_hexdigit())
                && !rest.is_empty()
        });
        return if valid { Ok(()) } else { Err(bad()) };
    }
    let address = host.split_once('%').map_or(host, |(address, _)| address);
    address.parse::<Ipv6Addr>().map(|_| ()).map_err(|_| bad())
}

/// What Nova's `_parse_netloc` makes of one of several comma-separated hosts.
struct Netloc {
    username: Option<String>,
    password: Option<String>,
    hostname: Option<String>,
    port: Option<String>,
}

fn parse_netloc(netloc: &str) -> Result<Netloc, String> {
    let (userpass, hostport) = netloc.split_once('@').unwrap_or(("", netloc));
    let (hostname, port) = if hostport.starts_with('[') {
        let end = hostport
            .find(']')
            .ok_or_else(|| format!("{LOCAL_NOT_A_URL} (unbalanced `[ ]`)"))?;
        // Nova keeps the `:` before the port here.
        (&hostport[1..end], Some(&hostport[end + 1..]))
    } else {
        match hostport.split_once(':') {
            Some((hostname, port)) => (hostname, Some(port)),
            None => (hostport, None),
        }
    };
    let (username, password) = match userpass.split_once(':') {
        Some((username, password)) => (username, Some(password)),
        None => (userpass, None),
    };
    Ok(Netloc {
        username: Some(username.to_owned()),
        password: password.map(str::to_owned),
        hostname: Some(hostname.to_owned()),
        port: port.map(str::to_owned),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_are_filled_like_nova_does() {
        let local = "mysql+pymysql://nova:p%40ss@CTL.example:03306/nova?charset=utf8#frag";
        assert_eq!(
            fill_template(
                "{scheme}://{username}:{password}@{hostname}:{port}/{path}_cell1?{query}#{fragment}",
                local
            )
            .unwrap(),
            "mysql+pymysql://nova:p%40ss@ctl.example:3306/nova_cell1?charset=utf8#frag"
        );
        assert_eq!(
            fill_template(
                "mysql+pymysql://{username}:{password}@{hostname}/nova_cell1",
                local
            )
            .unwrap(),
            "mysql+pymysql://nova:p%40ss@ctl.example/nova_cell1"
        );
        assert_eq!(
            fill_template("{{literal}} {path}}}", "sqlite:////var/lib/nova.sqlite").unwrap(),
            "{literal} var/lib/nova.sqlite}"
        );
        // IPv6 hosts lose their brackets; the user information ends at the last `@`.
        assert_eq!(
            fill_template(
                "{username}|{password}|{hostname}",
                "mysql://a@b:c:d@[FD00::1]:3306/x"
            )
            .unwrap(),
            "a@b|c:d|fd00::1"
        );
    }

    #[test]
    fn a_value_without_braces_is_returned_as_it_is() {
        for value in ["mysql://u:p@h/db", "not even a url }", ""] {
            assert_eq!(fill_template(value, "garbage").unwrap(), value);
        }
    }

    #[test]
    fn several_hosts_fill_numbered_placeholders() {
        let local = "mysql://u1:p1@h1:1,u2@h2,[::1]:3/db";
        assert_eq!(
            fill_template(
                "{username1}:{password1}@{hostname1}:{port1} {username2}@{hostname2} {hostname3}{port3}",
                local
            )
            .unwrap(),
            "u1:p1@h1:1 u2@h2 ::1:3"
        );
        let message = fill_template("{password2}", local).unwrap_err();
        assert!(message.contains("no password"), "{message}");
    }

    #[test]
    fn template_errors_never_repeat_the_template_or_the_local_url() {
        let local = "mysql+pymysql://nova:SECRETlocal@ctl/nova";
        for template in [
            "mysql://{username}:{SECRETpw}@{hostname}/db",
            "mysql://{username}:SECRET{pw@h/db",
            "mysql://{username}:SECRET}pw@h/db",
            "mysql://{username!r}:SECRET@h/db",
            "mysql://{username:>10}:SECRET@h/db",
            "mysql://{0}:SECRET@h/db",
            "mysql://{}:SECRET@h/db",
            "mysql://{a{b}}:SECRET@h/db",
            "mysql://{username}:{password}@{hostname}:{port}/db",
        ] {
            let message = fill_template(template, local).unwrap_err();
            assert!(!message.contains("SECRET"), "{template}: {message}");
        }
        let message = fill_template("{port}", local).unwrap_err();
        assert_eq!(
            message,
            "the template uses {port}, but [database] connection has no port"
        );
        for local in [
            "mysql://SECRET:x@h:SECRET/db",
            "mysql://SECRET:x@h:99999/db",
            "mysql://SECRET:x@[h/db",
            "mysql://SECRET:x@[1.2.3.4]/db",
        ] {
            let message = fill_template("{hostname}", local).unwrap_err();
            assert!(!message.contains("SECRET"), "{local}: {message}");
        }
        assert!(fill_template("{hostname}", "mysql://u@[v1.x]/db").is_ok());
    }

    #[test]
    fn python_urlparse_parts() {
        let url = PyUrl::parse("  MySQL+PyMySQL://u:p@h:1/d;x?q=1#f").unwrap();
        assert_eq!(url.scheme, "mysql+pymysql");
        assert_eq!(url.netloc, "u:p@h:1");
        assert_eq!(url.path, "/d;x");
        assert_eq!((url.query.as_str(), url.fragment.as_str()), ("q=1", "f"));
        assert_eq!(url.port().unwrap(), Some(1));
        let url = PyUrl::parse("h:1/x").unwrap();
        assert_eq!(url.scheme, "h");
        let url = PyUrl::parse("//h/p;params").unwrap();
        assert_eq!((url.netloc.as_str(), url.path.as_str()), ("h", "/p"));
        let url = PyUrl::parse("mysql://h:/db").unwrap();
        assert_eq!(url.port().unwrap(), None);
        let url = PyUrl::parse("mysql://[FE80::1%25Eth0]/db").unwrap();
        assert_eq!(url.hostname().as_deref(), Some("fe80::1%25Eth0"));
    }
}
