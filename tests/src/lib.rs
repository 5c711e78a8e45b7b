//! Test harness of the integration tests (tests/tests/*.rs): throwaway
//! databases on the three backends, the fixture, running the real binary,
//! whole-database snapshots to compare, and the helpers of the fault and
//! concurrency suites. Everything is exported at the crate root; the
//! `server` module is also used by the benchmark (`nova-purge-bench`).

mod binary;
pub mod measured;
mod population;
pub mod registered;
mod rng;
pub mod server;
pub mod servers;
mod test_db;

use purge_api::Backend;

pub use purge_fixture::InstanceState;

pub use crate::binary::{binary, nova_purge, purge_json, spawn_nova_purge, Run, Spawned};
pub use crate::population::{orphans, populate, InstanceRows, Population, Presence, TableRow};
pub use crate::rng::{env_count, Rng};
pub use crate::server::Admin;
pub use crate::test_db::{another_pool, insert_instances, uuid, Row, Snapshot, TestDb};

/// The three backends, for tests that run on each.
pub const BACKENDS: [Backend; 3] = [Backend::Sqlite, Backend::MySql, Backend::Postgres];
