//! Every purge target nova-purge knows, one file per table in `src/targets/`.
//!
//! Each file registers itself in the link-time registry
//! ([`purge_api::TARGETS`]); `build.rs` declares a module per file, so adding
//! a table is adding a file. Nothing here is called directly: a binary that
//! reads the registry must name this crate (`use purge_plugins as _;`) or the
//! linker drops it, registrations included.

include!(concat!(env!("OUT_DIR"), "/targets.rs"));

/// The names of the targets this crate registers, for tests that guard
/// against a target silently going missing from a build.
pub const TARGET_NAMES: [&str; 22] = [
    "block_device_mapping",
    "build_requests",
    "console_auth_tokens",
    "consoles",
    "instance_actions",
    "instance_actions_events",
    "instance_extra",
    "instance_faults",
    "instance_group_member",
    "instance_id_mappings",
    "instance_info_caches",
    "instance_mappings",
    "instance_metadata",
    "instance_system_metadata",
    "instances",
    "migrations",
    "pci_devices",
    "request_specs",
    "security_group_instance_association",
    "share_mapping",
    "tags",
    "virtual_interfaces",
];
