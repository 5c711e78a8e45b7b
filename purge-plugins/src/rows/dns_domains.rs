//! nova-network DNS domains (legacy); keyed by domain name.

use purge_api::register_target;

register_target! { table: "dns_domains", scope: Rows }
