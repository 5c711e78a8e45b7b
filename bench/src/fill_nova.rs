//! `--schema nova`: realistic data in Nova's real schema (copied from the
//! [`Template`](crate::nova_template::Template)), deterministic so that
//! every copy of one run holds the same rows.
//!
//! What differs from the fixture fill (fill.rs), whose numbering, traps and
//! deletion pattern it keeps:
//! - uuids are random, uuid4-shaped, from a fixed seed (instances, VIFs):
//!   the uuid indexes are no longer in id order;
//! - instances are created one after another over 200 days (from 400 to
//!   200 days ago), each child table's ids in creation order, as Nova
//!   writes them; a deleted one was deleted a day after its creation;
//! - rows have Nova's sizes: an info cache with about 1.7 KB of
//!   network_info JSON, 17 system metadata keys (the image_* keys and the
//!   rest Nova stores), instance_extra with a ~1.3 KB flavor and a keypair,
//!   instances with the columns Nova fills;
//! - a deleted instance also has the `delete` action and event compute
//!   records before instance_destroy (ids after every create action, as
//!   they come later).

use std::time::Instant;

use anyhow::Result;
use nova_purge_tests::Rng;
use purge_api::{Backend, Db, Stmt};

use crate::db::execute_raw;
use crate::fill::{self, FillStats, Gen, Only, Spec, Sql, Times, SEQ};

/// Seed of the uuids: the same in every copy and every run.
const SEED: u64 = 14;

/// Nova's system metadata of an instance booted from a Glance image.
const SYSTEM_METADATA: &[(&str, &str)] = &[
    (
        "image_base_image_ref",
        "9f4e4a2c-6b1d-4c55-9d0b-2f1f8d0b3c11",
    ),
    ("image_container_format", "bare"),
    ("image_disk_format", "qcow2"),
    ("image_min_disk", "20"),
    ("image_min_ram", "0"),
    ("image_hw_disk_bus", "virtio"),
    ("image_hw_rng_model", "virtio"),
    ("image_hw_qemu_guest_agent", "yes"),
    ("image_os_distro", "ubuntu"),
    ("image_os_type", "linux"),
    ("image_os_version", "24.04"),
    (
        "image_owner_specified.openstack.md5",
        "b5e3b1d7c9f54a0c8d2e6f1a3b4c5d6e",
    ),
    (
        "image_owner_specified.openstack.object",
        "images/ubuntu-24.04",
    ),
    (
        "image_owner_specified.openstack.sha256",
        "3c9d8f0a1b2c3d4e5f60718293a4b5c6d7e8f90112233445566778899aabbccd",
    ),
    ("boot_roles", "member,reader"),
    ("owner_project_name", "production-web"),
    ("owner_user_name", "deployer"),
];

/// An info cache's network_info: one OVS port with an IPv4 and an IPv6
/// subnet, as Neutron describes it. `{VIF}` is the port's uuid, `{MAC}`
/// its address.
const NETWORK_INFO: &str = r#"[{"id": "{VIF}", "address": "{MAC}", "network": {"id": "5b2f8c7e-1d3a-4f6b-9e0c-7a8d9b1c2e3f", "bridge": "br-int", "label": "private", "subnets": [{"cidr": "10.0.0.0/22", "dns": [{"address": "10.0.0.2", "type": "dns", "version": 4, "meta": {}}], "gateway": {"address": "10.0.0.1", "type": "gateway", "version": 4, "meta": {}}, "ips": [{"address": "10.0.1.17", "type": "fixed", "version": 4, "meta": {}, "floating_ips": [{"address": "203.0.113.45", "type": "floating", "version": 4, "meta": {}}]}], "routes": [{"cidr": "192.168.0.0/16", "gateway": {"address": "10.0.0.254", "type": "gateway", "version": 4, "meta": {}}, "interface": null, "meta": {}}], "version": 4, "meta": {"enable_dhcp": true, "dhcp_server": "10.0.0.2"}}, {"cidr": "fd5e:7a6b:2b5d::/64", "dns": [{"address": "fd5e:7a6b:2b5d::2", "type": "dns", "version": 6, "meta": {}}], "gateway": {"address": "fd5e:7a6b:2b5d::1", "type": "gateway", "version": 6, "meta": {}}, "ips": [{"address": "fd5e:7a6b:2b5d:0:f816:3eff:fe4a:1b2c", "type": "fixed", "version": 6, "meta": {}, "floating_ips": []}], "routes": [], "version": 6, "meta": {"ipv6_address_mode": "slaac", "ipv6_ra_mode": "slaac", "enable_dhcp": true}}], "meta": {"injected": false, "tenant_id": "8d1f0c3b2a4e4f6d9c7b5a3e1f2d4c6b", "mtu": 1442, "physical_network": null, "tunneled": true}}, "type": "ovs", "details": {"connectivity": "l2", "port_filter": true, "ovs_hybrid_plug": false, "datapath_type": "system", "bridge_name": "br-int", "bound_drivers": {"0": "ovn"}}, "devname": "tap{VIF}", "ovs_interfaceid": "{VIF}", "qbh_params": null, "qbg_params": null, "active": true, "vnic_type": "normal", "profile": {}, "preserve_on_delete": false, "delegate_create": true, "meta": {}}]"#;

