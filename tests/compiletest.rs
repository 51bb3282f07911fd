//! Every mistake in the DSL is a compile error at the user's token: `tests/ui/*.rs`, each
//! with the error it must give in the `.stderr` beside it.

use std::path::{Path, PathBuf};

#[path = "common/built.rs"]
mod built;

#[test]
fn ui() {
    share_c_libraries();
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
}

/// trybuild checks the cases in a target directory of its own, where the build scripts of
/// `zmq-sys` and `libsodium-sys-stable` would compile libzmq and libsodium a second time
/// (over a minute on two cores) for a `cargo check` that links nothing. They are pointed at
/// the libraries the build of this test made instead (see `vendor/README.md`); if those are
/// not found, the C libraries are built there as before.
fn share_c_libraries() {
    // libsodium-sys-stable refuses `SODIUM_LIB_DIR` beside these.
    if ["SODIUM_USE_PKG_CONFIG", "SODIUM_SHARED"]
        .iter()
        .any(|v| std::env::var_os(v).is_some())
    {
        return;
    }
    let build = built::profile_dir().join("build");
    let zmq = newest(&build, "zmq-sys-", "out/lib/libzmq.a");
    let sodium = newest(
        &build,
        "libsodium-sys-stable-",
        "out/installed/lib/libsodium.a",
    );
    if let (Some(zmq), Some(sodium)) = (zmq, sodium) {
        // One thread: trybuild's cargo, started below, inherits the environment.
        std::env::set_var("EXPERIMANCE_LIBZMQ_DIR", zmq.join("out"));
        std::env::set_var("SODIUM_LIB_DIR", sodium.join("out/installed/lib"));
    }
}

/// The most recently built directory `build/<prefix>*` that holds `file`.
fn newest(build: &Path, prefix: &str, file: &str) -> Option<PathBuf> {
    std::fs::read_dir(build)
        .ok()?
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|dir| {
            dir.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(prefix))
        })
        .filter_map(|dir| {
            let built = std::fs::metadata(dir.join(file)).ok()?.modified().ok()?;
            Some((built, dir))
        })
        .max()
        .map(|(_, dir)| dir)
}
