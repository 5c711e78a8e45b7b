//! One cell database of a `create-indexes` run, read before anything is
//! built: connected, what it lacks, and how it would be built there.

use purge_api::{Db, Registry};

use super::method::Method;
use super::plan::{wanted, Wanted};
use super::report::DatabaseIndexes;
use crate::database::url::{Access, DatabaseUrl};
use crate::error::Error;
use crate::purge::api_database::CellMapping;

pub struct Target {
    pub url: DatabaseUrl,
    pub cell: Option<CellMapping>,
    pub db: Db,
    pub wanted: Vec<Wanted>,
    /// How to build here, or why it must not be tried.
    pub method: Result<Method, String>,
}

impl Target {
    /// Connects (a writable primary unless `access` is `Read`) and reads
    /// what the database lacks.
    pub async fn read(
        url: DatabaseUrl,
        cell: Option<CellMapping>,
        registry: &Registry,
        access: Access,
        galera_rsu: bool,
    ) -> Result<Target, Error> {
        let (db, facts) = url.open(access).await?;
        let method = Method::choose(db.backend(), facts.galera.as_ref(), galera_rsu);
        match wanted(&db, registry).await {
            Ok(wanted) => Ok(Target {
                url,
                cell,
                db,
                wanted,
                method,
            }),
            Err(err) => {
                db.close().await;
                Err(err)
            }
        }
    }

    /// True when there is something to build (a conflict builds nothing).
    pub fn has_work(&self) -> bool {
        self.wanted
            .iter()
            .any(|w| !w.statements(self.db.backend()).is_empty())
    }

    /// Why this database must not be built on, when there is work.
    pub fn refusal(&self) -> Option<Error> {
        let why = self.method.as_ref().err().filter(|_| self.has_work())?;
        Some(Error::Input(format!("{}: {why}", self.url.redacted())))
    }

    /// Its section of the report, before any index is reported.
    pub fn section(&self, lock_timeout: std::time::Duration) -> DatabaseIndexes {
        let method = self.method.as_ref().ok().copied();
        DatabaseIndexes {
            database: self.url.redacted(),
            cell: self.cell.as_ref().and_then(|c| c.name.clone()),
            cell_uuid: self.cell.as_ref().map(|c| c.uuid.clone()),
            method,
            session: method
                .map(|m| m.session_settings(lock_timeout))
                .unwrap_or_default()
                .iter()
                .map(|s| s.sql().to_owned())
                .collect(),
            indexes: Vec::new(),
            error: None,
        }
    }
}

/// The report section of a cell that could not be read.
pub fn unreadable(url: Option<&DatabaseUrl>, cell: &CellMapping, err: &Error) -> DatabaseIndexes {
    DatabaseIndexes {
        database: url.map(DatabaseUrl::redacted).unwrap_or_default(),
        cell: cell.name.clone(),
        cell_uuid: Some(cell.uuid.clone()),
        method: None,
        session: Vec::new(),
        indexes: Vec::new(),
        error: Some(err.to_string()),
    }
}
