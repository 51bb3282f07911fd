//! The state one service shares between its handle, its loop, its tasks and its contexts.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use serde::Serialize;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::address::{Endpoint, Role};
use crate::description::{ServiceDescription, DESCRIPTION_TOPIC};
use crate::error::Error;
use crate::lifecycle::{State, Status};
use crate::liveness::Peers;
use crate::monitor::Connection;
use crate::outbox::{Outbox, SendQueue};
use crate::stats::{Counters, StatsSnapshot};
use crate::subscribers::Budget;
use crate::throttle::Throttles;
use crate::untrusted::Untrusted;
use crate::wire;

/// State and health, published together so waiters see consistent pairs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Lifecycle {
    pub(crate) state: State,
    pub(crate) status: Status,
}

/// What [`Core::subscriptions`] read.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Subscriptions {
    /// A subscriber subscribed to heartbeats: to the heartbeat topic or a prefix of it, but
    /// not to everything (a tap, not a watcher).
    pub(crate) heartbeat: bool,
    /// A subscriber subscribed to exactly the description topic: a request for it.
    pub(crate) description: bool,
}

/// How many publishes share one unit of tokio's cooperative budget ([`Core::yield_point`]).
const SENDS_PER_YIELD: u64 = 8;

/// PUB frames at least this large are handed to libzmq without a copy. Below it, copying
/// into libzmq's own allocation costs less than a fresh encode buffer per message.
const ZERO_COPY_MIN: usize = 16 * 1024;

pub(crate) struct Core {
    name: String,
    pub(crate) counters: Counters,
    pub(crate) lifecycle: watch::Sender<Lifecycle>,
    /// The task and message of the failure that stopped the latest run.
    pub(crate) failure: Mutex<Option<(String, String)>>,
    /// The endpoints of each socket while running (bound wildcard ports resolved).
    pub(crate) endpoints: Mutex<[Vec<String>; 4]>,
    /// Each socket's addresses as given, with their direction, while running; and whether
    /// all its peers are on this host, once asked ([`crate::Context::same_host`]).
    pub(crate) addresses: Mutex<[(Vec<Endpoint>, Option<bool>); 4]>,
    pub(crate) publisher: tokio::sync::Mutex<Option<Outbox>>,
    pub(crate) pusher: tokio::sync::Mutex<Option<Outbox>>,
    pub(crate) cancel: Mutex<CancellationToken>,
    pub(crate) tasks: TaskTracker,
    pub(crate) peers: Peers,
    /// The description of the current run, published when a subscriber asks for it.
    pub(crate) description: Mutex<Option<ServiceDescription>>,
    /// PUSH frames waiting for a puller.
    pub(crate) send_queue: SendQueue,
    /// What the PUB socket's subscriptions said since the heartbeat last looked.
    seen: Mutex<Subscriptions>,
    /// The [`Condition`]s that hold now, as bits: health is `warning` while any does.
    conditions: AtomicU8,
    /// When the current stop was asked for: the drain deadline counts from it.
    stop_asked: Mutex<Option<tokio::time::Instant>>,
    /// Rate limits of the warnings a peer can cause.
    pub(crate) throttles: Throttles,
    /// What the PUB socket's subscribers may make it hold.
    pub(crate) budget: Mutex<Budget>,
    /// Whether the current run speaks CURVE (for what a failed handshake log says).
    pub(crate) curve: std::sync::atomic::AtomicBool,
    /// Publishes so far, for [`Core::yield_point`].
    sends: std::sync::atomic::AtomicU64,
}

/// A passing trouble that makes a healthy service's health `warning` while it lasts.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Condition {
    /// The PUSH queue is full: no puller takes messages, and senders wait.
    SendQueueFull = 1,
    /// A connecting SUB or PULL socket lost its connection and is reconnecting.
    Disconnected = 2,
}

