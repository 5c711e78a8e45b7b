//! The data of the own-row scopes (`rows`, `task-log`, `shadow`), decided
//! row by row before anything is written, so that the fill writes it and
//! the expectations count it from the same decisions.
//!
//! `--deleted N` old rows and `--live M` rows that stay are shared out
//! among the scope's tables by weight (each its whole share, the remainder
//! a row each to the first tables, parents first); in each table the old rows are
//! spread evenly among those that stay, as for instances. A row that stays
//! is live (`deleted = 0`) or recently soft-deleted (30 days ago), in turn;
//! in the shadow tables every 100th is undated (no `deleted_at`: only
//! `--undated-shadow-rows` takes it); in `task_log` its period ended 30
//! days ago. Old rows were soft-deleted (or their period ended) 200 days
//! ago.
//!
//! Held rows: in a parent table (`compute_nodes`, `aggregates`) every 20th
//! row that stays is old and soft-deleted like those that go, and a row
//! that stays in the child table (`pci_devices`, `aggregate_hosts`) still
//! references it: a purge must leave it. Children that go reference
//! parents that go (so a parent can only go after its children), children
//! that stay reference parents that stay, held ones first. Whether a row
//! goes is then derived from the references, not assumed.
//!
//! The rows of the `rows` scope that belong to an instance belong to live
//! instances, one per 20 rows, which the scope never touches.

use anyhow::{bail, Result};
use purge_api::Scope;

use crate::fill::Spec;

/// What a generated row is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// `deleted = 0`.
    Live = 0,
    /// Soft-deleted 200 days ago; in `task_log`, a period that ended then.
    Old = 1,
    /// Soft-deleted 30 days ago; in `task_log`, a period that ended then.
    Recent = 2,
    /// Soft-deleted without a `deleted_at` (shadow tables only).
    Undated = 3,
}

/// What a table's rows that stay are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Staying {
    /// Live and recently soft-deleted, in turn.
    LiveOrRecent,
    /// The same, and every 20th is held: old, but referenced.
    Held,
    /// Recently soft-deleted, every 100th undated (shadow tables).
    RecentOrUndated,
    /// A period that ended recently (`task_log`).
    Recent,
}

/// One generated table of a scope.
#[derive(Debug, Clone, Copy)]
struct Def {
    table: &'static str,
    /// Its share of the rows.
    weight: u64,
    staying: Staying,
    /// The table its rows reference (its foreign key), if any.
    parent: Option<&'static str>,
    /// Whether its rows belong to an instance (`instance_uuid`).
    per_instance: bool,
    /// Its first id (`compute_nodes` already holds the fixture's node 1).
    first_id: i64,
}

const fn def(table: &'static str, weight: u64, staying: Staying) -> Def {
    Def {
        table,
        weight,
        staying,
        parent: None,
        per_instance: false,
        first_id: 1,
    }
}

const fn of_instance(table: &'static str, weight: u64) -> Def {
    Def {
        per_instance: true,
        ..def(table, weight, Staying::LiveOrRecent)
    }
}

const fn child(table: &'static str, weight: u64, parent: &'static str) -> Def {
    Def {
        parent: Some(parent),
        ..def(table, weight, Staying::LiveOrRecent)
    }
}

/// The `rows` scope: what live instances and hosts shed, parents first;
/// weights out of 100 (instance rows far outnumber host rows, and
/// aggregates are the fewest).
const ROWS: &[Def] = &[
    def("services", 2, Staying::LiveOrRecent),
    Def {
        first_id: 2,
        ..def("compute_nodes", 2, Staying::Held)
    },
    def("aggregates", 1, Staying::Held),
    child("aggregate_hosts", 4, "aggregates"),
    of_instance("instance_metadata", 25),
    of_instance("instance_system_metadata", 25),
    of_instance("block_device_mapping", 10),
    of_instance("virtual_interfaces", 10),
    of_instance("migrations", 11),
    child("pci_devices", 10, "compute_nodes"),
];

const TASK_LOG: &[Def] = &[def("task_log", 1, Staying::Recent)];

const SHADOW: &[Def] = &[
    Def {
        per_instance: true,
        ..def("shadow_instance_metadata", 3, Staying::RecentOrUndated)
    },
    def("shadow_services", 1, Staying::RecentOrUndated),
];

/// Rows of the `rows` scope per live instance that owns them.
const ROWS_PER_INSTANCE: u64 = 20;

/// One generated row.
#[derive(Debug, Clone, Copy)]
pub struct Row {
    pub id: i64,
    pub class: Class,
    /// The id of the parent row it references.
    pub parent: Option<i64>,
    /// The number of the instance it belongs to (1-based; 0: none).
    pub instance: i64,
    /// Whether a correct purge of the scope deletes it.
    pub goes: bool,
    /// Old, but placed among the rows that stay, for a staying child to
    /// hold.
    meant_held: bool,
}

