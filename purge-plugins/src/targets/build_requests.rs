//! API database: a build request normally disappears once the instance
//! exists in a cell, but Nova never cleans up stray ones.

use purge_api::{register_target, Link};

register_target! {
    table: "build_requests",
    database: Api,
    link: Link::Column("instance_uuid"),
}
