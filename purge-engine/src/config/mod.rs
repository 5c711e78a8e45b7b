//! Nova's own configuration: `nova.conf` read the way oslo.config reads it,
//! and the SQLAlchemy URLs in it turned into nova-purge database URLs.
//!
//! What an operator needs to know (the INI dialect, `$` substitution, the
//! environment overrides, each URL form and query option and what becomes
//! of it) is in `docs/configuration.md`; keep it in step with the code.
//!
//! Each file imitates one upstream behaviour, so that it can be read
//! against that upstream code on its own:
//!
//! * `ini`: oslo.config's INI dialect, reading the `--config-file` and
//!   `--config-dir` sources into assignments.
//! * `lookup`: which assignment an option's value comes from (environment,
//!   later files, deprecated names), as a [`ConfigValue`].
//! * `substitute`: oslo.config's `$option` substitution.
//! * `sqlalchemy`: SQLAlchemy URLs into nova-purge URLs ([`ConvertedUrl`]),
//!   one file per dialect.
//! * `cell_template`: Nova's filling of a cell mapping's URL template
//!   ([`fill_template`]).
//!
//! This file holds what the rest of the engine calls: [`load`],
//! [`NovaConfig`] and the database URLs it gives, and [`cell_url`].
//!
//! Errors from reading and from [`NovaConfig`] are [`Error::Input`]; the
//! two converters callable on their own ([`sqlalchemy_to_database_url`],
//! [`fill_template`]) return one phrase for the caller to prefix. No error
//! repeats a value from the configuration, which may be a password:
//! messages name the file, section and key and say what is wrong. Values
//! are shown only through [`ConvertedUrl::redacted`], with the password
//! replaced by `***`.

mod cell_template;
mod ini;
mod lookup;
mod sqlalchemy;
mod substitute;
#[cfg(test)]
mod testing;

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

use crate::error::Error;

pub use cell_template::fill_template;
pub use lookup::{ConfigValue, Origin};
pub use sqlalchemy::{sqlalchemy_to_database_url, ConvertedUrl, DroppedOption};

use ini::ConfigFile;
use sqlalchemy::convert_url;

/// Where Nova keeps its configuration; see [`default_config_file`].
pub const DEFAULT_CONFIG_FILE: &str = "/etc/nova/nova.conf";

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
    let files = ini::read_sources(sources)?;
    let env = env
        .into_iter()
        .filter(|(name, _)| name.starts_with("OS_"))
        .collect();
    Ok(NovaConfig { files, env })
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

/// The database URLs. (Option lookups are in `lookup.rs`.)
impl NovaConfig {
    /// The files read, in order.
    pub fn files(&self) -> Vec<&Path> {
        self.files.iter().map(|file| file.path.as_path()).collect()
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

    /// `[database]/slave_connection`, the replica Nova may read from, if
    /// set, converted to a nova-purge URL.
    pub fn replica_url(&self) -> Result<Option<ConvertedUrl>, Error> {
        match self.get("database", "slave_connection")? {
            Some(connection) => self.convert(&connection, "database").map(Some),
            None => Ok(None),
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::testing::{conf, convert, dropped_keys, sqlx_password, usage};

    #[test]
    fn the_replica_comes_from_slave_connection() {
        let (_dir, config) = conf(&[
            "[database]\nconnection = mysql+pymysql://nova:s@primary/nova\n\
             slave_connection = mysql+pymysql://nova:s@replica/nova?charset=utf8\n",
        ]);
        let replica = config.replica_url().unwrap().unwrap();
        assert_eq!(replica.as_str(), "mysql://nova:s@replica/nova");
        let (_dir, config) = conf(&["[database]\nconnection = sqlite:////x\n"]);
        assert!(config.replica_url().unwrap().is_none());
    }

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
        let source = format!(
            "{}: [database] connection",
            dir.path().join("0.conf").display()
        );
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
        let name = |i: usize| dir.path().join(format!("{i}.conf")).display().to_string();
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
                dir.path().join("0.conf").display()
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
                dir.path().join("0.conf").display()
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
    fn debug_output_hides_passwords() {
        let url = convert("mysql+pymysql://nova:SECRETpw@ctl/nova");
        assert!(!format!("{url:?}").contains("SECRET"));
        let (_dir, config) = conf(&["[database]\nconnection = mysql://nova:SECRETpw@ctl/nova\n"]);
        let value = config.database_connection().unwrap().unwrap();
        assert!(!format!("{value:?}").contains("SECRET"));
        assert!(!format!("{config:?}").contains("SECRET"));
    }
}
