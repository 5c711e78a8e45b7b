//! Key pairs from before they moved to the API database (legacy).

use purge_api::register_target;

register_target! { table: "key_pairs", scope: Rows }
