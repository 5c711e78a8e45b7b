//! Volumes and ephemeral disks attached to an instance.

use purge_api::{register_target, Link};

register_target! { table: "block_device_mapping", link: Link::Column("instance_uuid") }
