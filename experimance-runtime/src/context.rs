use std::future::Future;
use std::marker::PhantomData;
use std::sync::Arc;

use serde::Serialize;
use tracing::Instrument;

use crate::address::Role;
use crate::core::{lock, Core};
use crate::dispatch::{CatchUnwind, Outcome};
use crate::error::Error;
use crate::lifecycle::{State, Status};
use crate::service::{HasPub, HasPush, Service};
use crate::stats::StatsSnapshot;

/// What handlers, hooks and tasks use to act on their service: publish, push, spawn
/// background tasks, read stats, request a stop.
///
/// Cheap to clone (an `Arc`); clones can move into spawned tasks. `publish` exists only for
/// services with a `pub` socket and `push` only for services with a `push` socket: calling
/// them on another service is a compile error.
pub struct Context<S> {
    core: Arc<Core>,
    service: PhantomData<fn() -> S>,
}

impl<S> Clone for Context<S> {
    fn clone(&self) -> Self {
        Context {
            core: Arc::clone(&self.core),
            service: PhantomData,
        }
    }
}

impl<S: Service> Context<S> {
    pub(crate) fn new(core: Arc<Core>) -> Self {
        Context {
            core,
            service: PhantomData,
        }
    }

    pub(crate) fn core(&self) -> &Arc<Core> {
        &self.core
    }

    /// The service's name.
    pub fn name(&self) -> &str {
        self.core.name()
    }

    /// The service's lifecycle state.
    pub fn state(&self) -> State {
        self.core.lifecycle().state
    }

    /// The service's health.
    pub fn status(&self) -> Status {
        self.core.lifecycle().status
    }

    /// A snapshot of the service's statistics.
    pub fn stats(&self) -> StatsSnapshot {
        self.core.stats()
    }

    /// The (first) endpoint of the service's socket of `role`, as bound (with the real port)
    /// or connected; `None` if it has no such socket or is not running.
    pub fn endpoint(&self, role: Role) -> Option<String> {
        self.core.endpoints(role).into_iter().next()
    }

    /// Every endpoint of the service's socket of `role`, in the order of its addresses;
    /// empty if it has no such socket or is not running.
    pub fn endpoints(&self, role: Role) -> Vec<String> {
        self.core.endpoints(role)
    }

    /// Whether every peer of the service's socket of `role` is on this host, judged from its
    /// addresses (see [`image::same_host`](crate::image::same_host)): what
    /// [`ImageSender::source`](crate::image::ImageSender::source) asks to choose between a
    /// file and inline data. `false` if it has no such socket or is not running. Host names
    /// are looked up once per run, off the service's threads.
    pub async fn same_host(&self, role: Role) -> bool {
        let endpoints = {
            let addresses = lock(&self.core.addresses);
            let (endpoints, known) = &addresses[role.index()];
            if let Some(known) = known {
                return *known;
            }
            endpoints.clone()
        };
        let judged = {
            let endpoints = endpoints.clone();
            tokio::task::spawn_blocking(move || crate::image::same_host(&endpoints))
                .await
                .unwrap_or(false)
        };
        // Kept for the run it was judged for only (a restart may have new addresses).
        let mut addresses = lock(&self.core.addresses);
        let slot = &mut addresses[role.index()];
        if slot.0 == endpoints {
            slot.1 = Some(judged);
        }
        judged
    }

    /// Asks the service to stop, without waiting (a handler cannot wait for its own stop).
    pub fn stop(&self) {
        self.core.request_stop();
    }

    /// Runs `task` in the background until it ends or the service stops.
    ///
    /// As in the Python library, a task that fails (returns `Err` or panics) records the
    /// error, sets the status to `error` and stops the service; `run` then returns
    /// [`Error::TaskFailed`]. A task that returns `Ok(())` or `()` simply ends.
    pub fn spawn<F>(&self, name: &str, task: F)
    where
        F: Future + Send + 'static,
        F::Output: Outcome,
    {
        let core = Arc::clone(&self.core);
        let cancel = core.cancel_token();
        let name = name.to_owned();
        let span = tracing::info_span!("task", service = core.name(), task = %name);
        self.core.tasks.spawn(
            async move {
                tokio::select! {
                    _ = cancel.cancelled() => {}
                    outcome = CatchUnwind(task) => {
                        let result = outcome.and_then(Outcome::into_result);
                        if let Err(message) = result {
                            core.fail(&name, message);
                        }
                    }
                }
            }
            .instrument(span),
        );
    }

    /// Publishes `message` on the topic named by its `"type"` field, or on the default topic
    /// (the heartbeat topic) when it has none, as the Python services do.
    pub async fn publish<T: Serialize + ?Sized>(&self, message: &T) -> Result<(), Error>
    where
        S: HasPub,
    {
        self.core.publish(None, message).await
    }

    /// Publishes `message` on `topic`. A topic that is empty or has a space is an error and
    /// nothing is sent.
    pub async fn publish_to<T: Serialize + ?Sized>(
        &self,
        topic: &str,
        message: &T,
    ) -> Result<(), Error>
    where
        S: HasPub,
    {
        self.core.publish(Some(topic), message).await
    }

    /// Pushes `message` as one JSON frame to the next puller (round robin), never dropping
    /// it. When no puller can take it now (all at their high-water mark, or none connected),
    /// it waits in the service's send queue (`send_queue` messages) and the handler carries
    /// on, so the service keeps receiving; only when that queue is full does the push wait,
    /// for at most `send_timeout`, then fail with [`Error::SendTimeout`] and send nothing.
    pub async fn push<T: Serialize + ?Sized>(&self, message: &T) -> Result<(), Error>
    where
        S: HasPush,
    {
        self.core.push(message, None).await
    }

    /// Like [`Context::push`], but waits at most `timeout` (instead of `send_timeout`) for
    /// room in a full send queue before [`Error::SendTimeout`]; the message is then not sent
    /// (never half-sent), and the caller decides what to do.
    pub async fn push_timeout<T: Serialize + ?Sized>(
        &self,
        message: &T,
        timeout: std::time::Duration,
    ) -> Result<(), Error>
    where
        S: HasPush,
    {
        self.core.push(message, Some(timeout)).await
    }
}
