//! nova-purge as the private topologies run it: any options, the same
//! measuring wrapper and report as the benchmark's own runs.

use std::path::Path;

use anyhow::{bail, Context, Result};
use nova_purge_tests::server::ThrowawayDb;
use purge_api::{Db, Scope};
use purge_engine::limits::DEFAULT_BATCH_SIZE;
use serde_json::Value as Json;

use crate::child;
use crate::expect::Expected;
use crate::run::{Case, Ctx, PurgeRun};

/// Runs `binary args...` through the measuring wrapper; fails unless it
/// exits 0 with a JSON report. `batch_size` is the `--batch-size` among
/// the arguments, if any.
pub fn run(binary: &Path, args: &[String], batch_size: Option<u64>) -> Result<PurgeRun> {
    let child = child::run_measured(binary, args)?;
    if child.code != 0 {
        bail!(
            "nova-purge exited with {}\nstdout:\n{}\nstderr:\n{}",
            child.code,
            child.stdout,
            child.stderr
        );
    }
    let report: Json = serde_json::from_str(child.stdout.trim())
        .with_context(|| format!("nova-purge printed no JSON report:\n{}", child.stdout))?;
    Ok(PurgeRun {
        scope: Scope::Instances,
        batch_size: batch_size.unwrap_or(DEFAULT_BATCH_SIZE as u64),
        explicit_batch_size: batch_size.is_some(),
        batch_time: None,
        child,
        report,
    })
}

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
        run(self.binary, &self.args(copy), self.batch_size)
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
