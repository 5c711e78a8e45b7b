//! The cached network info of an instance. The table name is plural.

use purge_api::{register_target, Link};

register_target! { table: "instance_info_caches", link: Link::Column("instance_uuid") }
