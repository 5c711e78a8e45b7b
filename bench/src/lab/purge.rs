//! nova-purge as the private topologies run it: any options, the same
//! measuring wrapper and report as the benchmark's own runs.

use std::path::Path;

use anyhow::Result;
use nova_purge_tests::server::ThrowawayDb;
use purge_api::{Db, Scope};

use crate::expect::Expected;
use crate::run::{Case, Ctx, NovaPurge, PurgeRun};

/// nova-purge on one copy, as the shared-server runs run it, and with a
/// replica to watch when paced: `[--replica-url REPLICA/COPY
/// --max-replication-lag T]`.
pub struct LabPurge<'a> {
    pub purge: NovaPurge<'a>,
    /// `--replica-url` and `--max-replication-lag`, when paced by a replica.
    pub pacing: Option<Pacing>,
    /// The run's name in the results.
    pub label: String,
}

impl<'a> LabPurge<'a> {
    /// nova-purge at its defaults but `batch_size`, on the instances.
    pub fn new(
        binary: &'a Path,
        batch_size: Option<u64>,
        pacing: Option<Pacing>,
        label: String,
    ) -> Self {
        LabPurge {
            purge: NovaPurge {
                binary,
                scope: Scope::Instances,
                batch_size,
                batch_time: None,
                log_batches: false,
            },
            pacing,
            label,
        }
    }

    fn args(&self, copy: &ThrowawayDb) -> Vec<String> {
        let mut args = self.purge.args(copy);
        if let Some(pacing) = &self.pacing {
            args.extend([
                "--replica-url".to_owned(),
                format!("{}/{}", pacing.replica_server, copy.name),
                "--max-replication-lag".to_owned(),
                pacing.max_lag.clone(),
            ]);
        }
        args
    }
}

/// The replica a run watches.
pub struct Pacing {
    /// Its URL without a database (the copy's name is added).
    pub replica_server: String,
    /// `--max-replication-lag`.
    pub max_lag: String,
}

impl Case for LabPurge<'_> {
    type Work = PurgeRun;

    fn start_message(&self, copy: &ThrowawayDb) -> String {
        format!(
            "running {} {}",
            self.purge.binary.display(),
            self.args(copy).join(" ")
        )
    }

    async fn execute(&self, copy: &ThrowawayDb, _db: &Db, _ctx: &Ctx) -> Result<PurgeRun> {
        self.purge.spawn(&self.args(copy))
    }

    fn summary(&self, run: &PurgeRun) -> String {
        format!(
            "{} done in {:.2} s, longest batch {} ms",
            self.label,
            run.child.wall.as_secs_f64(),
            run.u64_field("max_batch_ms")
        )
    }

    fn check(&self, expected: &Expected, run: &PurgeRun) -> Vec<String> {
        expected.check_report(&run.report, run.batch_size)
    }
}
