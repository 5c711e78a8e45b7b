//! Nova's `shadow_*` tables, which `nova-manage db archive_deleted_rows`
//! fills and `nova-manage db purge` empties: their rows deleted before the
//! cutoff (by `deleted_at`, as `db purge --before` takes them; rows without
//! a date only with `--undated-shadow-rows`, as `db purge --all`). The
//! shadow tables that Nova dates by another column have targets of their
//! own (`shadow_task_log`, `shadow_instance_actions*`), which the family
//! leaves to them.

use purge_api::{register_target, Link};

register_target! {
    name: "shadow_tables",
    family: "shadow_",
    scope: Shadow,
    link: Link::Own { cutoff_column: "deleted_at", soft_deleted: false },
}
