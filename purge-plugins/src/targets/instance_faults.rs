//! Error records of an instance.

use purge_api::{register_target, Link};

register_target! { table: "instance_faults", link: Link::Column("instance_uuid") }
