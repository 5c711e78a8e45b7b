//! EC2 volume id map (legacy).

use purge_api::register_target;

register_target! { table: "volume_id_mappings", scope: Rows }
