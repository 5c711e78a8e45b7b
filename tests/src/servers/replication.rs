//! Replicas: a MariaDB primary with an asynchronous GTID replica, and a
//! PostgreSQL primary with a streaming hot standby.
//!
//! MariaDB: `<lab>/primary/` (`server_id=1`, binlog, ROW) and
//! `<lab>/replica/` (`server_id=2`, binlog, relay log, `read_only=ON`),
//! both copies of the same template, so the replica starts from the
//! primary's first binlog: `CHANGE MASTER TO ... MASTER_USE_GTID=slave_pos`
//! as root (no password), then `START SLAVE`.
//!
//! PostgreSQL: `<lab>/primary/` (the template), `<lab>/replica/` made by
//! `pg_basebackup -R -X stream` from it (standby.signal and
//! primary_conninfo), a hot standby whose `cluster_name`, `replica`, is the
//! `application_name` the primary sees in `pg_stat_replication`; it reports
//! its positions every second (`wal_receiver_status_interval=1s`).

use std::process::Command;
use std::time::{Duration, Instant};

use super::mariadb::mariadb_template;
use super::postgres::{postgres_template, PLAIN_HBA};
use super::{
    chown, claim_port, copy_tree, postgres_program, run, wait_for, LabDir, MariaDb, Postgres,
};

const WAIT: Duration = Duration::from_secs(60);

/// A MariaDB primary and its asynchronous replica. Both stop when dropped.
pub struct MariaDbReplication {
    pub primary: MariaDb,
    pub replica: MariaDb,
    _lab: LabDir,
}

/// What `SHOW SLAVE STATUS` says on the replica.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MariaDbReplicaStatus {
    /// `Slave_IO_Running`: `Yes`, `No` or `Connecting`.
    pub io_running: String,
    /// `Slave_SQL_Running` is `Yes`.
    pub sql_running: bool,
    /// `Seconds_Behind_Master`; None (NULL) when the SQL thread is stopped.
    pub seconds_behind_master: Option<u64>,
    /// `Gtid_IO_Pos`: received.
    pub gtid_io_pos: String,
    /// `Last_Error`, `Last_IO_Error` and `Last_SQL_Error`, non-empty ones.
    pub errors: Vec<String>,
}

impl MariaDbReplication {
    /// Both servers up, the replica replicating (IO and SQL threads
    /// running).
    pub fn start() -> MariaDbReplication {
        let started = Instant::now();
        let lab = LabDir::new("mariadb-replication");
        let template = mariadb_template();
        let config = |id: u32, extra: &[&str]| {
            let mut lines = vec![
                format!("server_id={id}"),
                "log_bin=binlog".to_owned(),
                "binlog_format=ROW".to_owned(),
            ];
            lines.extend(extra.iter().map(|s| (*s).to_owned()));
            lines
        };
        let mut primary =
            MariaDb::create(&lab, "primary", claim_port(), &config(1, &[]), &template);
        let mut replica = MariaDb::create(
            &lab,
            "replica",
            claim_port(),
            &config(2, &["relay_log=relay-bin", "read_only=ON"]),
            &template,
        );
        primary.launch(&[]);
        replica.launch(&[]);
        primary.wait_ready();
        replica.wait_ready();
        replica.sql(&format!(
            "CHANGE MASTER TO MASTER_HOST = '127.0.0.1', MASTER_PORT = {}, \
             MASTER_USER = 'root', MASTER_PASSWORD = '', MASTER_USE_GTID = slave_pos, \
             MASTER_CONNECT_RETRY = 1; START SLAVE",
            primary.port()
        ));
        let replication = MariaDbReplication {
            primary,
            replica,
            _lab: lab,
        };
        wait_for("the MariaDB replica to replicate", WAIT, || {
            let status = replication.status();
            if status.io_running == "Yes" && status.sql_running {
                Ok(())
            } else {
                Err(format!("{status:?}"))
            }
        });
        eprintln!(
            "np-lab: MariaDB primary (port {}) and replica (port {}) up in {:.1}s",
            replication.primary.port(),
            replication.replica.port(),
            started.elapsed().as_secs_f64()
        );
        replication
    }

