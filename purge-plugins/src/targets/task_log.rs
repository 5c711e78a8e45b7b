//! The `task_log` of periodic tasks (instance usage audits): Nova never
//! soft-deletes these rows; `nova-manage db archive_deleted_rows --task-log`
//! takes them by the end of their period, and so does the `task-log` scope.

use purge_api::{register_target, Link};

register_target! {
    table: "task_log",
    scope: TaskLog,
    link: Link::Own { cutoff_column: "period_ending", soft_deleted: false },
}
