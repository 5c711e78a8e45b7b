//! nova-network fixed IPs (legacy).

use purge_api::register_target;

register_target! { table: "fixed_ips", scope: Rows }
