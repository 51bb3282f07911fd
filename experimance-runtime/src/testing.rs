//! Drive a service's handlers without sockets, as FastStream's `TestBroker` does.
//!
//! A [`TestHarness`] runs the service's real message loop, timers, heartbeats, stats and
//! liveness on in-memory sockets: you inject messages on a topic or on PULL, and capture what
//! it publishes and pushes. Routing follows the real semantics: an injected topic reaches
//! the service only if one of its SUB subscriptions is a prefix of it (ZeroMQ's filter), and
//! dispatch then compares topics exactly.
//!
//! Under `#[tokio::test(start_paused = true)]` time is virtual: heartbeats, `#[every]`
//! timers and liveness timeouts run in microseconds and deterministically, and waits
//! ([`TestHarness::next_published`], [`TestHarness::advance`]) move the clock instead of
//! sleeping.
//!
//! See `experimance::testing` for an example.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;
use serde_json::Value;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender};
use tokio::sync::watch;

use crate::address::Role;
use crate::core::lock;
use crate::error::Error;
use crate::memory::Pipe;
use crate::runner::Runner;
use crate::service::Service;
use crate::socket::AsyncSocket;
use crate::stats::StatsSnapshot;

/// Whether an injected message reached the service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// A subscription (or the PULL socket) took it.
    Delivered,
    /// No SUB subscription is a prefix of its topic, so ZeroMQ would not deliver it.
    Filtered,
    /// The service has no socket for it (no `sub` or no `pull`), or is not running.
    NoSocket,
}

/// The test's ends of a service's in-memory sockets, renewed at each start.
pub(crate) struct Wires {
    sub: Option<UnboundedSender<Vec<u8>>>,
    pull: Option<UnboundedSender<Vec<u8>>>,
    published: Option<UnboundedReceiver<Vec<u8>>>,
    pushed: Option<UnboundedReceiver<Vec<u8>>>,
    idle: watch::Sender<usize>,
}

impl Wires {
    fn new() -> Wires {
        Wires {
            sub: None,
            pull: None,
            published: None,
            pushed: None,
            idle: watch::Sender::new(0),
        }
    }

    /// Whether the service has a socket the test can inject into (SUB or PULL).
    fn inbound(&self) -> bool {
        self.sub.is_some() || self.pull.is_some()
    }

    /// Makes in-memory sockets for the roles that have an address.
    pub(crate) fn connect<A>(&mut self, addresses: &[Option<A>; 4]) -> [Option<AsyncSocket>; 4] {
        Role::ALL.map(|role| {
            addresses[role.index()].as_ref()?;
            let endpoint = format!("memory://{}", role.key());
            let pipe = match role {
                Role::Sub | Role::Pull => {
                    let (pipe, tx) = Pipe::inbound(self.idle.clone());
                    *if role == Role::Sub {
                        &mut self.sub
                    } else {
                        &mut self.pull
                    } = Some(tx);
                    pipe
                }
                Role::Pub | Role::Push => {
                    let (pipe, rx) = Pipe::outbound();
                    *if role == Role::Pub {
                        &mut self.published
                    } else {
                        &mut self.pushed
                    } = Some(rx);
                    pipe
                }
            };
            Some(AsyncSocket::memory(pipe, endpoint))
        })
    }
}

/// A running service on in-memory sockets; see the [module](self) docs.
pub struct TestHarness<S: Service> {
    runner: Runner<S>,
    wires: Arc<Mutex<Wires>>,
    injected: u64,
    published: VecDeque<(String, Value)>,
}

impl<S: Service> TestHarness<S> {
    /// Starts `service` on in-memory sockets.
    pub async fn start(service: S) -> Result<Self, Error> {
        Self::start_runner(Runner::new(service)).await
    }

