//! Network interfaces of an instance.

use purge_api::{register_target, Link};

register_target! { table: "virtual_interfaces", link: Link::Column("instance_uuid") }
