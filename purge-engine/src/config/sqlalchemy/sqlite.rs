//! SQLite URLs (`sqlite:///relative` and `sqlite:////absolute`) for
//! sqlx's SQLite driver.
//!
//! Apart from the other dialects because an SQLite URL is only a path:
//! it has no user, host or TLS, so it does not go through the shared
//! writer; the path is kept as written (sqlx reads `sqlite://PATH`), the
//! driver options are all dropped, and what would not name a file Nova
//! keeps its data in (in-memory, `uri=true`, pysqlcipher) is refused.

use super::parse::{parse_bool, SqlaUrl};
use super::{ConvertedUrl, DroppedOption};

const DROP_SQLITE: &str = "an SQLite driver setting nova-purge does not use";

pub(super) fn convert_sqlite(
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

#[cfg(test)]
mod tests {
    use crate::config::testing::{convert, convert_err, dropped_keys};

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
}
