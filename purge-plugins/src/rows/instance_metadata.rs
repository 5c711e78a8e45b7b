//! User metadata keys that live instances dropped.

use purge_api::register_target;

register_target! { table: "instance_metadata", scope: Rows }
