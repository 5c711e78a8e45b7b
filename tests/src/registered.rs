//! What the registry linked into the tests leads a test to expect of a
//! database, so that assertions stay exact when a developer adds a target
//! file (docs/adding-a-target.md) whose table a fixture does not have.

use purge_api::{DatabaseKind, Registry, Scope};
use purge_engine::database::schema::Schema;

use crate::TestDb;

// The registry these functions read is the one nova-purge links: name the
// plugins crate so that every test binary links it too.
use purge_plugins as _;

/// The tables of the registered `database` targets of the instances scope
/// (what a purge does by default) that `test_db` lacks (or whose link
/// column it lacks): exactly the targets such a purge must skip, sorted.
pub async fn targets_without_their_table(test_db: &TestDb, database: DatabaseKind) -> Vec<String> {
    let schema = Schema::inspect(&test_db.db).await.expect("inspect schema");
    let registry = Registry::load().expect("a valid registry");
    let mut tables: Vec<String> = registry
        .iter()
        .map(|r| r.target)
        .filter(|t| t.database() == database && t.scope() == Scope::Instances)
        .filter(|t| {
            let link = t.link();
            !schema.has_column(t.table(), link.column())
                || link.parent_table().is_some_and(|p| !schema.has_table(p))
        })
        .map(|t| t.table().to_owned())
        .collect();
    tables.sort();
    tables.dedup();
    tables
}
