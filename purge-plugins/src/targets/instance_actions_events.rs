//! Events of an instance action (the steps of a boot, resize, ...). They
//! reach the instance only through their action, so they go before it.

use purge_api::{register_target, Link};

register_target! {
    table: "instance_actions_events",
    link: Link::Through {
        column: "action_id",
        parent_table: "instance_actions",
        parent_key: "id",
        parent_column: "instance_uuid",
    },
    before: ["instance_actions"],
}