/// One generated table and its rows, in id order.
#[derive(Debug, Clone)]
pub struct Table {
    pub table: &'static str,
    pub rows: Vec<Row>,
    /// Rows the fixture itself puts there (its shared compute node), which
    /// stay.
    pub fixture_rows: u64,
}

impl Table {
    /// Rows a purge reads as candidates (old ones, held ones included).
    pub fn candidates(&self) -> u64 {
        self.count(|r| r.class == Class::Old)
    }

    /// Rows a correct purge deletes.
    pub fn going(&self) -> u64 {
        self.count(|r| r.goes)
    }

    /// Old rows a correct purge leaves, because a row that stays
    /// references them.
    pub fn held(&self) -> u64 {
        self.count(|r| r.class == Class::Old && !r.goes)
    }

    fn count(&self, f: impl Fn(&Row) -> bool) -> u64 {
        self.rows.iter().filter(|r| f(r)).count() as u64
    }
}

/// Everything one fill of an own-row scope writes, parents first
/// (`instances` first, for the `rows` scope).
#[derive(Debug, Clone)]
pub struct Layout {
    pub scope: Scope,
    pub tables: Vec<Table>,
}

impl Layout {
    pub fn new(scope: Scope, spec: &Spec) -> Result<Layout> {
        let defs = match scope {
            Scope::Rows => ROWS,
            Scope::TaskLog => TASK_LOG,
            Scope::Shadow => SHADOW,
            Scope::Instances => bail!("the instances scope has no row layout"),
        };
        let deleted = share(spec.deleted, defs);
        let live = share(spec.live, defs);
        let instances = (spec.total().div_ceil(ROWS_PER_INSTANCE)).max(1);
        let mut tables = Vec::new();
        if scope == Scope::Rows {
            tables.push(Table {
                table: "instances",
                rows: (1..=instances as i64)
                    .map(|id| Row {
                        id,
                        class: Class::Live,
                        parent: None,
                        instance: id,
                        goes: false,
                        meant_held: false,
                    })
                    .collect(),
                fixture_rows: 0,
            });
        }
        for (i, def) in defs.iter().enumerate() {
            if deleted[i] + live[i] == 0 {
                bail!(
                    "too few rows for every table of the {} scope ({} here) to have \
                     some: make --deleted or --live at least {}",
                    scope.name(),
                    def.table,
                    defs.iter().map(|d| d.weight).sum::<u64>()
                );
            }
            tables.push(table(def, deleted[i], live[i], instances));
        }
        for def in defs {
            let Some(parent) = def.parent else { continue };
            let parents = tables.iter().position(|t| t.table == parent);
            let children = tables.iter().position(|t| t.table == def.table);
            let (Some(p), Some(c)) = (parents, children) else {
                bail!("{} has no parent table {parent}", def.table);
            };
            let mut parent_rows = std::mem::take(&mut tables[p].rows);
            link(&mut parent_rows, &mut tables[c].rows);
            tables[p].rows = parent_rows;
        }
        Ok(Layout { scope, tables })
    }

    /// Per table: (rows, rows a correct purge deletes).
    #[cfg(test)]
    pub fn counts(&self) -> std::collections::BTreeMap<&'static str, (u64, u64)> {
        self.tables
            .iter()
            .map(|t| (t.table, (t.rows.len() as u64, t.going())))
            .collect()
    }
}

/// `n` shared out by weight: the integer shares first, then one more each
/// to the first tables, parents first, until all are given.
fn share(n: u64, defs: &[Def]) -> Vec<u64> {
    let total: u64 = defs.iter().map(|d| d.weight).sum();
    let mut shares: Vec<u64> = defs.iter().map(|d| n * d.weight / total).collect();
    // Each share lost less than one row: fewer than one per table are left.
    let rest = n - shares.iter().sum::<u64>();
    for s in shares.iter_mut().take(rest as usize) {
        *s += 1;
    }
    shares
}

/// A table's rows: `deleted` old ones spread evenly among `live` that stay.
fn table(def: &Def, deleted: u64, live: u64, instances: u64) -> Table {
    let spread = Spec { deleted, live };
    let mut staying = 0u64;
    let rows = (1..=spread.total())
        .map(|n| {
            let mut meant_held = false;
            let class = if spread.is_deleted(n) {
                Class::Old
            } else {
                let k = staying;
                staying += 1;
                match def.staying {
                    Staying::Held if k % 20 == 0 => {
                        meant_held = true;
                        Class::Old
                    }
                    Staying::LiveOrRecent | Staying::Held if k % 2 == 0 => Class::Live,
                    Staying::LiveOrRecent | Staying::Held | Staying::Recent => Class::Recent,
                    Staying::RecentOrUndated if k % 100 == 0 => Class::Undated,
                    Staying::RecentOrUndated => Class::Recent,
                }
            };
            let id = def.first_id + n as i64 - 1;
            Row {
                id,
                class,
                parent: None,
                instance: if def.per_instance {
                    ((n - 1) % instances) as i64 + 1
                } else {
                    0
                },
                goes: class == Class::Old,
                meant_held,
            }
        })
        .collect();
    Table {
        table: def.table,
        rows,
        fixture_rows: u64::try_from(def.first_id - 1).unwrap_or(0),
    }
}