impl Core {
    pub(crate) fn new(name: String) -> Core {
        let cancel = CancellationToken::new();
        cancel.cancel();
        Core {
            name,
            counters: Counters::default(),
            lifecycle: watch::Sender::new(Lifecycle {
                state: State::Initialized,
                status: Status::Healthy,
            }),
            failure: Mutex::new(None),
            endpoints: Mutex::new(Default::default()),
            addresses: Mutex::new(Default::default()),
            publisher: tokio::sync::Mutex::new(None),
            pusher: tokio::sync::Mutex::new(None),
            cancel: Mutex::new(cancel),
            tasks: TaskTracker::new(),
            peers: Peers::default(),
            description: Mutex::new(None),
            send_queue: SendQueue::default(),
            seen: Mutex::new(Subscriptions::default()),
            conditions: AtomicU8::new(0),
            stop_asked: Mutex::new(None),
            throttles: Throttles::new(),
            budget: Mutex::new(Budget::default()),
            sends: std::sync::atomic::AtomicU64::new(0),
            curve: std::sync::atomic::AtomicBool::new(false),
        }
    }

    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    pub(crate) fn lifecycle(&self) -> Lifecycle {
        *self.lifecycle.borrow()
    }

    pub(crate) fn set_state(&self, state: State) {
        self.lifecycle.send_modify(|l| l.state = state);
    }

    pub(crate) fn set_status(&self, status: Status) {
        self.lifecycle.send_modify(|l| l.status = status);
    }

    pub(crate) fn stats(&self) -> StatsSnapshot {
        let l = self.lifecycle();
        let mut stats = self.counters.snapshot(self.name(), l.state, l.status);
        stats.peers = self.peers.snapshot();
        stats
    }

    pub(crate) fn cancel_token(&self) -> CancellationToken {
        lock(&self.cancel).clone()
    }

    /// Asks the running service to stop; the first request starts the drain's clock.
    pub(crate) fn request_stop(&self) {
        let token = self.cancel_token();
        if !token.is_cancelled() {
            lock(&self.stop_asked).get_or_insert_with(tokio::time::Instant::now);
        }
        token.cancel();
    }

    /// When a stop asked now or earlier must have drained: `drain_timeout` after the request.
    pub(crate) fn drain_deadline(&self, drain_timeout: Duration) -> tokio::time::Instant {
        let asked = *lock(&self.stop_asked).get_or_insert_with(tokio::time::Instant::now);
        asked + drain_timeout
    }

    /// Clears what the previous run left: stop request, conditions, subscriptions seen.
    pub(crate) fn reset_run(&self) {
        *lock(&self.stop_asked) = None;
        *lock(&self.seen) = Subscriptions::default();
        self.conditions.store(0, Ordering::Relaxed);
    }

    /// Records that `condition` holds (`on`) or ended; health follows: `warning` while any
    /// condition holds, `healthy` again when none does (`error` and `fatal` stay).
    pub(crate) fn set_condition(&self, condition: Condition, on: bool) {
        let bit = condition as u8;
        // Under the lifecycle's lock, so that the bits and the health they imply change
        // together, whatever the order in which tasks report.
        self.lifecycle.send_if_modified(|l| {
            let conditions = if on {
                self.conditions.fetch_or(bit, Ordering::AcqRel) | bit
            } else {
                self.conditions.fetch_and(!bit, Ordering::AcqRel) & !bit
            };
            match (l.status, conditions != 0) {
                (Status::Healthy, true) => {
                    l.status = Status::Warning;
                    true
                }
                (Status::Warning, false) => {
                    l.status = Status::Healthy;
                    true
                }
                _ => false,
            }
        });
    }

    pub(crate) fn endpoints(&self, role: Role) -> Vec<String> {
        lock(&self.endpoints)[role.index()].clone()
    }

    /// Whether this run has a PUB socket (its own, or one to a hub): heartbeats, stats and
    /// descriptions go out on it.
    pub(crate) fn publishing(&self) -> bool {
        match self.publisher.try_lock() {
            Ok(guard) => guard.is_some(),
            // Held by a publish: there is a socket.
            Err(_) => true,
        }
    }

