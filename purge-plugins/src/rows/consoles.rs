//! XenAPI consoles (legacy).

use purge_api::register_target;

register_target! { table: "consoles", scope: Rows }
