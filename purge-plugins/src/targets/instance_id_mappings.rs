//! EC2-style integer ids of instances; the `uuid` column is the instance's.

use purge_api::{register_target, Link};

register_target! { table: "instance_id_mappings", link: Link::Column("uuid") }
