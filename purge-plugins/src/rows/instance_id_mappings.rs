//! EC2 integer ids of instances.

use purge_api::register_target;

register_target! { table: "instance_id_mappings", scope: Rows }
