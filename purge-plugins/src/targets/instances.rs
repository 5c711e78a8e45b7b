//! The instance rows themselves. The registry runs this target after every
//! other target of the cell database, whatever they declare.

use purge_api::{register_target, Link};

register_target! { table: "instances", link: Link::Instance }
