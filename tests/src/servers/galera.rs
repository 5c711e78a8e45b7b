//! A three-node MariaDB Galera cluster on 127.0.0.1.
//!
//! Each node: `<lab>/node<N>/` (a [`MariaDb`]: my.cnf, data/, sock,
//! error.log) and four claimed ports: mysqld, Galera replication
//! (`gmcast.listen_addr`), IST (`ist.recv_addr`) and SST
//! (`wsrep_sst_receive_address`, the rsync daemon). `wsrep_cluster_address`
//! lists the three Galera ports; `binlog_format=ROW`,
//! `innodb_autoinc_lock_mode=2`, `wsrep_sst_method=rsync`.
//!
//! Formation: node 1 bootstraps (`--wsrep-new-cluster`), then node 2 and
//! node 3 join, one after the other (Galera lets one node join at a time;
//! started together, the second waits for the first anyway). Every node's
//! data is a copy of a cached Galera template: a one-node cluster
//! bootstrapped once per machine and shut down cleanly, so that its state
//! (cluster UUID and seqno, in grastate.dat and InnoDB) is known. Joiners
//! are started at that position (`--wsrep-start-position`, what
//! `galera_recovery` does for systemd), which turns their first state
//! transfer from a full rsync SST into an IST of the few configuration
//! changes they missed, still through the rsync SST script. A node
//! restarted after a kill gets whatever Galera chooses (a full rsync SST, as
//! mariadbd cannot tell its position after a crash without a recovery
//! pass).
//!
//! Failure detection is tuned for loopback: `evs.suspect_timeout=PT3S`,
//! `evs.inactive_timeout=PT5S` (a killed node leaves the view in about four
//! seconds instead of fifteen); `pc.recovery=FALSE` (no gvwstate.dat);
//! `gcache.size=16M`.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::mariadb::mariadb_template;
use super::{claim_port, missing, program, template, template_key, LabDir, MariaDb, Port};

const NODES: usize = 3;
const WAIT: Duration = Duration::from_secs(120);

/// The Galera provider library (package galera-4).
fn provider() -> PathBuf {
    [
        "/usr/lib/galera/libgalera_smm.so",
        "/usr/lib/libgalera_smm.so",
    ]
    .iter()
    .map(PathBuf::from)
    .find(|p| p.exists())
    .unwrap_or_else(|| missing("/usr/lib/galera/libgalera_smm.so", "galera-4"))
}

/// The provider options every node gets, besides its own addresses.
const PROVIDER_OPTIONS: &str = "gcache.size=16M;pc.recovery=FALSE;\
evs.suspect_timeout=PT3S;evs.inactive_timeout=PT5S;evs.install_timeout=PT5S;\
evs.keepalive_period=PT0.5S;evs.inactive_check_period=PT0.5S";

/// The ports of one node.
struct NodePorts {
    mysql: Port,
    galera: Port,
    ist: Port,
    sst: Port,
}

/// The `[mysqld]` lines of a Galera node.
fn node_config(name: &str, ports: &NodePorts, cluster: &[u16]) -> Vec<String> {
    let cluster: Vec<String> = cluster.iter().map(|p| format!("127.0.0.1:{p}")).collect();
    vec![
        "binlog_format=ROW".to_owned(),
        "default_storage_engine=InnoDB".to_owned(),
        "innodb_autoinc_lock_mode=2".to_owned(),
        "wsrep_on=ON".to_owned(),
        format!("wsrep_provider={}", provider().display()),
        "wsrep_cluster_name=np-lab".to_owned(),
        format!("wsrep_cluster_address=gcomm://{}", cluster.join(",")),
        format!("wsrep_node_name={name}"),
        format!("wsrep_node_address=127.0.0.1:{}", ports.galera.number()),
        format!(
            "wsrep_node_incoming_address=127.0.0.1:{}",
            ports.mysql.number()
        ),
        "wsrep_sst_method=rsync".to_owned(),
        format!("wsrep_sst_receive_address=127.0.0.1:{}", ports.sst.number()),
        format!(
            "wsrep_provider_options=\"gmcast.listen_addr=tcp://127.0.0.1:{};\
             ist.recv_addr=127.0.0.1:{};{PROVIDER_OPTIONS}\"",
            ports.galera.number(),
            ports.ist.number()
        ),
    ]
}

