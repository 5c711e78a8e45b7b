//! Flavors from before they moved to the API database (legacy).

use purge_api::register_target;

register_target! { table: "instance_types", scope: Rows }
