//! Fills a benchmark database fast and deterministically.
//!
//! Instances are numbered `n = 1..=deleted+live`; `instances.id = n` and the
//! uuid is `n` padded (`00000042-0000-4000-8000-000000000042`). The deleted
//! ones are spread evenly among the live ones. A helper table of the numbers
//! (`np_bench_seq`, written with multi-row INSERTs of a few thousand rows)
//! drives one set-based `INSERT ... SELECT` per table and per chunk of
//! instances, in primary-key order; it is dropped at the end. Every id is
//! explicit, and every timestamp comes from [`Times`], so two fills with the
//! same arguments in one benchmark run hold exactly the same rows.
//!
//! Each instance gets what the fixture (`purge_fixture`) gives one,
//! minus the legacy tables: metadata x2, system metadata x2, an info cache,
//! extra, a block device mapping, a fault, an action with one event, a
//! migration, a virtual interface, a security group association, an EC2 id
//! mapping and a PCI device. A deleted instance is deleted the way Nova
//! does it (`deleted = id`, `deleted_at` set, on the instance and on every
//! row Nova soft-deletes with it; actions and events stay at `deleted = 0`;
//! no tags) and its PCI row is itself soft-deleted; a live one has two tags
//! and a live PCI row.
//!
//! Two traps, 1% each, that cost nothing to purge but make the equality
//! checks bite: every 100th deleted instance also still holds a live PCI
//! allocation (host inventory: it must stay), and every 100th live instance
//! is in Nova's restorable soft delete (`vm_state = 'soft-delete'`,
//! `deleted = 0`, `deleted_at` 200 days ago: it must stay).

use std::time::{Duration, Instant};

use anyhow::Result;
use chrono::{NaiveDateTime, Utc};
use purge_api::{Backend, Db, Stmt};
use purge_fixture::Fixture;

use crate::db::execute_raw;

/// How many instances of each kind.
#[derive(Debug, Clone, Copy)]
pub struct Spec {
    pub deleted: u64,
    pub live: u64,
}

impl Spec {
    pub fn total(&self) -> u64 {
        self.deleted + self.live
    }

    /// Whether instance `n` (1-based) is one of the deleted ones: the
    /// `deleted` of `total` instances spread evenly.
    pub fn is_deleted(&self, n: u64) -> bool {
        self.deleted_up_to(n) != self.deleted_up_to(n - 1)
    }

    /// How many of instances `1..=n` are deleted.
    fn deleted_up_to(&self, n: u64) -> u64 {
        let d = u128::from(self.deleted);
        let total = u128::from(self.total());
        u64::try_from(u128::from(n) * d / total).expect("at most `deleted`")
    }

    /// Every 100th deleted instance still has a live PCI allocation (a
    /// device Nova did not free), which a purge must leave in place.
    pub fn leaks_pci(&self, n: u64) -> bool {
        self.is_deleted(n) && self.deleted_up_to(n) % 100 == 0
    }

    /// Every 100th live instance is in Nova's restorable soft delete
    /// (`vm_state = 'soft-delete'`, `deleted = 0`, an old `deleted_at`),
    /// which a purge must leave in place.
    pub fn soft_deleted(&self, n: u64) -> bool {
        !self.is_deleted(n) && (n - self.deleted_up_to(n)) % 100 == 0
    }

    pub fn pci_leaks(&self) -> u64 {
        self.deleted / 100
    }
}

/// The moments every fill of one benchmark run uses.
#[derive(Debug, Clone, Copy)]
pub struct Times {
    pub created: NaiveDateTime,
    pub deleted_at: NaiveDateTime,
    /// Recently: soft-deleted rows and task_log periods that must stay
    /// (30 days ago, younger than the cutoff).
    pub recent: NaiveDateTime,
    /// `--older-than 90` as of the start of the run, for the floor.
    pub cutoff: NaiveDateTime,
}