fn claim_node_ports() -> NodePorts {
    NodePorts {
        mysql: claim_port(),
        galera: claim_port(),
        ist: claim_port(),
        sst: claim_port(),
    }
}

/// A node's `wsrep_%` status: what a client of a Galera cluster looks at.
#[derive(Clone, Debug, PartialEq)]
pub struct WsrepStatus {
    /// `Primary`, `non-Primary` or `Disconnected`.
    pub cluster_status: String,
    pub cluster_size: u32,
    /// `wsrep_ready`: the node accepts queries.
    pub ready: bool,
    pub connected: bool,
    /// `Synced`, `Donor/Desynced`, `Joining`, `Joined`, `Initialized`...
    pub local_state_comment: String,
    /// Fraction of time paused by flow control since the last
    /// `FLUSH STATUS`.
    pub flow_control_paused: f64,
    /// Write sets received and not yet applied.
    pub local_recv_queue: u64,
}

impl WsrepStatus {
    fn parse(text: &str) -> WsrepStatus {
        let get = |name: &str| {
            text.lines()
                .filter_map(|line| line.split_once('\t'))
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.to_owned())
                .unwrap_or_default()
        };
        WsrepStatus {
            cluster_status: get("wsrep_cluster_status"),
            cluster_size: get("wsrep_cluster_size").parse().unwrap_or(0),
            ready: get("wsrep_ready") == "ON",
            connected: get("wsrep_connected") == "ON",
            local_state_comment: get("wsrep_local_state_comment"),
            flow_control_paused: get("wsrep_flow_control_paused").parse().unwrap_or(0.0),
            local_recv_queue: get("wsrep_local_recv_queue").parse().unwrap_or(0),
        }
    }

    /// Synced, ready, in the primary component.
    pub fn is_synced(&self) -> bool {
        self.cluster_status == "Primary" && self.ready && self.local_state_comment == "Synced"
    }
}

/// A three-node Galera cluster. Nodes are numbered 1 to 3. Every node is
/// stopped (SIGKILL) when dropped.
pub struct Galera {
    nodes: Vec<MariaDb>,
    /// Each node's Galera, IST and SST ports (the mysqld port is the
    /// node's own).
    _ports: Vec<[Port; 3]>,
    lab: LabDir,
}

impl Galera {
    /// Forms the cluster: returns when all three nodes are Synced, ready,
    /// in a primary component of three.
    pub fn start() -> Galera {
        let started = Instant::now();
        program("rsync", "rsync");
        program("wsrep_sst_rsync", "mariadb-server");
        let (data, position) = galera_template();
        let lab = LabDir::new("galera");
        let ports: Vec<NodePorts> = (0..NODES).map(|_| claim_node_ports()).collect();
        let cluster: Vec<u16> = ports.iter().map(|p| p.galera.number()).collect();
        let mut nodes = Vec::new();
        let mut kept = Vec::new();
        for (i, node_ports) in ports.into_iter().enumerate() {
            let name = format!("node{}", i + 1);
            let config = node_config(&name, &node_ports, &cluster);
            let NodePorts {
                mysql,
                galera,
                ist,
                sst,
            } = node_ports;
            nodes.push(MariaDb::create(&lab, &name, mysql, &config, &data));
            kept.push([galera, ist, sst]);
        }
        let mut cluster = Galera {
            nodes,
            _ports: kept,
            lab,
        };
        let mut times = Vec::new();
        for n in 1..=NODES {
            let node_started = Instant::now();
            let args = if n == 1 {
                vec!["--wsrep-new-cluster".to_owned()]
            } else {
                vec![format!("--wsrep-start-position={position}")]
            };
            let node = cluster.node_mut(n);
            node.launch(&args);
            node.wait_ready();
            cluster.wait_status(n, &format!("node {n} to be Synced with {n} nodes"), |s| {
                s.is_synced() && s.cluster_size == n as u32
            });
            times.push(format!(
                "node{n} {:.1}s",
                node_started.elapsed().as_secs_f64()
            ));
        }
        cluster.wait_synced();
        eprintln!(
            "np-lab: Galera cluster formed in {:.1}s ({}), ports {:?}",
            started.elapsed().as_secs_f64(),
            times.join(", "),
            (1..=NODES)
                .map(|n| cluster.node(n).port())
                .collect::<Vec<_>>()
        );
        cluster
    }

