//! Where the databases are: the command line's URLs and nova.conf, resolved
//! once into [`Connections`], which every command uses.

use std::path::PathBuf;

use crate::config::{self, ConfigSource, ConvertedUrl};
use crate::database::url::DatabaseUrl;
use crate::error::Error;

/// What the operator said about the databases, before anything is read.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    /// `--database-url`: the cell database, overriding nova.conf.
    pub database_url: Option<String>,
    /// `--api-database-url`: the API database, overriding nova.conf.
    pub api_database_url: Option<String>,
    /// `--config-file`, in order.
    pub config_files: Vec<PathBuf>,
    /// `--config-dir`, in order, read after the files.
    pub config_dirs: Vec<PathBuf>,
    /// `--replica-url`: replicas of the cell database, overriding nova.conf's
    /// `[database]/slave_connection`.
    pub replica_urls: Vec<String>,
}

/// Where the databases are, once the command line and nova.conf are read.
#[derive(Debug, Clone, Default)]
pub struct Connections {
    /// The local cell database (`--database-url`, `[database]/connection`).
    pub cell: Option<DatabaseUrl>,
    /// The API database (`--api-database-url`, `[api_database]/connection`).
    pub api: Option<DatabaseUrl>,
    /// The local cell connection as written, and where it was set, which
    /// fills templated `cell_mappings.database_connection` values.
    pub template_base: Option<(String, String)>,
    /// `[database]/connection_parameters`, appended to every cell's URL.
    pub connection_parameters: String,
    /// Replicas of the local cell database (`--replica-url`,
    /// `[database]/slave_connection`), to watch while purging.
    pub replicas: Vec<DatabaseUrl>,
}

impl Connections {
    /// The URL of a cell listed in `cell_mappings` (its name or uuid, and
    /// its `database_connection`), as Nova connects to it
    /// (see [`crate::config::cell_url`]).
    pub fn cell_url(&self, label: &str, database_connection: &str) -> Result<DatabaseUrl, Error> {
        let local = self
            .template_base
            .as_ref()
            .map(|(value, location)| (value.as_str(), location.as_str()));
        let converted = crate::config::cell_url(
            label,
            database_connection,
            local,
            &self.connection_parameters,
        )?;
        converted.log_adjustments();
        converted.database_url()
    }
}

impl Connections {
    /// The databases named on the command line or in nova.conf
    /// (`--config-file`, `--config-dir`, else /etc/nova/nova.conf when no
    /// `--database-url` is given). The command line wins.
    pub fn resolve(sources: &Sources) -> Result<Connections, Error> {
        let mut config_sources: Vec<ConfigSource> = sources
            .config_files
            .iter()
            .cloned()
            .map(ConfigSource::File)
            .chain(sources.config_dirs.iter().cloned().map(ConfigSource::Dir))
            .collect();
        if config_sources.is_empty() && sources.database_url.is_none() {
            config_sources.extend(config::default_config_file().map(ConfigSource::File));
        }
        let nova_conf = if config_sources.is_empty() {
            None
        } else {
            Some(config::load(&config_sources)?)
        };
        let mut connections = Connections::default();
        if let Some(flag) = &sources.database_url {
            connections.cell = Some(parse_flag(flag)?);
            connections.template_base = Some((flag.clone(), "--database-url".to_owned()));
        } else if let Some(conf) = &nova_conf {
            if let Some(value) = conf.database_connection()? {
                connections.cell = Some(from_conf(conf.database_url())?);
                connections.template_base = Some((value.value().to_owned(), value.location()));
            }
        }
        if let Some(conf) = &nova_conf {
            connections.connection_parameters = conf.connection_parameters()?;
        }
        if !sources.replica_urls.is_empty() {
            for raw in &sources.replica_urls {
                connections.replicas.push(parse_flag(raw)?);
            }
        } else if let Some(conf) = &nova_conf {
            if let Some(replica) = conf.replica_url()? {
                connections.replicas.push(from_conf(Ok(replica))?);
            }
        }
        if let Some(flag) = &sources.api_database_url {
            connections.api = Some(parse_flag(flag)?);
        } else if let Some(conf) = &nova_conf {
            if conf.api_database_connection()?.is_some() {
                connections.api = Some(from_conf(conf.api_database_url())?);
            }
        }
        Ok(connections)
    }
}

/// A URL read from nova.conf, with what its conversion changed logged.
fn from_conf(url: Result<ConvertedUrl, Error>) -> Result<DatabaseUrl, Error> {
    let url = url?;
    url.log_adjustments();
    url.database_url()
}

/// A URL given on the command line. The SQLAlchemy forms of nova.conf
/// (`mysql+pymysql://...`) are accepted there too; plain schemes keep
/// nova-purge's meaning (`sqlite:///x` is the absolute path /x).
fn parse_flag(raw: &str) -> Result<DatabaseUrl, Error> {
    let scheme = raw.split_once("://").map_or("", |(scheme, _)| scheme);
    if scheme.contains('+') {
        from_conf(
            config::sqlalchemy_to_database_url(raw)
                .map_err(|reason| Error::Input(format!("the database URL: {reason}"))),
        )
    } else {
        DatabaseUrl::parse(raw)
    }
}
