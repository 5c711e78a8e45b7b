//! Nova's own configuration: `nova.conf` read the way oslo.config reads it,
//! and the SQLAlchemy URLs in it turned into nova-purge database URLs.
//!
//! # Files
//!
//! [`load`] applies `--config-file PATH` and `--config-dir DIR` sources in
//! the order given. A value in a later file overrides the same option in an
//! earlier file, and within one file the last assignment wins (oslo.config's
//! rules). A directory contributes its `*.conf` files in name order (dot
//! files excluded, as by oslo.config's `glob`). A missing file or directory
//! is an error, as it is for `nova-manage --config-file`.
//!
//! The INI dialect is oslo.config's own (`oslo_config/iniparser.py`), which
//! differs from Python's `configparser`:
//!
//! - `[section]` lines. Section names match case-insensitively (`[Database]`
//!   is `[database]`), except `DEFAULT`, which must be written in capitals.
//! - `key = value` or `key: value`, split at whichever of `=` and `:` comes
//!   first. Keys are case-sensitive. Spaces around key and value are removed,
//!   and a value wholly inside matching quotes (`"..."` or `'...'`) loses them.
//! - Lines starting with `#` or `;` are comments. There are no end-of-line
//!   comments: `connection = mysql://... # old` keeps the `# old`.
//! - A line starting with a space or a tab continues the previous value (the
//!   parts are joined with a newline); a blank line ends it.
//! - An option before the first section is an error.
//!
//! # Values: `$` substitution
//!
//! oslo.config treats every string value as a template: `$$` (or `\$`) is a
//! literal `$`, `$name` or `${name}` is the value of option `name` of the same
//! section (or else of `[DEFAULT]`), `${section.name}` that of another
//! section, and a `$` not followed by a name is kept as it is. nova-purge
//! does the same, but it only knows the options that are *set* (in the files
//! or the environment), not the defaults Nova registers in code: a reference
//! to an option that is not set (such as Nova's default
//! `sqlite:///$state_path/nova.sqlite` without a `state_path` line) is an
//! error rather than a guess. The error does not name the reference, as it
//! may be part of a password.
//!
//! # Environment
//!
//! oslo.config's environment source applies: `OS_<SECTION>__<KEY>` (for
//! example `OS_DATABASE__CONNECTION`) overrides the files. [`load`] reads
//! the process environment; [`load_with_env`] takes it as an argument.
//!
//! # URLs
//!
//! `[database]/connection` (with the deprecated `[DEFAULT] sql_connection`,
//! `[database] sql_connection` and `[sql] connection` names that oslo.db
//! still reads) and `[api_database]/connection` hold SQLAlchemy URLs.
//! [`sqlalchemy_to_database_url`] parses them exactly as SQLAlchemy 2.0 does
//! (a password may hold `/`, `?`, `#` and `:` unescaped; user name and
//! password are percent-decoded, the database name is not) and writes a URL
//! in the form [`DatabaseUrl`] and sqlx accept,
//! re-encoding every component so that sqlx decodes it back to the same
//! text. The `connection_parameters` option of the same section, if set, is
//! appended to the query as oslo.db does.
//!
//! Query options are the driver's keyword arguments; each is either
//! translated for sqlx or dropped and reported in
//! [`ConvertedUrl::dropped`]:
//!
//! | MySQL / MariaDB (PyMySQL, MySQLdb) | nova-purge |
//! | --- | --- |
//! | `user`, `passwd`/`password`, `host`, `port`, `db`/`database` | replace the URL's own (SQLAlchemy gives the query precedence) |
//! | `unix_socket` | `socket` (host `localhost`) |
//! | `charset=utf8mb4` | kept |
//! | `charset=utf8`/`utf8mb3`/other, `collation` | dropped: sqlx always talks utf8mb4, a superset that reads Nova's utf8 (utf8mb3) tables unchanged; sqlx 0.8 would refuse `utf8mb3` and mis-decode `latin1` |
//! | `ssl_ca`, `ssl_cert`, `ssl_key` | `ssl-ca`, `ssl-cert`, `ssl-key` |
//! | `ssl_mode` (MySQLdb) | `ssl-mode` |
//! | any `ssl*` option, without `ssl_mode` | `ssl-mode` as PyMySQL behaves: `VERIFY_IDENTITY` with a CA (`VERIFY_CA` if `ssl_check_hostname=false`), else `REQUIRED`. TLS asked for is never silently dropped. `ssl_capath`, `ssl_cipher` and the like are themselves dropped (sqlx has no such settings). |
//! | `read_default_file`, `read_default_group` | dropped, reported: settings in MySQL option files are not read |
//! | sqlx's own `ssl-mode`, `ssl-ca`, `ssl-cert`, `ssl-key`, `socket` (a nova-purge URL) | kept |
//! | `plugin` (SQLAlchemy engine plugins), timeouts, everything else | dropped |
//!
//! | PostgreSQL (psycopg2, libpq keywords) | nova-purge |
//! | --- | --- |
//! | `user`, `password`, `port`, `dbname` | replace the URL's own |
//! | `host=/socket/dir` | the socket directory, percent-encoded as the host (sqlx connects to the Unix socket) |
//! | `host=name[:port]` | the host (and port) |
//! | `sslmode`, `sslrootcert`, `sslcert`, `sslkey`, `application_name`, `options` | kept, same meaning in sqlx |
//! | sqlx's own `ssl-mode`, `ssl-root-cert`/`ssl-ca`, `ssl-cert`, `ssl-key` (a nova-purge URL) | kept, under libpq's names |
//! | `connect_timeout`, `client_encoding`, `passfile`, `service`, `plugin`, everything else | dropped |
//!
//! SQLite: `sqlite:///relative/path` becomes `sqlite://relative/path`,
//! `sqlite:////absolute/path` becomes `sqlite:///absolute/path`; in-memory
//! databases, `uri=true` file names and pysqlcipher are errors; driver
//! options (`timeout`, `check_same_thread`, ...) are dropped. Other dialects
//! (oracle, mssql, ...) are errors.
//!
//! # Cell templates
//!
//! [`fill_template`] fills a cell mapping's `database_connection` template
//! from the local `[database]/connection` exactly as Nova's
//! `CellMapping.format_db_url` does; see its documentation.
//!
//! # Secrets
//!
//! No error message of this module repeats a value from the configuration:
//! messages name the file, section and key, and say what is wrong. Values
//! are shown only through [`ConvertedUrl::redacted`], with the password
//! replaced by `***`.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::fs;
use std::net::Ipv6Addr;
use std::path::{Path, PathBuf};

use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use url::Url;

use crate::database::url::DatabaseUrl;
use crate::error::Error;

/// Where Nova keeps its configuration; see [`default_config_file`].
pub const DEFAULT_CONFIG_FILE: &str = "/etc/nova/nova.conf";

/// Everything but ASCII letters, digits and `-._~` is percent-encoded in the
/// URLs written for sqlx, which percent-decodes user name, password and
/// database name: what it decodes is then exactly what SQLAlchemy had.
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// How deep `$name` references may refer to further references.
const MAX_SUBSTITUTION_DEPTH: usize = 16;

