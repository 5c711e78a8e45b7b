//! Network info caches of instances.

use purge_api::register_target;

register_target! { table: "instance_info_caches", scope: Rows }
