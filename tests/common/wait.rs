//! Waiting for a state that no message announces (a counter in a service's stats).
//!
//! The including module provides `SAFETY` (the safety net of every wait).

use std::time::{Duration, Instant};

use super::SAFETY;

/// Checks `done` every millisecond until it holds; panics with `what` after `SAFETY`. This
/// waits on the state itself, not on time.
pub async fn until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + SAFETY;
    while !done() {
        assert!(Instant::now() < deadline, "{what}: not within {SAFETY:?}");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}