/// instance_extra.flavor: the versioned Flavor object Nova stores.
const FLAVOR: &str = r#"{"cur": {"nova_object.name": "Flavor", "nova_object.namespace": "nova", "nova_object.version": "1.2", "nova_object.data": {"id": 42, "name": "m1.medium", "memory_mb": 4096, "vcpus": 2, "root_gb": 40, "ephemeral_gb": 0, "flavorid": "3", "swap": 0, "rxtx_factor": 1.0, "vcpu_weight": 0, "disabled": false, "is_public": true, "extra_specs": {"hw:cpu_policy": "shared", "hw:mem_page_size": "any", "hw_rng:allowed": "true", "hw:watchdog_action": "reset", "quota:disk_read_iops_sec": "2000", "quota:disk_write_iops_sec": "1000", "quota:vif_inbound_average": "102400", "quota:vif_outbound_average": "102400", "trait:CUSTOM_GENERAL_PURPOSE": "required", "aggregate_instance_extra_specs:ssd": "true", "hw:cpu_sockets": "1", "hw:cpu_threads": "1", "hw:numa_nodes": "1", "hw:boot_menu": "false", "hw:pmu": "false", "hw_video:ram_max_mb": "64", "os:secure_boot": "disabled", "hw:vif_multiqueue_enabled": "true"}, "description": "General purpose, 2 vCPU, 4 GiB", "created_at": "2024-03-11T09:12:45Z", "updated_at": null, "deleted_at": null, "deleted": false}, "nova_object.changes": ["extra_specs"]}, "old": null, "new": null}"#;

/// instance_extra.keypairs: a KeyPairList with one ssh key.
const KEYPAIRS: &str = r#"{"nova_object.name": "KeyPairList", "nova_object.namespace": "nova", "nova_object.version": "1.3", "nova_object.data": {"objects": [{"nova_object.name": "KeyPair", "nova_object.namespace": "nova", "nova_object.version": "1.4", "nova_object.data": {"id": 7, "name": "ops-key", "user_id": "deployer", "fingerprint": "3f:a2:9c:41:d8:0b:5e:77:c2:19:ae:64:f0:8d:33:b1", "public_key": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHq3k9vWm2Lx8pQe7RtYb4sNcV0aZf1GdJ6uKoP3iBhT deployer-bastion", "type": "ssh", "created_at": "2024-03-11T09:12:45Z", "updated_at": null, "deleted_at": null, "deleted": false}}]}}"#;

