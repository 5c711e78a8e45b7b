//! nova-network provider firewall rules (legacy).

use purge_api::register_target;

register_target! { table: "provider_fw_rules", scope: Rows }
