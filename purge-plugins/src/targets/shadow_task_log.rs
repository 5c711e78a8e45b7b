//! `shadow_task_log`, filled by `nova-manage db archive_deleted_rows
//! --task-log`. Nova never soft-deletes task_log rows, so their deleted_at
//! stays empty in the shadow table too: `nova-manage db purge --before`
//! dates them by updated_at (the end of the task), and so does this target,
//! instead of the `shadow_tables` family's deleted_at.

use purge_api::{register_target, Link};

register_target! {
    table: "shadow_task_log",
    scope: Shadow,
    link: Link::Own { cutoff_column: "updated_at", soft_deleted: false },
}
