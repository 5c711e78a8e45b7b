//! `shadow_instance_actions_events`: the events of archived actions, never
//! soft-deleted either; dated by created_at as `nova-manage db purge
//! --before` does (see `shadow_instance_actions`).

use purge_api::{register_target, Link};

register_target! {
    table: "shadow_instance_actions_events",
    scope: Shadow,
    link: Link::Own { cutoff_column: "created_at", soft_deleted: false },
}
