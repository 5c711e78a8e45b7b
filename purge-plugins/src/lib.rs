//! Every purge target nova-purge knows, one file per table in `src/targets/`.
//!
//! Each file registers itself in the link-time registry
//! ([`purge_api::TARGETS`]), and `automod` declares a module for every file
//! of the directory, so adding a table is adding a file: nothing else lists
//! them. Nothing here is called directly: a binary that reads the registry
//! must name this crate (`use purge_plugins as _;`) or the linker drops it,
//! registrations included.

mod targets {
    automod::dir!("src/targets");
}

/// The stems of the files in `src/targets/`, sorted, as the build saw them:
/// tests check that each registers exactly one target and that none went
/// missing from the link.
pub fn target_files() -> impl Iterator<Item = &'static str> {
    env!("PURGE_TARGET_FILES")
        .split(',')
        .filter(|s| !s.is_empty())
}
