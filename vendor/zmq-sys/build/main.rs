//! Builds the bundled libzmq with CURVE: against the libsodium that `libsodium-sys-stable`
//! built (it publishes `include` and `lib` as `links` metadata: `DEP_SODIUM_*`).

use std::env;

fn main() {
    println!("cargo:rerun-if-changed=build/main.rs");
    println!("cargo:rerun-if-env-changed=PROFILE");
    let lib = env::var("DEP_SODIUM_LIB").expect("libsodium-sys-stable gives DEP_SODIUM_LIB");
    let include =
        env::var("DEP_SODIUM_INCLUDE").expect("libsodium-sys-stable gives DEP_SODIUM_INCLUDE");
    // zeromq-src prints this search path quoted; the plain one makes `-l static=sodium` work.
    println!("cargo:rustc-link-search=native={lib}");
    zeromq_src::Build::new()
        .with_libsodium(Some(zeromq_src::LibLocation::new(lib, include)))
        .build();
}