    /// `SHOW SLAVE STATUS` on the replica.
    pub fn status(&self) -> MariaDbReplicaStatus {
        let rows = self.replica.rows_with_header("SHOW SLAVE STATUS");
        assert!(rows.len() == 2, "no replication configured: {rows:?}");
        let get = |name: &str| {
            rows[0]
                .iter()
                .position(|column| column == name)
                .and_then(|i| rows[1].get(i))
                .cloned()
                .unwrap_or_else(|| panic!("no {name} in SHOW SLAVE STATUS"))
        };
        MariaDbReplicaStatus {
            io_running: get("Slave_IO_Running"),
            sql_running: get("Slave_SQL_Running") == "Yes",
            seconds_behind_master: get("Seconds_Behind_Master").parse().ok(),
            gtid_io_pos: get("Gtid_IO_Pos"),
            errors: ["Last_Error", "Last_IO_Error", "Last_SQL_Error"]
                .iter()
                .map(|name| get(name))
                .filter(|e| !e.is_empty())
                .collect(),
        }
    }

    /// `Seconds_Behind_Master` (None while the SQL thread is stopped).
    pub fn seconds_behind_master(&self) -> Option<u64> {
        self.status().seconds_behind_master
    }

    /// `STOP SLAVE SQL_THREAD`: the replica keeps receiving, stops applying.
    pub fn stop_sql_thread(&self) {
        self.replica.sql("STOP SLAVE SQL_THREAD");
    }

    /// `START SLAVE SQL_THREAD`.
    pub fn start_sql_thread(&self) {
        self.replica.sql("START SLAVE SQL_THREAD");
    }

    /// Whether the replica has applied everything the primary has logged
    /// (`@@gtid_slave_pos` = the primary's `@@gtid_binlog_pos`).
    pub fn is_caught_up(&self) -> bool {
        self.replica.variable("gtid_slave_pos") == self.primary.variable("gtid_binlog_pos")
    }

    /// Waits until the replica has applied everything the primary had
    /// logged when called (`MASTER_GTID_WAIT`); panics after a minute.
    pub fn wait_caught_up(&self) {
        let position = self.primary.variable("gtid_binlog_pos");
        if position.is_empty() {
            return;
        }
        let status = self.status();
        assert!(
            status.sql_running && status.io_running != "No",
            "the replica is not replicating, it will not catch up: {status:?}"
        );
        let waited = self.replica.sql(&format!(
            "SELECT MASTER_GTID_WAIT('{position}', {})",
            WAIT.as_secs()
        ));
        assert_eq!(
            waited,
            "0",
            "the replica did not reach {position}: {:?}",
            self.status()
        );
    }
}

/// A PostgreSQL primary and its streaming hot standby. Both stop when
/// dropped.
pub struct PostgresReplication {
    pub primary: Postgres,
    pub replica: Postgres,
    _lab: LabDir,
}

/// The replica's row of `pg_stat_replication`, on the primary.
#[derive(Clone, Debug, PartialEq)]
pub struct PgReplication {
    /// `streaming`, `catchup`, `startup`...
    pub state: String,
    /// `pg_current_wal_lsn() - replay_lsn` on the primary, in bytes: WAL
    /// the replica has not replayed (as of its last report, at most a
    /// second old).
    pub replay_lag_bytes: i64,
    /// `replay_lag`: how long ago the oldest unreplayed commit was made;
    /// None when the replica is idle and caught up.
    pub replay_lag: Option<Duration>,
}

