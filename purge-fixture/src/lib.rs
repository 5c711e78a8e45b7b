//! Sample Nova data: the schema of [`schema`] and instances with a row in
//! every related table, written the way Nova leaves them. Used by `demo`, by
//! the test suite and by the benchmark.

pub mod schema;

use chrono::{Duration, NaiveDateTime, Utc};
use purge_api::{Db, Tx};

/// What a sample instance looks like in the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InstanceState {
    /// Running: `deleted = 0`.
    Live,
    /// Nova's restorable soft delete: `vm_state = 'soft-delete'`, still
    /// `deleted = 0`, here with an old `deleted_at` to tempt a careless purge.
    SoftDelete,
    /// Deleted `days_ago` days ago: `deleted = id` on the instance and on
    /// every row Nova soft-deletes with it.
    Deleted { days_ago: i64 },
}

/// One sample instance and the extra rows that make it interesting.
#[derive(Debug, Clone)]
pub struct InstanceSpec {
    pub uuid: String,
    pub state: InstanceState,
    /// Also give it a legacy `fixed_ips` row, which no target purges.
    pub fixed_ip: bool,
}

impl InstanceSpec {
    pub fn new(uuid: impl Into<String>, state: InstanceState) -> Self {
        InstanceSpec {
            uuid: uuid.into(),
            state,
            fixed_ip: false,
        }
    }
}

/// Tables Nova soft-deletes with an instance, and their link column.
const SOFT_DELETED_WITH_INSTANCE: &[(&str, &str)] = &[
    ("security_group_instance_association", "instance_uuid"),
    ("instance_info_caches", "instance_uuid"),
    ("instance_metadata", "instance_uuid"),
    ("instance_faults", "instance_uuid"),
    ("instance_extra", "instance_uuid"),
    ("instance_system_metadata", "instance_uuid"),
    ("block_device_mapping", "instance_uuid"),
    ("migrations", "instance_uuid"),
    ("virtual_interfaces", "instance_uuid"),
    ("instance_id_mappings", "uuid"),
    ("consoles", "instance_uuid"),
];

/// A value to insert with [`insert`]: text, integer or timestamp.
#[derive(Clone, Copy)]
pub enum V<'a> {
    S(&'a str),
    I(i64),
    T(NaiveDateTime),
}

/// The fixture schema, possibly without some tables (an older or newer Nova).
#[derive(Debug, Clone, Default)]
pub struct Fixture {
    pub without: Vec<&'static str>,
}

impl Fixture {
    /// The full schema.
    pub fn full() -> Fixture {
        Fixture::default()
    }

