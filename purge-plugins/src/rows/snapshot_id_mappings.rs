//! EC2 snapshot id map (legacy).

use purge_api::register_target;

register_target! { table: "snapshot_id_mappings", scope: Rows }
