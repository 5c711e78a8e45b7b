//! Which value an option has, and where it was set ([`ConfigValue`]).
//!
//! oslo.config's precedence, in one place: the `OS_<SECTION>__<KEY>`
//! environment variable of the option's name first, then the files from
//! the last read to the first, and within a file the last assignment under
//! any of the option's names (`[database]/connection` is also read under
//! the deprecated names oslo.db still accepts). The files keep every assignment as parsed, so
//! that this order is applied here and nowhere else; the value found is
//! then `$`-substituted (`substitute.rs`) with the same lookup.

use std::fmt;
use std::path::{Path, PathBuf};

use super::ini::normalize_section;
use super::substitute::substitute;
use super::NovaConfig;
use crate::error::Error;

/// The names oslo.db reads `[database]/connection` under, in its order.
const DATABASE_CONNECTION_NAMES: &[(&str, &str)] = &[
    ("database", "connection"),
    ("DEFAULT", "sql_connection"),
    ("database", "sql_connection"),
    ("sql", "connection"),
];

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

/// A value before substitution, and where it was found.
struct RawValue<'a> {
    value: &'a str,
    origin: Origin,
    section: String,
    key: String,
}

impl NovaConfig {
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

    /// The `connection_parameters` of `[database]`, which Nova appends to
    /// every cell database's URL too ("" when unset).
    pub fn connection_parameters(&self) -> Result<String, Error> {
        Ok(self
            .get("database", "connection_parameters")?
            .map_or_else(String::new, |value| value.value().to_owned()))
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
        // A reference is looked up as any option is, under its one name.
        let lookup = |section: &str, key: &str| {
            self.lookup_raw(&[(section, key)])
                .map(|found| (found.value, found.section))
        };
        value.value = substitute(raw.value, &group, &lookup)
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
}

#[cfg(test)]
mod tests {
    use crate::config::testing::{conf, value, TempDir};
    use crate::config::{load_with_env, ConfigSource};

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
}
