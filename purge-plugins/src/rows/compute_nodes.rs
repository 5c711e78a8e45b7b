//! Hypervisors of deleted services. One that a row which stays (a live PCI
//! device, say) still references stays too, and is reported.

use purge_api::register_target;

register_target! { table: "compute_nodes", scope: Rows }
