//! How an index is built on a given server without blocking Nova, and the
//! session settings that bound how long its locks may wait: the choice per
//! backend, and the refusal of a Galera node unless the operator chose the
//! rolling method (RSU).

use std::time::Duration;

use purge_api::{Backend, Stmt};
use serde::Serialize;

use crate::database::server::GaleraNode;

/// How the indexes of one database are built.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    /// PostgreSQL: `CREATE INDEX CONCURRENTLY`, outside any transaction.
    Concurrently,
    /// MariaDB/MySQL: `ALTER TABLE ... ADD INDEX ..., ALGORITHM=INPLACE,
    /// LOCK=NONE`: writes go on while it builds.
    Online,
    /// A Galera node: the same ALTER under `wsrep_OSU_method = 'RSU'`,
    /// built on this node only, which stops applying the others' writes
    /// meanwhile and catches up after.
    GaleraRsu,
    /// SQLite: a plain `CREATE INDEX`.
    Plain,
}

impl Method {
    /// The method for a server, or why none is safe without the operator
    /// saying so: on a Galera node the default method (TOI) runs the ALTER
    /// on every node at once and holds every node's writes until it ends.
    pub fn choose(
        backend: Backend,
        galera: Option<&GaleraNode>,
        galera_rsu: bool,
    ) -> Result<Method, String> {
        Ok(match (backend, galera) {
            (Backend::Postgres, _) => Method::Concurrently,
            (Backend::Sqlite, _) => Method::Plain,
            (Backend::MySql, None) => Method::Online,
            (Backend::MySql, Some(_)) if galera_rsu => Method::GaleraRsu,
            (Backend::MySql, Some(node)) => {
                return Err(format!(
                    "this is a node of a {}-node Galera cluster, where an index build under the default method (TOI) holds every node's writes until it ends; nothing was created: pass --galera-rsu to build it on this node only (then run the same command against each other node, connecting to the node itself, not through the proxy), or build it with pt-online-schema-change (--dry-run --galera-rsu prints the ALTER)",
                    node.cluster_size
                ))
            }
        })
    }

    /// What an operator reads about it.
    pub fn describe(self) -> &'static str {
        match self {
            Method::Concurrently => {
                "CREATE INDEX CONCURRENTLY: Nova reads and writes the table while it builds"
            }
            Method::Online => {
                "ALTER TABLE ... ALGORITHM=INPLACE, LOCK=NONE: Nova reads and writes the table while it builds; the server refuses rather than lock it"
            }
            Method::GaleraRsu => {
                "rolling schema upgrade (RSU): built on this Galera node only, which applies the other nodes' writes once it is done; run it against every node in turn"
            }
            Method::Plain => {
                "CREATE INDEX: SQLite holds the database's write lock while it builds (a local file, without concurrent writers of note)"
            }
        }
    }

    /// The settings run first on the connection that builds the indexes.
    /// The lock timeout bounds the wait for the brief exclusive locks an
    /// online build still takes: while such a request waits, Nova's own
    /// statements on the table queue behind it, so it must give up soon.
    pub fn session_settings(self, lock_timeout: Duration) -> Vec<Stmt> {
        let backend = match self {
            Method::Concurrently => Backend::Postgres,
            Method::Online | Method::GaleraRsu => Backend::MySql,
            Method::Plain => Backend::Sqlite,
        };
        let millis = lock_timeout.as_millis().max(1);
        let statement = |sql: String| {
            let mut stmt = Stmt::new(backend);
            stmt.push(&sql);
            stmt
        };
        match self {
            Method::Concurrently => vec![
                statement(format!("SET lock_timeout = '{millis}ms'")),
                // A build may take long without holding anything up; a
                // statement_timeout set for the role would cancel it
                // halfway and leave an INVALID index.
                statement("SET statement_timeout = 0".to_owned()),
            ],
            Method::Online | Method::GaleraRsu => {
                // Whole seconds only, and at least one.
                let seconds = lock_timeout.as_secs() + u64::from(lock_timeout.subsec_nanos() > 0);
                let mut settings = vec![statement(format!(
                    "SET SESSION lock_wait_timeout = {}",
                    seconds.max(1)
                ))];
                if self == Method::GaleraRsu {
                    settings.push(statement("SET SESSION wsrep_OSU_method = 'RSU'".to_owned()));
                }
                settings
            }
            Method::Plain => vec![statement(format!("PRAGMA busy_timeout = {millis}"))],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node() -> GaleraNode {
        GaleraNode {
            cluster_status: "Primary".to_owned(),
            ready: true,
            cluster_size: 3,
            ..GaleraNode::default()
        }
    }

    #[test]
    fn a_galera_node_is_refused_unless_rsu_is_chosen() {
        let refusal = Method::choose(Backend::MySql, Some(&node()), false).unwrap_err();
        assert!(refusal.contains("3-node Galera cluster"), "{refusal}");
        assert!(refusal.contains("--galera-rsu"), "{refusal}");
        assert!(refusal.contains("pt-online-schema-change"), "{refusal}");
        assert!(refusal.contains("nothing was created"), "{refusal}");
        assert_eq!(
            Method::choose(Backend::MySql, Some(&node()), true),
            Ok(Method::GaleraRsu)
        );
        // --galera-rsu means nothing elsewhere.
        assert_eq!(
            Method::choose(Backend::MySql, None, true),
            Ok(Method::Online)
        );
        assert_eq!(
            Method::choose(Backend::Postgres, None, false),
            Ok(Method::Concurrently)
        );
        assert_eq!(
            Method::choose(Backend::Sqlite, None, false),
            Ok(Method::Plain)
        );
    }

    #[test]
    fn lock_timeouts_are_set_in_each_servers_unit() {
        let sql = |method: Method, timeout| -> Vec<String> {
            method
                .session_settings(timeout)
                .iter()
                .map(|s| s.sql().to_owned())
                .collect()
        };
        let timeout = Duration::from_millis(1500);
        assert_eq!(
            sql(Method::Concurrently, timeout),
            ["SET lock_timeout = '1500ms'", "SET statement_timeout = 0"]
        );
        assert_eq!(
            sql(Method::Online, timeout),
            ["SET SESSION lock_wait_timeout = 2"]
        );
        assert_eq!(
            sql(Method::GaleraRsu, Duration::from_millis(10)),
            [
                "SET SESSION lock_wait_timeout = 1",
                "SET SESSION wsrep_OSU_method = 'RSU'"
            ]
        );
        assert_eq!(sql(Method::Plain, timeout), ["PRAGMA busy_timeout = 1500"]);
    }
}