/// The names oslo.db reads `[database]/connection` under, in its order.
const DATABASE_CONNECTION_NAMES: &[(&str, &str)] = &[
    ("database", "connection"),
    ("DEFAULT", "sql_connection"),
    ("database", "sql_connection"),
    ("sql", "connection"),
];

/// One `--config-file` or `--config-dir` option, in command-line order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigSource {
    /// `--config-file PATH`: one file.
    File(PathBuf),
    /// `--config-dir DIR`: the directory's `*.conf` files, in name order.
    Dir(PathBuf),
}

/// `/etc/nova/nova.conf` when it exists (as a file), for use when no
/// `--config-file` or `--config-dir` was given.
pub fn default_config_file() -> Option<PathBuf> {
    let path = Path::new(DEFAULT_CONFIG_FILE);
    path.is_file().then(|| path.to_path_buf())
}

/// Reads the sources in order, plus the `OS_<SECTION>__<KEY>` variables of
/// the process environment. Errors (unreadable file or directory, a line
/// the INI parser refuses) are [`Error::Input`] naming the file and line.
pub fn load(sources: &[ConfigSource]) -> Result<NovaConfig, Error> {
    let env = std::env::vars_os()
        .filter_map(|(name, value)| Some((name.into_string().ok()?, value.into_string().ok()?)));
    load_with_env(sources, env)
}

/// [`load`] with the environment given: pairs of variable name and value;
/// only `OS_*` names are kept.
pub fn load_with_env(
    sources: &[ConfigSource],
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<NovaConfig, Error> {
    let mut files = Vec::new();
    for source in sources {
        match source {
            ConfigSource::File(path) => files.push(read_config_file(&expand_home(path))?),
            ConfigSource::Dir(dir) => {
                for path in conf_files_in(&expand_home(dir))? {
                    files.push(read_config_file(&path)?);
                }
            }
        }
    }
    let env = env
        .into_iter()
        .filter(|(name, _)| name.starts_with("OS_"))
        .collect();
    Ok(NovaConfig { files, env })
}

/// Where a value was set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// A configuration file.
    File(PathBuf),
    /// An environment variable, by name (`OS_DATABASE__CONNECTION`).
    Environment(String),
}

/// One option's value, after `$` substitution, and where it was set. Its
/// `Debug` output hides the value: connection strings hold passwords.
#[derive(Clone, PartialEq, Eq)]
pub struct ConfigValue {
    value: String,
    origin: Origin,
    section: String,
    key: String,
}

impl ConfigValue {
    /// The value, `$` references substituted. May hold a password.
    pub fn value(&self) -> &str {
        &self.value
    }

    pub fn origin(&self) -> &Origin {
        &self.origin
    }

    /// The file that set the value, unless it came from the environment.
    pub fn file(&self) -> Option<&Path> {
        match &self.origin {
            Origin::File(path) => Some(path),
            Origin::Environment(_) => None,
        }
    }

    /// The section the value was found in, normalized (lower case except
    /// `DEFAULT`); for a deprecated name, the deprecated section.
    pub fn section(&self) -> &str {
        &self.section
    }

    /// The key the value was found under (`connection`, or a deprecated name).
    pub fn key(&self) -> &str {
        &self.key
    }

    /// For messages: `/etc/nova/nova.conf: [database] connection`, or
    /// `environment variable OS_DATABASE__CONNECTION`.
    pub fn location(&self) -> String {
        match &self.origin {
            Origin::File(path) => format!("{}: [{}] {}", path.display(), self.section, self.key),
            Origin::Environment(name) => format!("environment variable {name}"),
        }
    }
}

impl fmt::Debug for ConfigValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConfigValue")
            .field("location", &self.location())
            .field("value", &"<hidden>")
            .finish()
    }
}

/// Nova's configuration as read from its files and the environment.
pub struct NovaConfig {
    /// In the order read: later files win.
    files: Vec<ConfigFile>,
    /// `OS_*` environment variables.
    env: HashMap<String, String>,
}

impl fmt::Debug for NovaConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NovaConfig")
            .field("files", &self.files())
            .finish_non_exhaustive()
    }
}

/// A parsed file: its assignments in file order.
struct ConfigFile {
    path: PathBuf,
    assignments: Vec<Assignment>,
}

struct Assignment {
    /// Normalized: lower case, except `DEFAULT`.
    section: String,
    key: String,
    value: String,
}

/// A value before substitution, and where it was found.
struct RawValue<'a> {
    value: &'a str,
    origin: Origin,
    section: String,
    key: String,
}

impl NovaConfig {
    /// The files read, in order.
    pub fn files(&self) -> Vec<&Path> {
        self.files.iter().map(|file| file.path.as_path()).collect()
    }

    /// Any option: `section` as written in the file (`database`, `DEFAULT`),
    /// `key` case-sensitive. `None` when it is set nowhere. Errors only for
    /// a `$` reference that cannot be resolved.
    pub fn get(&self, section: &str, key: &str) -> Result<Option<ConfigValue>, Error> {
        self.lookup_substituted(&[(section, key)])
    }

    /// `[database]/connection`, the local cell database, also under the
    /// deprecated names oslo.db reads.
    pub fn database_connection(&self) -> Result<Option<ConfigValue>, Error> {
        self.lookup_substituted(DATABASE_CONNECTION_NAMES)
    }

    /// `[api_database]/connection`, the API database.
    pub fn api_database_connection(&self) -> Result<Option<ConfigValue>, Error> {
        self.lookup_substituted(&[("api_database", "connection")])
    }

    /// `[database]/connection` (plus `[database]/connection_parameters`)
    /// converted to a nova-purge URL. Errors when it is not set or cannot be
    /// converted; messages name the file, section and key.
    pub fn database_url(&self) -> Result<ConvertedUrl, Error> {
        let connection = self
            .database_connection()?
            .ok_or_else(|| self.missing("database"))?;
        self.convert(&connection, "database")
    }

    /// `[api_database]/connection` (plus `[api_database]/connection_parameters`)
    /// converted to a nova-purge URL.
    pub fn api_database_url(&self) -> Result<ConvertedUrl, Error> {
        let connection = self
            .api_database_connection()?
            .ok_or_else(|| self.missing("api_database"))?;
        self.convert(&connection, "api_database")
    }

    /// A cell's `cell_mappings.database_connection` converted to a
    /// nova-purge URL, as Nova connects to it: a template is filled from
    /// `[database]/connection` ([`fill_template`]), and
    /// `[database]/connection_parameters` applies to cell databases too.
    /// `cell` names the cell in messages (its name or uuid).
    ///
    /// Like Nova, a value that contains `{` but is not a valid template is
    /// used as it is when it converts (a password may contain braces); the
    /// result then carries a note saying so.
    pub fn cell_database_url(
        &self,
        cell: &str,
        database_connection: &str,
    ) -> Result<ConvertedUrl, Error> {
        let parameters = self.get("database", "connection_parameters")?;
        let extra = parameters.as_ref().map_or("", ConfigValue::value);
        let local = self.database_connection()?;
        if database_connection.contains('{') && local.is_none() {
            return Err(Error::Input(format!(
                "cell {cell}: database_connection is a template, but no [database] connection is set to fill it from ({})",
                self.files_read()
            )));
        }
        let location = local.as_ref().map(ConfigValue::location);
        let local = local
            .as_ref()
            .zip(location.as_deref())
            .map(|(value, location)| (value.value(), location));
        cell_url(cell, database_connection, local, extra)
    }