    /// The schema without `tables`.
    pub fn without(tables: &[&'static str]) -> Fixture {
        Fixture {
            without: tables.to_vec(),
        }
    }

    fn has(&self, table: &str) -> bool {
        !self.without.contains(&table)
    }

    /// Creates the tables and the shared parent rows (a security group, a
    /// console pool, a compute node).
    pub async fn create(&self, db: &Db) -> Result<(), sqlx::Error> {
        schema::create(db, &self.without).await?;
        let mut tx = db.begin_write().await?;
        let now = now();
        insert(
            &mut tx,
            "security_groups",
            &[
                ("id", V::I(1)),
                ("name", V::S("default")),
                ("project_id", V::S("p1")),
                ("deleted", V::I(0)),
                ("created_at", V::T(now)),
            ],
        )
        .await?;
        if self.has("console_pools") {
            insert(
                &mut tx,
                "console_pools",
                &[
                    ("id", V::I(1)),
                    ("address", V::S("10.0.0.1")),
                    ("console_type", V::S("xvp")),
                    ("host", V::S("console1")),
                    ("deleted", V::I(0)),
                ],
            )
            .await?;
        }
        insert(
            &mut tx,
            "compute_nodes",
            &[
                ("id", V::I(1)),
                ("host", V::S("compute1")),
                ("vcpus", V::I(64)),
                ("memory_mb", V::I(262_144)),
                ("deleted", V::I(0)),
            ],
        )
        .await?;
        tx.commit().await
    }

    /// Inserts one instance with a row in every related table, then deletes
    /// it the way Nova does when `spec.state` says so.
    pub async fn insert_instance(&self, db: &Db, spec: &InstanceSpec) -> Result<i64, sqlx::Error> {
        let mut tx = db.begin_write().await?;
        let id = self.insert_instance_rows(&mut tx, spec).await?;
        tx.commit().await?;
        Ok(id)
    }

    async fn insert_instance_rows(
        &self,
        tx: &mut Tx,
        spec: &InstanceSpec,
    ) -> Result<i64, sqlx::Error> {
        let uuid = spec.uuid.as_str();
        let created = now() - Duration::days(400);
        let vm_state = match spec.state {
            InstanceState::Live => "active",
            InstanceState::SoftDelete => "soft-delete",
            InstanceState::Deleted { .. } => "deleted",
        };
        insert(
            tx,
            "instances",
            &[
                ("uuid", V::S(uuid)),
                ("created_at", V::T(created)),
                ("deleted", V::I(0)),
                ("user_id", V::S("u1")),
                ("project_id", V::S("p1")),
                ("hostname", V::S("vm")),
                ("host", V::S("compute1")),
                ("vm_state", V::S(vm_state)),
                ("power_state", V::I(1)),
                ("memory_mb", V::I(2048)),
                ("vcpus", V::I(2)),
                ("root_gb", V::I(20)),
                ("user_data", V::S("#cloud-config\n")),
                ("cleaned", V::I(0)),
            ],
        )
        .await?;
        let id = id_of(tx, uuid).await?;
        // Unique per instance, for columns with unique constraints.
        let tag = format!("{id:06}");
        let mac = format!("fa:16:3e:{}:{}:{}", &tag[0..2], &tag[2..4], &tag[4..6]);
        let common = [
            ("instance_uuid", V::S(uuid)),
            ("created_at", V::T(created)),
            ("deleted", V::I(0)),
        ];
        for (key, value) in [("role", "web"), ("owner", "team-a")] {
            let mut row = with(&common, &[]);
            row.push(("key", V::S(key)));
            row.push(("value", V::S(value)));
            insert(tx, "instance_metadata", &row).await?;
        }
        for (key, value) in [
            ("image_os_distro", "ubuntu"),
            ("instance_type_name", "m1.small"),
        ] {
            let mut row = with(&common, &[]);
            row.push(("key", V::S(key)));
            row.push(("value", V::S(value)));
            insert(tx, "instance_system_metadata", &row).await?;
        }
        insert(
            tx,
            "instance_info_caches",
            &with(&common, &[("network_info", V::S("[]"))]),
        )
        .await?;
        insert(
            tx,
            "instance_extra",
            &with(
                &common,
                &[("flavor", V::S("{}")), ("numa_topology", V::S("null"))],
            ),
        )
        .await?;
        insert(
            tx,
            "block_device_mapping",
            &with(
                &common,
                &[
                    ("device_name", V::S("/dev/vda")),
                    ("source_type", V::S("image")),
                    ("destination_type", V::S("local")),
                ],
            ),
        )
        .await?;
        insert(
            tx,
            "instance_faults",
            &with(
                &common,
                &[
                    ("code", V::I(500)),
                    ("message", V::S("NoValidHost")),
                    ("details", V::S("trace")),
                ],
            ),
        )
        .await?;
        insert(
            tx,
            "instance_actions",
            &with(
                &common,
                &[
                    ("action", V::S("create")),
                    ("request_id", V::S("req-1")),
                    ("start_time", V::T(created)),
                ],
            ),
        )
        .await?;
        let action_id = last_id(tx, "instance_actions", uuid).await?;
        for event in [
            "compute__do_build_and_run_instance",
            "conductor_schedule_and_build_instances",
        ] {
            insert(
                tx,
                "instance_actions_events",
                &[
                    ("action_id", V::I(action_id)),
                    ("event", V::S(event)),
                    ("result", V::S("Success")),
                    ("created_at", V::T(created)),
                    ("deleted", V::I(0)),
                ],
            )
            .await?;
        }
        insert(
            tx,
            "migrations",
            &with(
                &common,
                &[
                    ("source_compute", V::S("compute1")),
                    ("dest_compute", V::S("compute2")),
                    ("status", V::S("confirmed")),
                    ("migration_type", V::S("resize")),
                ],
            ),
        )
        .await?;
        insert(
            tx,
            "virtual_interfaces",
            &with(
                &common,
                &[
                    ("address", V::S(&mac)),
                    ("network_id", V::I(1)),
                    ("uuid", V::S(&mac)),
                ],
            ),
        )
        .await?;
        insert(
            tx,
            "security_group_instance_association",
            &with(&common, &[("security_group_id", V::I(1))]),
        )
        .await?;
        for tag_name in ["prod", "web"] {
            insert(
                tx,
                "tags",
                &[("resource_id", V::S(uuid)), ("tag", V::S(tag_name))],
            )
            .await?;
        }
        insert(
            tx,
            "instance_id_mappings",
            &[("uuid", V::S(uuid)), ("deleted", V::I(0))],
        )
        .await?;
        if self.has("share_mapping") {
            insert(
                tx,
                "share_mapping",
                &[
                    ("instance_uuid", V::S(uuid)),
                    ("share_id", V::S(&tag)),
                    ("status", V::S("active")),
                    ("tag", V::S(&tag)),
                    ("export_location", V::S("10.0.0.2:/share")),
                    ("share_proto", V::S("NFS")),
                ],
            )
            .await?;
        }
        insert(
            tx,
            "console_auth_tokens",
            &[
                ("instance_uuid", V::S(uuid)),
                ("token_hash", V::S(&format!("hash-{tag}"))),
                ("console_type", V::S("novnc")),
                ("host", V::S("compute1")),
                ("expires", V::I(0)),
            ],
        )
        .await?;
        if self.has("consoles") {
            insert(
                tx,
                "consoles",
                &with(
                    &common,
                    &[
                        ("pool_id", V::I(1)),
                        ("instance_name", V::S("vm")),
                        ("port", V::I(5900)),
                    ],
                ),
            )
            .await?;
        }
        // Host inventory: a device allocated to this instance. For a
        // deleted instance, also one row that is itself soft-deleted, which
        // is the only kind a purge may remove.
        insert(
            tx,
            "pci_devices",
            &[
                ("compute_node_id", V::I(1)),
                ("address", V::S(&format!("0000:{tag}"))),
                ("product_id", V::S("1520")),
                ("vendor_id", V::S("8086")),
                ("dev_type", V::S("type-VF")),
                ("label", V::S("label_8086_1520")),
                ("status", V::S("allocated")),
                ("instance_uuid", V::S(uuid)),
                ("deleted", V::I(0)),
            ],
        )
        .await?;
        if spec.fixed_ip && self.has("fixed_ips") {
            insert(
                tx,
                "fixed_ips",
                &with(
                    &common,
                    &[
                        ("address", V::S(&format!("10.1.{}.{}", id / 250, id % 250))),
                        ("network_id", V::I(1)),
                    ],
                ),
            )
            .await?;
        }
        if let InstanceState::SoftDelete = spec.state {
            // Restorable: deleted stays 0 even though deleted_at is old.
            let mut stmt = tx.stmt();
            stmt.push("UPDATE ")
                .ident("instances")
                .push(" SET ")
                .ident("deleted_at")
                .push(" = ")
                .bind_time(now() - Duration::days(365))
                .push(" WHERE ")
                .ident("id")
                .push(" = ")
                .bind_int(id);
            tx.execute(&stmt).await?;
        }
        if let InstanceState::Deleted { days_ago } = spec.state {
            let when = now() - Duration::days(days_ago);
            insert(
                tx,
                "pci_devices",
                &[
                    ("compute_node_id", V::I(1)),
                    ("address", V::S(&format!("0001:{tag}"))),
                    ("product_id", V::S("1520")),
                    ("vendor_id", V::S("8086")),
                    ("dev_type", V::S("type-VF")),
                    ("label", V::S("label_8086_1520")),
                    ("status", V::S("deleted")),
                    ("instance_uuid", V::S(uuid)),
                    ("deleted", V::I(0)),
                ],
            )
            .await?;
            let mut stmt = tx.stmt();
            stmt.push("UPDATE ")
                .ident("pci_devices")
                .push(" SET ")
                .ident("deleted")
                .push(" = ")
                .ident("id")
                .push(", ")
                .ident("deleted_at")
                .push(" = ")
                .bind_time(when)
                .push(" WHERE ")
                .ident("address")
                .push(" = ")
                .bind_text(&format!("0001:{tag}"));
            tx.execute(&stmt).await?;
            self.soft_delete(tx, uuid, when).await?;
        }
        Ok(id)
    }

    /// What Nova's instance_destroy does to the database.
    async fn soft_delete(
        &self,
        tx: &mut Tx,
        uuid: &str,
        when: NaiveDateTime,
    ) -> Result<(), sqlx::Error> {
        let tables = [("instances", "uuid")]
            .into_iter()
            .chain(SOFT_DELETED_WITH_INSTANCE.iter().copied());
        for (table, column) in tables.filter(|(table, _)| self.has(table)) {
            let mut stmt = tx.stmt();
            stmt.push("UPDATE ")
                .ident(table)
                .push(" SET ")
                .ident("deleted")
                .push(" = ")
                .ident("id")
                .push(", ")
                .ident("deleted_at")
                .push(" = ")
                .bind_time(when)
                .push(" WHERE ")
                .ident(column)
                .push(" = ")
                .bind_text(uuid);
            tx.execute(&stmt).await?;
        }
        Ok(())
    }
}

/// A row: the columns every child row shares, plus its own.
fn with<'v>(
    common: &[(&'static str, V<'v>)],
    own: &[(&'static str, V<'v>)],
) -> Vec<(&'static str, V<'v>)> {
    [common, own].concat()
}

