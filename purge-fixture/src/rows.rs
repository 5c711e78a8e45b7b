//! The rows of one sample instance, as data: which tables get which rows,
//! in insert order, and how each column's value follows from the instance
//! (its uuid, id, state, timestamps, or a constant); then the one loop that
//! writes them and the state change that follows (Nova's restorable soft
//! delete, or its delete).

use chrono::{Duration, NaiveDateTime};
use purge_api::Tx;

use crate::sql::{self, insert, Value};
use crate::{now, Fixture, InstanceSpec, InstanceState};

/// Where a column's value comes from.
#[derive(Debug, Clone, Copy)]
enum Source {
    /// This text.
    Text(&'static str),
    /// This integer.
    Int(i64),
    /// The instance's uuid.
    Uuid,
    /// The instance's `vm_state`, from its [`InstanceState`].
    VmState,
    /// When the instance was created (400 days ago).
    Created,
    /// This prefix, then the instance id on six digits (`"hash-000042"`):
    /// unique per instance, for columns with unique constraints.
    Serial(&'static str),
    /// A MAC address from those six digits (`fa:16:3e:00:00:42`).
    Mac,
    /// An IPv4 address from the instance id (`10.1.{id / 250}.{id % 250}`).
    FixedAddress,
    /// The id of the instance's `instance_actions` row.
    ActionId,
}

/// Which instances get a row.
#[derive(Debug, Clone, Copy)]
enum When {
    Always,
    /// Those with [`InstanceSpec::fixed_ip`].
    FixedIp,
    /// Those in [`InstanceState::Deleted`].
    Deleted,
}

/// What follows the insert of a row.
#[derive(Debug, Clone, Copy)]
enum After {
    Nothing,
    /// Read the instance id, from which later values derive.
    ReadInstanceId,
    /// Read the id of the action just inserted, for its events.
    ReadActionId,
    /// Soft-delete the row itself (`deleted = id`, `deleted_at` = when the
    /// instance was deleted), finding it by its value in this column.
    SoftDeleteBy(&'static str),
}

/// One row an instance gets. A fixture without the table skips it.
struct Row {
    table: &'static str,
    when: When,
    columns: &'static [(&'static str, Source)],
    after: After,
}

const fn row(table: &'static str, columns: &'static [(&'static str, Source)]) -> Row {
    Row {
        table,
        when: When::Always,
        columns,
        after: After::Nothing,
    }
}

impl Row {
    const fn when(self, when: When) -> Row {
        Row { when, ..self }
    }

    const fn then(self, after: After) -> Row {
        Row { after, ..self }
    }
}

// The columns most rows linked by `instance_uuid` start with: the link,
// created with the instance, live.
const INSTANCE_UUID: (&str, Source) = ("instance_uuid", Source::Uuid);
const CREATED_AT: (&str, Source) = ("created_at", Source::Created);
const NOT_DELETED: (&str, Source) = ("deleted", Source::Int(0));

use Source::{ActionId, Created, FixedAddress, Int, Mac, Serial, Text, Uuid, VmState};

/// Every row of an instance, in insert order (which fixes the ids). All are
/// written live; [`insert_instance`] then applies the instance's state.
const ROWS: &[Row] = &[
    row(
        "instances",
        &[
            ("uuid", Uuid),
            CREATED_AT,
            NOT_DELETED,
            ("user_id", Text("u1")),
            ("project_id", Text("p1")),
            ("hostname", Text("vm")),
            ("host", Text("compute1")),
            ("vm_state", VmState),
            ("power_state", Int(1)),
            ("memory_mb", Int(2048)),
            ("vcpus", Int(2)),
            ("root_gb", Int(20)),
            ("user_data", Text("#cloud-config\n")),
            ("cleaned", Int(0)),
        ],
    )
    .then(After::ReadInstanceId),
    row(
        "instance_metadata",
        &[
            INSTANCE_UUID,
            CREATED_AT,
            NOT_DELETED,
            ("key", Text("role")),
            ("value", Text("web")),
        ],
    ),
    row(
        "instance_metadata",
        &[
            INSTANCE_UUID,
            CREATED_AT,
            NOT_DELETED,
            ("key", Text("owner")),
            ("value", Text("team-a")),
        ],
    ),
    row(
        "instance_system_metadata",
        &[
            INSTANCE_UUID,
            CREATED_AT,
            NOT_DELETED,
            ("key", Text("image_os_distro")),
            ("value", Text("ubuntu")),
        ],
    ),
    row(
        "instance_system_metadata",
        &[
            INSTANCE_UUID,
            CREATED_AT,
            NOT_DELETED,
            ("key", Text("instance_type_name")),
            ("value", Text("m1.small")),
        ],
    ),
    row(
        "instance_info_caches",
        &[
            INSTANCE_UUID,
            CREATED_AT,
            NOT_DELETED,
            ("network_info", Text("[]")),
        ],
    ),
    row(
        "instance_extra",
        &[
            INSTANCE_UUID,
            CREATED_AT,
            NOT_DELETED,
            ("flavor", Text("{}")),
            ("numa_topology", Text("null")),
        ],
    ),
    row(
        "block_device_mapping",
        &[
            INSTANCE_UUID,
            CREATED_AT,
            NOT_DELETED,
            ("device_name", Text("/dev/vda")),
            ("source_type", Text("image")),
            ("destination_type", Text("local")),
        ],
    ),
    row(
        "instance_faults",
        &[
            INSTANCE_UUID,
            CREATED_AT,
            NOT_DELETED,
            ("code", Int(500)),
            ("message", Text("NoValidHost")),
            ("details", Text("trace")),
        ],
    ),
    // Nova never soft-deletes actions and their events.
    row(
        "instance_actions",
        &[
            INSTANCE_UUID,
            CREATED_AT,
            NOT_DELETED,
            ("action", Text("create")),
            ("request_id", Text("req-1")),
            ("start_time", Created),
        ],
    )
    .then(After::ReadActionId),
    row(
        "instance_actions_events",
        &[
            ("action_id", ActionId),
            ("event", Text("compute__do_build_and_run_instance")),
            ("result", Text("Success")),
            CREATED_AT,
            NOT_DELETED,
        ],
    ),
    row(
        "instance_actions_events",
        &[
            ("action_id", ActionId),
            ("event", Text("conductor_schedule_and_build_instances")),
            ("result", Text("Success")),
            CREATED_AT,
            NOT_DELETED,
        ],
    ),
    row(
        "migrations",
        &[
            INSTANCE_UUID,
            CREATED_AT,
            NOT_DELETED,
            ("source_compute", Text("compute1")),
            ("dest_compute", Text("compute2")),
            ("status", Text("confirmed")),
            ("migration_type", Text("resize")),
        ],
    ),
    row(
        "virtual_interfaces",
        &[
            INSTANCE_UUID,
            CREATED_AT,
            NOT_DELETED,
            ("address", Mac),
            ("network_id", Int(1)),
            ("uuid", Mac),
        ],
    ),
    row(
        "security_group_instance_association",
        &[
            INSTANCE_UUID,
            CREATED_AT,
            NOT_DELETED,
            ("security_group_id", Int(1)),
        ],
    ),
    // Tags and the console auth token stay when the fixture deletes the
    // instance (Nova hard-deletes them), so a purge has them to remove.
    row("tags", &[("resource_id", Uuid), ("tag", Text("prod"))]),
    row("tags", &[("resource_id", Uuid), ("tag", Text("web"))]),
    row("instance_id_mappings", &[("uuid", Uuid), NOT_DELETED]),
    row(
        "share_mapping",
        &[
            INSTANCE_UUID,
            ("share_id", Serial("")),
            ("status", Text("active")),
            ("tag", Serial("")),
            ("export_location", Text("10.0.0.2:/share")),
            ("share_proto", Text("NFS")),
        ],
    ),
    row(
        "console_auth_tokens",
        &[
            INSTANCE_UUID,
            ("token_hash", Serial("hash-")),
            ("console_type", Text("novnc")),
            ("host", Text("compute1")),
            ("expires", Int(0)),
        ],
    ),
    row(
        "consoles",
        &[
            INSTANCE_UUID,
            CREATED_AT,
            NOT_DELETED,
            ("pool_id", Int(1)),
            ("instance_name", Text("vm")),
            ("port", Int(5900)),
        ],
    ),
    // Host inventory: a device allocated to the instance, live whatever
    // the instance's state (a purge must leave it).
    row(
        "pci_devices",
        &[
            ("compute_node_id", Int(1)),
            ("address", Serial("0000:")),
            ("product_id", Text("1520")),
            ("vendor_id", Text("8086")),
            ("dev_type", Text("type-VF")),
            ("label", Text("label_8086_1520")),
            ("status", Text("allocated")),
            ("instance_uuid", Uuid),
            NOT_DELETED,
        ],
    ),
    // Legacy nova-network: no target purges it, so it blocks the instance.
    row(
        "fixed_ips",
        &[
            INSTANCE_UUID,
            CREATED_AT,
            NOT_DELETED,
            ("address", FixedAddress),
            ("network_id", Int(1)),
        ],
    )
    .when(When::FixedIp),
    // A deleted instance also has a device row that is itself soft-deleted:
    // the only kind of pci_devices row a purge may remove.
    row(
        "pci_devices",
        &[
            ("compute_node_id", Int(1)),
            ("address", Serial("0001:")),
            ("product_id", Text("1520")),
            ("vendor_id", Text("8086")),
            ("dev_type", Text("type-VF")),
            ("label", Text("label_8086_1520")),
            ("status", Text("deleted")),
            ("instance_uuid", Uuid),
            NOT_DELETED,
        ],
    )
    .when(When::Deleted)
    .then(After::SoftDeleteBy("address")),
];

/// What the values of an instance's rows derive from.
struct Instance<'a> {
    spec: &'a InstanceSpec,
    created: NaiveDateTime,
    /// When it was deleted, for [`InstanceState::Deleted`].
    deleted_at: Option<NaiveDateTime>,
    /// Known once its `instances` row is in.
    id: Option<i64>,
    /// Known once its `instance_actions` row is in.
    action_id: Option<i64>,
}

/// A value for one column: borrowed, or text formatted for this instance.
enum Derived<'a> {
    Value(Value<'a>),
    Formatted(String),
}

impl Derived<'_> {
    fn value(&self) -> Value<'_> {
        match self {
            Derived::Value(value) => *value,
            Derived::Formatted(text) => Value::Text(text),
        }
    }
}