/// The generated tables, parents before children.
pub fn generators(backend: Backend) -> Vec<Gen> {
    let sql = Sql(backend);
    let lit = Sql::lit;
    let del = "CASE WHEN s.del = 1 THEN @ID ELSE 0 END".to_owned();
    let del_at = "CASE WHEN s.del = 1 THEN s.gone ELSE NULL END".to_owned();
    let when_deleted =
        |yes: &str, no: &str| format!("CASE WHEN s.del = 1 THEN {yes} ELSE {no} END");
    let pick = |a: &str, b: &str| format!("CASE WHEN jj.j = 1 THEN '{a}' ELSE '{b}' END");
    let mac = sql.concat(&[lit("fa:16:3e:"), sql.pad("s.n", 8)]);
    let soft = |own: Vec<(&'static str, String)>| {
        let mut columns = vec![
            ("id", "@ID".to_owned()),
            ("instance_uuid", "s.uuid".to_owned()),
            ("created_at", "s.created".to_owned()),
            ("updated_at", when_deleted("s.gone", "NULL")),
            ("deleted", del.clone()),
            ("deleted_at", del_at.clone()),
        ];
        columns.extend(own);
        columns
    };
    let gen = |table, per_instance, only, columns| Gen {
        table,
        per_instance,
        only,
        columns,
    };
    let action = |id: &str, at: &str, name: &str| {
        vec![
            ("id", id.to_owned()),
            ("instance_uuid", "s.uuid".to_owned()),
            ("created_at", at.to_owned()),
            ("updated_at", at.to_owned()),
            ("deleted", "0".to_owned()),
            ("action", lit(name)),
            (
                "request_id",
                sql.concat(&[lit(&format!("req-{name}-")), sql.pad("s.n", 27)]),
            ),
            ("user_id", lit("deployer")),
            ("project_id", lit("8d1f0c3b2a4e4f6d9c7b5a3e1f2d4c6b")),
            ("start_time", at.to_owned()),
            ("finish_time", at.to_owned()),
        ]
    };
    let event = |id: &str, at: &str, name: &str| {
        vec![
            ("id", id.to_owned()),
            ("action_id", id.to_owned()),
            ("created_at", at.to_owned()),
            ("updated_at", at.to_owned()),
            ("deleted", "0".to_owned()),
            ("event", lit(name)),
            ("result", lit("Success")),
            ("start_time", at.to_owned()),
            ("finish_time", at.to_owned()),
            ("host", lit("compute1")),
        ]
    };
    let pci = |id: &str, address: String, status: String, deleted: &str, deleted_at: &str| {
        vec![
            ("id", id.to_owned()),
            ("compute_node_id", "1".to_owned()),
            ("address", address),
            ("product_id", lit("1520")),
            ("vendor_id", lit("8086")),
            ("dev_type", lit("type-VF")),
            ("label", lit("label_8086_1520")),
            ("status", status),
            ("instance_uuid", "s.uuid".to_owned()),
            ("created_at", "s.created".to_owned()),
            ("deleted", deleted.to_owned()),
            ("deleted_at", deleted_at.to_owned()),
        ]
    };
    let mut gens = vec![
        gen(
            "instances",
            1,
            Only::All,
            vec![
                ("id", "@ID".to_owned()),
                ("uuid", "s.uuid".to_owned()),
                ("created_at", "s.created".to_owned()),
                ("updated_at", when_deleted("s.gone", "s.created")),
                ("deleted", del.clone()),
                (
                    "deleted_at",
                    "CASE WHEN s.del = 1 THEN s.gone WHEN s.soft = 1 THEN @D ELSE NULL END"
                        .to_owned(),
                ),
                ("user_id", lit("deployer")),
                ("project_id", lit("8d1f0c3b2a4e4f6d9c7b5a3e1f2d4c6b")),
                ("image_ref", lit(SYSTEM_METADATA[0].1)),
                ("kernel_id", lit("")),
                ("ramdisk_id", lit("")),
                ("launch_index", "0".to_owned()),
                ("key_name", lit("ops-key")),
                ("power_state", when_deleted("0", "1")),
                (
                    "vm_state",
                    "CASE WHEN s.del = 1 THEN 'deleted' WHEN s.soft = 1 THEN 'soft-delete' \
                     ELSE 'active' END"
                        .to_owned(),
                ),
                ("memory_mb", "4096".to_owned()),
                ("vcpus", "2".to_owned()),
                ("hostname", sql.concat(&[lit("web-"), sql.pad("s.n", 8)])),
                ("host", lit("compute1")),
                ("user_data", lit("I2Nsb3VkLWNvbmZpZwpwYWNrYWdlczogW25naW54XQo=")),
                ("reservation_id", sql.concat(&[lit("r-"), sql.pad("s.n", 8)])),
                ("launched_at", "s.created".to_owned()),
                ("terminated_at", when_deleted("s.gone", "NULL")),
                ("display_name", sql.concat(&[lit("web-"), sql.pad("s.n", 8)])),
                ("availability_zone", lit("nova")),
                ("os_type", lit("linux")),
                ("launched_on", lit("compute1")),
                ("instance_type_id", "42".to_owned()),
                ("architecture", lit("x86_64")),
                ("root_device_name", lit("/dev/vda")),
                ("config_drive", lit("")),
                ("progress", "0".to_owned()),
                ("root_gb", "40".to_owned()),
                ("ephemeral_gb", "0".to_owned()),
                ("node", lit("compute1.example.org")),
                ("cleaned", when_deleted("1", "0")),
            ],
        ),
        gen(
            "instance_metadata",
            2,
            Only::All,
            soft(vec![
                ("key", pick("role", "owner")),
                ("value", pick("web", "team-a")),
            ]),
        ),
        gen(
            "instance_info_caches",
            1,
            Only::All,
            soft(vec![(
                "network_info",
                template(&sql, NETWORK_INFO, &[("{VIF}", "s.vuuid"), ("{MAC}", &mac)]),
            )]),
        ),
        gen(
            "instance_extra",
            1,
            Only::All,
            soft(vec![
                ("flavor", lit(FLAVOR)),
                ("keypairs", lit(KEYPAIRS)),
                ("pci_requests", lit("[]")),
            ]),
        ),
        gen(
            "block_device_mapping",
            1,
            Only::All,
            soft(vec![
                ("device_name", lit("/dev/vda")),
                ("source_type", lit("image")),
                ("destination_type", lit("local")),
                ("boot_index", "0".to_owned()),
                ("image_id", lit(SYSTEM_METADATA[0].1)),
                ("device_type", lit("disk")),
                ("disk_bus", lit("virtio")),
                ("volume_size", "40".to_owned()),
            ]),
        ),
        gen(
            "instance_faults",
            1,
            Only::All,
            soft(vec![
                ("code", "500".to_owned()),
                ("message", lit("NoValidHost")),
                (
                    "details",
                    lit("Traceback (most recent call last):\n  File \"nova/conductor/manager.py\", line 1654, in schedule_and_build_instances\nnova.exception.NoValidHost: No valid host was found."),
                ),
                ("host", lit("controller1")),
            ]),
        ),
        // Nova leaves actions and their events at deleted = 0.
        gen(
            "instance_actions",
            1,
            Only::All,
            action("@ID", "s.created", "create"),
        ),
        gen(
            "instance_actions",
            1,
            Only::Deleted,
            action("(@T + s.n)", "s.gone", "delete"),
        ),
        gen(
            "instance_actions_events",
            1,
            Only::All,
            event("@ID", "s.created", "compute__do_build_and_run_instance"),
        ),
        gen(
            "instance_actions_events",
            1,
            Only::Deleted,
            event("(@T + s.n)", "s.gone", "compute_terminate_instance"),
        ),
        gen(
            "migrations",
            1,
            Only::All,
            soft(vec![
                ("source_compute", lit("compute1")),
                ("dest_compute", lit("compute2")),
                ("source_node", lit("compute1.example.org")),
                ("dest_node", lit("compute2.example.org")),
                ("status", lit("confirmed")),
                ("migration_type", lit("resize")),
                ("old_instance_type_id", "41".to_owned()),
                ("new_instance_type_id", "42".to_owned()),
            ]),
        ),
        gen(
            "virtual_interfaces",
            1,
            Only::All,
            soft(vec![
                ("address", mac.clone()),
                ("network_id", "1".to_owned()),
                ("uuid", "s.vuuid".to_owned()),
                ("tag", lit("")),
            ]),
        ),
        gen(
            "security_group_instance_association",
            1,
            Only::All,
            soft(vec![("security_group_id", "1".to_owned())]),
        ),
        gen(
            "instance_id_mappings",
            1,
            Only::All,
            vec![
                ("id", "@ID".to_owned()),
                ("uuid", "s.uuid".to_owned()),
                ("created_at", "s.created".to_owned()),
                ("deleted", del.clone()),
                ("deleted_at", del_at.clone()),
            ],
        ),
        // Host inventory: a live allocation for a live instance; for a
        // deleted one, a row that is itself soft-deleted.
        gen(
            "pci_devices",
            1,
            Only::All,
            pci(
                "@ID",
                sql.pad("s.n", 12),
                when_deleted("'deleted'", "'allocated'"),
                &del,
                &del_at,
            ),
        ),
        // A device left allocated to a deleted instance: live, so it stays.
        gen(
            "pci_devices",
            1,
            Only::PciLeaks,
            pci(
                "(@T + s.n)",
                sql.concat(&[lit("L"), sql.pad("s.n", 11)]),
                lit("allocated"),
                "0",
                "NULL",
            ),
        ),
        gen(
            "tags",
            2,
            Only::Live,
            vec![("resource_id", "s.uuid".to_owned()), ("tag", pick("prod", "web"))],
        ),
    ];
    // One statement per key, each in id order: a cross join with a table of
    // keys would need a sort, which MariaDB spills to a temporary file
    // (and another session's clean-up of /tmp made it fail).
    let keys = SYSTEM_METADATA.len();
    for (j, (key, value)) in SYSTEM_METADATA.iter().enumerate() {
        let id = format!("((s.n - 1) * {keys} + {})", j + 1);
        let mut columns = soft(vec![("key", lit(key)), ("value", lit(value))]);
        for (_, expr) in &mut columns {
            *expr = expr.replace("@ID", &id);
        }
        gens.push(gen("instance_system_metadata", 1, Only::All, columns));
    }
    gens
}

