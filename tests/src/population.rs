//! Larger populations for the fault and concurrency suites, and what a
//! purge may and may not leave of them: which rows belong to which
//! instance, whether an instance is whole or gone, and orphans.

use std::collections::{BTreeMap, BTreeSet};

use purge_fixture::{Fixture, InstanceSpec, InstanceState};

use crate::test_db::{insert_instances, uuid, Row, Snapshot, TestDb};

/// The instances of a larger fixture, by what a purge must do with them.
#[derive(Debug, Clone, Default)]
pub struct Population {
    /// Old deleted, nothing holds them: a purge removes exactly these.
    pub purgeable: Vec<String>,
    /// Old deleted but held by a legacy fixed_ips row: skipped, whole.
    pub blocked: Vec<String>,
    /// Live, young deleted and restorable soft-deleted: never touched.
    pub untouchable: Vec<String>,
}

impl Population {
    pub fn extend(&mut self, other: Population) {
        self.purgeable.extend(other.purgeable);
        self.blocked.extend(other.blocked);
        self.untouchable.extend(other.untouchable);
    }
}

/// Inserts `candidates` old deleted instances with labels from
/// `first_label` on, interleaved (by id) with the instances a purge must
/// leave alone: per ten candidates one live, one deleted 10 days ago and
/// one restorable soft-delete; every 20th candidate is blocked; and a live
/// instance last.
pub async fn populate(
    test_db: &TestDb,
    fixture: &Fixture,
    candidates: u32,
    first_label: u32,
) -> Population {
    let mut population = Population::default();
    let mut label = first_label;
    let mut next = |state, fixed_ip| {
        label += 1;
        InstanceSpec {
            fixed_ip,
            ..InstanceSpec::new(uuid(label), state)
        }
    };
    let mut specs = Vec::new();
    for n in 0..candidates {
        let blocked = n % 20 == 7;
        let spec = next(InstanceState::Deleted { days_ago: 200 }, blocked);
        if blocked {
            population.blocked.push(spec.uuid.clone());
        } else {
            population.purgeable.push(spec.uuid.clone());
        }
        specs.push(spec);
        let other = match n % 10 {
            2 => Some(InstanceState::Live),
            5 => Some(InstanceState::Deleted { days_ago: 10 }),
            8 => Some(InstanceState::SoftDelete),
            _ => None,
        };
        if let Some(state) = other {
            let spec = next(state, false);
            population.untouchable.push(spec.uuid.clone());
            specs.push(spec);
        }
    }
    // Last a live one, which no purge removes: SQLite gives a new row the
    // highest rowid plus one, so without it a later instance could take a
    // purged one's id, and the fixture derives unique PCI addresses (which
    // the purged instance's live inventory still holds) from the id.
    let last = next(InstanceState::Live, false);
    population.untouchable.push(last.uuid.clone());
    specs.push(last);
    insert_instances(test_db, fixture, &specs).await;
    population
}

/// A table name and one of its rows.
pub type TableRow = (String, Row);

/// Which rows of a snapshot belong to which instance, to check that an
/// instance is whole or gone without comparing whole databases.
#[derive(Debug, Default)]
pub struct InstanceRows {
    /// uuid → every row that mentions the uuid (the instance row included)
    /// and the events of its actions. Live PCI inventory is not included.
    pub owned: BTreeMap<String, Vec<TableRow>>,
    /// Live PCI inventory (`deleted = 0`) allocated to some instance: host
    /// data that a purge must never remove.
    pub inventory: Vec<TableRow>,
    /// Rows of no instance (security groups, console pools, compute nodes).
    pub shared: Vec<TableRow>,
}

/// What is left of an instance's rows in a later snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Presence {
    Whole,
    Gone,
    Partial { present: usize, total: usize },
}

impl InstanceRows {
    pub fn of(snapshot: &Snapshot) -> InstanceRows {
        let uuids: BTreeSet<String> = snapshot
            .rows("instances")
            .iter()
            .filter_map(|row| row["uuid"].clone())
            .collect();
        let action_owner: BTreeMap<String, String> = snapshot
            .rows("instance_actions")
            .iter()
            .filter_map(|row| Some((row["id"].clone()?, row["instance_uuid"].clone()?)))
            .collect();
        let mut rows = InstanceRows::default();
        for (table, table_rows) in &snapshot.tables {
            for row in table_rows {
                let owner = row
                    .values()
                    .flatten()
                    .find(|value| uuids.contains(*value))
                    .cloned()
                    .or_else(|| match table.as_str() {
                        "instance_actions_events" => row["action_id"]
                            .as_ref()
                            .and_then(|id| action_owner.get(id).cloned()),
                        _ => None,
                    });
                let entry = (table.clone(), row.clone());
                match owner {
                    Some(_) if is_live_pci(table, row) => rows.inventory.push(entry),
                    Some(uuid) => rows.owned.entry(uuid).or_default().push(entry),
                    None => rows.shared.push(entry),
                }
            }
        }
        rows
    }

    /// How much of `uuid`'s rows (as they were here) `after` still holds.
    pub fn presence(&self, uuid: &str, after: &Snapshot) -> Presence {
        let owned = self.owned.get(uuid).map_or(&[][..], Vec::as_slice);
        let present = owned
            .iter()
            .filter(|(table, row)| {
                after
                    .tables
                    .get(table)
                    .is_some_and(|rows| rows.contains(row))
            })
            .count();
        match present {
            0 => Presence::Gone,
            n if n == owned.len() => Presence::Whole,
            n => Presence::Partial {
                present: n,
                total: owned.len(),
            },
        }
    }

    /// Rows that must outlive every purge (shared parents and live PCI
    /// inventory) but that `after` lacks.
    pub fn lost_permanent_rows(&self, after: &Snapshot) -> Vec<&TableRow> {
        self.shared
            .iter()
            .chain(&self.inventory)
            .filter(|(table, row)| {
                !after
                    .tables
                    .get(table)
                    .is_some_and(|rows| rows.contains(row))
            })
            .collect()
    }
}

fn is_live_pci(table: &str, row: &Row) -> bool {
    table == "pci_devices" && row["deleted"].as_deref() == Some("0")
}

/// Rows that reference an instance or an action that does not exist: every
/// `instance_uuid` column (fixed_ips included), `tags.resource_id`,
/// `instance_id_mappings.uuid`, and `instance_actions_events.action_id`.
/// Live PCI inventory may outlive its instance and is not an orphan.
pub fn orphans(snapshot: &Snapshot) -> Vec<String> {
    let ids = |table: &str, column: &str| -> BTreeSet<String> {
        snapshot
            .rows(table)
            .iter()
            .filter_map(|row| row[column].clone())
            .collect()
    };
    let instances = ids("instances", "uuid");
    let actions = ids("instance_actions", "id");
    let mut found = Vec::new();
    for (table, rows) in &snapshot.tables {
        let (column, parents) = match table.as_str() {
            "instances" => continue,
            "tags" => ("resource_id", &instances),
            "instance_id_mappings" => ("uuid", &instances),
            "instance_actions_events" => ("action_id", &actions),
            _ => ("instance_uuid", &instances),
        };
        for row in rows {
            let Some(Some(value)) = row.get(column) else {
                continue;
            };
            if !parents.contains(value) && !is_live_pci(table, row) {
                found.push(format!("{table}.{column} = {value}: {row:?}"));
            }
        }
    }
    found
}
