//! API database: which cell an instance lives in. Nova's own archive removes
//! it with the instance; left behind, it makes Nova look for an instance
//! that is gone.

use purge_api::{register_target, Link};

register_target! {
    table: "instance_mappings",
    database: Api,
    link: Link::Column("instance_uuid"),
}
