//! Nova's real cell schema for `--schema nova`: made once per benchmark run
//! by Nova 34's own migrations (tests/nova-compat/sync.sh, `nova-manage
//! api_db sync` + `db sync`) in a template database, then copied into every
//! copy, which is much faster than migrating each copy (about 20 s on
//! MariaDB). The API database the sync needs is dropped at once: the bench
//! purges one cell.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{bail, Context, Result};
use nova_purge_tests::server::{server_url, Admin, ThrowawayDb};
use purge_api::{Backend, Value};
use purge_engine::database::schema::Schema;

use crate::db::{self, execute_raw, fetch};

/// The synced template database and its tables.
pub struct Template {
    db: ThrowawayDb,
    /// Every table of Nova's cell schema.
    pub tables: Vec<String>,
}

impl Template {
    /// Creates and syncs the template (and a throwaway API database).
    pub async fn create(backend: Backend) -> Result<Template> {
        let cell = db::create(backend).await?;
        let synced = async {
            let api = db::create(backend).await?;
            let synced = sync(backend, &cell, &api);
            api.drop_db().await?;
            synced?;
            let conn = db::connect(&cell, false).await?;
            let schema = Schema::inspect(&conn).await;
            conn.close().await;
            let schema = schema.map_err(|e| anyhow::anyhow!("{e}"))?;
            Ok::<_, anyhow::Error>(schema.tables().map(str::to_owned).collect::<Vec<_>>())
        }
        .await;
        match synced {
            Ok(tables) => Ok(Template { db: cell, tables }),
            Err(e) => {
                cell.drop_db().await.ok();
                Err(e)
            }
        }
    }

    /// Drops the template.
    pub async fn drop_db(&self) -> Result<()> {
        self.db.drop_db().await
    }

    /// Gives the empty database `copy` the template's tables and rows
    /// (alembic_version).
    pub async fn copy_into(&self, copy: &ThrowawayDb) -> Result<()> {
        match copy.backend {
            Backend::MySql => self.copy_mysql(copy).await,
            Backend::Postgres => self.copy_postgres(copy).await,
            Backend::Sqlite => bail!("--schema nova needs MariaDB or PostgreSQL"),
        }
    }

    /// MariaDB has no database templates, and `CREATE TABLE ... LIKE`
    /// drops foreign keys: replay each `SHOW CREATE TABLE` with the checks
    /// off, so that the order does not matter (one connection: the setting
    /// is the session's).
    async fn copy_mysql(&self, copy: &ThrowawayDb) -> Result<()> {
        let conn = db::connect(copy, true).await?;
        let result = async {
            execute_raw(&conn, "SET SESSION foreign_key_checks = 0").await?;
            for table in &self.tables {
                let from = format!("`{}`.`{table}`", self.db.name);
                let rows = fetch(&conn, &format!("SHOW CREATE TABLE {from}")).await?;
                let ddl = rows
                    .first()
                    .and_then(|r| r.get(1))
                    .and_then(Value::to_text)
                    .with_context(|| format!("no DDL for {from}"))?;
                execute_raw(&conn, &ddl).await?;
                execute_raw(
                    &conn,
                    &format!("INSERT INTO `{table}` SELECT * FROM {from}"),
                )
                .await?;
            }
            execute_raw(&conn, "SET SESSION foreign_key_checks = 1").await
        }
        .await;
        conn.close().await;
        result
    }

    /// PostgreSQL copies a whole database from a template, if no session is
    /// connected to it (an autovacuum worker may be, for a moment: retry).
    async fn copy_postgres(&self, copy: &ThrowawayDb) -> Result<()> {
        let mut admin =
            Admin::connect_to(Backend::Postgres, &server_url(Backend::Postgres)).await?;
        admin
            .execute(&format!("DROP DATABASE \"{}\"", copy.name))
            .await?;
        let create = format!(
            "CREATE DATABASE \"{}\" TEMPLATE \"{}\"",
            copy.name, self.db.name
        );
        let mut tries = 0;
        loop {
            match admin.execute(&create).await {
                Ok(()) => return Ok(()),
                Err(_) if tries < 10 => {
                    tries += 1;
                    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                }
                Err(e) => return Err(e),
            }
        }
    }
}

/// Runs tests/nova-compat/sync.sh on the two databases.
fn sync(backend: Backend, cell: &ThrowawayDb, api: &ThrowawayDb) -> Result<()> {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/nova-compat/sync.sh");
    let (name, scheme, query) = match backend {
        Backend::MySql => ("mysql", "mysql+pymysql", "?charset=utf8"),
        Backend::Postgres => ("postgresql", "postgresql+psycopg2", ""),
        Backend::Sqlite => bail!("--schema nova needs MariaDB or PostgreSQL"),
    };
    let sqlalchemy = |copy: &ThrowawayDb| -> Result<String> {
        let (_, rest) = copy
            .url
            .split_once("://")
            .with_context(|| format!("{} is not a URL", copy.url))?;
        Ok(format!("{scheme}://{rest}{query}"))
    };
    let out = Command::new(&script)
        .args([name, &sqlalchemy(cell)?, &sqlalchemy(api)?])
        .output()
        .with_context(|| format!("cannot run {}", script.display()))?;
    if !out.status.success() {
        bail!(
            "{} failed ({}):\n{}{}",
            script.display(),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}
