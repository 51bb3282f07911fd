//! What the build of the running test made beside it: the test binary lives in
//! `<target>/<profile>/deps/`, with the examples and the build scripts' output next to it.
//! Shared by the root tests, the CLI's tests and the trybuild test (through `#[path]`).
#![allow(dead_code)]

use std::path::PathBuf;

/// `<target>/<profile>`, the directory of the running test's build.
pub fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    exe.parent()
        .and_then(|deps| deps.parent())
        .expect("the test binary is in <profile>/deps")
        .to_path_buf()
}

/// The binary of the example `name`, which `cargo test` builds beside the test binaries.
pub fn example(name: &str) -> PathBuf {
    let path = profile_dir().join("examples").join(name);
    assert!(
        path.is_file(),
        "no example binary {}: `cargo test` builds the examples (or `cargo build --examples` \
         in the example's package)",
        path.display()
    );
    path
}
