//! nova-volume snapshots (legacy).

use purge_api::register_target;

register_target! { table: "snapshots", scope: Rows }