    /// Node `n` (1 to 3).
    pub fn node(&self, n: usize) -> &MariaDb {
        assert!((1..=NODES).contains(&n), "nodes are numbered 1 to {NODES}");
        &self.nodes[n - 1]
    }

    pub fn node_mut(&mut self, n: usize) -> &mut MariaDb {
        assert!((1..=NODES).contains(&n), "nodes are numbered 1 to {NODES}");
        &mut self.nodes[n - 1]
    }

    /// `mysql://root@127.0.0.1:PORT` of node `n`.
    pub fn url(&self, n: usize) -> String {
        self.node(n).url()
    }

    /// Every node's URL, node 1 first.
    pub fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(MariaDb::url).collect()
    }

    /// The cluster's directory.
    pub fn dir(&self) -> &Path {
        self.lab.path()
    }

    /// Node `n`'s wsrep status, or the error of a node that does not answer.
    pub fn try_status(&self, n: usize) -> Result<WsrepStatus, String> {
        self.node(n)
            .try_sql(
                "SHOW GLOBAL STATUS WHERE Variable_name IN ('wsrep_cluster_status', \
                 'wsrep_cluster_size', 'wsrep_ready', 'wsrep_connected', \
                 'wsrep_local_state_comment', 'wsrep_flow_control_paused', \
                 'wsrep_local_recv_queue')",
            )
            .map(|text| WsrepStatus::parse(&text))
    }

    /// Node `n`'s wsrep status; panics if it does not answer.
    pub fn status(&self, n: usize) -> WsrepStatus {
        self.try_status(n)
            .unwrap_or_else(|e| panic!("node {n} does not answer: {e}"))
    }

    /// Waits until node `n`'s status satisfies `ok`; returns that status.
    /// Panics after two minutes with the last status and the node's log.
    pub fn wait_status(
        &self,
        n: usize,
        what: &str,
        ok: impl Fn(&WsrepStatus) -> bool,
    ) -> WsrepStatus {
        let started = Instant::now();
        loop {
            let status = self.try_status(n);
            match &status {
                Ok(s) if ok(s) => return s.clone(),
                _ if started.elapsed() > WAIT => panic!(
                    "timed out after {WAIT:?} waiting for {what}; last: {status:?}\n{}",
                    super::tail(&self.node(n).error_log(), 40)
                ),
                _ => std::thread::sleep(Duration::from_millis(50)),
            }
        }
    }

    /// Waits until node `n` sees a primary component of `size` nodes.
    pub fn wait_cluster_size(&self, n: usize, size: u32) -> WsrepStatus {
        self.wait_status(n, &format!("node {n} to see {size} nodes"), |s| {
            s.cluster_status == "Primary" && s.cluster_size == size
        })
    }

    /// Waits until every running node is Synced in one primary component of
    /// all running nodes.
    pub fn wait_synced(&mut self) {
        let running: Vec<usize> = (1..=NODES)
            .filter(|&n| self.node_mut(n).is_running())
            .collect();
        for &n in &running {
            self.wait_status(n, &format!("node {n} to be Synced"), |s| {
                s.is_synced() && s.cluster_size == running.len() as u32
            });
        }
    }

    /// SIGKILL to node `n` (no clean shutdown); returns at once: the others
    /// notice within a few seconds ([`wait_cluster_size`](Self::wait_cluster_size)).
    pub fn kill(&mut self, n: usize) {
        self.node_mut(n).kill();
    }

    /// Starts node `n` again; returns when it has rejoined (state transfer
    /// done) and the running nodes are all Synced.
    pub fn restart(&mut self, n: usize) {
        let started = Instant::now();
        let node = self.node_mut(n);
        node.launch(&[]);
        node.wait_ready();
        self.wait_synced();
        eprintln!(
            "np-lab: Galera node {n} rejoined in {:.1}s",
            started.elapsed().as_secs_f64()
        );
    }

    /// Cuts node `n` off the others (`gmcast.isolate=1`: it drops its
    /// Galera connections and refuses new ones); returns when it is out of
    /// the primary component (`wsrep_cluster_status` `non-Primary`,
    /// `wsrep_ready` OFF) and the others see the cluster one node smaller.
    pub fn isolate(&self, n: usize) {
        let started = Instant::now();
        let before = self.status(n).cluster_size;
        self.node(n)
            .sql("SET GLOBAL wsrep_provider_options = 'gmcast.isolate=1'");
        self.wait_status(
            n,
            &format!("node {n} to leave the primary component"),
            |s| s.cluster_status == "non-Primary",
        );
        for other in (1..=NODES).filter(|&m| m != n) {
            if self.try_status(other).is_ok() {
                self.wait_cluster_size(other, before - 1);
            }
        }
        eprintln!(
            "np-lab: Galera node {n} isolated in {:.1}s",
            started.elapsed().as_secs_f64()
        );
    }

    /// Undoes [`isolate`](Self::isolate); returns when node `n` is Synced in
    /// the primary component again.
    pub fn rejoin(&mut self, n: usize) {
        let started = Instant::now();
        self.node(n)
            .sql("SET GLOBAL wsrep_provider_options = 'gmcast.isolate=0'");
        self.wait_synced();
        eprintln!(
            "np-lab: Galera node {n} rejoined in {:.1}s",
            started.elapsed().as_secs_f64()
        );
    }
}

