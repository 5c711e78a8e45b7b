//! Declares one module per file in `src/targets/`, so that adding a purge
//! target means adding a file and nothing else.

use std::{env, fs, path::Path};

fn main() {
    let dir = Path::new("src/targets");
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut names: Vec<String> = fs::read_dir(dir)
        .expect("src/targets exists")
        .map(|entry| entry.expect("readable directory entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "rs"))
        .map(|path| {
            let stem = path.file_stem().expect("a file name").to_string_lossy();
            stem.into_owned()
        })
        .collect();
    // Sorted so the generated file, and thus the build, is reproducible.
    names.sort();
    // `#[path]` in an included file resolves against OUT_DIR: use absolute paths.
    let manifest_dir = env::var("CARGO_MANIFEST_DIR").expect("set by cargo");
    let modules: String = names
        .iter()
        .map(|name| format!("#[path = \"{manifest_dir}/src/targets/{name}.rs\"]\nmod {name};\n"))
        .collect();
    let out = Path::new(&env::var("OUT_DIR").expect("set by cargo")).join("targets.rs");
    fs::write(out, modules).expect("OUT_DIR is writable");
}
