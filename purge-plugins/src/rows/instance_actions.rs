//! Instance actions; Nova never soft-deletes them, listed so that the scope is complete.

use purge_api::register_target;

register_target! { table: "instance_actions", scope: Rows }