impl Drop for Galera {
    fn drop(&mut self) {
        // Nodes before the directory (the fields would drop in that order
        // too; this says it).
        self.nodes.clear();
    }
}

/// The cached Galera data directory, and its position (`uuid:seqno`).
fn galera_template() -> (PathBuf, String) {
    let base = mariadb_template();
    let provider = provider();
    let mariadbd = program("mariadbd", "mariadb-server");
    let key = template_key(&[&provider, &mariadbd, &base], &[PROVIDER_OPTIONS]);
    let data = template("galera", key, |out| {
        let lab = LabDir::new("galera-template");
        let ports = claim_node_ports();
        let cluster = [ports.galera.number()];
        let config = node_config("node1", &ports, &cluster);
        let mut node = MariaDb::create(&lab, "node1", claim_port(), &config, &base);
        node.launch(&["--wsrep-new-cluster".to_owned()]);
        node.wait_ready();
        let started = Instant::now();
        while node.status("wsrep_local_state_comment") != "Synced" {
            assert!(
                started.elapsed() < WAIT,
                "the Galera template node did not sync:\n{}",
                super::tail(&node.error_log(), 40)
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        node.stop();
        let data = node.dir().join("data");
        let position = read_position(&data);
        assert!(
            !position.ends_with(":-1"),
            "the Galera template node did not save its position ({position}):\n{}",
            super::tail(&node.error_log(), 40)
        );
        // Each node makes its own ring buffer.
        let _ = std::fs::remove_file(data.join("galera.cache"));
        let _ = std::fs::remove_file(data.join("gvwstate.dat"));
        std::fs::rename(&data, out).expect("move the Galera template");
    });
    let position = read_position(&data);
    (data, position)
}

/// `uuid:seqno` from grastate.dat.
fn read_position(data: &Path) -> String {
    let path = data.join("grastate.dat");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let field = |name: &str| {
        text.lines()
            .find_map(|line| line.strip_prefix(name))
            .map(|v| v.trim().to_owned())
            .unwrap_or_else(|| panic!("no {name} in {}:\n{text}", path.display()))
    };
    format!("{}:{}", field("uuid:"), field("seqno:"))
}