impl Instance<'_> {
    fn id(&self) -> i64 {
        self.id.expect("the instances row comes first in ROWS")
    }

    /// The instance id on six digits.
    fn serial(&self) -> String {
        format!("{:06}", self.id())
    }

    fn has_row(&self, when: When) -> bool {
        match when {
            When::Always => true,
            When::FixedIp => self.spec.fixed_ip,
            When::Deleted => self.deleted_at.is_some(),
        }
    }

    fn derive(&self, source: Source) -> Derived<'_> {
        match source {
            Source::Text(text) => Derived::Value(Value::Text(text)),
            Source::Int(n) => Derived::Value(Value::Int(n)),
            Source::Uuid => Derived::Value(Value::Text(&self.spec.uuid)),
            Source::VmState => Derived::Value(Value::Text(match self.spec.state {
                InstanceState::Live => "active",
                InstanceState::SoftDelete => "soft-delete",
                InstanceState::Deleted { .. } => "deleted",
            })),
            Source::Created => Derived::Value(Value::Time(self.created)),
            Source::Serial(prefix) => Derived::Formatted(format!("{prefix}{}", self.serial())),
            Source::Mac => {
                let serial = self.serial();
                Derived::Formatted(format!(
                    "fa:16:3e:{}:{}:{}",
                    &serial[0..2],
                    &serial[2..4],
                    &serial[4..6]
                ))
            }
            Source::FixedAddress => {
                let id = self.id();
                Derived::Formatted(format!("10.1.{}.{}", id / 250, id % 250))
            }
            Source::ActionId => Derived::Value(Value::Int(
                self.action_id
                    .expect("the instance_actions row comes before its events"),
            )),
        }
    }
}

