//! Serialized extras of an instance: flavor, NUMA topology, PCI requests...

use purge_api::{register_target, Link};

register_target! { table: "instance_extra", link: Link::Column("instance_uuid") }
