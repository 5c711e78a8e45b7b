//! Hosts in a host aggregate; a soft-deleted row is a host that left it.

use purge_api::register_target;

register_target! { table: "aggregate_hosts", scope: Rows }
