//! Host aggregates; a deleted one stays while a live row still references it.

use purge_api::register_target;

register_target! { table: "aggregates", scope: Rows }