/// `text` as an SQL expression with each placeholder replaced by its
/// expression.
fn template(sql: &Sql, text: &str, fills: &[(&str, &str)]) -> String {
    let mut parts = Vec::new();
    let mut rest = text;
    while let Some((at, (placeholder, expr))) = fills
        .iter()
        .filter_map(|fill| rest.find(fill.0).map(|at| (at, fill)))
        .min_by_key(|(at, _)| *at)
    {
        parts.push(Sql::lit(&rest[..at]));
        parts.push((*expr).to_owned());
        rest = &rest[at + placeholder.len()..];
    }
    parts.push(Sql::lit(rest));
    sql.concat(&parts)
}

/// Fills `db`, which already holds Nova's schema.
pub async fn fill(
    db: &Db,
    tables: &[String],
    spec: &Spec,
    times: &Times,
    chunk: u64,
    progress: &dyn Fn(&str),
) -> Result<FillStats> {
    let started = Instant::now();
    insert_parents(db, times).await?;
    create_helpers(db, spec, times).await?;
    let rows =
        fill::insert_all(db, spec, times, chunk, &generators(db.backend()), progress).await?;
    execute_raw(db, &format!("DROP TABLE {SEQ}")).await?;
    let tables: Vec<&str> = tables.iter().map(String::as_str).collect();
    fill::settle(db, &tables).await?;
    Ok(FillStats {
        rows,
        elapsed: started.elapsed(),
    })
}