impl Times {
    pub fn now() -> Times {
        use chrono::Timelike;
        let now = Utc::now()
            .naive_utc()
            .with_nanosecond(0)
            .expect("0 ns is valid");
        Times {
            created: now - chrono::Duration::days(400),
            deleted_at: now - chrono::Duration::days(200),
            recent: now - chrono::Duration::days(30),
            cutoff: now - chrono::Duration::days(90),
        }
    }
}

/// One generated table: its rows per instance and the SELECT list that
/// makes them.
pub struct Gen {
    pub table: &'static str,
    /// Rows per instance (1 or 2).
    pub per_instance: u64,
    /// Which instances get rows.
    pub only: Only,
    /// (column, SQL expression over `s.n`, `s.del` and `jj.j`). `@C` is the
    /// creation time, `@D` the deletion time (both bound parameters), `@ID`
    /// the row's id, `@T` the number of instances.
    pub(crate) columns: Vec<(&'static str, String)>,
}

impl Gen {
    /// Rows this table holds for `spec`, and how many of them a purge
    /// deletes.
    pub fn rows(&self, spec: &Spec) -> (u64, u64) {
        let (total, purged) = match self.only {
            Only::All => (spec.total(), spec.deleted),
            Only::Live => (spec.live, 0),
            Only::PciLeaks => (spec.pci_leaks(), 0),
            Only::Deleted => (spec.deleted, spec.deleted),
        };
        (total * self.per_instance, purged * self.per_instance)
    }
}

/// Which instances a generated table has rows for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Only {
    All,
    /// Live ones (tags: Nova hard-deletes them).
    Live,
    /// Deleted ones with a leftover live PCI allocation ([`Spec::leaks_pci`]).
    PciLeaks,
    /// Deleted ones (their `delete` action).
    Deleted,
}

/// Backend-specific text expressions.
pub(crate) struct Sql(pub(crate) Backend);

impl Sql {
    /// `expr` as text, zero-padded to `width` digits.
    pub(crate) fn pad(&self, expr: &str, width: usize) -> String {
        match self.0 {
            Backend::MySql => format!("LPAD({expr}, {width}, '0')"),
            Backend::Postgres => format!("lpad(({expr})::text, {width}, '0')"),
            Backend::Sqlite => format!("printf('%0{width}d', {expr})"),
        }
    }

    pub(crate) fn concat(&self, parts: &[String]) -> String {
        match self.0 {
            Backend::MySql => format!("CONCAT({})", parts.join(", ")),
            _ => format!("({})", parts.join(" || ")),
        }
    }

    pub(crate) fn lit(s: &str) -> String {
        format!("'{s}'")
    }

    /// The uuid of instance `s.n`; `variant` makes other unique uuids.
    fn uuid(&self, variant: &str) -> String {
        self.uuid_of("s.n", variant)
    }

    /// The uuid of instance number `expr`, as [`Sql::uuid`] makes it.
    pub(crate) fn uuid_of(&self, expr: &str, variant: &str) -> String {
        self.concat(&[
            self.pad(expr, 8),
            Sql::lit(&format!("-0000-4000-{variant}-")),
            self.pad(expr, 12),
        ])
    }
}

