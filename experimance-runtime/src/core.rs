//! The state one service shares between its handle, its loop, its tasks and its contexts.

use std::sync::Mutex;

use serde::Serialize;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::address::Role;
use crate::description::{ServiceDescription, DESCRIPTION_TOPIC};
use crate::error::Error;
use crate::lifecycle::{State, Status};
use crate::liveness::Peers;
use crate::service::ServiceSpec;
use crate::socket::AsyncSocket;
use crate::stats::{Counters, StatsSnapshot};
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

/// A sending socket with its reusable encode buffer.
pub(crate) struct Outbox {
    pub(crate) socket: AsyncSocket,
    buf: Vec<u8>,
}

/// PUB frames at least this large are handed to libzmq without a copy. Below it, copying
/// into libzmq's own allocation costs less than a fresh encode buffer per message.
const ZERO_COPY_MIN: usize = 16 * 1024;

pub(crate) struct Core {
    pub(crate) spec: &'static ServiceSpec,
    name: String,
    pub(crate) counters: Counters,
    pub(crate) lifecycle: watch::Sender<Lifecycle>,
    /// The task and message of the failure that stopped the latest run.
    pub(crate) failure: Mutex<Option<(String, String)>>,
    pub(crate) endpoints: Mutex<[Option<String>; 4]>,
    pub(crate) publisher: tokio::sync::Mutex<Option<Outbox>>,
    pub(crate) pusher: tokio::sync::Mutex<Option<Outbox>>,
    pub(crate) cancel: Mutex<CancellationToken>,
    pub(crate) tasks: TaskTracker,
    pub(crate) peers: Peers,
    /// The description of the current run, published when a subscriber asks for it.
    pub(crate) description: Mutex<Option<ServiceDescription>>,
}

impl Core {
    pub(crate) fn new(spec: &'static ServiceSpec, name: String) -> Core {
        let cancel = CancellationToken::new();
        cancel.cancel();
        Core {
            spec,
            name,
            counters: Counters::default(),
            lifecycle: watch::Sender::new(Lifecycle {
                state: State::Initialized,
                status: Status::Healthy,
            }),
            failure: Mutex::new(None),
            endpoints: Mutex::new(Default::default()),
            publisher: tokio::sync::Mutex::new(None),
            pusher: tokio::sync::Mutex::new(None),
            cancel: Mutex::new(cancel),
            tasks: TaskTracker::new(),
            peers: Peers::default(),
            description: Mutex::new(None),
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

    pub(crate) fn endpoint(&self, role: Role) -> Option<String> {
        lock(&self.endpoints)[role.index()].clone()
    }

    /// Records a fatal failure of a task: the first one wins, the status becomes `error`, and
    /// the service stops.
    pub(crate) fn fail(&self, task: &str, message: String) {
        tracing::error!(service = self.name(), task, error = %message, "task failed; stopping the service");
        self.counters.error();
        self.set_status(Status::Error);
        lock(&self.failure).get_or_insert((task.to_owned(), message));
        self.cancel_token().cancel();
    }

    /// Publishes on the PUB socket; counts the message, or the error.
    pub(crate) async fn publish<T: Serialize + ?Sized>(
        &self,
        topic: Option<&str>,
        message: &T,
    ) -> Result<(), Error> {
        self.send(Role::Pub, |buf| {
            wire::encode_frame(buf, topic, self.spec.heartbeat_topic, message)
        })
        .await
    }

    /// The subscriptions the XPUB socket reported since the last call. Reading them also
    /// makes libzmq apply them, so a message published afterwards reaches those subscribers.
    pub(crate) async fn subscriptions(&self) -> Subscriptions {
        let mut guard = self.publisher.lock().await;
        let mut seen = Subscriptions::default();
        let Some(outbox) = guard.as_mut() else {
            return seen;
        };
        let mut msg = zmq::Message::new();
        while let Ok(true) = outbox.socket.try_recv(&mut msg) {
            if let Some((1, prefix)) = msg.split_first() {
                seen.heartbeat |=
                    !prefix.is_empty() && self.spec.heartbeat_topic.as_bytes().starts_with(prefix);
                seen.description |= prefix == DESCRIPTION_TOPIC.as_bytes();
            }
        }
        seen
    }

    /// Pushes on the PUSH socket; counts the message, or the error.
    pub(crate) async fn push<T: Serialize + ?Sized>(&self, message: &T) -> Result<(), Error> {
        self.send(Role::Push, |buf| wire::encode_task(buf, message))
            .await
    }

    async fn send(
        &self,
        role: Role,
        encode: impl FnOnce(&mut Vec<u8>) -> Result<(), Error>,
    ) -> Result<(), Error> {
        let outbox = match role {
            Role::Push => &self.pusher,
            _ => &self.publisher,
        };
        // The same yield point `lock` has, then the lock without building a waiter when it is
        // free; `try_lock` fails while tasks queue for it, so they keep their FIFO turn.
        tokio::task::coop::consume_budget().await;
        let mut guard = match outbox.try_lock() {
            Ok(guard) => guard,
            Err(_) => outbox.lock().await,
        };
        let Some(outbox) = guard.as_mut() else {
            return Err(Error::NoSocket {
                service: self.name().to_owned(),
                role,
            });
        };
        encode(&mut outbox.buf)?;
        let sent = if role == Role::Pub && outbox.buf.len() >= ZERO_COPY_MIN {
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
            Err(source) => {
                self.counters.error();
                Err(Error::Transport {
                    service: self.name().to_owned(),
                    role,
                    source,
                })
            }
        }
    }
}

impl Outbox {
    pub(crate) fn new(socket: AsyncSocket) -> Outbox {
        Outbox {
            socket,
            buf: Vec::with_capacity(256),
        }
    }

    /// Takes the encoded frame out, leaving a buffer big enough for another like it.
    fn take_frame(&mut self) -> Vec<u8> {
        let next = Vec::with_capacity(self.buf.len() + self.buf.len() / 8);
        std::mem::replace(&mut self.buf, next)
    }
}

/// Locks a std mutex, ignoring poisoning: every value guarded here stays consistent.
pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
