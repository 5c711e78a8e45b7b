//! PCI devices are host inventory, not instance data: `instance_uuid` is the
//! device's current allocation, and deleting a live row removes a real
//! device from its host (Nova bug 1899541). Only rows that are themselves
//! soft-deleted go with their instance.

use purge_api::{register_target, Link};

register_target! { table: "pci_devices", link: Link::SoftDeletedColumn("instance_uuid") }
