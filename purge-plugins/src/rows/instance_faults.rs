//! Error records of instances.

use purge_api::register_target;

register_target! { table: "instance_faults", scope: Rows }
