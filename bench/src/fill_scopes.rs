//! Fills a database for an own-row scope (`rows`, `task-log`, `shadow`)
//! with the rows of its [`Layout`]: the fixture schema, then a helper table
//! holding every row's table, id, class, parent and instance (written with
//! multi-row INSERTs of a few thousand rows, dropped afterwards), then one
//! `INSERT ... SELECT` per table and per `--chunk` ids, in primary-key
//! order, parents first, with explicit ids and timestamps from [`Times`]:
//! every copy of one run is identical. Then the same planner statistics as
//! the instances fill.

use std::time::Instant;

use anyhow::{anyhow, bail, Result};
use purge_api::{Backend, Db, Stmt};

use crate::db::execute_raw;
use crate::fill::{self, FillStats, Sql, Times};
use crate::layout::{Layout, Table};

const HELPER: &str = "np_bench_rows";

/// Creates the fixture schema in the empty database `db` and fills it with
/// `layout`.
pub async fn fill(
    db: &Db,
    layout: &Layout,
    times: &Times,
    chunk: u64,
    progress: &dyn Fn(&str),
) -> Result<FillStats> {
    let started = Instant::now();
    fill::create_schema(db, times).await?;
    create_helper(db, layout).await?;
    let backend = db.backend();
    let chunk = i64::try_from(chunk.max(1)).unwrap_or(i64::MAX);
    let mut rows = 0;
    for (t, table) in layout.tables.iter().enumerate() {
        let (Some(first), Some(last)) = (table.rows.first(), table.rows.last()) else {
            continue;
        };
        let columns = columns(backend, table.table)?;
        let mut from = first.id;
        while from <= last.id {
            let to = from.saturating_add(chunk - 1).min(last.id);
            let stmt = insert_select(backend, t, table, &columns, times, from, to);
            let mut tx = db.begin_write().await?;
            rows += tx
                .execute(&stmt)
                .await
                .map_err(|e| anyhow!("filling {} failed: {e}\n{}", table.table, stmt.sql()))?;
            tx.commit().await?;
            from = to + 1;
        }
        progress(&format!(
            "filled {} ({} rows, {rows} in all, {:.1} s)",
            table.table,
            table.rows.len(),
            started.elapsed().as_secs_f64()
        ));
    }
    execute_raw(db, &format!("DROP TABLE {HELPER}")).await?;
    let tables: Vec<&str> = purge_fixture::schema::table_names().collect();
    fill::settle(db, &tables).await?;
    Ok(FillStats {
        rows,
        elapsed: started.elapsed(),
    })
}

/// The helper table: one row per generated row.
async fn create_helper(db: &Db, layout: &Layout) -> Result<()> {
    let int = match db.backend() {
        Backend::Sqlite => "INTEGER",
        _ => "BIGINT",
    };
    execute_raw(
        db,
        &format!(
            "CREATE TABLE {HELPER} (t INTEGER NOT NULL, id {int} NOT NULL, cls INTEGER NOT NULL, \
             parent {int}, inst {int} NOT NULL, PRIMARY KEY (t, id))"
        ),
    )
    .await?;
    const PER_STATEMENT: usize = 5000;
    let values: Vec<String> = layout
        .tables
        .iter()
        .enumerate()
        .flat_map(|(t, table)| {
            table.rows.iter().map(move |r| {
                let parent = r.parent.map_or("NULL".to_owned(), |p| p.to_string());
                format!("({t},{},{},{parent},{})", r.id, r.class as u8, r.instance)
            })
        })
        .collect();
    for part in values.chunks(PER_STATEMENT) {
        execute_raw(
            db,
            &format!(
                "INSERT INTO {HELPER} (t, id, cls, parent, inst) VALUES {}",
                part.join(",")
            ),
        )
        .await?;
    }
    Ok(())
}

