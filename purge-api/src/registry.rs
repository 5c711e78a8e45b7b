//! The link-time registry of purge targets and the order derived from it.
//!
//! Targets add themselves to [`TARGETS`] with [`crate::register_target!`];
//! the linker gathers them, so adding a table means adding one file. linkme
//! gives no order and no duplicate check, so [`Registry::load`] validates the
//! slice once at start-up and sorts it topologically from each target's
//! `before` list: children first, the instance rows last.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use linkme::distributed_slice;

use crate::target::{DatabaseKind, Link, PurgeTarget, Scope};

/// Every registered purge target, in no particular order.
#[distributed_slice]
pub static TARGETS: [Registration];

/// Where a registration was written, so that errors and `nova-purge targets`
/// can send a developer straight to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Location {
    pub module: &'static str,
    pub file: &'static str,
    pub line: u32,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}:{})", self.module, self.file, self.line)
    }
}

/// One entry of the registry: a target and its ordering constraints.
pub struct Registration {
    pub target: &'static dyn PurgeTarget,
    /// Names of targets whose rows this target's rows reference, which must
    /// therefore be purged after it. Every target runs before the one whose
    /// link is [`Link::Instance`] in its database without saying so.
    pub before: &'static [&'static str],
    pub defined_at: Location,
}

impl Registration {
    pub fn name(&self) -> &'static str {
        self.target.name()
    }
}

impl fmt::Debug for Registration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registration")
            .field("name", &self.name())
            .field("before", &self.before)
            .field("defined_at", &self.defined_at)
            .finish()
    }
}

/// Registers a purge target in [`TARGETS`].
///
/// A table linked to instances by a column is one declaration (`name`
/// defaults to the table; `database` to `Cell`):
///
/// ```ignore
/// purge_api::register_target! {
///     table: "instance_faults",
///     link: Link::Column("instance_uuid"),
/// }
/// ```
///
/// A table whose own soft-deleted rows go in another scope names it (the
/// link defaults to `deleted <> 0` and `deleted_at` before the cutoff):
///
/// ```ignore
/// purge_api::register_target! { table: "aggregates", scope: Rows }
/// purge_api::register_target! {
///     table: "task_log",
///     scope: TaskLog,
///     link: Link::Own { cutoff_column: "period_ending", soft_deleted: false },
/// }
/// ```
///
/// A family of tables is named by its prefix:
///
/// ```ignore
/// purge_api::register_target! {
///     name: "shadow_tables",
///     family: "shadow_",
///     scope: Shadow,
///     link: Link::Own { cutoff_column: "deleted_at", soft_deleted: false },
/// }
/// ```
///
/// A target with its own [`PurgeTarget`] implementation registers a value:
///
/// ```ignore
/// purge_api::register_target! {
///     target: MyTarget,
///     before: ["instance_actions"],
/// }
/// ```
#[macro_export]
macro_rules! register_target {
    (@first $first:expr $(, $rest:expr)*) => { $first };
    (
        $(name: $name:literal,)?
        table: $table:literal,
        $(database: $database:ident,)?
        link: $link:expr
        $(, before: [$($before:literal),* $(,)?])?
        $(,)?
    ) => {
        $crate::register_target! {
            target: $crate::TableTarget {
                name: $crate::register_target!(@first $($name,)? $table),
                table: $table,
                database: $crate::register_target!(@first $($crate::DatabaseKind::$database,)? $crate::DatabaseKind::Cell),
                link: $link,
                scope: $crate::Scope::Instances,
                family: None,
            }
            $(, before: [$($before),*])?
        }
    };
    (
        $(name: $name:literal,)?
        table: $table:literal,
        scope: $scope:ident
        $(, link: $link:expr)?
        $(, before: [$($before:literal),* $(,)?])?
        $(,)?
    ) => {
        $crate::register_target! {
            target: $crate::TableTarget {
                name: $crate::register_target!(@first $($name,)? $table),
                table: $table,
                database: $crate::DatabaseKind::Cell,
                link: $crate::register_target!(@first $($link,)? $crate::Link::Own {
                    cutoff_column: "deleted_at",
                    soft_deleted: true,
                }),
                scope: $crate::Scope::$scope,
                family: None,
            }
            $(, before: [$($before),*])?
        }
    };
    (
        name: $name:literal,
        family: $prefix:literal,
        scope: $scope:ident,
        link: $link:expr
        $(,)?
    ) => {
        $crate::register_target! {
            target: $crate::TableTarget {
                name: $name,
                table: concat!($prefix, "*"),
                database: $crate::DatabaseKind::Cell,
                link: $link,
                scope: $crate::Scope::$scope,
                family: Some($prefix),
            }
        }
    };
    (
        target: $target:expr
        $(, before: [$($before:literal),* $(,)?])?
        $(,)?
    ) => {
        const _: () = {
            #[$crate::__private::linkme::distributed_slice($crate::TARGETS)]
            #[linkme(crate = $crate::__private::linkme)]
            static REGISTRATION: $crate::Registration = $crate::Registration {
                target: &$target,
                before: &[$($($before),*)?],
                defined_at: $crate::Location {
                    module: module_path!(),
                    file: file!(),
                    line: line!(),
                },
            };
        };
    };
}

