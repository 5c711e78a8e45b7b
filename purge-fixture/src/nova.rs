//! What Nova's instance_destroy does to the cell database, as data: the
//! tables it soft-deletes with an instance and those it hard-deletes from,
//! each with its link to the instance. Tables it leaves alone
//! (instance_actions and their events, pci_devices, fixed_ips,
//! share_mapping) are in neither list.

/// `(table, column holding the instance uuid)` for every table Nova
/// soft-deletes (`deleted = id`, `deleted_at = now`) when it deletes an
/// instance, the instance itself first. `consoles` is here too, as the
/// fixture has always played it, although Nova 34 no longer touches that
/// legacy table.
pub const SOFT_DELETED_WITH_INSTANCE: &[(&str, &str)] = &[
    ("instances", "uuid"),
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

/// `(table, column holding the instance uuid)` for every table Nova
/// hard-deletes the rows of an instance from when it deletes it.
pub const HARD_DELETED_WITH_INSTANCE: &[(&str, &str)] = &[
    ("tags", "resource_id"),
    ("console_auth_tokens", "instance_uuid"),
];
