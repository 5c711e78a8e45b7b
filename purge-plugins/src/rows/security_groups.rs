//! nova-network security groups (legacy); a group still referenced stays.

use purge_api::register_target;

register_target! { table: "security_groups", scope: Rows }
