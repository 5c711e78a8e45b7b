//! What kind of server a connection reached, read once on the first
//! connection: whether it is encrypted (and how), whether the server is
//! read-only or a replica, and whether it is a Galera node and in what
//! state. A purge refuses a server it must not write to before it reads or
//! deletes anything.

use std::fmt;

use sqlx::{MySqlConnection, PgConnection, Row};

/// The facts of one server.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServerFacts {
    /// The TLS version and cipher of the connection, or `None` when it is
    /// not encrypted (always for SQLite).
    pub tls: Option<String>,
    /// Why nothing may be written here: `read_only`, a replica, a hot
    /// standby. `None` on a writable primary.
    pub read_only: Option<String>,
    /// The Galera state, when the server is a Galera node.
    pub galera: Option<GaleraNode>,
}

/// A Galera node's state and write-set limits.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GaleraNode {
    /// `wsrep_cluster_status`: `Primary` when it may serve writes.
    pub cluster_status: String,
    /// `wsrep_ready`: `ON` when it accepts queries.
    pub ready: bool,
    pub cluster_size: u64,
    /// `wsrep_max_ws_rows` (0: no limit).
    pub max_ws_rows: u64,
    /// `wsrep_max_ws_size`, in bytes.
    pub max_ws_size: u64,
}

impl GaleraNode {
    /// Why a purge must not run through this node, if it must not.
    pub fn refusal(&self) -> Option<String> {
        if self.cluster_status != "Primary" {
            return Some(format!(
                "this Galera node is not in the primary component (wsrep_cluster_status is {}): it cannot commit; purge through a node of the primary component",
                self.cluster_status
            ));
        }
        if !self.ready {
            return Some(
                "this Galera node is not ready (wsrep_ready is OFF); purge through a synced node"
                    .to_owned(),
            );
        }
        None
    }
}

impl fmt::Display for ServerFacts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.tls {
            Some(tls) => write!(f, "TLS ({tls})")?,
            None => write!(f, "no TLS")?,
        }
        if let Some(galera) = &self.galera {
            write!(
                f,
                ", Galera node ({}, {} nodes)",
                galera.cluster_status, galera.cluster_size
            )?;
        }
        if let Some(why) = &self.read_only {
            write!(f, ", read-only ({why})")?;
        }
        Ok(())
    }
}

/// Reads the facts of a MariaDB/MySQL server on `conn`.
pub async fn mysql_facts(conn: &mut MySqlConnection) -> Result<ServerFacts, sqlx::Error> {
    let status = pairs(
        sqlx::query(
            "SHOW SESSION STATUS WHERE Variable_name IN ('Ssl_cipher', 'Ssl_version') \
             OR Variable_name IN ('wsrep_cluster_status', 'wsrep_ready', 'wsrep_cluster_size')",
        )
        .fetch_all(&mut *conn)
        .await?,
    );
    let variables = pairs(
        sqlx::query(
            "SHOW GLOBAL VARIABLES WHERE Variable_name IN \
             ('read_only', 'super_read_only', 'wsrep_on', 'wsrep_max_ws_rows', 'wsrep_max_ws_size')",
        )
        .fetch_all(&mut *conn)
        .await?,
    );
    let get = |list: &[(String, String)], name: &str| {
        list.iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let on = |value: String| matches!(value.to_ascii_uppercase().as_str(), "ON" | "1" | "TRUE");
    let cipher = get(&status, "ssl_cipher");
    let tls = (!cipher.is_empty()).then(|| format!("{} {cipher}", get(&status, "ssl_version")));
    let mut read_only = None;
    if on(get(&variables, "read_only")) || on(get(&variables, "super_read_only")) {
        read_only = Some("the server has read_only set".to_owned());
    }
    // A replica: SHOW SLAVE STATUS lists its source. Without the privilege
    // to ask, read_only is what there is to go by.
    if let Ok(rows) = sqlx::query("SHOW SLAVE STATUS").fetch_all(&mut *conn).await {
        if !rows.is_empty() {
            read_only =
                Some("the server is a replica (SHOW SLAVE STATUS names its source)".to_owned());
        }
    }
    let galera = on(get(&variables, "wsrep_on")).then(|| GaleraNode {
        cluster_status: get(&status, "wsrep_cluster_status"),
        ready: on(get(&status, "wsrep_ready")),
        cluster_size: get(&status, "wsrep_cluster_size").parse().unwrap_or(0),
        max_ws_rows: get(&variables, "wsrep_max_ws_rows").parse().unwrap_or(0),
        max_ws_size: get(&variables, "wsrep_max_ws_size").parse().unwrap_or(0),
    });
    Ok(ServerFacts {
        tls,
        read_only,
        galera,
    })
}

/// Reads the facts of a PostgreSQL server on `conn`.
pub async fn postgres_facts(conn: &mut PgConnection) -> Result<ServerFacts, sqlx::Error> {
    let row = sqlx::query(
        "SELECT pg_is_in_recovery(), current_setting('default_transaction_read_only'), \
         (SELECT version || ' ' || cipher FROM pg_stat_ssl WHERE pid = pg_backend_pid() AND ssl)",
    )
    .fetch_one(&mut *conn)
    .await?;
    let in_recovery: bool = row.try_get(0)?;
    let default_read_only: String = row.try_get(1)?;
    let tls: Option<String> = row.try_get(2)?;
    let read_only = if in_recovery {
        Some("the server is a hot standby (pg_is_in_recovery)".to_owned())
    } else if default_read_only == "on" {
        Some("default_transaction_read_only is on".to_owned())
    } else {
        None
    };
    Ok(ServerFacts {
        tls,
        read_only,
        galera: None,
    })
}

/// The rows of `SHOW ... STATUS` or `SHOW ... VARIABLES` as (name in lower
/// case, value) pairs.
pub(crate) fn pairs(rows: Vec<sqlx::mysql::MySqlRow>) -> Vec<(String, String)> {
    rows.into_iter()
        .filter_map(|row| {
            let name: String = text(&row, 0)?;
            let value: String = text(&row, 1).unwrap_or_default();
            Some((name.to_ascii_lowercase(), value))
        })
        .collect()
}

/// A catalogue value as text: MySQL returns these as strings on some
/// versions and as bytes on others.
pub(crate) fn text(row: &sqlx::mysql::MySqlRow, index: usize) -> Option<String> {
    row.try_get::<String, _>(index).ok().or_else(|| {
        row.try_get::<Vec<u8>, _>(index)
            .ok()
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
    })
}
