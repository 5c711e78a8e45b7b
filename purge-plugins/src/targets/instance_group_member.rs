//! API database: server group membership. The groups themselves
//! (`instance_groups`) are shared and never purged.

use purge_api::{register_target, Link};

register_target! {
    table: "instance_group_member",
    database: Api,
    link: Link::Column("instance_uuid"),
}
