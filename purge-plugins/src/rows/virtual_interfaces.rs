//! Network interfaces that instances dropped.

use purge_api::register_target;

register_target! { table: "virtual_interfaces", scope: Rows }
