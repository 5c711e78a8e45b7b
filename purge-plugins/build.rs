//! Rebuilds the crate when a file is added to or removed from
//! `src/targets/` (the `automod::dir!` in lib.rs cannot ask for that
//! itself), and hands the list of target files to the crate for the test
//! that checks each registers exactly once.

use std::fs;

fn main() {
    println!("cargo:rerun-if-changed=src/targets");
    let mut stems: Vec<String> = fs::read_dir("src/targets")
        .expect("src/targets exists")
        .map(|entry| entry.expect("readable directory entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "rs"))
        .map(|path| {
            let stem = path.file_stem().expect("a file name").to_string_lossy();
            stem.into_owned()
        })
        .collect();
    stems.sort();
    println!("cargo:rustc-env=PURGE_TARGET_FILES={}", stems.join(","));
}
