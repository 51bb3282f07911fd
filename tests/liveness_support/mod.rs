//! Helpers of the peer-liveness tests (`tests/liveness.rs`, `tests/netns.rs`): child
//! processes re-executed from the test binary, and the lines they print.
//!
//! A parent test runs `<this test binary> --exact <child test> --nocapture` (optionally behind
//! a prefix such as `ip netns exec ns1`) with [`CHILD_ENV`] set to the child's mode; the child
//! tests do nothing without it. A child prints `MARKER payload` lines on stdout and exits
//! when its stdin closes, so no child outlives its parent. Every wait ends on a line;
//! timeouts are only safety nets.
#![allow(dead_code)]

use std::ffi::OsStr;
use std::process::Stdio;
use std::time::Duration;

use tokio::sync::mpsc;

#[path = "../common/child.rs"]
pub mod child;

pub use child::Kid;

/// The safety net of every wait (also of the shared [`child`] helpers); a test that reaches
/// one has failed.
pub const SAFETY: Duration = Duration::from_secs(20);

/// Set (to the child's mode) in the environment of a re-executed test binary.
pub const CHILD_ENV: &str = "EXPERIMANCE_LIVENESS_CHILD";

/// The address a child binds or connects to.
pub const ADDRESS_ENV: &str = "EXPERIMANCE_LIVENESS_ADDRESS";

/// In a child test: whether this process was started as a child in `mode`.
pub fn is_child(mode: &str) -> bool {
    std::env::var(CHILD_ENV).is_ok_and(|m| m == mode)
}

/// In a child: the address its parent gave it.
pub fn child_address() -> String {
    std::env::var(ADDRESS_ENV).expect("the parent gives a child its address")
}

/// In a child: prints `marker payload` on one line, flushed.
pub fn say(marker: &str, payload: impl std::fmt::Display) {
    child::say(format_args!("{marker} {payload}"));
}

/// In a child: the lines of stdin, in a channel. When stdin closes (the parent is gone or
/// dropped its handle) the child exits at once (code 0).
pub fn child_stdin() -> mpsc::UnboundedReceiver<String> {
    if std::env::var_os("RUST_LOG").is_some() {
        experimance::init_logging();
    }
    child::stdin_lines(0)
}

/// Runs `prefix... <current exe> --exact <test> --nocapture` with [`CHILD_ENV`] = `mode`
/// and [`ADDRESS_ENV`] = `address`; its stdin is piped (see [`child_stdin`]).
pub fn spawn_kid<P: AsRef<OsStr>>(prefix: &[P], test: &str, mode: &str, address: &str) -> Kid {
    let mut command = child::command(prefix, test);
    command
        .env(CHILD_ENV, mode)
        .env(ADDRESS_ENV, address)
        .stdin(Stdio::piped());
    Kid::start(command, mode)
}
