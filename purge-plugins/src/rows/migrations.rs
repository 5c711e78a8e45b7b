//! Migrations and resizes.

use purge_api::register_target;

register_target! { table: "migrations", scope: Rows }
