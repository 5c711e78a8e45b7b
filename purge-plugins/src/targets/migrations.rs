//! Migrations and resizes of an instance.

use purge_api::{register_target, Link};

register_target! { table: "migrations", link: Link::Column("instance_uuid") }
