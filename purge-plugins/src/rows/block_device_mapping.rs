//! Volumes and disks detached from instances that live on.

use purge_api::register_target;

register_target! { table: "block_device_mapping", scope: Rows }
