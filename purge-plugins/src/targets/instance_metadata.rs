//! User metadata of an instance (its `key` column is quoted by the SQL layer).

use purge_api::{register_target, Link};

register_target! { table: "instance_metadata", link: Link::Column("instance_uuid") }