    /// The heartbeat topic of the current run.
    pub(crate) async fn heartbeat_topic(&self) -> Option<String> {
        let guard = self.publisher.lock().await;
        guard.as_ref().map(|outbox| outbox.topics.heartbeat.clone())
    }

    /// Records a fatal failure of a task: the first one wins, the status becomes `error`, and
    /// the service stops.
    pub(crate) fn fail(&self, task: &str, message: String) {
        tracing::error!(service = self.name(), task, error = %crate::Untrusted::str(&message), "task failed; stopping the service");
        self.counters.error();
        self.set_status(Status::Error);
        lock(&self.failure).get_or_insert((task.to_owned(), message));
        self.request_stop();
    }

    /// Publishes on the PUB socket; counts the message, or the error.
    pub(crate) async fn publish<T: Serialize + ?Sized>(
        &self,
        topic: Option<&str>,
        message: &T,
    ) -> Result<(), Error> {
        self.send(Role::Pub, |buf, default_topic| {
            wire::encode_frame(buf, topic, default_topic, message)
        })
        .await
    }

    /// What the XPUB socket's subscriptions said since the last call. Reading them also
    /// makes libzmq apply them, so a message published afterwards reaches those subscribers.
    pub(crate) async fn subscriptions(&self) -> Subscriptions {
        self.take_subscriptions().await;
        std::mem::take(&mut *lock(&self.seen))
    }

    /// Reads every (un)subscription queued on the XPUB socket (which makes libzmq process
    /// its pending commands too) and notes what they ask for; drops anything else a peer
    /// sent upstream. Each subscription is charged to the connection that sent it, after the
    /// connection monitor's news of opened and closed connections.
    pub(crate) async fn take_subscriptions(&self) {
        let mut guard = self.publisher.lock().await;
        let Some(outbox) = guard.as_mut() else {
            return;
        };
        let mut budget = lock(&self.budget);
        let mut monitor = outbox.monitor.as_mut();
        let connects = outbox.socket.connects();
        let mut follow = |budget: &mut Budget| {
            while let Some(Ok(Some(event))) = monitor.as_mut().map(|m| m.try_next()) {
                match event {
                    Connection::Opened(fd) => budget.opened(fd),
                    Connection::Lost { fd, .. } => budget.closed(fd),
                    Connection::HandshakeFailed {
                        endpoint,
                        reason,
                        refused,
                    } => {
                        crate::monitor::report_handshake(
                            self,
                            crate::Role::Pub,
                            (&endpoint, reason, refused),
                            self.curve.load(std::sync::atomic::Ordering::Relaxed),
                            connects.address(&endpoint).is_none(),
                        );
                    }
                    Connection::Up { .. } | Connection::Retrying { .. } => {}
                }
            }
        };
        follow(&mut budget);
        let mut seen = Subscriptions::default();
        let mut msg = zmq::Message::new();
        while let Ok(true) = outbox.socket.try_recv(&mut msg) {
            let Some((1, prefix)) = msg.split_first() else {
                continue;
            };
            seen.heartbeat |=
                !prefix.is_empty() && outbox.topics.heartbeat.as_bytes().starts_with(prefix);
            seen.description |= prefix == DESCRIPTION_TOPIC.as_bytes();
            let Some(fd) = msg.gets("__fd").and_then(|fd| fd.parse().ok()) else {
                continue;
            };
            let peer = msg.gets("Peer-Address").unwrap_or_default().to_owned();
            if !budget.knows(fd) {
                // A connection opened while this loop ran: its event is on the monitor.
                follow(&mut budget);
            }
            if let Some(evicted) = budget.subscribed(fd, &peer) {
                self.counters.error();
                if self.throttles.refused.allow() {
                    tracing::warn!(
                        peer = %Untrusted::str(&evicted.peer),
                        subscriptions = evicted.subscriptions,
                        max_subscriptions = budget.max(),
                        "subscriptions over the service's budget; the subscriber holding the most was disconnected"
                    );
                }
            }
        }
        drop(budget);
        let mut all = lock(&self.seen);
        all.heartbeat |= seen.heartbeat;
        all.description |= seen.description;
    }

