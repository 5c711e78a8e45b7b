//! XenAPI console pools (legacy); a pool still referenced by a console stays.

use purge_api::register_target;

register_target! { table: "console_pools", scope: Rows }
