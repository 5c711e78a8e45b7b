//! Server groups from before they moved to the API database (legacy).

use purge_api::register_target;

register_target! { table: "instance_groups", scope: Rows }
