//! What the unit tests of the configuration modules share: a scratch
//! directory, nova.conf files loaded from text, and shorthands for
//! converting URLs and reading what sqlx makes of them. Test builds only.

use std::fmt;
use std::fs;
use std::path::PathBuf;

use percent_encoding::percent_decode_str;
use url::Url;

use super::{load_with_env, sqlalchemy_to_database_url, ConfigSource, ConvertedUrl, NovaConfig};
use crate::error::Error;

/// A scratch directory for nova.conf files, removed on drop.
pub(super) struct TempDir(tempfile::TempDir);

impl TempDir {
    pub(super) fn new() -> TempDir {
        TempDir(tempfile::tempdir().unwrap())
    }

    pub(super) fn path(&self) -> PathBuf {
        self.0.path().to_owned()
    }

    pub(super) fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.0.path().join(name);
        fs::write(&path, text).unwrap();
        path
    }
}

pub(super) fn conf(texts: &[&str]) -> (TempDir, NovaConfig) {
    let dir = TempDir::new();
    let sources: Vec<ConfigSource> = texts
        .iter()
        .enumerate()
        .map(|(i, text)| ConfigSource::File(dir.write(&format!("{i}.conf"), text)))
        .collect();
    let config = load_with_env(&sources, []).unwrap();
    (dir, config)
}

pub(super) fn value(config: &NovaConfig, section: &str, key: &str) -> Option<String> {
    config
        .get(section, key)
        .unwrap()
        .map(|v| v.value().to_owned())
}

pub(super) fn usage(result: Result<impl fmt::Debug, Error>) -> String {
    match result {
        Err(Error::Input(message)) => message,
        other => panic!("expected a usage error, got {other:?}"),
    }
}

pub(super) fn convert(value: &str) -> ConvertedUrl {
    sqlalchemy_to_database_url(value).unwrap_or_else(|e| panic!("{value}: {e}"))
}

pub(super) fn convert_err(value: &str) -> String {
    match sqlalchemy_to_database_url(value) {
        Err(message) => message,
        Ok(url) => panic!("{value}: expected an error, got {url:?}"),
    }
}

pub(super) fn dropped_keys(url: &ConvertedUrl) -> Vec<&str> {
    url.dropped().iter().map(|d| d.key.as_str()).collect()
}

/// The password as sqlx reads it: percent-decoded from the url crate's
/// parse, as sqlx-mysql and sqlx-postgres 0.8 do.
pub(super) fn sqlx_password(url: &str) -> Option<String> {
    let parsed = Url::parse(url).unwrap();
    parsed
        .password()
        .map(|p| percent_decode_str(p).decode_utf8().unwrap().into_owned())
}