/// The columns a table's rows get: (column, SQL expression over the helper
/// row `s`). `@C` is the creation time, `@D` the old time (200 days ago),
/// `@R` the recent one (30 days ago), all bound parameters.
fn columns(backend: Backend, table: &str) -> Result<Vec<(&'static str, String)>> {
    let sql = Sql(backend);
    let lit = Sql::lit;
    let own = |expr: &str, prefix: &str| sql.concat(&[lit(prefix), sql.pad(expr, 8)]);
    let instance = sql.uuid_of("s.inst", "8000");
    let mut columns = vec![("id", "s.id".to_owned()), ("created_at", "@C".to_owned())];
    let soft = [
        (
            "deleted",
            "CASE WHEN s.cls = 0 THEN 0 ELSE s.id END".to_owned(),
        ),
        (
            "deleted_at",
            "CASE s.cls WHEN 1 THEN @D WHEN 2 THEN @R ELSE NULL END".to_owned(),
        ),
    ];
    let service = |columns: &mut Vec<(&'static str, String)>| {
        columns.extend([
            ("host", own("s.id", "host-")),
            ("binary", lit("nova-compute")),
            ("topic", lit("compute")),
            ("report_count", "0".to_owned()),
        ]);
    };
    let metadata = |columns: &mut Vec<(&'static str, String)>, key: &str, value: &str| {
        columns.extend([
            ("key", own("s.id", key)),
            ("value", lit(value)),
            ("instance_uuid", instance.clone()),
        ]);
    };
    if table != "instances" && table != "task_log" {
        columns.extend(soft);
    }
    match table {
        "instances" => columns.extend([
            ("uuid", sql.uuid_of("s.id", "8000")),
            ("deleted", "0".to_owned()),
            ("user_id", lit("u1")),
            ("project_id", lit("p1")),
            ("hostname", own("s.id", "vm-")),
            ("host", lit("compute1")),
            ("vm_state", lit("active")),
            ("power_state", "1".to_owned()),
            ("memory_mb", "2048".to_owned()),
            ("vcpus", "2".to_owned()),
            ("root_gb", "20".to_owned()),
            ("cleaned", "0".to_owned()),
        ]),
        "services" | "shadow_services" => service(&mut columns),
        "compute_nodes" => columns.extend([
            ("host", own("s.id", "host-")),
            ("hypervisor_hostname", own("s.id", "host-")),
            ("vcpus", "64".to_owned()),
            ("memory_mb", "262144".to_owned()),
        ]),
        "aggregates" => columns.extend([
            ("name", own("s.id", "aggregate-")),
            ("uuid", sql.uuid_of("s.id", "a000")),
        ]),
        "aggregate_hosts" => columns.extend([
            ("host", own("s.id", "host-")),
            ("aggregate_id", "s.parent".to_owned()),
        ]),
        "instance_metadata" | "shadow_instance_metadata" => {
            metadata(&mut columns, "key-", "value");
        }
        "instance_system_metadata" => metadata(&mut columns, "image_", "ubuntu"),
        "block_device_mapping" => columns.extend([
            ("instance_uuid", instance.clone()),
            ("device_name", lit("/dev/vdb")),
            ("source_type", lit("volume")),
            ("destination_type", lit("volume")),
            ("volume_id", sql.uuid_of("s.id", "b000")),
        ]),
        "virtual_interfaces" => columns.extend([
            ("address", own("s.id", "fa:16:3e:")),
            ("network_id", "1".to_owned()),
            ("instance_uuid", instance.clone()),
            ("uuid", sql.uuid_of("s.id", "9000")),
        ]),
        "migrations" => columns.extend([
            ("source_compute", lit("compute1")),
            ("dest_compute", lit("compute2")),
            ("status", lit("confirmed")),
            ("instance_uuid", instance.clone()),
            ("migration_type", lit("resize")),
        ]),
        "pci_devices" => columns.extend([
            ("compute_node_id", "s.parent".to_owned()),
            ("address", sql.pad("s.id", 12)),
            ("product_id", lit("1520")),
            ("vendor_id", lit("8086")),
            ("dev_type", lit("type-VF")),
            ("label", lit("label_8086_1520")),
            (
                "status",
                "CASE WHEN s.cls = 0 THEN 'available' ELSE 'deleted' END".to_owned(),
            ),
        ]),
        // Nova never soft-deletes task_log rows; they go by their period.
        "task_log" => columns.extend([
            ("deleted", "0".to_owned()),
            ("task_name", lit("instance_usage_audit")),
            ("state", lit("DONE")),
            ("host", own("s.id", "host-")),
            ("period_beginning", "@C".to_owned()),
            (
                "period_ending",
                "CASE WHEN s.cls = 1 THEN @D ELSE @R END".to_owned(),
            ),
            ("message", lit("Instance usage audit ran")),
        ]),
        other => bail!("no generator for table {other}"),
    }
    Ok(columns)
}

/// `INSERT INTO table (...) SELECT ... FROM np_bench_rows s WHERE s.t = t
/// AND s.id BETWEEN from AND to ORDER BY s.id`.
fn insert_select(
    backend: Backend,
    t: usize,
    table: &Table,
    columns: &[(&'static str, String)],
    times: &Times,
    from: i64,
    to: i64,
) -> Stmt {
    let names: Vec<String> = columns.iter().map(|(c, _)| backend.quote(c)).collect();
    let exprs: Vec<&str> = columns.iter().map(|(_, e)| e.as_str()).collect();
    let template = format!(
        "INSERT INTO {} ({}) SELECT {} FROM {HELPER} s WHERE s.t = {t} \
         AND s.id BETWEEN @A AND @B ORDER BY s.id",
        backend.quote(table.table),
        names.join(", "),
        exprs.join(", ")
    );
    let mut stmt = Stmt::new(backend);
    let mut rest = template.as_str();
    while let Some(at) = rest.find('@') {
        stmt.push(&rest[..at]);
        match &rest[at..at + 2] {
            "@C" => stmt.bind_time(times.created),
            "@D" => stmt.bind_time(times.deleted_at),
            "@R" => stmt.bind_time(times.recent),
            "@A" => stmt.bind_int(from),
            "@B" => stmt.bind_int(to),
            other => unreachable!("unknown template token {other}"),
        };
        rest = &rest[at + 2..];
    }
    stmt.push(rest);
    stmt
}

#[cfg(test)]
mod tests {
    use purge_api::Scope;

    use super::*;
    use crate::fill::Spec;

    #[test]
    fn every_table_of_every_scope_has_a_generator_and_binds_every_token() {
        let times = Times::now();
        for scope in [Scope::Rows, Scope::TaskLog, Scope::Shadow] {
            let layout = Layout::new(
                scope,
                &Spec {
                    deleted: 40,
                    live: 40,
                },
            )
            .expect("layout");
            for backend in [Backend::MySql, Backend::Postgres, Backend::Sqlite] {
                for (t, table) in layout.tables.iter().enumerate() {
                    let columns = columns(backend, table.table).expect("generator");
                    let stmt = insert_select(backend, t, table, &columns, &times, 1, 10);
                    assert!(!stmt.sql().contains('@'), "{}", stmt.sql());
                }
            }
        }
    }
}
