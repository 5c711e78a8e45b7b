//! Rebuilds the crate when a file is added to or removed from
//! `src/targets/` or `src/rows/` (the `automod::dir!` in lib.rs cannot ask
//! for that itself), and hands the list of target files to the crate for
//! the test that checks each registers exactly once.

use std::fs;

const DIRECTORIES: [&str; 2] = ["targets", "rows"];

fn main() {
    let mut files = Vec::new();
    for directory in DIRECTORIES {
        let path = format!("src/{directory}");
        println!("cargo:rerun-if-changed={path}");
        for entry in fs::read_dir(&path).expect("the target directory exists") {
            let path = entry.expect("readable directory entry").path();
            if path.extension().is_some_and(|ext| ext == "rs") {
                let stem = path.file_stem().expect("a file name").to_string_lossy();
                files.push(format!("{directory}/{stem}"));
            }
        }
    }
    files.sort();
    println!("cargo:rustc-env=PURGE_TARGET_FILES={}", files.join(","));
}
