//! Metadata keys of a host aggregate.

use purge_api::register_target;

register_target! { table: "aggregate_metadata", scope: Rows }
