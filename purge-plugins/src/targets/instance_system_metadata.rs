//! System metadata of an instance (image properties, flavor leftovers).

use purge_api::{register_target, Link};

register_target! { table: "instance_system_metadata", link: Link::Column("instance_uuid") }