    /// The `connection_parameters` of `[database]`, which Nova appends to
    /// every cell database's URL too ("" when unset).
    pub fn connection_parameters(&self) -> Result<String, Error> {
        Ok(self
            .get("database", "connection_parameters")?
            .map_or_else(String::new, |value| value.value().to_owned()))
    }

    fn convert(&self, connection: &ConfigValue, section: &str) -> Result<ConvertedUrl, Error> {
        let location = connection.location();
        let parameters = self.get(section, "connection_parameters")?;
        let extra = parameters.as_ref().map_or("", ConfigValue::value);
        convert_url(connection.value(), extra)
            .map(|url| url.with_source(location.clone()))
            .map_err(|reason| Error::Input(format!("{location}: {reason}")))
    }

    /// "no [api_database] connection in /a.conf or /b.conf"
    fn missing(&self, section: &str) -> Error {
        let variable = format!("OS_{}__CONNECTION", section.to_uppercase());
        if self.files.is_empty() {
            return Error::Input(format!(
                "no [{section}] connection: no Nova configuration file was read \
                 (give --config-file) and {variable} is not set"
            ));
        }
        Error::Input(format!(
            "no [{section}] connection in {}",
            self.files_read()
        ))
    }

    /// "/a.conf, /b.conf or /c.conf"
    fn files_read(&self) -> String {
        let names: Vec<String> = self
            .files
            .iter()
            .map(|file| file.path.display().to_string())
            .collect();
        match names.as_slice() {
            [] => "no configuration file was read".to_owned(),
            [one] => one.clone(),
            [init @ .., last] => format!("{} or {last}", init.join(", ")),
        }
    }

    fn lookup_substituted(&self, names: &[(&str, &str)]) -> Result<Option<ConfigValue>, Error> {
        let Some(raw) = self.lookup_raw(names) else {
            return Ok(None);
        };
        let mut value = ConfigValue {
            value: String::new(),
            origin: raw.origin,
            section: raw.section,
            key: raw.key,
        };
        // oslo.config substitutes in the context of the option's own group,
        // whatever (deprecated) name the value was found under.
        let group = normalize_section(names[0].0);
        value.value = self
            .substitute(raw.value, &group, 0)
            .map_err(|reason| Error::Input(format!("{}: {reason}", value.location())))?;
        Ok(Some(value))
    }

    /// oslo.config's lookup: the environment variable of the first name,
    /// then the files from the last read to the first, trying every name in
    /// each file, the last assignment in a file winning.
    fn lookup_raw(&self, names: &[(&str, &str)]) -> Option<RawValue<'_>> {
        let (section, key) = *names.first()?;
        let section = normalize_section(section);
        let variable = format!("OS_{}__{}", section.to_uppercase(), key.to_uppercase());
        if let Some(value) = self.env.get(&variable) {
            return Some(RawValue {
                value,
                origin: Origin::Environment(variable),
                section,
                key: key.to_owned(),
            });
        }
        for file in self.files.iter().rev() {
            for &(section, key) in names {
                let section = normalize_section(section);
                if let Some(assignment) = file
                    .assignments
                    .iter()
                    .rev()
                    .find(|a| a.section == section && a.key == key)
                {
                    return Some(RawValue {
                        value: &assignment.value,
                        origin: Origin::File(file.path.clone()),
                        section,
                        key: key.to_owned(),
                    });
                }
            }
        }
        None
    }

    /// oslo.config's `string.Template.safe_substitute` with its
    /// `[_a-z][._a-z0-9]*` names. Errors never name the reference.
    fn substitute(&self, value: &str, group: &str, depth: usize) -> Result<String, &'static str> {
        if depth > MAX_SUBSTITUTION_DEPTH {
            return Err("its `$` references refer to each other in a loop");
        }
        if !value.contains('$') {
            return Ok(value.to_owned());
        }
        // oslo.config reads `\$` as `$$`.
        let value = value.replace("\\$", "$$");
        let mut out = String::with_capacity(value.len());
        let mut rest = value.as_str();
        while let Some(at) = rest.find('$') {
            out.push_str(&rest[..at]);
            let after = &rest[at + 1..];
            if let Some(tail) = after.strip_prefix('$') {
                out.push('$');
                rest = tail;
            } else if let Some(len) = identifier_len(after) {
                out.push_str(&self.resolve(&after[..len], group, depth)?);
                rest = &after[len..];
            } else if let Some((name, tail)) = after
                .strip_prefix('{')
                .and_then(|inner| identifier_len(inner).map(|len| inner.split_at(len)))
                .and_then(|(name, tail)| Some((name, tail.strip_prefix('}')?)))
            {
                out.push_str(&self.resolve(name, group, depth)?);
                rest = tail;
            } else {
                // Not a reference: kept as it is.
                out.push('$');
                rest = after;
            }
        }
        out.push_str(rest);
        Ok(out)
    }

    /// oslo.config's `StrSubWrapper`: `group.option` or `option` of the
    /// current group, else the whole name in `[DEFAULT]`.
    fn resolve(&self, name: &str, group: &str, depth: usize) -> Result<String, &'static str> {
        let found = match name.split_once('.') {
            Some((section, option)) => self.lookup_raw(&[(section, option)]),
            None => self.lookup_raw(&[(group, name)]),
        }
        .or_else(|| self.lookup_raw(&[("DEFAULT", name)]));
        let Some(raw) = found else {
            return Err(
                "it refers with `$` to an option that is not set in the configuration \
                 (nova-purge does not know Nova's defaults; set that option, or write `$$` \
                 for a literal `$`)",
            );
        };
        self.substitute(raw.value, &raw.section, depth + 1)
    }
}

/// The length of a `[_a-zA-Z][._a-zA-Z0-9]*` name at the start of `text`.
fn identifier_len(text: &str) -> Option<usize> {
    let first = text.chars().next()?;
    if !(first == '_' || first.is_ascii_alphabetic()) {
        return None;
    }
    Some(
        text.find(|c: char| !(c == '_' || c == '.' || c.is_ascii_alphanumeric()))
            .unwrap_or(text.len()),
    )
}

/// oslo.config compares section names in lower case, except `DEFAULT`.
fn normalize_section(section: &str) -> String {
    if section == "DEFAULT" {
        section.to_owned()
    } else {
        section.to_lowercase()
    }
}

/// `~` and `~/...` from `$HOME`, as oslo.config's `_fixpath` does.
fn expand_home(path: &Path) -> PathBuf {
    let Ok(rest) = path.strip_prefix("~") else {
        return path.to_path_buf();
    };
    match std::env::var_os("HOME") {
        Some(home) if !home.is_empty() => PathBuf::from(home).join(rest),
        _ => path.to_path_buf(),
    }
}

