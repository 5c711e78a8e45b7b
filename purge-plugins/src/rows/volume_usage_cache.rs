//! Volume usage cache.

use purge_api::register_target;

register_target! { table: "volume_usage_cache", scope: Rows }