impl PostgresReplication {
    /// Both servers up, the replica streaming.
    pub fn start() -> PostgresReplication {
        let started = Instant::now();
        let lab = LabDir::new("postgres-replication");
        let mut primary = Postgres::create(&lab, "primary", claim_port(), &[], PLAIN_HBA);
        copy_tree(&postgres_template(), &primary.data_dir());
        chown(&primary.data_dir(), primary.user());
        primary.start_again();
        let replica_settings =
            ["hot_standby=on", "wal_receiver_status_interval=1s"].map(str::to_owned);
        let mut replica =
            Postgres::create(&lab, "replica", claim_port(), &replica_settings, PLAIN_HBA);
        let mut basebackup = Command::new(postgres_program("pg_basebackup"));
        basebackup
            .args(["-h", "127.0.0.1", "-p"])
            .arg(primary.port().to_string())
            .args(["-U", "postgres", "-D"])
            .arg(replica.data_dir())
            .args(["-R", "-X", "stream", "--checkpoint=fast", "--no-sync"])
            .current_dir(replica.dir());
        if let Some(user) = replica.user() {
            use std::os::unix::process::CommandExt;
            basebackup.uid(user.uid).gid(user.gid);
        }
        run(&mut basebackup, "pg_basebackup");
        replica.start_again();
        let replication = PostgresReplication {
            primary,
            replica,
            _lab: lab,
        };
        wait_for(
            "the PostgreSQL replica to stream",
            WAIT,
            || match replication.try_replication() {
                Ok(Some(r)) if r.state == "streaming" => Ok(()),
                other => Err(format!("{other:?}")),
            },
        );
        eprintln!(
            "np-lab: PostgreSQL primary (port {}) and replica (port {}) up in {:.1}s",
            replication.primary.port(),
            replication.replica.port(),
            started.elapsed().as_secs_f64()
        );
        replication
    }

    fn try_replication(&self) -> Result<Option<PgReplication>, String> {
        let row = self.primary.try_sql(
            "SELECT state, pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)::bigint, \
             EXTRACT(EPOCH FROM replay_lag) \
             FROM pg_stat_replication WHERE application_name = 'replica'",
        )?;
        if row.is_empty() {
            return Ok(None);
        }
        let fields: Vec<&str> = row.split('\t').collect();
        Ok(Some(PgReplication {
            state: fields[0].to_owned(),
            replay_lag_bytes: fields.get(1).and_then(|s| s.parse().ok()).unwrap_or(0),
            replay_lag: fields
                .get(2)
                .and_then(|s| s.parse::<f64>().ok())
                .map(Duration::from_secs_f64),
        }))
    }

    /// The replica as the primary sees it (`pg_stat_replication`); panics
    /// when it is not connected.
    pub fn replication(&self) -> PgReplication {
        self.try_replication()
            .unwrap_or_else(|e| panic!("pg_stat_replication: {e}"))
            .expect("the replica is not connected to the primary")
    }

    /// `pg_wal_replay_pause()` on the replica: it keeps receiving WAL and
    /// stops applying it.
    pub fn pause_replay(&self) {
        self.replica.sql("SELECT pg_wal_replay_pause()");
    }

    /// `pg_wal_replay_resume()`.
    pub fn resume_replay(&self) {
        self.replica.sql("SELECT pg_wal_replay_resume()");
    }

    /// `pg_get_wal_replay_pause_state()`: `not paused`, `pause requested`
    /// (until the next WAL record arrives) or `paused`.
    pub fn replay_pause_state(&self) -> String {
        self.replica.sql("SELECT pg_get_wal_replay_pause_state()")
    }

    /// Waits until the replica has replayed everything the primary had
    /// written when called, and the primary knows it (replay_lsn in
    /// pg_stat_replication); panics after a minute, at once if replay is
    /// paused.
    pub fn wait_caught_up(&self) {
        let lsn = self.primary.sql("SELECT pg_current_wal_lsn()");
        wait_for(&format!("the replica to replay up to {lsn}"), WAIT, || {
            let state = self.replay_pause_state();
            assert_eq!(
                state, "not paused",
                "replay is paused: it will not catch up"
            );
            let replayed = self.replica.sql(&format!(
                "SELECT pg_last_wal_replay_lsn() >= '{lsn}'::pg_lsn"
            ));
            let known = self.primary.sql(&format!(
                "SELECT coalesce(bool_and(replay_lsn >= '{lsn}'::pg_lsn), false) \
                 FROM pg_stat_replication WHERE application_name = 'replica'"
            ));
            if replayed == "t" && known == "t" {
                Ok(())
            } else {
                Err(format!("replayed: {replayed}, the primary knows: {known}"))
            }
        });
    }
}
