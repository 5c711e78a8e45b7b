//! Quota classes from before quotas moved to the API database (legacy).

use purge_api::register_target;

register_target! { table: "quota_classes", scope: Rows }