/// Writes every row of `spec` that `fixture` has a table for, then puts the
/// instance in its state; returns its id.
pub(crate) async fn insert_instance(
    tx: &mut Tx,
    fixture: &Fixture,
    spec: &InstanceSpec,
) -> Result<i64, sqlx::Error> {
    let mut instance = Instance {
        spec,
        created: now() - Duration::days(400),
        deleted_at: match spec.state {
            InstanceState::Deleted { days_ago } => Some(now() - Duration::days(days_ago)),
            _ => None,
        },
        id: None,
        action_id: None,
    };
    for row in ROWS {
        if !fixture.has(row.table) || !instance.has_row(row.when) {
            continue;
        }
        let derived: Vec<(&str, Derived)> = row
            .columns
            .iter()
            .map(|&(column, source)| (column, instance.derive(source)))
            .collect();
        let values: Vec<(&str, Value)> = derived
            .iter()
            .map(|(column, derived)| (*column, derived.value()))
            .collect();
        insert(tx, row.table, &values).await?;
        match row.after {
            After::Nothing => {}
            After::ReadInstanceId => instance.id = Some(sql::instance_id(tx, &spec.uuid).await?),
            After::ReadActionId => {
                instance.action_id = Some(sql::last_id(tx, row.table, &spec.uuid).await?)
            }
            After::SoftDeleteBy(column) => {
                let Some(&(_, Value::Text(key))) = values.iter().find(|(c, _)| *c == column) else {
                    unreachable!("{}.{column} is a text column of the row", row.table);
                };
                let when = instance.deleted_at.expect("only deleted instances");
                sql::soft_delete(tx, row.table, column, key, when).await?;
            }
        }
    }
    let id = instance.id();
    match spec.state {
        InstanceState::Live => {}
        // Restorable: deleted stays 0 even though deleted_at is old.
        InstanceState::SoftDelete => {
            sql::set_deleted_at(tx, id, now() - Duration::days(365)).await?
        }
        InstanceState::Deleted { .. } => {
            let when = instance.deleted_at.expect("a deleted instance");
            fixture.soft_delete_instance(tx, &spec.uuid, when).await?;
        }
    }
    Ok(id)
}