    /// Starts a runner configured beforehand (`with_name`, `with_drain_timeout`, ...) on
    /// in-memory sockets; its addresses only decide which sockets exist.
    pub async fn start_runner(runner: Runner<S>) -> Result<Self, Error> {
        let wires = Arc::new(Mutex::new(Wires::new()));
        let runner = runner.in_memory(Arc::clone(&wires));
        runner.start().await?;
        Ok(TestHarness {
            runner,
            wires,
            injected: 0,
            published: VecDeque::new(),
        })
    }

    /// The runner: state, stats, `stop`, `start` again.
    pub fn runner(&self) -> &Runner<S> {
        &self.runner
    }

    /// The service's statistics.
    pub fn stats(&self) -> StatsSnapshot {
        self.runner.stats()
    }

    /// Injects `message` on `topic` as a publisher would, if a subscription lets it through.
    pub fn publish<T: Serialize + ?Sized>(&mut self, topic: &str, message: &T) -> Delivery {
        let mut frame = format!("{topic} ").into_bytes();
        serde_json::to_writer(&mut frame, message).expect("a serializable test message");
        self.publish_frame(frame)
    }

    /// Injects a raw SUB frame (for bad input), filtered by the subscriptions like any other.
    pub fn publish_frame(&mut self, frame: impl Into<Vec<u8>>) -> Delivery {
        let frame = frame.into();
        // The subscriptions of this run: the attribute's or the handlers' topics, or those the
        // environment or configuration file set, and the watched heartbeat topics.
        let subscriptions = lock(&self.runner.core().description)
            .as_ref()
            .map(|d| d.subscriptions.clone())
            .unwrap_or_default();
        let subscribed = subscriptions
            .iter()
            .any(|prefix| frame.starts_with(prefix.as_bytes()));
        if !subscribed {
            return Delivery::Filtered;
        }
        let sender = lock(&self.wires).sub.clone();
        self.send(sender, frame)
    }

    /// Injects `message` on the PULL socket, as a pusher would.
    pub fn push<T: Serialize + ?Sized>(&mut self, message: &T) -> Delivery {
        let frame = serde_json::to_vec(message).expect("a serializable test message");
        self.push_frame(frame)
    }

    /// Injects a raw PULL frame (for bad input).
    pub fn push_frame(&mut self, frame: impl Into<Vec<u8>>) -> Delivery {
        let sender = lock(&self.wires).pull.clone();
        self.send(sender, frame.into())
    }

    fn send(&mut self, sender: Option<UnboundedSender<Vec<u8>>>, frame: Vec<u8>) -> Delivery {
        match sender.map(|tx| tx.send(frame)) {
            Some(Ok(())) => {
                self.injected += 1;
                Delivery::Delivered
            }
            _ => Delivery::NoSocket,
        }
    }

    /// Waits until the service has taken every injected message and finished handling it
    /// (its loop is back waiting on empty sockets), or has stopped. Moves no time.
    ///
    /// A service without SUB or PULL socket can be given nothing, so there is nothing to
    /// wait for: this only lets the work that is ready now run.
    pub async fn settle(&self) {
        let (mut idle, inbound) = {
            let wires = lock(&self.wires);
            (wires.idle.subscribe(), wires.inbound())
        };
        if !inbound {
            // Its loop never waits on a pipe, so `idle` would never say so; waiting for it
            // used to let a paused clock run on forever, timers firing all the while.
            run_ready().await;
            return;
        }
        loop {
            let waiting = *idle.borrow_and_update() > 0;
            let caught_up = self.runner.stats().messages_received >= self.injected;
            if (waiting && caught_up) || self.runner.state() != crate::State::Running {
                return;
            }
            if idle.changed().await.is_err() {
                return;
            }
        }
    }

