//! The options of the Nova-schema, batch-time and profiling runs (issue
//! 14), flattened into [`crate::args::Args`].

use anyhow::{bail, Result};
use clap::ValueEnum;

/// Which schema each copy gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SchemaKind {
    /// The fixture schema (`purge-fixture`) with sequential uuids and small
    /// rows.
    Fixture,
    /// The schema Nova 34's own migrations create (`nova-manage db sync`),
    /// with random uuids and Nova-sized rows (see fill_nova.rs).
    Nova,
}

#[derive(Debug, clap::Args)]
pub struct SchemaArgs {
    /// Schema and data of every copy: the fixture's, or Nova's real schema
    /// (synced once per run by tests/nova-compat/sync.sh) with realistic data
    #[arg(long, value_enum, default_value_t = SchemaKind::Fixture)]
    pub schema: SchemaKind,

    /// Run nova-purge once per --batch-time value (as nova-purge takes it:
    /// 250ms, 1s, 0 for fixed batches; `default` passes none), each on a
    /// fresh copy; with --batch-sizes, every pair
    #[arg(long, value_name = "D,D,...", value_delimiter = ',')]
    pub batch_times: Vec<String>,

    /// MariaDB: server time per statement shape of every measured step (the
    /// slow log, switched on for that step only), printed as a table
    #[arg(long)]
    pub profile: bool,
}

impl SchemaArgs {
    /// The `--batch-time` of each nova-purge run of a round (`None`: not
    /// passed, nova-purge's default).
    pub fn batch_times(&self) -> Vec<Option<String>> {
        if self.batch_times.is_empty() {
            vec![None]
        } else {
            self.batch_times
                .iter()
                .map(|time| (time != "default").then(|| time.clone()))
                .collect()
        }
    }

    /// Whether any of these options asks for more than the defaults.
    pub fn any(&self) -> bool {
        self.schema != SchemaKind::Fixture || !self.batch_times.is_empty() || self.profile
    }

    /// Rejects what the options cannot do together.
    pub fn validate(&self, backend: purge_api::Backend, other_scopes: bool) -> Result<()> {
        if self.schema == SchemaKind::Nova && other_scopes {
            bail!("--schema nova fills the instances scope only");
        }
        if self.schema == SchemaKind::Nova && backend == purge_api::Backend::Sqlite {
            bail!("--schema nova needs --backend mysql or postgres");
        }
        if self.profile && backend != purge_api::Backend::MySql {
            bail!("--profile reads MariaDB's slow log: it needs --backend mysql");
        }
        Ok(())
    }
}
