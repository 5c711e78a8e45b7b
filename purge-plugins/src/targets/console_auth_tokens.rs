//! Console access tokens. Nova hard-deletes them with the instance; any
//! left over belong to it all the same.

use purge_api::{register_target, Link};

register_target! { table: "console_auth_tokens", link: Link::Column("instance_uuid") }