/// Why the registered targets cannot be used. Each names the registrations
/// at fault and where they are defined.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RegistryError {
    #[error("no purge targets are registered: the crate that holds them (purge-plugins) is not linked into this binary")]
    Empty,
    #[error("purge target `{name}` is registered twice in one scope: at {first} and at {second}")]
    Duplicate {
        name: &'static str,
        first: &'static Location,
        second: &'static Location,
    },
    #[error("purge target `{name}` at {at} must run before `{missing}`, but no target of that name is registered in its scope")]
    UnknownTarget {
        name: &'static str,
        at: &'static Location,
        missing: &'static str,
    },
    #[error("purge targets `{name}` at {at} and `{other}` at {other_at} both purge the instance rows of the {database} database")]
    TwoInstanceTargets {
        name: &'static str,
        at: &'static Location,
        other: &'static str,
        other_at: &'static Location,
        database: &'static str,
    },
    #[error("purge targets form a cycle in their `before` lists: {}", format_cycle(.0))]
    Cycle(Vec<(&'static str, &'static Location)>),
}

fn format_cycle(cycle: &[(&'static str, &'static Location)]) -> String {
    let mut parts: Vec<String> = cycle
        .iter()
        .map(|(name, at)| format!("`{name}` at {at}"))
        .collect();
    if let Some((first, _)) = cycle.first() {
        parts.push(format!("`{first}`"));
    }
    parts.join(" runs before ")
}

/// The validated registry, in execution order.
#[derive(Debug)]
pub struct Registry {
    ordered: Vec<&'static Registration>,
}

impl Registry {
    /// Validates and orders the targets linked into this binary.
    pub fn load() -> Result<Registry, RegistryError> {
        Registry::from_registrations(TARGETS.iter().collect())
    }

    /// Validates and orders an explicit set of registrations.
    pub fn from_registrations(
        registrations: Vec<&'static Registration>,
    ) -> Result<Registry, RegistryError> {
        if registrations.is_empty() {
            return Err(RegistryError::Empty);
        }
        let by_name = index_by_name(&registrations)?;
        let edges = ordering_edges(&by_name)?;
        let ordered = topological_order(&by_name, &edges)?;
        Ok(Registry { ordered })
    }

    /// The targets in execution order.
    pub fn iter(&self) -> impl Iterator<Item = &'static Registration> + '_ {
        self.ordered.iter().copied()
    }

    pub fn len(&self) -> usize {
        self.ordered.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ordered.is_empty()
    }
}

