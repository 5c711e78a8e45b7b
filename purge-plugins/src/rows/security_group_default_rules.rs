//! nova-network default security group rules (legacy).

use purge_api::register_target;

register_target! { table: "security_group_default_rules", scope: Rows }
