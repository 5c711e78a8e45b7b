//! nova-network floating IPs (legacy).

use purge_api::register_target;

register_target! { table: "floating_ips", scope: Rows }