/// A target's identity: names are unique within a scope (the same table
/// may be a target of several scopes, under its own name in each).
type Key = (Scope, &'static str);
type ByName = BTreeMap<Key, &'static Registration>;
/// For each target, the targets that must run after it.
type Edges = BTreeMap<Key, BTreeSet<Key>>;

fn key(registration: &Registration) -> Key {
    (registration.target.scope(), registration.name())
}

fn index_by_name(registrations: &[&'static Registration]) -> Result<ByName, RegistryError> {
    let mut by_name = ByName::new();
    // Sorting by location first makes "first" and "second" in the duplicate
    // error stable, whatever order the linker chose.
    let mut sorted = registrations.to_vec();
    sorted.sort_by_key(|r| (r.defined_at.file, r.defined_at.line, r.name()));
    for registration in sorted {
        if let Some(first) = by_name.insert(key(registration), registration) {
            return Err(RegistryError::Duplicate {
                name: registration.name(),
                first: &first.defined_at,
                second: &registration.defined_at,
            });
        }
    }
    Ok(by_name)
}

fn ordering_edges(by_name: &ByName) -> Result<Edges, RegistryError> {
    let mut edges: Edges = by_name.keys().map(|key| (*key, BTreeSet::new())).collect();
    let mut instance_targets = BTreeMap::new();
    for registration in by_name.values() {
        if registration.target.link() != Link::Instance {
            continue;
        }
        let database = registration.target.database();
        let place = (registration.target.scope(), database);
        if let Some(other) = instance_targets.insert(place, *registration) {
            return Err(RegistryError::TwoInstanceTargets {
                name: registration.name(),
                at: &registration.defined_at,
                other: other.name(),
                other_at: &other.defined_at,
                database: database.name(),
            });
        }
    }
    for registration in by_name.values() {
        let this = key(registration);
        let scope = registration.target.scope();
        for &later in registration.before {
            let Some((&later, _)) = by_name.get_key_value(&(scope, later)) else {
                return Err(RegistryError::UnknownTarget {
                    name: registration.name(),
                    at: &registration.defined_at,
                    missing: later,
                });
            };
            edges.entry(this).or_default().insert(later);
        }
        if let Some(root) = instance_targets.get(&(scope, registration.target.database())) {
            if key(root) != this {
                edges.entry(this).or_default().insert(key(root));
            }
        }
    }
    Ok(edges)
}

/// Kahn's algorithm, always taking the first ready target by (scope,
/// database, name), so the order is the same on every build and every run,
/// the scopes come in the order a run purges them, and the cell database's
/// targets come before the API database's: a purge commits the cell's
/// deletes before it removes the API rows of those instances.
fn topological_order(
    by_name: &ByName,
    edges: &Edges,
) -> Result<Vec<&'static Registration>, RegistryError> {
    let mut waiting_on: BTreeMap<Key, usize> = by_name.keys().map(|key| (*key, 0)).collect();
    for laters in edges.values() {
        for later in laters {
            *waiting_on
                .get_mut(later)
                .expect("edges only name known targets") += 1;
        }
    }
    let order = |key: &Key| (key.0, by_name[key].target.database(), key.1);
    let mut ready: BTreeSet<(Scope, DatabaseKind, &'static str)> = waiting_on
        .iter()
        .filter(|(_, n)| **n == 0)
        .map(|(key, _)| order(key))
        .collect();
    let mut ordered = Vec::with_capacity(by_name.len());
    while let Some((scope, _, name)) = ready.pop_first() {
        let this = (scope, name);
        ordered.push(by_name[&this]);
        for later in &edges[&this] {
            let n = waiting_on.get_mut(later).expect("known target");
            *n -= 1;
            if *n == 0 {
                ready.insert(order(later));
            }
        }
    }
    if ordered.len() < by_name.len() {
        let stuck: BTreeSet<Key> = waiting_on
            .iter()
            .filter(|(_, n)| **n > 0)
            .map(|(key, _)| *key)
            .collect();
        return Err(RegistryError::Cycle(find_cycle(by_name, edges, &stuck)));
    }
    Ok(ordered)
}

/// Walks `before` edges among the targets Kahn's algorithm could not place
/// until a name repeats: every such target has a predecessor that is also
/// stuck, so the walk (taken backwards) must close a cycle.
fn find_cycle(
    by_name: &ByName,
    edges: &Edges,
    stuck: &BTreeSet<Key>,
) -> Vec<(&'static str, &'static Location)> {
    let predecessor = |key: &Key| -> Key {
        edges
            .iter()
            .find(|(from, laters)| stuck.contains(*from) && laters.contains(key))
            .map(|(from, _)| *from)
            .expect("a stuck target has a stuck predecessor")
    };
    let mut path: Vec<Key> = vec![*stuck.first().expect("cycle has members")];
    loop {
        let previous = predecessor(path.last().expect("non-empty"));
        if let Some(start) = path.iter().position(|key| *key == previous) {
            let mut cycle: Vec<Key> = path[start..].to_vec();
            cycle.reverse();
            return cycle
                .into_iter()
                .map(|key| {
                    let registration: &'static Registration = by_name[&key];
                    (key.1, &registration.defined_at)
                })
                .collect();
        }
        path.push(previous);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::target::TableTarget;

    fn reg(
        name: &'static str,
        link: Link,
        before: &'static [&'static str],
    ) -> &'static Registration {
        let target: &'static TableTarget = Box::leak(Box::new(TableTarget {
            name,
            table: name,
            database: DatabaseKind::Cell,
            link,
            scope: Scope::Instances,
            family: None,
        }));
        Box::leak(Box::new(Registration {
            target,
            before,
            defined_at: Location {
                module: "tests",
                file: "t.rs",
                line: name.len() as u32,
            },
        }))
    }

    fn names(registry: &Registry) -> Vec<&'static str> {
        registry.iter().map(Registration::name).collect()
    }

    #[test]
    fn children_run_before_parents_and_instances_last() {
        let registry = Registry::from_registrations(vec![
            reg("instances", Link::Instance, &[]),
            reg("actions", Link::Column("instance_uuid"), &[]),
            reg("zevents", Link::Column("x"), &["actions"]),
            reg("faults", Link::Column("instance_uuid"), &[]),
        ])
        .unwrap();
        assert_eq!(
            names(&registry),
            ["faults", "zevents", "actions", "instances"]
        );
    }

    #[test]
    fn the_order_does_not_depend_on_registration_order() {
        let a = reg("a", Link::Column("c"), &[]);
        let b = reg("b", Link::Column("c"), &["a"]);
        let i = reg("instances", Link::Instance, &[]);
        let one = Registry::from_registrations(vec![a, b, i]).unwrap();
        let two = Registry::from_registrations(vec![i, b, a]).unwrap();
        assert_eq!(names(&one), names(&two));
        assert_eq!(names(&one), ["b", "a", "instances"]);
    }

    #[test]
    fn an_empty_registry_is_an_error() {
        assert_eq!(
            Registry::from_registrations(vec![]).unwrap_err(),
            RegistryError::Empty
        );
    }

    #[test]
    fn a_duplicate_name_names_both_definitions() {
        let err = Registry::from_registrations(vec![
            reg("tags", Link::Column("resource_id"), &[]),
            reg("tags", Link::Column("resource_id"), &[]),
        ])
        .unwrap_err();
        assert!(matches!(err, RegistryError::Duplicate { name: "tags", .. }));
        assert!(err.to_string().contains("tests (t.rs:4)"), "{err}");
    }

    #[test]
    fn an_unknown_before_names_the_target_and_the_missing_name() {
        let err =
            Registry::from_registrations(vec![reg("a", Link::Column("c"), &["nope"])]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "purge target `a` at tests (t.rs:1) must run before `nope`, but no target of that name is registered in its scope"
        );
    }

    #[test]
    fn a_cycle_is_reported_with_its_members() {
        let err = Registry::from_registrations(vec![
            reg("a", Link::Column("c"), &["bb"]),
            reg("bb", Link::Column("c"), &["ccc"]),
            reg("ccc", Link::Column("c"), &["a"]),
            reg("d", Link::Column("c"), &[]),
        ])
        .unwrap_err();
        let RegistryError::Cycle(members) = &err else {
            panic!("expected a cycle, got {err}");
        };
        let mut names: Vec<_> = members.iter().map(|(n, _)| *n).collect();
        names.sort();
        assert_eq!(names, ["a", "bb", "ccc"]);
        assert!(err.to_string().contains("runs before"), "{err}");
    }

    #[test]
    fn two_instance_targets_in_one_database_are_refused() {
        let err = Registry::from_registrations(vec![
            reg("instances", Link::Instance, &[]),
            reg("instances2", Link::Instance, &[]),
        ])
        .unwrap_err();
        assert!(matches!(err, RegistryError::TwoInstanceTargets { .. }));
    }
}
