//! nova-purge as the private topologies run it: any options, the same
//! measuring wrapper and report as the benchmark's own runs.

use std::path::Path;

use anyhow::Result;
use nova_purge_tests::server::ThrowawayDb;
use purge_api::{Db, Scope};

use crate::expect::Expected;
use crate::run::{Case, Ctx, PurgeRun};

/// `nova-purge --database-url COPY purge --yes --format json
/// [--batch-size N] [--replica-url REPLICA/COPY --max-replication-lag T]`
/// on one copy.
pub struct LabPurge<'a> {
    pub binary: &'a Path,
    pub batch_size: Option<u64>,
    /// `--replica-url` and `--max-replication-lag`, when paced by a replica.
    pub pacing: Option<Pacing>,
    /// The run's name in the results.
    pub label: String,
}

/// The replica a run watches.
pub struct Pacing {
    /// Its URL without a database (the copy's name is added).
    pub replica_server: String,
    /// `--max-replication-lag`.
    pub max_lag: String,
}

impl LabPurge<'_> {
    fn args(&self, copy: &ThrowawayDb) -> Vec<String> {
        let mut args: Vec<String> = ["--database-url", &copy.url, "purge", "--yes"]
            .into_iter()
            .chain(["--format", "json"])
            .map(str::to_owned)
            .collect();
        if let Some(n) = self.batch_size {
            args.extend(["--batch-size".to_owned(), n.to_string()]);
        }
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

impl Case for LabPurge<'_> {
    type Work = PurgeRun;

    fn start_message(&self, copy: &ThrowawayDb) -> String {
        format!(
            "running {} {}",
            self.binary.display(),
            self.args(copy).join(" ")
        )
    }

    async fn execute(&self, copy: &ThrowawayDb, _db: &Db, _ctx: &Ctx) -> Result<PurgeRun> {
        PurgeRun::spawn(
            self.binary,
            &self.args(copy),
            Scope::Instances,
            self.batch_size,
            None,
        )
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