/// The generated tables, parents before children.
pub fn generators(backend: Backend) -> Vec<Gen> {
    let sql = Sql(backend);
    let lit = Sql::lit;
    let uuid = sql.uuid("8000");
    let del = "CASE WHEN s.del = 1 THEN @ID ELSE 0 END".to_owned();
    let del_at = "CASE WHEN s.del = 1 THEN @D ELSE NULL END".to_owned();
    let soft = |own: Vec<(&'static str, String)>| -> Vec<(&'static str, String)> {
        let mut columns = vec![
            ("id", "@ID".to_owned()),
            ("instance_uuid", uuid.clone()),
            ("created_at", "@C".to_owned()),
            ("deleted", del.clone()),
            ("deleted_at", del_at.clone()),
        ];
        columns.extend(own);
        columns
    };
    let gen = |table, per_instance, columns| Gen {
        table,
        per_instance,
        only: Only::All,
        columns,
    };
    let pick = |a: &str, b: &str| format!("CASE WHEN jj.j = 1 THEN '{a}' ELSE '{b}' END");
    vec![
        gen(
            "instances",
            1,
            vec![
                ("id", "@ID".to_owned()),
                ("uuid", uuid.clone()),
                ("created_at", "@C".to_owned()),
                ("deleted", del.clone()),
                (
                    "deleted_at",
                    "CASE WHEN s.del = 1 OR s.soft = 1 THEN @D ELSE NULL END".to_owned(),
                ),
                ("user_id", lit("u1")),
                ("project_id", lit("p1")),
                ("hostname", sql.concat(&[lit("vm-"), sql.pad("s.n", 8)])),
                ("host", lit("compute1")),
                (
                    "vm_state",
                    "CASE WHEN s.del = 1 THEN 'deleted' WHEN s.soft = 1 THEN 'soft-delete' \
                     ELSE 'active' END"
                        .to_owned(),
                ),
                ("power_state", "1".to_owned()),
                ("memory_mb", "2048".to_owned()),
                ("vcpus", "2".to_owned()),
                ("root_gb", "20".to_owned()),
                ("user_data", lit("#cloud-config")),
                ("cleaned", "0".to_owned()),
            ],
        ),
        gen(
            "instance_metadata",
            2,
            soft(vec![
                ("key", pick("role", "owner")),
                ("value", pick("web", "team-a")),
            ]),
        ),
        gen(
            "instance_system_metadata",
            2,
            soft(vec![
                ("key", pick("image_os_distro", "instance_type_name")),
                ("value", pick("ubuntu", "m1.small")),
            ]),
        ),
        gen(
            "instance_info_caches",
            1,
            soft(vec![("network_info", lit("[]"))]),
        ),
        gen(
            "instance_extra",
            1,
            soft(vec![("flavor", lit("{}")), ("numa_topology", lit("null"))]),
        ),
        gen(
            "block_device_mapping",
            1,
            soft(vec![
                ("device_name", lit("/dev/vda")),
                ("source_type", lit("image")),
                ("destination_type", lit("local")),
            ]),
        ),
        gen(
            "instance_faults",
            1,
            soft(vec![
                ("code", "500".to_owned()),
                ("message", lit("NoValidHost")),
                ("details", lit("trace")),
            ]),
        ),
        // Nova leaves actions and their events at deleted = 0.
        gen(
            "instance_actions",
            1,
            vec![
                ("id", "@ID".to_owned()),
                ("instance_uuid", uuid.clone()),
                ("created_at", "@C".to_owned()),
                ("deleted", "0".to_owned()),
                ("action", lit("create")),
                ("request_id", sql.concat(&[lit("req-"), sql.pad("s.n", 8)])),
                ("start_time", "@C".to_owned()),
            ],
        ),
        gen(
            "instance_actions_events",
            1,
            vec![
                ("id", "@ID".to_owned()),
                ("action_id", "s.n".to_owned()),
                ("created_at", "@C".to_owned()),
                ("deleted", "0".to_owned()),
                ("event", lit("compute__do_build_and_run_instance")),
                ("result", lit("Success")),
            ],
        ),
        gen(
            "migrations",
            1,
            soft(vec![
                ("source_compute", lit("compute1")),
                ("dest_compute", lit("compute2")),
                ("status", lit("confirmed")),
                ("migration_type", lit("resize")),
            ]),
        ),
        gen(
            "virtual_interfaces",
            1,
            soft(vec![
                (
                    "address",
                    sql.concat(&[lit("fa:16:3e:"), sql.pad("s.n", 8)]),
                ),
                ("network_id", "1".to_owned()),
                ("uuid", sql.uuid("9000")),
            ]),
        ),
        gen(
            "security_group_instance_association",
            1,
            soft(vec![("security_group_id", "1".to_owned())]),
        ),
        gen(
            "instance_id_mappings",
            1,
            vec![
                ("id", "@ID".to_owned()),
                ("uuid", uuid.clone()),
                ("created_at", "@C".to_owned()),
                ("deleted", del.clone()),
                ("deleted_at", del_at.clone()),
            ],
        ),
        // Host inventory: a live allocation for a live instance; for a
        // deleted one, a row that is itself soft-deleted.
        gen(
            "pci_devices",
            1,
            vec![
                ("id", "@ID".to_owned()),
                ("compute_node_id", "1".to_owned()),
                ("address", sql.pad("s.n", 12)),
                ("product_id", lit("1520")),
                ("vendor_id", lit("8086")),
                ("dev_type", lit("type-VF")),
                ("label", lit("label_8086_1520")),
                (
                    "status",
                    "CASE WHEN s.del = 1 THEN 'deleted' ELSE 'allocated' END".to_owned(),
                ),
                ("instance_uuid", uuid.clone()),
                ("created_at", "@C".to_owned()),
                ("deleted", del.clone()),
                ("deleted_at", del_at.clone()),
            ],
        ),
        // A device left allocated to a deleted instance: live, so it stays.
        Gen {
            table: "pci_devices",
            per_instance: 1,
            only: Only::PciLeaks,
            columns: vec![
                ("id", "(@T + s.n)".to_owned()),
                ("compute_node_id", "1".to_owned()),
                ("address", sql.concat(&[lit("L"), sql.pad("s.n", 11)])),
                ("product_id", lit("1520")),
                ("vendor_id", lit("8086")),
                ("dev_type", lit("type-VF")),
                ("label", lit("label_8086_1520")),
                ("status", lit("allocated")),
                ("instance_uuid", uuid.clone()),
                ("created_at", "@C".to_owned()),
                ("deleted", "0".to_owned()),
            ],
        },
        Gen {
            table: "tags",
            per_instance: 2,
            only: Only::Live,
            columns: vec![("resource_id", uuid.clone()), ("tag", pick("prod", "web"))],
        },
    ]
}

