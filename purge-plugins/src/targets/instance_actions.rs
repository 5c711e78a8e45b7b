//! The action history of an instance. Nova never soft-deletes these rows, so
//! they are found through the instance, not through their own `deleted`.

use purge_api::{register_target, Link};

register_target! { table: "instance_actions", link: Link::Column("instance_uuid") }
