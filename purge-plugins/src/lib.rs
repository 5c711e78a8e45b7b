//! Every purge target nova-purge knows, one file per table (or family of
//! tables): `src/targets/` holds those of the `instances` scope and the
//! `task-log` and `shadow` scopes, `src/rows/` those of the `rows` scope.
//!
//! Each file registers itself in the link-time registry
//! ([`purge_api::TARGETS`]), and `automod` declares a module for every file
//! of both directories, so adding a table is adding a file: nothing else
//! lists them. Nothing here is called directly: a binary that reads the
//! registry must name this crate (`use purge_plugins as _;`) or the linker
//! drops it, registrations included.

mod targets {
    automod::dir!("src/targets");
}

mod rows {
    automod::dir!("src/rows");
}

/// The files in `src/targets/` and `src/rows/` (as `targets/NAME` and
/// `rows/NAME`, sorted), as the build saw them: tests check that each
/// registers exactly one target and that none went missing from the link.
pub fn target_files() -> impl Iterator<Item = &'static str> {
    env!("PURGE_TARGET_FILES")
        .split(',')
        .filter(|s| !s.is_empty())
}
