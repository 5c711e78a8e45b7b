//! Which security groups an instance was in. The groups themselves are
//! shared between instances and never purged.

use purge_api::{register_target, Link};

register_target! {
    table: "security_group_instance_association",
    link: Link::Column("instance_uuid"),
}