fn now() -> NaiveDateTime {
    Utc::now().naive_utc()
}

/// Inserts one row of `(column, value)` pairs.
pub async fn insert(
    tx: &mut Tx,
    table: &str,
    values: &[(&str, V<'_>)],
) -> Result<u64, sqlx::Error> {
    let mut stmt = tx.stmt();
    stmt.push("INSERT INTO ").ident(table).push(" (");
    for (i, (column, _)) in values.iter().enumerate() {
        if i > 0 {
            stmt.push(", ");
        }
        stmt.ident(column);
    }
    stmt.push(") VALUES (");
    for (i, (_, value)) in values.iter().enumerate() {
        if i > 0 {
            stmt.push(", ");
        }
        match value {
            V::S(s) => stmt.bind_text(s),
            V::I(n) => stmt.bind_int(*n),
            V::T(t) => stmt.bind_time(*t),
        };
    }
    stmt.push(")");
    tx.execute(&stmt).await
}

async fn id_of(tx: &mut Tx, uuid: &str) -> Result<i64, sqlx::Error> {
    let mut stmt = tx.stmt();
    stmt.push("SELECT ")
        .ident("id")
        .push(" FROM ")
        .ident("instances")
        .push(" WHERE ")
        .ident("uuid")
        .push(" = ")
        .bind_text(uuid);
    Ok(tx.fetch_count(&stmt).await? as i64)
}

async fn last_id(tx: &mut Tx, table: &str, uuid: &str) -> Result<i64, sqlx::Error> {
    let mut stmt = tx.stmt();
    stmt.push("SELECT MAX(")
        .ident("id")
        .push(") FROM ")
        .ident(table)
        .push(" WHERE ")
        .ident("instance_uuid")
        .push(" = ")
        .bind_text(uuid);
    Ok(tx.fetch_count(&stmt).await? as i64)
}

/// The API database of a deployment: its cells and the API rows of its
/// instances.
pub struct ApiFixture;

impl ApiFixture {
    /// Creates the API schema and a server group (id 1) for members.
    pub async fn create(db: &Db) -> Result<(), sqlx::Error> {
        schema::create_api(db).await?;
        let mut tx = db.begin_write().await?;
        insert(
            &mut tx,
            "instance_groups",
            &[
                ("id", V::I(1)),
                ("uuid", V::S("11111111-0000-4000-8000-000000000001")),
                ("name", V::S("anti-affinity")),
                ("project_id", V::S("p1")),
            ],
        )
        .await?;
        tx.commit().await
    }

    /// Adds a cell to `cell_mappings`.
    pub async fn add_cell(
        db: &Db,
        id: i64,
        uuid: &str,
        name: &str,
        database_connection: &str,
    ) -> Result<(), sqlx::Error> {
        let mut tx = db.begin_write().await?;
        insert(
            &mut tx,
            "cell_mappings",
            &[
                ("id", V::I(id)),
                ("uuid", V::S(uuid)),
                ("name", V::S(name)),
                ("transport_url", V::S("none:///")),
                ("database_connection", V::S(database_connection)),
            ],
        )
        .await?;
        tx.commit().await
    }

    /// The API rows Nova keeps for an instance in cell `cell_id`: its
    /// mapping (queued for delete once deleted), request spec, group
    /// membership, and a stray build request as Nova sometimes leaves.
    pub async fn add_instance(
        db: &Db,
        uuid: &str,
        cell_id: i64,
        queued_for_delete: bool,
    ) -> Result<(), sqlx::Error> {
        let mut tx = db.begin_write().await?;
        insert(
            &mut tx,
            "instance_mappings",
            &[
                ("instance_uuid", V::S(uuid)),
                ("cell_id", V::I(cell_id)),
                ("project_id", V::S("p1")),
            ],
        )
        .await?;
        if queued_for_delete {
            // Booleans are bound as text-free SQL so that the one statement
            // works on every backend.
            let mut stmt = tx.stmt();
            stmt.push("UPDATE ")
                .ident("instance_mappings")
                .push(" SET ")
                .ident("queued_for_delete")
                .push(" = TRUE WHERE ")
                .ident("instance_uuid")
                .push(" = ")
                .bind_text(uuid);
            tx.execute(&stmt).await?;
        }
        insert(
            &mut tx,
            "request_specs",
            &[("instance_uuid", V::S(uuid)), ("spec", V::S("{}"))],
        )
        .await?;
        insert(
            &mut tx,
            "instance_group_member",
            &[("instance_uuid", V::S(uuid)), ("group_id", V::I(1))],
        )
        .await?;
        insert(
            &mut tx,
            "build_requests",
            &[("instance_uuid", V::S(uuid)), ("project_id", V::S("p1"))],
        )
        .await?;
        tx.commit().await
    }
}
