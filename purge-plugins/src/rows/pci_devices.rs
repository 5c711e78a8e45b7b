//! PCI devices removed from their hosts (only rows Nova itself soft-deleted).

use purge_api::register_target;

register_target! { table: "pci_devices", scope: Rows }
