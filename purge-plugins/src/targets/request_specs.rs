//! API database: the scheduling request an instance was built from.

use purge_api::{register_target, Link};

register_target! {
    table: "request_specs",
    database: Api,
    link: Link::Column("instance_uuid"),
}
