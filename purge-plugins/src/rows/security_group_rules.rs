//! nova-network security group rules (legacy).

use purge_api::register_target;

register_target! { table: "security_group_rules", scope: Rows }