fn read_config_file(path: &Path) -> Result<ConfigFile, Error> {
    let bytes = fs::read(path)
        .map_err(|err| Error::Input(format!("cannot read {}: {err}", path.display())))?;
    let text = String::from_utf8(bytes).map_err(|_| {
        Error::Input(format!(
            "cannot read {}: it is not UTF-8 text",
            path.display()
        ))
    })?;
    let assignments = parse_ini(&text).map_err(|err| {
        Error::Input(format!(
            "{}: line {}: {}",
            path.display(),
            err.line,
            err.message
        ))
    })?;
    Ok(ConfigFile {
        path: path.to_path_buf(),
        assignments,
    })
}

/// The `*.conf` files of a directory, in name order, without dot files.
fn conf_files_in(dir: &Path) -> Result<Vec<PathBuf>, Error> {
    let cannot = |err: std::io::Error| {
        Error::Input(format!(
            "cannot read the configuration directory {}: {err}",
            dir.display()
        ))
    };
    let mut paths = Vec::new();
    for entry in fs::read_dir(dir).map_err(cannot)? {
        let entry = entry.map_err(cannot)?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.ends_with(".conf") && !name.starts_with('.') {
            paths.push(entry.path());
        }
    }
    paths.sort();
    Ok(paths)
}

/// A line the INI parser refuses. The message never quotes the line.
#[derive(Debug, Clone, PartialEq, Eq)]
struct IniError {
    line: usize,
    message: &'static str,
}

/// Python's `str.isspace`, which oslo.config's `strip` calls use.
fn is_space(c: char) -> bool {
    c.is_whitespace() || ('\x1c'..='\x1f').contains(&c)
}

/// Lines as Python's universal newlines split them: `\n`, `\r\n` or `\r`.
fn lines(text: &str) -> impl Iterator<Item = &str> {
    text.split('\n')
        .flat_map(|line| line.strip_suffix('\r').unwrap_or(line).split('\r'))
}

/// oslo.config's `BaseParser.parse` and `ConfigParser.assignment`.
fn parse_ini(text: &str) -> Result<Vec<Assignment>, IniError> {
    struct Pending {
        key: String,
        parts: Vec<String>,
        line: usize,
    }
    fn flush(
        pending: &mut Option<Pending>,
        section: &Option<String>,
        out: &mut Vec<Assignment>,
    ) -> Result<(), IniError> {
        let Some(done) = pending.take() else {
            return Ok(());
        };
        let Some(section) = section else {
            return Err(IniError {
                line: done.line,
                message: "an option before the first [section]",
            });
        };
        out.push(Assignment {
            section: normalize_section(section),
            key: done.key,
            value: done.parts.join("\n"),
        });
        Ok(())
    }

    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut out = Vec::new();
    let mut section: Option<String> = None;
    let mut pending: Option<Pending> = None;
    for (index, line) in lines(text).enumerate() {
        let number = index + 1;
        let error = |message| IniError {
            line: number,
            message,
        };
        let line = line.trim_end_matches(is_space);
        if line.is_empty() {
            // A blank line ends a multi-line value.
            flush(&mut pending, &section, &mut out)?;
            continue;
        }
        if line.starts_with([' ', '\t']) {
            match pending.as_mut() {
                Some(pending) => pending
                    .parts
                    .push(line.trim_start_matches(is_space).to_owned()),
                None => return Err(error(
                    "a continuation line (it starts with a space or tab) that follows no option",
                )),
            }
            continue;
        }
        flush(&mut pending, &section, &mut out)?;
        if line.starts_with('[') {
            if !line.ends_with(']') {
                return Err(error("a section line must end with `]`"));
            }
            if line.chars().count() <= 2 {
                return Err(error("an empty section name"));
            }
            section = Some(line[1..line.len() - 1].to_owned());
        } else if line.starts_with(['#', ';']) {
            // A comment.
        } else {
            let (key, value) =
                split_key_value(line).ok_or_else(|| error("neither `=` nor `:` in this line"))?;
            if key.is_empty() {
                return Err(error("an option with no name before its `=` or `:`"));
            }
            pending = Some(Pending {
                key: key.to_owned(),
                parts: vec![value.to_owned()],
                line: number,
            });
        }
    }
    flush(&mut pending, &section, &mut out)?;
    Ok(out)
}

/// oslo.config's `_split_key_value`: at the first `=` or `:`, whichever
/// comes first; surrounding spaces and one pair of matching quotes removed.
fn split_key_value(line: &str) -> Option<(&str, &str)> {
    let at = match (line.find(':'), line.find('=')) {
        (None, None) => return None,
        (Some(colon), Some(equal)) => colon.min(equal),
        (Some(at), None) | (None, Some(at)) => at,
    };
    let key = line[..at].trim_matches(is_space);
    let mut value = line[at + 1..].trim_matches(is_space);
    if let Some(quote @ ('"' | '\'')) = value.chars().next() {
        if value.ends_with(quote) {
            value = if value.len() == 1 {
                ""
            } else {
                &value[1..value.len() - 1]
            };
        }
    }
    Some((key, value))
}

