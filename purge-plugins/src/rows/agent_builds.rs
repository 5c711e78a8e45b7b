//! Guest agent builds of the XenAPI era (legacy).

use purge_api::register_target;

register_target! { table: "agent_builds", scope: Rows }
