//! The command-line options of the private-server topologies, flattened
//! into the benchmark's own.

/// Private MariaDB servers the benchmark starts, measures on and stops
/// itself (the test lab, `nova_purge_tests::servers`): nothing to keep,
/// as the servers go at the end.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct LabArgs {
    /// N private MariaDB servers, one cell database each, every cell filled
    /// with the same data, listed in the cell_mappings of an API database
    /// on a server of its own; nova-purge purges them with `--all-cells
    /// --jobs J` for each J of --jobs, each time on freshly filled cells
    #[arg(long, value_name = "N", conflicts_with_all = ["fill_only", "keep"])]
    pub cells: Option<usize>,

    /// With --cells: the nova-purge --jobs values to measure [default: 1,
    /// 2 and N]
    #[arg(long, value_name = "J,...", value_delimiter = ',', requires = "cells")]
    pub jobs: Vec<usize>,

    /// nova-purge and the floor through node 1 of a private three-node
    /// Galera cluster, and on a private single MariaDB server with the same
    /// settings otherwise
    #[arg(long, conflicts_with_all = ["fill_only", "keep"])]
    pub galera: bool,

    /// nova-purge (defaults, then paced by the replica's lag) and the floor
    /// on a private MariaDB primary with an asynchronous replica, whose lag
    /// is sampled every 100 ms
    #[arg(long, conflicts_with_all = ["fill_only", "keep"])]
    pub replica: bool,

    /// With --replica: the paced run's nova-purge `--max-replication-lag`
    #[arg(long, value_name = "DURATION", default_value = "1s")]
    pub replica_max_lag: String,
}

impl LabArgs {
    /// Whether any private topology was asked for.
    pub fn any(&self) -> bool {
        self.cells.is_some() || self.galera || self.replica
    }

    /// The --jobs values for `cells` cells, in order, none twice.
    pub fn jobs(&self, cells: usize) -> Vec<usize> {
        let asked = if self.jobs.is_empty() {
            vec![1, 2, cells]
        } else {
            self.jobs.clone()
        };
        let mut jobs = Vec::new();
        for j in asked {
            if !jobs.contains(&j) {
                jobs.push(j);
            }
        }
        jobs
    }
}