    /// Pushes on the PUSH socket. The message goes straight to libzmq when the socket takes
    /// it at once and nothing is queued before it; else into the send queue, waiting up to
    /// `timeout` (by default the `send_timeout` key) for room there. It is counted as sent
    /// when libzmq takes it; an error is counted.
    pub(crate) async fn push<T: Serialize + ?Sized>(
        &self,
        message: &T,
        timeout: Option<Duration>,
    ) -> Result<(), Error> {
        tokio::task::coop::consume_budget().await;
        let timeout = timeout.unwrap_or_else(|| self.send_queue.timeout());
        if let Ok(mut guard) = self.pusher.try_lock() {
            let Some(outbox) = guard.as_mut() else {
                return Err(self.no_socket(Role::Push));
            };
            if self.send_queue.is_empty() {
                wire::encode_task(&mut outbox.buf, message)?;
                match outbox.socket.try_send(&outbox.buf) {
                    Ok(true) => {
                        self.counters.sent();
                        return Ok(());
                    }
                    Ok(false) => {
                        let frame = std::mem::replace(&mut outbox.buf, self.send_queue.buffer());
                        drop(guard);
                        return self.send_queue.put(self, frame, timeout).await;
                    }
                    Err(source) => return Err(self.send_failed(Role::Push, source)),
                }
            }
        }
        let mut frame = self.send_queue.buffer();
        wire::encode_task(&mut frame, message)?;
        self.send_queue.put(self, frame, timeout).await
    }

    /// Publishes one encoded frame; PUB never waits (at a subscriber's high-water mark
    /// libzmq drops what that subscriber would get, as PUB does).
    async fn send(
        &self,
        role: Role,
        encode: impl FnOnce(&mut Vec<u8>, &str) -> Result<(), Error>,
    ) -> Result<(), Error> {
        // The same yield point `lock` has, then the lock without building a waiter when it is
        // free; `try_lock` fails while tasks queue for it, so they keep their FIFO turn.
        self.yield_point().await;
        let mut guard = match self.publisher.try_lock() {
            Ok(guard) => guard,
            Err(_) => self.publisher.lock().await,
        };
        let Some(outbox) = guard.as_mut() else {
            return Err(self.no_socket(role));
        };
        encode(&mut outbox.buf, &outbox.topics.default)?;
        let sent = if outbox.buf.len() >= ZERO_COPY_MIN {
            let frame = outbox.take_frame();
            outbox.socket.send_owned(frame)
        } else {
            outbox.socket.send(&outbox.buf).await
        };
        match sent {
            Ok(()) => {
                self.counters.sent();
                Ok(())
            }
            Err(source) => Err(self.send_failed(role, source)),
        }
    }

    /// Where a publishing task may give way to others: tokio's cooperative budget (128 units
    /// a turn), charged once every [`SENDS_PER_YIELD`] publishes. A task that publishes in a
    /// loop yields every 1,024 messages rather than every 128, so libzmq's I/O thread gets
    /// longer bursts to write: 64 busy pairs of services in one process sent about 1.5× as
    /// many messages (`cargo bench --bench compare -- many`). PUSH gained nothing measurable
    /// and still yields at every send.
    async fn yield_point(&self) {
        if self.sends.fetch_add(1, Ordering::Relaxed) % SENDS_PER_YIELD == 0 {
            tokio::task::coop::consume_budget().await;
        }
    }

    fn no_socket(&self, role: Role) -> Error {
        Error::NoSocket {
            service: self.name().to_owned(),
            role,
        }
    }

    fn send_failed(&self, role: Role, source: zmq::Error) -> Error {
        self.counters.error();
        Error::Transport {
            service: self.name().to_owned(),
            role,
            source,
        }
    }
}

/// Locks a std mutex, ignoring poisoning: every value guarded here stays consistent.
pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
