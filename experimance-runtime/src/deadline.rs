//! The deadline of a stop for the service's own code: a handler, timer or hook in hand when
//! a stop is asked may run until the drain deadline, and is dropped (cancelled) then.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::core::Core;

/// What bounds a call of the service's own code: nothing before a stop is asked; after it,
/// the drain deadline (the request + `drain_timeout`), or `at_least` if that is later.
pub(crate) struct Limit<'a> {
    core: &'a Core,
    cancel: &'a CancellationToken,
    drain_timeout: Duration,
    at_least: Option<tokio::time::Instant>,
}

impl<'a> Limit<'a> {
    pub(crate) fn new(
        core: &'a Core,
        cancel: &'a CancellationToken,
        drain_timeout: Duration,
        at_least: Option<tokio::time::Instant>,
    ) -> Limit<'a> {
        Limit {
            core,
            cancel,
            drain_timeout,
            at_least,
        }
    }

    /// `call`, or `None` if it is still running at the deadline (it is then dropped).
    pub(crate) fn bound<F: Future>(&'a self, call: F) -> Bounded<'a, F> {
        Bounded {
            call,
            limit: self,
            deadline: None,
        }
    }

    /// Counts and logs a call dropped at the deadline; `what` names it.
    pub(crate) fn cancelled(&self, what: &str) {
        self.core.counters.error();
        tracing::warn!(
            handler = %what,
            drain_timeout = ?self.drain_timeout,
            "still running at the stop's deadline; cancelled"
        );
    }

    async fn passed(&self) {
        self.cancel.cancelled().await;
        let deadline = self.core.drain_deadline(self.drain_timeout);
        tokio::time::sleep_until(self.at_least.map_or(deadline, |t| t.max(deadline))).await;
    }
}

pin_project_lite::pin_project! {
    /// A call bounded by a [`Limit`]. Most calls finish at their first poll; only one that
    /// waits pays for watching the deadline.
    pub(crate) struct Bounded<'a, F> {
        #[pin]
        call: F,
        limit: &'a Limit<'a>,
        deadline: Option<Pin<Box<dyn Future<Output = ()> + Send + 'a>>>,
    }
}

impl<F: Future> Future for Bounded<'_, F> {
    type Output = Option<F::Output>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if let Poll::Ready(output) = this.call.poll(cx) {
            return Poll::Ready(Some(output));
        }
        let limit = *this.limit;
        let deadline = this
            .deadline
            .get_or_insert_with(|| Box::pin(limit.passed()));
        deadline.as_mut().poll(cx).map(|()| None)
    }
}
