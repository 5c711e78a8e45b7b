//! Flavor extra specs from before flavors moved to the API database (legacy).

use purge_api::register_target;

register_target! { table: "instance_type_extra_specs", scope: Rows }