    /// Waits until `condition` holds for the service's stats (peers, counts, state), checking
    /// every millisecond of (virtual) time, for at most `within`; returns whether it held.
    pub async fn until(
        &self,
        within: Duration,
        mut condition: impl FnMut(&StatsSnapshot) -> bool,
    ) -> bool {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if condition(&self.runner.stats()) {
                return true;
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    /// Lets `by` pass: with a paused clock (`start_paused = true`) it passes at once, and the
    /// timers, heartbeats and liveness checks due in that time run in order, those due
    /// exactly at the end included: all of them have run when it returns.
    pub async fn advance(&self, by: Duration) {
        tokio::time::sleep(by).await;
        // The sleep ends at the same instant as the timers due at its end, and the test's task
        // is polled before the service's tasks that those timers woke.
        run_ready().await;
    }

    /// Everything published so far, as `(topic, JSON)`, heartbeats included.
    pub fn published(&mut self) -> Vec<(String, Value)> {
        self.collect_published();
        self.published.drain(..).collect()
    }

    /// The next message published, waiting up to `within` (virtual time when paused).
    pub async fn next_published(&mut self, within: Duration) -> Option<(String, Value)> {
        self.collect_published();
        if let Some(next) = self.published.pop_front() {
            return Some(next);
        }
        let mut rx = lock(&self.wires).published.take()?;
        let frame = tokio::time::timeout(within, rx.recv()).await.ok().flatten();
        lock(&self.wires).published = Some(rx);
        frame.map(|f| decode_published(&f))
    }

    /// The next message published on exactly `topic` (others are skipped), waiting up to
    /// `within`.
    pub async fn next_published_on(
        &mut self,
        topic: &str,
        within: Duration,
    ) -> Option<(String, Value)> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let (t, body) = self.next_published(left).await?;
            if t == topic {
                return Some((t, body));
            }
        }
    }

    /// Everything pushed so far.
    pub fn pushed(&mut self) -> Vec<Value> {
        let mut wires = lock(&self.wires);
        let Some(rx) = wires.pushed.as_mut() else {
            return Vec::new();
        };
        std::iter::from_fn(|| rx.try_recv().ok())
            .map(|f| serde_json::from_slice(&f).expect("the runtime pushes JSON"))
            .collect()
    }

    /// The next message pushed, waiting up to `within`.
    pub async fn next_pushed(&mut self, within: Duration) -> Option<Value> {
        let mut rx = lock(&self.wires).pushed.take()?;
        let frame = tokio::time::timeout(within, rx.recv()).await.ok().flatten();
        lock(&self.wires).pushed = Some(rx);
        frame.map(|f| serde_json::from_slice(&f).expect("the runtime pushes JSON"))
    }

    /// Stops the service (running `#[on_stop]`, the drain and the last heartbeat) and gives it
    /// back for inspection.
    pub async fn stop(self) -> S {
        self.runner.stop().await;
        self.runner
            .into_service()
            .expect("a stopped runner holds its service")
    }

    fn collect_published(&mut self) {
        let mut wires = lock(&self.wires);
        if let Some(rx) = wires.published.as_mut() {
            while let Ok(frame) = rx.try_recv() {
                self.published.push_back(decode_published(&frame));
            }
        }
    }
}

/// How many times [`run_ready`] yields.
const READY_ROUNDS: usize = 4;

/// Lets the tasks that are ready now (woken by a timer that just fired, or by a message) run
/// before the caller goes on, without moving the clock.
///
/// On the current-thread runtime (the one a paused clock needs) a task that yields is polled
/// again only once no other task is ready, or after a batch of polls of other tasks (tokio's
/// event interval); so one yield lets the service's loop handle what is due and the tasks it
/// wakes in turn (heartbeat, pumps) run, and the further rounds cover a longer chain.
async fn run_ready() {
    for _ in 0..READY_ROUNDS {
        tokio::task::yield_now().await;
    }
}

fn decode_published(frame: &[u8]) -> (String, Value) {
    let (topic, json) =
        crate::wire::split_frame(frame).expect("the runtime publishes valid frames");
    let body = serde_json::from_str(json).expect("the runtime publishes JSON");
    (topic.to_owned(), body)
}
