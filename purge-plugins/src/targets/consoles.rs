//! Legacy XenAPI consoles. Nova has no model for this table any more but it
//! still exists, and a leftover row blocks deleting its instance. Its parent
//! `console_pools` is shared and never purged.

use purge_api::{register_target, Link};

register_target! { table: "consoles", link: Link::Column("instance_uuid") }
