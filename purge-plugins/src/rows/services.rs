//! Deleted services (nova-compute and the others). One that a row which
//! stays still references stays too, and is reported.

use purge_api::register_target;

register_target! { table: "services", scope: Rows }