/// Gives each child its parent: children that go reference parents that
/// go, children that stay parents that stay (held ones first); then a
/// parent a staying child references stays.
fn link(parents: &mut [Row], children: &mut [Row]) {
    let mut going = Vec::new();
    let mut staying = Vec::new();
    let mut held = Vec::new();
    for (i, p) in parents.iter().enumerate() {
        match p.class {
            Class::Old if p.meant_held => held.push(i),
            Class::Old => going.push(i),
            _ => staying.push(i),
        }
    }
    held.extend(staying);
    let staying = held;
    let (mut next_going, mut next_staying) = (0usize, 0usize);
    let pick = |list: &[usize], next: &mut usize| -> Option<usize> {
        let i = *list.get(*next % list.len().max(1))?;
        *next += 1;
        Some(i)
    };
    for c in children.iter_mut() {
        let parent = if c.class == Class::Old {
            pick(&going, &mut next_going).or_else(|| pick(&staying, &mut next_staying))
        } else {
            pick(&staying, &mut next_staying).or_else(|| pick(&going, &mut next_going))
        }
        .expect("the parent table has rows");
        c.parent = Some(parents[parent].id);
        if c.class != Class::Old {
            parents[parent].goes = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout(scope: Scope, deleted: u64, live: u64) -> Layout {
        Layout::new(scope, &Spec { deleted, live }).expect("a layout")
    }

    #[test]
    fn every_row_is_placed_and_the_old_ones_go_unless_held() {
        for (deleted, live) in [(100, 100), (200, 200), (1000, 3000), (100, 0), (0, 100)] {
            let l = layout(Scope::Rows, deleted, live);
            let scoped: Vec<&Table> = l.tables.iter().filter(|t| t.table != "instances").collect();
            let rows: u64 = scoped.iter().map(|t| t.rows.len() as u64).sum();
            assert_eq!(rows, deleted + live);
            let old: u64 = scoped.iter().map(|t| t.candidates()).sum();
            let going: u64 = scoped.iter().map(|t| t.going()).sum();
            let held: u64 = scoped.iter().map(|t| t.held()).sum();
            assert_eq!(going + held, old);
            assert_eq!(going, deleted, "{deleted} + {live}");
            if deleted > 0 && live >= 200 {
                assert!(held > 0, "{deleted} + {live}: some rows are held");
            }
        }
    }

    #[test]
    fn children_reference_parents_that_exist_and_held_parents_have_staying_children() {
        let l = layout(Scope::Rows, 1000, 1000);
        let get = |name: &str| l.tables.iter().find(|t| t.table == name).expect("table");
        for (child, parent) in [
            ("aggregate_hosts", "aggregates"),
            ("pci_devices", "compute_nodes"),
        ] {
            let (child, parent) = (get(child), get(parent));
            for c in &child.rows {
                let p = parent
                    .rows
                    .iter()
                    .find(|p| Some(p.id) == c.parent)
                    .expect("parent exists");
                if c.goes {
                    assert!(p.goes, "a child that goes references a parent that goes");
                } else {
                    assert!(!p.goes, "a child that stays holds its parent");
                }
            }
            for p in parent
                .rows
                .iter()
                .filter(|p| p.class == Class::Old && !p.goes)
            {
                assert!(child.rows.iter().any(|c| c.parent == Some(p.id) && !c.goes));
            }
            assert!(parent.held() > 0);
        }
        assert!(get("compute_nodes").rows.iter().all(|r| r.id >= 2));
    }

    #[test]
    fn task_log_and_shadow_keep_their_recent_and_undated_rows() {
        let l = layout(Scope::TaskLog, 100, 50);
        assert_eq!(l.counts()["task_log"], (150, 100));
        let l = layout(Scope::Shadow, 400, 400);
        let undated: usize = l
            .tables
            .iter()
            .map(|t| t.rows.iter().filter(|r| r.class == Class::Undated).count())
            .sum();
        assert!(undated >= 2);
        assert_eq!(l.counts().values().map(|c| c.1).sum::<u64>(), 400);
    }

    #[test]
    fn too_few_rows_are_refused() {
        assert!(Layout::new(
            Scope::Rows,
            &Spec {
                deleted: 3,
                live: 2
            }
        )
        .is_err());
    }
}