/// The shared parents the generated rows point at: security group 1 and
/// compute node 1.
async fn insert_parents(db: &Db, times: &Times) -> Result<()> {
    let backend = db.backend();
    let mut group = Stmt::new(backend);
    group
        .push(
            "INSERT INTO security_groups (id, name, description, user_id, project_id, deleted, \
             created_at) VALUES (1, 'default', 'Default security group', 'deployer', \
             '8d1f0c3b2a4e4f6d9c7b5a3e1f2d4c6b', 0, ",
        )
        .bind_time(times.created)
        .push(")");
    let mut node = Stmt::new(backend);
    node.push(
        "INSERT INTO compute_nodes (id, host, hypervisor_hostname, vcpus, memory_mb, local_gb, \
         vcpus_used, memory_mb_used, local_gb_used, hypervisor_type, hypervisor_version, \
         cpu_info, deleted, created_at) VALUES (1, 'compute1', 'compute1.example.org', 64, \
         262144, 2000, 0, 0, 0, 'QEMU', 8002000, '{}', 0, ",
    )
    .bind_time(times.created)
    .push(")");
    let mut tx = db.begin_write().await?;
    tx.execute(&group).await?;
    tx.execute(&node).await?;
    tx.commit().await?;
    Ok(())
}

/// The numbers table of fill.rs with each instance's uuid, its VIF's uuid
/// and its creation and deletion times.
async fn create_helpers(db: &Db, spec: &Spec, times: &Times) -> Result<()> {
    let (int, time) = match db.backend() {
        Backend::Postgres => ("BIGINT", "TIMESTAMP"),
        _ => ("BIGINT", "DATETIME"),
    };
    execute_raw(
        db,
        &format!(
            "CREATE TABLE {SEQ} (n {int} NOT NULL PRIMARY KEY, del INTEGER NOT NULL, \
             leak INTEGER NOT NULL, soft INTEGER NOT NULL, uuid VARCHAR(36) NOT NULL, \
             vuuid VARCHAR(36) NOT NULL, created {time} NOT NULL, gone {time} NOT NULL)"
        ),
    )
    .await?;
    let mut rng = Rng::new(SEED);
    // Creations spread evenly over the 200 days after `times.created`.
    let step = chrono::Duration::days(200) / i32::try_from(spec.total().max(1)).unwrap_or(i32::MAX);
    let stamp = |t: chrono::NaiveDateTime| t.format("%Y-%m-%d %H:%M:%S").to_string();
    const PER_STATEMENT: u64 = 2000;
    let mut first = 1;
    while first <= spec.total() {
        let last = (first + PER_STATEMENT - 1).min(spec.total());
        let values: Vec<String> = (first..=last)
            .map(|n| {
                let created = times.created + step * i32::try_from(n).unwrap_or(i32::MAX);
                let gone = created + chrono::Duration::days(1);
                format!(
                    "({n},{},{},{},'{}','{}','{}','{}')",
                    u8::from(spec.is_deleted(n)),
                    u8::from(spec.leaks_pci(n)),
                    u8::from(spec.soft_deleted(n)),
                    uuid4(&mut rng),
                    uuid4(&mut rng),
                    stamp(created),
                    stamp(gone),
                )
            })
            .collect();
        execute_raw(
            db,
            &format!(
                "INSERT INTO {SEQ} (n, del, leak, soft, uuid, vuuid, created, gone) VALUES {}",
                values.join(",")
            ),
        )
        .await?;
        first = last + 1;
    }
    Ok(())
}

/// A random uuid in uuid4's shape (version 4, RFC 4122 variant).
fn uuid4(rng: &mut Rng) -> String {
    let (a, b) = (rng.next_u64(), rng.next_u64());
    format!(
        "{:08x}-{:04x}-4{:03x}-{:x}{:03x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        8 | (b >> 62),
        (b >> 48) & 0xfff,
        b & 0xffff_ffff_ffff
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids_have_uuid4_shape_and_repeat_with_the_seed() {
        let mut a = Rng::new(SEED);
        let mut b = Rng::new(SEED);
        let u = uuid4(&mut a);
        assert_eq!(u, uuid4(&mut b));
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
        assert!("89ab".contains(&u[19..20]), "{u}");
    }

    #[test]
    fn rows_have_nova_sizes() {
        assert!(
            (1500..=2000).contains(&NETWORK_INFO.len()),
            "{}",
            NETWORK_INFO.len()
        );
        assert!((1000..=2000).contains(&FLAVOR.len()), "{}", FLAVOR.len());
        assert!((15..=20).contains(&SYSTEM_METADATA.len()));
    }
}
