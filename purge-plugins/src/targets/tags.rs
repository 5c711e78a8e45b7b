//! Instance tags, keyed by `resource_id`. Nova hard-deletes them with the
//! instance, but older releases left rows behind.

use purge_api::{register_target, Link};

register_target! { table: "tags", link: Link::Column("resource_id") }