/// What a fill did.
#[derive(Debug, Clone, Copy)]
pub struct FillStats {
    pub rows: u64,
    pub elapsed: Duration,
}

pub(crate) const SEQ: &str = "np_bench_seq";

/// Creates the fixture schema in the empty database `db` and fills it.
pub async fn fill(
    db: &Db,
    spec: &Spec,
    times: &Times,
    chunk: u64,
    progress: &dyn Fn(&str),
) -> Result<FillStats> {
    let started = Instant::now();
    create_schema(db, times).await?;
    create_seq(db, spec).await?;
    let rows = insert_all(db, spec, times, chunk, &generators(db.backend()), progress).await?;
    execute_raw(db, &format!("DROP TABLE {SEQ}")).await?;
    let tables: Vec<&str> = purge_fixture::schema::table_names().collect();
    settle(db, &tables).await?;
    Ok(FillStats {
        rows,
        elapsed: started.elapsed(),
    })
}

/// Runs the generators `gens` over the numbers table, `chunk` instances per
/// statement and transaction; returns the rows written.
pub(crate) async fn insert_all(
    db: &Db,
    spec: &Spec,
    times: &Times,
    chunk: u64,
    gens: &[Gen],
    progress: &dyn Fn(&str),
) -> Result<u64> {
    let started = Instant::now();
    let backend = db.backend();
    let mut rows = 0;
    let chunk = chunk.max(1);
    let mut first = 1;
    while first <= spec.total() {
        let last = (first + chunk - 1).min(spec.total());
        let mut tx = db.begin_write().await?;
        for gen in gens {
            let stmt = insert_select(backend, gen, times, spec.total(), first, last);
            rows += tx.execute(&stmt).await.map_err(|e| {
                anyhow::anyhow!("filling {} failed: {e}\n{}", gen.table, stmt.sql())
            })?;
        }
        tx.commit().await?;
        progress(&format!(
            "filled instances {first}..={last} of {} ({rows} rows, {:.1} s)",
            spec.total(),
            started.elapsed().as_secs_f64()
        ));
        first = last + 1;
    }
    Ok(rows)
}

