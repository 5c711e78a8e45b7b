//! Manila shares attached to an instance (Nova 2024.1 and later). Nova
//! leaves these rows when it deletes the instance.

use purge_api::{register_target, Link};

register_target! { table: "share_mapping", link: Link::Column("instance_uuid") }
