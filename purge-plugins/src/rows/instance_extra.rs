//! Serialized extras of instances.

use purge_api::register_target;

register_target! { table: "instance_extra", scope: Rows }