/// The fixture schema with its shared parent rows, the same in every copy.
pub async fn create_schema(db: &Db, times: &Times) -> Result<()> {
    Fixture::full().create(db).await?;
    let backend = db.backend();
    // The fixture stamps its shared parent rows with the current time; make
    // them identical in every copy.
    let mut stamp = Stmt::new(backend);
    stamp
        .push(&format!(
            "UPDATE {} SET {} = ",
            backend.quote("security_groups"),
            backend.quote("created_at")
        ))
        .bind_time(times.created);
    let mut tx = db.begin_write().await?;
    tx.execute(&stamp).await?;
    tx.commit().await?;
    Ok(())
}

/// Leaves the database as a long-running one would be: planner statistics
/// up to date (autovacuum / InnoDB's persistent statistics would have done
/// it) and, on PostgreSQL, the visibility map set. SQLite databases of Nova
/// deployments are never analysed; nor is this one.
pub async fn settle(db: &Db, tables: &[&str]) -> Result<()> {
    match db.backend() {
        Backend::Postgres => execute_raw(db, "VACUUM ANALYZE").await,
        Backend::MySql => {
            let list = tables
                .iter()
                .map(|t| format!("`{t}`"))
                .collect::<Vec<_>>()
                .join(", ");
            crate::db::fetch(db, &format!("ANALYZE TABLE {list}")).await?;
            Ok(())
        }
        Backend::Sqlite => Ok(()),
    }
}

/// Experiment only (`--add-missing-indexes`): the indexes MariaDB creates
/// for two foreign keys by itself and Nova does not create on PostgreSQL
/// and SQLite. Never something the benchmark does by default: the point is
/// to measure the schema operators have.
pub async fn add_missing_indexes(db: &Db) -> Result<()> {
    if db.backend() == Backend::MySql {
        return Ok(());
    }
    for (table, column) in [
        ("instance_actions_events", "action_id"),
        ("migrations", "instance_uuid"),
    ] {
        execute_raw(
            db,
            &format!("CREATE INDEX np_bench_{table}_{column} ON {table} ({column})"),
        )
        .await?;
    }
    if db.backend() == Backend::Postgres {
        execute_raw(db, "ANALYZE").await?;
    }
    Ok(())
}

/// The numbers 1..=total with their deleted flag, by multi-row INSERTs.
async fn create_seq(db: &Db, spec: &Spec) -> Result<()> {
    let int = match db.backend() {
        Backend::Sqlite => "INTEGER",
        _ => "BIGINT",
    };
    execute_raw(
        db,
        &format!(
            "CREATE TABLE {SEQ} (n {int} NOT NULL PRIMARY KEY, del INTEGER NOT NULL, \
             leak INTEGER NOT NULL, soft INTEGER NOT NULL)"
        ),
    )
    .await?;
    const PER_STATEMENT: u64 = 5000;
    let mut first = 1;
    while first <= spec.total() {
        let last = (first + PER_STATEMENT - 1).min(spec.total());
        let values: Vec<String> = (first..=last)
            .map(|n| {
                format!(
                    "({n},{},{},{})",
                    u8::from(spec.is_deleted(n)),
                    u8::from(spec.leaks_pci(n)),
                    u8::from(spec.soft_deleted(n))
                )
            })
            .collect();
        execute_raw(
            db,
            &format!(
                "INSERT INTO {SEQ} (n, del, leak, soft) VALUES {}",
                values.join(",")
            ),
        )
        .await?;
        first = last + 1;
    }
    Ok(())
}

