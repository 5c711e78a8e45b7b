//! nova-network networks (legacy).

use purge_api::register_target;

register_target! { table: "networks", scope: Rows }
