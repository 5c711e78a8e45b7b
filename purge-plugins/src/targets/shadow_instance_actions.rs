//! `shadow_instance_actions`: the actions Nova's archiver moves with their
//! instance. Nova never soft-deletes actions, so their deleted_at is empty:
//! `nova-manage db purge --before` dates them by created_at, and so does
//! this target, instead of the `shadow_tables` family's deleted_at.

use purge_api::{register_target, Link};

register_target! {
    table: "shadow_instance_actions",
    scope: Shadow,
    link: Link::Own { cutoff_column: "created_at", soft_deleted: false },
}