/// `INSERT INTO table (...) SELECT ... FROM np_bench_seq s ... WHERE s.n
/// BETWEEN first AND last`, ids in primary-key order.
fn insert_select(
    backend: Backend,
    gen: &Gen,
    times: &Times,
    spec_total: u64,
    first: u64,
    last: u64,
) -> Stmt {
    let id = if gen.per_instance == 1 {
        "s.n".to_owned()
    } else {
        format!("((s.n - 1) * {} + jj.j)", gen.per_instance)
    };
    let total = spec_total.to_string();
    let columns: Vec<String> = gen.columns.iter().map(|(c, _)| backend.quote(c)).collect();
    let exprs: Vec<String> = gen
        .columns
        .iter()
        .map(|(_, e)| e.replace("@ID", &id).replace("@T", &total))
        .collect();
    let mut template = format!(
        "INSERT INTO {} ({}) SELECT {} FROM {SEQ} s",
        backend.quote(gen.table),
        columns.join(", "),
        exprs.join(", ")
    );
    if gen.per_instance == 2 {
        template.push_str(" CROSS JOIN (SELECT 1 AS j UNION ALL SELECT 2) jj");
    }
    template.push_str(" WHERE s.n BETWEEN @A AND @B");
    match gen.only {
        Only::All => {}
        Only::Live => template.push_str(" AND s.del = 0"),
        Only::PciLeaks => template.push_str(" AND s.leak = 1"),
        Only::Deleted => template.push_str(" AND s.del = 1"),
    }
    template.push_str(" ORDER BY s.n");
    if gen.per_instance == 2 {
        template.push_str(", jj.j");
    }
    let mut stmt = Stmt::new(backend);
    let mut rest = template.as_str();
    while let Some(at) = rest.find('@') {
        stmt.push(&rest[..at]);
        let token = &rest[at..at + 2];
        match token {
            "@C" => stmt.bind_time(times.created),
            "@D" => stmt.bind_time(times.deleted_at),
            "@A" => stmt.bind_int(i64::try_from(first).expect("instance numbers fit i64")),
            "@B" => stmt.bind_int(i64::try_from(last).expect("instance numbers fit i64")),
            other => unreachable!("unknown template token {other}"),
        };
        rest = &rest[at + 2..];
    }
    stmt.push(rest);
    stmt
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deleted_instances_are_spread_evenly_and_counted_exactly() {
        for (deleted, live) in [(0, 5), (5, 0), (3, 7), (100, 100), (10, 1000), (7, 3)] {
            let spec = Spec { deleted, live };
            let flags: Vec<bool> = (1..=spec.total()).map(|n| spec.is_deleted(n)).collect();
            assert_eq!(flags.iter().filter(|d| **d).count() as u64, deleted);
        }
        let spec = Spec {
            deleted: 10,
            live: 90,
        };
        let positions: Vec<u64> = (1..=100).filter(|n| spec.is_deleted(*n)).collect();
        assert_eq!(positions, vec![10, 20, 30, 40, 50, 60, 70, 80, 90, 100]);
        let spec = Spec {
            deleted: 1000,
            live: 3000,
        };
        let leaks = (1..=spec.total()).filter(|n| spec.leaks_pci(*n)).count() as u64;
        assert_eq!(leaks, spec.pci_leaks());
        let soft = (1..=spec.total()).filter(|n| spec.soft_deleted(*n)).count();
        assert_eq!(soft, 30);
    }

    #[test]
    fn templates_bind_every_token() {
        let times = Times::now();
        for backend in [Backend::MySql, Backend::Postgres, Backend::Sqlite] {
            for gen in generators(backend) {
                let stmt = insert_select(backend, &gen, &times, 10, 1, 10);
                assert!(!stmt.sql().contains('@'), "{}", stmt.sql());
            }
        }
    }
}
