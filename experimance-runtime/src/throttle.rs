//! Rate limits for warnings that a peer can cause: a hostile or broken peer must not set the
//! volume of a service's log. `errors` still counts every occurrence.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::core::lock;

/// How many warnings of one kind are written per window; the rest are counted.
pub(crate) const BURST: u32 = 10;

/// The window of [`BURST`].
pub(crate) const WINDOW: Duration = Duration::from_secs(10);

/// The rate limit of one kind of warning.
pub(crate) struct Throttle {
    kind: &'static str,
    window: Mutex<Window>,
}

struct Window {
    start: Option<Instant>,
    written: u32,
    suppressed: u64,
}

impl Throttle {
    pub(crate) const fn new(kind: &'static str) -> Throttle {
        Throttle {
            kind,
            window: Mutex::new(Window {
                start: None,
                written: 0,
                suppressed: 0,
            }),
        }
    }

    /// Whether to write this warning: yes for the first [`BURST`] of each [`WINDOW`], no
    /// (counted) for the rest. A new window first writes how many the last one held back.
    pub(crate) fn allow(&self) -> bool {
        let now = Instant::now();
        let mut window = lock(&self.window);
        let expired = window
            .start
            .is_none_or(|start| now.duration_since(start) >= WINDOW);
        if expired {
            self.report(&mut window);
            window.start = Some(now);
            window.written = 0;
        }
        if window.written < BURST {
            window.written += 1;
            true
        } else {
            window.suppressed += 1;
            false
        }
    }

    /// Writes how many warnings were held back since the last report, if any.
    pub(crate) fn flush(&self) {
        self.report(&mut lock(&self.window));
    }

    fn report(&self, window: &mut Window) {
        let suppressed = std::mem::take(&mut window.suppressed);
        if suppressed > 0 {
            tracing::warn!(
                kind = self.kind,
                suppressed,
                "more warnings of this kind were not written (at most {BURST} per {WINDOW:?}); `errors` counts them all"
            );
        }
    }
}

/// The throttles of one service, one per kind of warning a peer can cause.
pub(crate) struct Throttles {
    /// Frames, tasks and messages that were malformed or could not be handled.
    pub(crate) bad_input: Throttle,
    /// Connections refused by access control.
    pub(crate) refused: Throttle,
    /// Connections lost and made again.
    pub(crate) connection: Throttle,
    /// Changes of a watched peer's liveness (a peer can flip its own at will).
    pub(crate) liveness: Throttle,
}

impl Throttles {
    pub(crate) const fn new() -> Throttles {
        Throttles {
            bad_input: Throttle::new("bad input"),
            refused: Throttle::new("refused connection"),
            connection: Throttle::new("lost connection"),
            liveness: Throttle::new("peer liveness change"),
        }
    }

    /// Writes what each throttle held back since its last report.
    pub(crate) fn flush(&self) {
        self.bad_input.flush();
        self.refused.flush();
        self.connection.flush();
        self.liveness.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_a_burst_then_counts() {
        let throttle = Throttle::new("test");
        let written = (0..1000).filter(|_| throttle.allow()).count();
        assert_eq!(written, BURST as usize);
        assert_eq!(lock(&throttle.window).suppressed, 1000 - u64::from(BURST));
        throttle.flush();
        assert_eq!(lock(&throttle.window).suppressed, 0);
    }
}