// ---------------------------------------------------------------------------
// SQLAlchemy URLs
// ---------------------------------------------------------------------------

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
    /// when it came from a [`NovaConfig`].
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

    fn with_source(mut self, source: String) -> ConvertedUrl {
        self.source = Some(source);
        self
    }

    fn with_note(mut self, note: String) -> ConvertedUrl {
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

/// A cell's `cell_mappings.database_connection` converted to a nova-purge
/// URL, as Nova connects to it: a template is filled from `local` (the
/// local cell connection and where it was set, for messages) with
/// [`fill_template`], and `extra` (`[database]/connection_parameters`) is
/// appended. `cell` names the cell in messages (its name or uuid).
///
/// Like Nova, a value that contains `{` but is not a valid template is used
/// as it is when it converts (a password may contain braces); the result
/// then carries a note saying so.
pub fn cell_url(
    cell: &str,
    database_connection: &str,
    local: Option<(&str, &str)>,
    extra: &str,
) -> Result<ConvertedUrl, Error> {
    let label = format!("cell {cell}: database_connection");
    let converted = |value: &str, label: &str| {
        convert_url(value, extra)
            .map(|url| url.with_source(label.to_owned()))
            .map_err(|reason| Error::Input(format!("{label}: {reason}")))
    };
    if !database_connection.contains('{') {
        return converted(database_connection, &label);
    }
    let Some((local, location)) = local else {
        return Err(Error::Input(format!(
            "{label} is a template; give the local cell connection (--database-url or [database]/connection) to fill it"
        )));
    };
    match fill_template(database_connection, local) {
        Ok(filled) => converted(
            &filled,
            &format!("{label} (a template filled from {location})"),
        ),
        Err(template_error) => match convert_url(database_connection, extra) {
            Ok(url) => Ok(url.with_source(label).with_note(format!(
                "database_connection is not a valid template ({template_error}); \
                 used as it is, as Nova does"
            ))),
            Err(_) => Err(Error::Input(format!(
                "{label}: cannot fill the template from {location}: {template_error}"
            ))),
        },
    }
}

/// Converts a SQLAlchemy URL (`mysql+pymysql://...`, `postgresql+psycopg2://...`,
/// `sqlite:////path`) into a nova-purge URL (`mysql://`, `postgresql://`,
/// `sqlite://PATH`); see the [module documentation](self) for each query
/// option. The error is one phrase that never repeats the value.
pub fn sqlalchemy_to_database_url(value: &str) -> Result<ConvertedUrl, String> {
    convert_url(value, "")
}

const CANNOT_PARSE: &str =
    "cannot parse the URL (expected DIALECT[+DRIVER]://USER:PASSWORD@HOST[:PORT]/DATABASE[?OPTIONS])";

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

fn convert_url(value: &str, extra_query: &str) -> Result<ConvertedUrl, String> {
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

/// A URL split as SQLAlchemy 2.0's `_parse_url` regular expression splits
/// it; every part still as written (not percent-decoded).
#[derive(Debug, Default, PartialEq, Eq)]
struct SqlaUrl<'a> {
    name: &'a str,
    username: Option<&'a str>,
    password: Option<&'a str>,
    /// Without the brackets of an IPv6 address.
    host: Option<&'a str>,
    ipv6: bool,
    port: Option<&'a str>,
    database: Option<&'a str>,
    query: Option<&'a str>,
}

impl<'a> SqlaUrl<'a> {
    /// Follows
    /// `(?P<name>[\w\+]+)://(?:(?P<username>[^:/]*)(?::(?P<password>[^@]*))?@)?`
    /// `(?:(?:\[(?P<ipv6host>[^/\?]+)\]|(?P<ipv4host>[^/:\?]+))?(?::(?P<port>[^/\?]*))?)?`
    /// `(?:/(?P<database>[^\?]*))?(?:\?(?P<query>.*))?`, including its
    /// backtracking; text the expression would leave unmatched is an error.
    fn parse(text: &'a str) -> Result<SqlaUrl<'a>, String> {
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
fn parse_qsl(query: &str) -> Vec<(String, String)> {
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
fn parse_bool(text: &str) -> Option<bool> {
    match text.trim().to_ascii_lowercase().as_str() {
        "true" | "yes" | "on" | "y" | "t" | "1" => Some(true),
        "false" | "no" | "off" | "n" | "f" | "0" => Some(false),
        _ => None,
    }
}

fn parse_port(text: &str) -> Result<u16, String> {
    text.trim()
        .parse::<u16>()
        .ok()
        .filter(|port| *port > 0 && text.trim().bytes().all(|b| b.is_ascii_digit()))
        .ok_or_else(|| "the port is not a number from 1 to 65535".to_owned())
}

/// Percent-decodes a user name or password as Python's `unquote` does,
/// refusing what would not be UTF-8 (sqlx could not use it either).
fn unquote(raw: &str, what: &str) -> Result<String, String> {
    percent_decode_str(raw)
        .decode_utf8()
        .map(Cow::into_owned)
        .map_err(|_| format!("the {what} is not valid UTF-8 once its %-escapes are decoded"))
}

const DROP_UTF8: &str = "nova-purge always talks utf8mb4, a superset of utf8 (utf8mb3) \
that reads Nova's tables unchanged";
const DROP_CHARSET: &str = "nova-purge always talks utf8mb4; Nova's tables are utf8";
const DROP_COLLATION: &str = "follows nova-purge's utf8mb4 connection character set";
const DROP_OPTION_FILE: &str = "nova-purge does not read MySQL option files; \
put the user, password, host and TLS settings in the URL";
const DROP_PLUGIN: &str = "a SQLAlchemy engine plugin, not a connection setting";
const DROP_TIMEOUT: &str = "nova-purge has its own timeouts";
const DROP_TLS: &str = "a TLS setting sqlx does not have (TLS is still required)";
const DROP_UNUSED: &str = "not a setting nova-purge uses";
const DROP_ENCODING: &str = "sqlx always talks UTF8";
const DROP_PASSFILE: &str = "sqlx reads ~/.pgpass or $PGPASSFILE itself";
const DROP_SQLITE: &str = "an SQLite driver setting nova-purge does not use";

/// A host in the URL written for sqlx.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Host {
    Name(String),
    Ipv6(String),
    /// A PostgreSQL socket directory.
    Socket(String),
}

/// The parts of the URL written for sqlx, decoded.
struct Target {
    scheme: &'static str,
    username: Option<String>,
    password: Option<String>,
    host: Option<Host>,
    port: Option<u16>,
    database: Option<String>,
    query: Vec<(&'static str, String)>,
    dropped: Vec<DroppedOption>,
    notes: Vec<String>,
}

impl Target {
    fn new(scheme: &'static str, url: &SqlaUrl<'_>) -> Result<Target, String> {
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

    fn drop_option(&mut self, key: &str, reason: &'static str) {
        self.dropped.push(DroppedOption {
            key: key.to_owned(),
            reason,
        });
    }

    /// `name`, `name:port` or `[v6]:port` from a `host=` option.
    fn set_host_and_port(&mut self, value: &str) -> Result<(), String> {
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

    fn require_database(&self) -> Result<(), String> {
        match &self.database {
            Some(database) if !database.is_empty() => Ok(()),
            _ => Err("the URL names no database".to_owned()),
        }
    }

    /// Writes the URL, and checks that the url crate (which sqlx uses) reads
    /// every part back as it was.
    fn build(self) -> Result<ConvertedUrl, String> {
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

fn convert_mysql(url: &SqlaUrl<'_>, query: Vec<(String, String)>) -> Result<ConvertedUrl, String> {
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

fn convert_postgres(
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

fn convert_sqlite(
    url: &SqlaUrl<'_>,
    driver: Option<&str>,
    query: Vec<(String, String)>,
) -> Result<ConvertedUrl, String> {
    if driver == Some("pysqlcipher") {
        return Err("encrypted SQLite databases (pysqlcipher) are not supported".to_owned());
    }
    if url.username.is_some() || url.password.is_some() || url.host.is_some() || url.port.is_some()
    {
        return Err(
            "an SQLite URL names no host or user: write sqlite:///relative/path or \
             sqlite:////absolute/path"
                .to_owned(),
        );
    }
    let path = match url.database {
        None | Some("") | Some(":memory:") => {
            return Err(
                "an in-memory SQLite database holds no Nova data; name the database file"
                    .to_owned(),
            )
        }
        Some(path) => path,
    };
    let mut dropped = Vec::new();
    for (key, value) in query {
        if key == "uri" && parse_bool(&value) == Some(true) {
            return Err(
                "SQLite URI file names (uri=true) are not supported; give the file's path"
                    .to_owned(),
            );
        }
        dropped.push(DroppedOption {
            key,
            reason: DROP_SQLITE,
        });
    }
    let mut notes = Vec::new();
    if !path.starts_with('/') {
        notes
            .push("the SQLite path is relative: it is taken from the current directory".to_owned());
    }
    let url = format!("sqlite://{path}");
    Ok(ConvertedUrl {
        redacted: url.clone(),
        url,
        dropped,
        notes,
        source: None,
    })
}

// ---------------------------------------------------------------------------
// Cell database_connection templates
// ---------------------------------------------------------------------------

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
    use std::str::FromStr;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use sqlx::mysql::{MySqlConnectOptions, MySqlSslMode};
    use sqlx::postgres::{PgConnectOptions, PgSslMode};

    /// A directory under the system's temporary directory, removed on drop.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new() -> TempDir {
            static NEXT: AtomicUsize = AtomicUsize::new(0);
            let path = std::env::temp_dir().join(format!(
                "nova-purge-config-unit-{}-{}",
                std::process::id(),
                NEXT.fetch_add(1, Ordering::Relaxed)
            ));
            fs::create_dir_all(&path).unwrap();
            TempDir(path)
        }

        fn write(&self, name: &str, text: &str) -> PathBuf {
            let path = self.0.join(name);
            fs::write(&path, text).unwrap();
            path
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    fn parse(text: &str) -> Vec<(String, String, String)> {
        parse_ini(text)
            .unwrap()
            .into_iter()
            .map(|a| (a.section, a.key, a.value))
            .collect()
    }

    fn triple(section: &str, key: &str, value: &str) -> (String, String, String) {
        (section.to_owned(), key.to_owned(), value.to_owned())
    }

    fn conf(texts: &[&str]) -> (TempDir, NovaConfig) {
        let dir = TempDir::new();
        let sources: Vec<ConfigSource> = texts
            .iter()
            .enumerate()
            .map(|(i, text)| ConfigSource::File(dir.write(&format!("{i}.conf"), text)))
            .collect();
        let config = load_with_env(&sources, []).unwrap();
        (dir, config)
    }

    fn value(config: &NovaConfig, section: &str, key: &str) -> Option<String> {
        config
            .get(section, key)
            .unwrap()
            .map(|v| v.value().to_owned())
    }

    fn usage(result: Result<impl fmt::Debug, Error>) -> String {
        match result {
            Err(Error::Input(message)) => message,
            other => panic!("expected a usage error, got {other:?}"),
        }
    }

    fn convert(value: &str) -> ConvertedUrl {
        sqlalchemy_to_database_url(value).unwrap_or_else(|e| panic!("{value}: {e}"))
    }

    fn convert_err(value: &str) -> String {
        match sqlalchemy_to_database_url(value) {
            Err(message) => message,
            Ok(url) => panic!("{value}: expected an error, got {url:?}"),
        }
    }

    fn dropped_keys(url: &ConvertedUrl) -> Vec<&str> {
        url.dropped().iter().map(|d| d.key.as_str()).collect()
    }

    /// The password as sqlx reads it: percent-decoded from the url crate's
    /// parse, as sqlx-mysql and sqlx-postgres 0.8 do.
    fn sqlx_password(url: &str) -> Option<String> {
        let parsed = Url::parse(url).unwrap();
        parsed
            .password()
            .map(|p| percent_decode_str(p).decode_utf8().unwrap().into_owned())
    }

    // --- INI dialect -------------------------------------------------------

    #[test]
    fn sections_keys_and_both_separators() {
        let text = "[DEFAULT]\nstate_path = /var/lib/nova\n\n[database]\nconnection: sqlite:////x\nmax_pool_size=5\n";
        assert_eq!(
            parse(text),
            vec![
                triple("DEFAULT", "state_path", "/var/lib/nova"),
                triple("database", "connection", "sqlite:////x"),
                triple("database", "max_pool_size", "5"),
            ]
        );
    }

    #[test]
    fn the_first_of_equals_and_colon_splits() {
        assert_eq!(
            parse("[d]\nconnection = mysql://u:p@h/db\na:b = c\n"),
            vec![
                triple("d", "connection", "mysql://u:p@h/db"),
                triple("d", "a", "b = c"),
            ]
        );
    }

    #[test]
    fn matching_quotes_are_removed_once() {
        assert_eq!(
            parse("[d]\na = \"x y\"\nb = 'z'\nc = \"unbalanced'\nd = \"\ne = \"\"x\"\"\n"),
            vec![
                triple("d", "a", "x y"),
                triple("d", "b", "z"),
                triple("d", "c", "\"unbalanced'"),
                triple("d", "d", ""),
                triple("d", "e", "\"x\""),
            ]
        );
    }

    #[test]
    fn comments_are_whole_lines_only() {
        assert_eq!(
            parse("# top\n; also\n[d]\n# k = v\na = 1 # not a comment\n"),
            vec![triple("d", "a", "1 # not a comment")]
        );
    }

    #[test]
    fn continuation_lines_join_with_newlines_until_a_blank_line() {
        assert_eq!(
            parse("[d]\na = one\n  two\n\tthree\n\n  \nb = x\n# c\n"),
            vec![triple("d", "a", "one\ntwo\nthree"), triple("d", "b", "x")]
        );
        // A comment line ends the value too; a continuation after it is an error.
        assert_eq!(
            parse_ini("[d]\na = one\n# c\n  two\n").err().unwrap().line,
            4
        );
    }

    #[test]
    fn section_names_are_lower_cased_except_default() {
        assert_eq!(
            parse("[Database]\na = 1\n[API_DATABASE]\nb = 2\n[default]\nc = 3\n[DEFAULT]\nd = 4\n"),
            vec![
                triple("database", "a", "1"),
                triple("api_database", "b", "2"),
                triple("default", "c", "3"),
                triple("DEFAULT", "d", "4"),
            ]
        );
    }

    #[test]
    fn line_endings_and_a_byte_order_mark() {
        let expected = vec![triple("d", "a", "1"), triple("d", "b", "2")];
        assert_eq!(parse("\u{feff}[d]\r\na = 1\r\nb = 2\r\n"), expected);
        assert_eq!(parse("[d]\ra = 1\rb = 2"), expected);
        assert_eq!(parse("[d]\na = 1   \t\nb = 2"), expected);
    }

    #[test]
    fn ini_errors_name_the_line_but_never_quote_it() {
        for (text, line, words) in [
            (
                "connection = mysql://u:SECRETpw@h/db\n",
                1,
                "before the first [section]",
            ),
            ("[d]\n\n  SECRETpw\n", 3, "continuation"),
            ("[d\nSECRETpw = 1\n", 1, "must end with"),
            ("[]\n", 1, "empty section"),
            ("[d]\nSECRETpw\n", 2, "neither"),
            ("[d]\n= SECRETpw\n", 2, "no name"),
            ("[d]\n = SECRETpw\n", 2, "continuation"),
        ] {
            let err = parse_ini(text).err().unwrap();
            assert_eq!(err.line, line, "{text:?}");
            assert!(err.message.contains(words), "{text:?}: {}", err.message);
            assert!(!err.message.contains("SECRET"));
        }
    }

    // --- files, directories, precedence ---------------------------------

    #[test]
    fn keys_are_case_sensitive_and_the_last_assignment_wins() {
        let (_dir, config) =
            conf(&["[database]\nconnection = a\nConnection = b\nconnection = c\n"]);
        assert_eq!(
            value(&config, "database", "connection").as_deref(),
            Some("c")
        );
        assert_eq!(
            value(&config, "database", "Connection").as_deref(),
            Some("b")
        );
        assert_eq!(
            value(&config, "Database", "connection").as_deref(),
            Some("c")
        );
        assert_eq!(value(&config, "database", "missing"), None);
    }

    #[test]
    fn later_files_override_earlier_ones() {
        let (_dir, config) = conf(&[
            "[database]\nconnection = first\n[api_database]\nconnection = api\n",
            "[database]\nconnection = second\n",
        ]);
        let connection = config.database_connection().unwrap().unwrap();
        assert_eq!(connection.value(), "second");
        assert!(connection.file().unwrap().ends_with("1.conf"));
        let api = config.api_database_connection().unwrap().unwrap();
        assert_eq!(api.value(), "api");
        assert!(api.file().unwrap().ends_with("0.conf"));
        assert!(api
            .location()
            .ends_with("0.conf: [api_database] connection"));
    }

    #[test]
    fn a_config_dir_reads_its_conf_files_in_name_order() {
        let dir = TempDir::new();
        dir.write("20-b.conf", "[database]\nconnection = b\n");
        dir.write(
            "10-a.conf",
            "[database]\nconnection = a\n[DEFAULT]\nx = 1\n",
        );
        dir.write("30-c.conf.disabled", "[database]\nconnection = c\n");
        dir.write(".99-hidden.conf", "[database]\nconnection = hidden\n");
        let main = dir.write("main", "[database]\nconnection = main\n[DEFAULT]\nx = 2\n");
        let config = load_with_env(
            &[
                ConfigSource::Dir(dir.0.clone()),
                ConfigSource::File(main.clone()),
            ],
            [],
        )
        .unwrap();
        let names: Vec<String> = config
            .files()
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["10-a.conf", "20-b.conf", "main"]);
        assert_eq!(
            value(&config, "database", "connection").as_deref(),
            Some("main")
        );
        assert_eq!(value(&config, "DEFAULT", "x").as_deref(), Some("2"));
        // The other order: the directory wins.
        let config = load_with_env(
            &[ConfigSource::File(main), ConfigSource::Dir(dir.0.clone())],
            [],
        )
        .unwrap();
        assert_eq!(
            value(&config, "database", "connection").as_deref(),
            Some("b")
        );
        assert_eq!(value(&config, "DEFAULT", "x").as_deref(), Some("1"));
    }

    #[test]
    fn missing_files_and_directories_are_errors() {
        let message = usage(load_with_env(
            &[ConfigSource::File("/nonexistent/nova.conf".into())],
            [],
        ));
        assert!(
            message.starts_with("cannot read /nonexistent/nova.conf: No such file"),
            "{message}"
        );
        let message = usage(load_with_env(
            &[ConfigSource::Dir("/nonexistent/nova.conf.d".into())],
            [],
        ));
        assert!(
            message
                .starts_with("cannot read the configuration directory /nonexistent/nova.conf.d:"),
            "{message}"
        );
    }

    #[test]
    fn a_parse_error_names_file_and_line() {
        let dir = TempDir::new();
        let path = dir.write("bad.conf", "[database]\nconnection mysql//u@SECRETpw\n");
        let message = usage(load_with_env(&[ConfigSource::File(path.clone())], []));
        assert_eq!(
            message,
            format!(
                "{}: line 2: neither `=` nor `:` in this line",
                path.display()
            )
        );
        let path = dir.0.join("binary.conf");
        fs::write(&path, [b'[', b'd', b']', b'\n', 0xff, 0xfe]).unwrap();
        let message = usage(load_with_env(&[ConfigSource::File(path)], []));
        assert!(message.ends_with("it is not UTF-8 text"), "{message}");
    }

    #[test]
    fn environment_variables_override_files() {
        let dir = TempDir::new();
        let path = dir.write("nova.conf", "[database]\nconnection = file\n");
        let config = load_with_env(
            &[ConfigSource::File(path)],
            [
                ("OS_DATABASE__CONNECTION".to_owned(), "env".to_owned()),
                ("PATH".to_owned(), "/bin".to_owned()),
            ],
        )
        .unwrap();
        let connection = config.database_connection().unwrap().unwrap();
        assert_eq!(connection.value(), "env");
        assert_eq!(
            connection.location(),
            "environment variable OS_DATABASE__CONNECTION"
        );
        assert_eq!(connection.file(), None);
    }

    #[test]
    fn deprecated_database_connection_names_are_read() {
        let (_dir, config) = conf(&["[DEFAULT]\nsql_connection = old\n"]);
        let connection = config.database_connection().unwrap().unwrap();
        assert_eq!(connection.value(), "old");
        assert_eq!(
            (connection.section(), connection.key()),
            ("DEFAULT", "sql_connection")
        );
        let (_dir, config) = conf(&["[sql]\nconnection = older\n"]);
        assert_eq!(
            config.database_connection().unwrap().unwrap().value(),
            "older"
        );
        // Within a file the current name wins; a later file wins over an
        // earlier one whatever the name (oslo.config's order).
        let (_dir, config) =
            conf(&["[DEFAULT]\nsql_connection = old\n[database]\nconnection = new\n"]);
        assert_eq!(
            config.database_connection().unwrap().unwrap().value(),
            "new"
        );
        let (_dir, config) = conf(&[
            "[database]\nconnection = new\n",
            "[DEFAULT]\nsql_connection = old-but-later\n",
        ]);
        assert_eq!(
            config.database_connection().unwrap().unwrap().value(),
            "old-but-later"
        );
        // The API database has no deprecated names.
        let (_dir, config) = conf(&["[DEFAULT]\nsql_connection = old\n"]);
        assert_eq!(config.api_database_connection().unwrap(), None);
    }

    // --- $ substitution -----------------------------------------------------

    #[test]
    fn dollar_references_are_substituted_like_oslo_config() {
        let (_dir, config) = conf(&[
            "[DEFAULT]\nstate_path = /var/lib/nova\nname = nova\nnested = $state_path/x\n\
             [database]\nname = cell1\n\
             a = sqlite:///$state_path/nova.sqlite\n\
             b = sqlite:///${state_path}/nova.sqlite\n\
             c = mysql://u:pa$$word@h/db\n\
             d = mysql://u:pa\\$word@h/db\n\
             e = $name and ${DEFAULT.name} and ${database.name}\n\
             f = $nested\n\
             g = cost $5, 100$ and ${ and $-x\n",
        ]);
        let get = |key| value(&config, "database", key).unwrap();
        assert_eq!(get("a"), "sqlite:////var/lib/nova/nova.sqlite");
        assert_eq!(get("b"), "sqlite:////var/lib/nova/nova.sqlite");
        assert_eq!(get("c"), "mysql://u:pa$word@h/db");
        assert_eq!(get("d"), "mysql://u:pa$word@h/db");
        assert_eq!(get("e"), "cell1 and nova and cell1");
        assert_eq!(get("f"), "/var/lib/nova/x");
        assert_eq!(get("g"), "cost $5, 100$ and ${ and $-x");
    }

    #[test]
    fn unresolvable_references_are_errors_that_do_not_name_them() {
        let (_dir, config) = conf(&["[database]\nconnection = mysql://u:SECRET$pw@h/db\n\
             [api_database]\nconnection = sqlite:///$state_path/nova_api.sqlite\n\
             [loop]\na = $b\nb = ${a}\n"]);
        let message = usage(config.database_connection());
        assert!(
            message.contains("[database] connection: it refers with `$`"),
            "{message}"
        );
        assert!(
            !message.contains("SECRET") && !message.contains("pw"),
            "{message}"
        );
        let message = usage(config.api_database_url());
        assert!(
            message.contains("not set in the configuration"),
            "{message}"
        );
        let message = usage(config.get("loop", "a"));
        assert!(message.contains("loop"), "{message}");
    }

    // --- NovaConfig URLs ----------------------------------------------------

    #[test]
    fn database_urls_come_converted_with_their_source() {
        let (dir, config) = conf(&[
            "[database]\nconnection = mysql+pymysql://nova:secret@ctl/nova?charset=utf8\n\
             [api_database]\nconnection = postgresql+psycopg2://nova:secret@ctl/nova_api\n\
             connection_parameters = sslmode=require&connect_timeout=5\n",
        ]);
        let cell = config.database_url().unwrap();
        assert_eq!(cell.as_str(), "mysql://nova:secret@ctl/nova");
        assert_eq!(dropped_keys(&cell), ["charset"]);
        let source = format!("{}: [database] connection", dir.0.join("0.conf").display());
        assert_eq!(cell.source(), Some(source.as_str()));
        let api = config.api_database_url().unwrap();
        assert_eq!(
            api.as_str(),
            "postgresql://nova:secret@ctl/nova_api?sslmode=require"
        );
        assert_eq!(dropped_keys(&api), ["connect_timeout"]);
    }

    #[test]
    fn missing_connections_name_the_files_read() {
        let (dir, config) = conf(&["[database]\n", "[DEFAULT]\n", "[api_database]\nx = 1\n"]);
        let message = usage(config.api_database_url());
        let name = |i: usize| dir.0.join(format!("{i}.conf")).display().to_string();
        assert_eq!(
            message,
            format!(
                "no [api_database] connection in {}, {} or {}",
                name(0),
                name(1),
                name(2)
            )
        );
        let config = load_with_env(&[], []).unwrap();
        let message = usage(config.database_url());
        assert!(message.contains("OS_DATABASE__CONNECTION"), "{message}");
    }

    #[test]
    fn conversion_errors_name_file_section_and_key_and_never_the_value() {
        let (dir, config) = conf(&[
            "[database]\nconnection = mysql+pymysql://nova:SECRETpw@ctl:99999/nova\n\
             [api_database]\nconnection = oracle://nova:SECRETpw@ctl/nova\n",
        ]);
        let message = usage(config.database_url());
        assert_eq!(
            message,
            format!(
                "{}: [database] connection: the port is not a number from 1 to 65535",
                dir.0.join("0.conf").display()
            )
        );
        let message = usage(config.api_database_url());
        assert!(
            message.contains("unsupported database dialect `oracle`"),
            "{message}"
        );
        assert!(!message.contains("SECRET"));
    }

    #[test]
    fn converted_sqlite_urls_are_checked_by_database_url() {
        let (dir, config) =
            conf(&["[database]\nconnection = sqlite:////nonexistent/nova.sqlite\n"]);
        let message = usage(config.database_url().unwrap().database_url());
        assert!(
            message.starts_with(&format!(
                "{}: [database] connection: ",
                dir.0.join("0.conf").display()
            )),
            "{message}"
        );
        assert!(message.contains("does not exist"), "{message}");
        let db = dir.write("nova.sqlite", "");
        let (_dir2, config) = conf(&[&format!(
            "[database]\nconnection = sqlite:///{}\n",
            db.display()
        )]);
        let url = config.database_url().unwrap().database_url().unwrap();
        assert_eq!(url.backend(), purge_api::Backend::Sqlite);
    }

    // --- SQLAlchemy URL parsing ---------------------------------------------

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

    // --- MySQL ---------------------------------------------------------------

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

    // --- PostgreSQL -----------------------------------------------------------

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

    // --- SQLite -----------------------------------------------------------------

    #[test]
    fn sqlite_paths() {
        let url = convert("sqlite:////var/lib/nova/nova.sqlite");
        assert_eq!(url.as_str(), "sqlite:///var/lib/nova/nova.sqlite");
        assert!(url.notes().is_empty());
        let url = convert("sqlite+pysqlite:///nova.sqlite?timeout=30&check_same_thread=false");
        assert_eq!(url.as_str(), "sqlite://nova.sqlite");
        assert_eq!(dropped_keys(&url), ["timeout", "check_same_thread"]);
        assert_eq!(url.notes().len(), 1);
        for bad in [
            "sqlite://",
            "sqlite:///",
            "sqlite:///:memory:",
            "sqlite://host/nova.sqlite",
            "sqlite:///file:nova.sqlite?uri=true",
            "sqlite+pysqlcipher://:SECRET@/nova.sqlite",
        ] {
            let message = convert_err(bad);
            assert!(!message.contains("SECRET"), "{message}");
        }
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

    #[test]
    fn debug_output_hides_passwords() {
        let url = convert("mysql+pymysql://nova:SECRETpw@ctl/nova");
        assert!(!format!("{url:?}").contains("SECRET"));
        let (_dir, config) = conf(&["[database]\nconnection = mysql://nova:SECRETpw@ctl/nova\n"]);
        let value = config.database_connection().unwrap().unwrap();
        assert!(!format!("{value:?}").contains("SECRET"));
        assert!(!format!("{config:?}").contains("SECRET"));
    }

    // --- templates ------------------------------------------------------------

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
    fn cell_urls_fill_templates_and_fall_back_like_nova() {
        let (_dir, config) = conf(&[
            "[database]\nconnection = mysql+pymysql://nova:secret@ctl/nova?charset=utf8\n\
             connection_parameters = read_timeout=60\n",
        ]);
        let url = config
            .cell_database_url(
                "cell1",
                "mysql+pymysql://{username}:{password}@{hostname}/nova_cell1?{query}",
            )
            .unwrap();
        assert_eq!(url.as_str(), "mysql://nova:secret@ctl/nova_cell1");
        assert_eq!(dropped_keys(&url), ["charset", "read_timeout"]);
        assert!(url
            .source()
            .unwrap()
            .starts_with("cell cell1: database_connection (a template filled from "));
        // Not a template: used as it is, with the parameters.
        let url = config
            .cell_database_url("cell2", "mysql+pymysql://nova:other@db2/nova_cell2")
            .unwrap();
        assert_eq!(url.as_str(), "mysql://nova:other@db2/nova_cell2");
        assert_eq!(url.source(), Some("cell cell2: database_connection"));
        // Braces in a password: not a valid template, so Nova uses the value as it is.
        let url = config
            .cell_database_url("cell3", "mysql+pymysql://nova:pa{ss}@db3/nova_cell3")
            .unwrap();
        assert_eq!(sqlx_password(url.as_str()).as_deref(), Some("pa{ss}"));
        assert_eq!(url.notes().len(), 1);
        // A broken template is an error that names the cell, not the value.
        let message = usage(config.cell_database_url("cell4", "{scheme}://{user}:SECRET@db4/x"));
        assert!(
            message.starts_with("cell cell4: database_connection: cannot fill the template"),
            "{message}"
        );
        assert!(!message.contains("SECRET"), "{message}");
        // Without a local connection, a template cannot be filled.
        let (_dir, config) = conf(&["[DEFAULT]\n"]);
        let message = usage(config.cell_database_url("cell1", "{scheme}://db/x"));
        assert!(
            message.contains("no [database] connection is set"),
            "{message}"
        );
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
