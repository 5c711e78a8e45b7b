//! Bandwidth usage cache of nova-network (legacy).

use purge_api::register_target;

register_target! { table: "bw_usage_cache", scope: Rows }
