//! Builds the bundled libzmq with CURVE: against the libsodium that `libsodium-sys-stable`
//! built (it publishes `include` and `lib` as `links` metadata: `DEP_SODIUM_*`).

use std::env;

fn main() {
    println!("cargo:rerun-if-changed=build/main.rs");
    println!("cargo:rerun-if-env-changed=PROFILE");
    println!("cargo:rerun-if-env-changed=EXPERIMANCE_LIBZMQ_DIR");
    // The output directory of an earlier build of this crate: its libzmq is used as it is,
    // with the libsodium that `libsodium-sys-stable` links (`SODIUM_LIB_DIR` for the one
    // that build used). The workspace's trybuild test sets both, so that its own target
    // directory does not compile the two C libraries a second time.
    if let Ok(dir) = env::var("EXPERIMANCE_LIBZMQ_DIR") {
        println!("cargo:rerun-if-changed={dir}/lib/libzmq.a");
        println!("cargo:rustc-link-search=native={dir}/lib");
        println!("cargo:rustc-link-lib=static=zmq");
        let apple = env::var("TARGET").is_ok_and(|t| t.contains("apple"));
        println!("cargo:rustc-link-lib={}", if apple { "c++" } else { "stdc++" });
        println!("cargo:include={dir}/source/include");
        println!("cargo:lib={dir}/lib");
        println!("cargo:out={dir}");
        return;
    }
    let lib = env::var("DEP_SODIUM_LIB").expect("libsodium-sys-stable gives DEP_SODIUM_LIB");
    let include =
        env::var("DEP_SODIUM_INCLUDE").expect("libsodium-sys-stable gives DEP_SODIUM_INCLUDE");
    // libzmq's own compiler warnings are not this workspace's to fix; cargo would replay
    // them on every build of a path dependency.
    for flags in ["CFLAGS", "CXXFLAGS"] {
        let mut value = env::var(flags).unwrap_or_default();
        value.push_str(" -w");
        env::set_var(flags, value.trim());
    }
    // zeromq-src prints this search path quoted; the plain one makes `-l static=sodium` work.
    println!("cargo:rustc-link-search=native={lib}");
    zeromq_src::Build::new()
        .with_libsodium(Some(zeromq_src::LibLocation::new(lib, include)))
        .build();
}
