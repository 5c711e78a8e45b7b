//! Security group memberships instances dropped.

use purge_api::register_target;

register_target! { table: "security_group_instance_association", scope: Rows }
