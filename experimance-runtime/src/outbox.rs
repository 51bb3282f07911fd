//! The sending side of a service: each sending socket with its encode buffer, the queue that
//! lets a PUSH wait without stopping the service, and the pumps that keep libzmq's
//! bookkeeping moving between sends.
//!
//! A PUSH send that the socket cannot take at once (every puller at its high-water mark, or
//! none connected) goes into a bounded queue and the sender carries on; a pump task hands
//! the queue to libzmq as pullers take messages. Only when the queue is full does a sender
//! wait, and then for at most `send_timeout`.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::address::Role;
use crate::core::{lock, Condition, Core};
use crate::error::Error;
use crate::monitor::Monitor;
use crate::socket::{AsyncSocket, Readiness};

/// A sending socket with its reusable encode buffer (and, for PUB, the monitor of its
/// connections).
pub(crate) struct Outbox {
    pub(crate) socket: AsyncSocket,
    pub(crate) buf: Vec<u8>,
    pub(crate) monitor: Option<Monitor>,
}

impl Outbox {
    pub(crate) fn new(socket: AsyncSocket, monitor: Option<Monitor>) -> Outbox {
        Outbox {
            socket,
            buf: Vec::with_capacity(256),
            monitor,
        }
    }

    /// Takes the encoded frame out, leaving a buffer big enough for another like it.
    pub(crate) fn take_frame(&mut self) -> Vec<u8> {
        let next = Vec::with_capacity(self.buf.len() + self.buf.len() / 8);
        std::mem::replace(&mut self.buf, next)
    }
}

/// The frames of a [`SendQueue`]: those waiting, oldest first, and whether the pump has taken
/// one that libzmq has not taken yet (it still counts against the capacity).
#[derive(Default)]
struct Frames {
    waiting: VecDeque<Vec<u8>>,
    in_hand: bool,
}

impl Frames {
    fn len(&self) -> usize {
        self.waiting.len() + usize::from(self.in_hand)
    }
}

/// Encoded PUSH frames waiting for a puller, oldest first, bounded by `send_queue`.
#[derive(Default)]
pub(crate) struct SendQueue {
    frames: Mutex<Frames>,
    /// How many frames there are (the one the pump has in hand included), readable without
    /// the lock: the send path looks at it for every push.
    len: AtomicUsize,
    capacity: AtomicUsize,
    /// How long a sender waits for room before [`Error::SendTimeout`], in milliseconds.
    timeout_ms: AtomicUsize,
    /// Whether the PUSH socket is open: frames put while it is not would never leave.
    open: AtomicBool,
    /// Tells the pump that a frame was queued.
    queued: Notify,
    /// Tells waiting senders that a frame left.
    room: Notify,
    /// Tells a stop that the queue is empty.
    empty: Notify,
}

impl SendQueue {
    /// Opens the queue for a run.
    pub(crate) fn open(&self, capacity: usize, timeout: Duration) {
        *lock(&self.frames) = Frames::default();
        self.len.store(0, Ordering::Release);
        self.capacity.store(capacity.max(1), Ordering::Relaxed);
        let ms = usize::try_from(timeout.as_millis()).unwrap_or(usize::MAX);
        self.timeout_ms.store(ms, Ordering::Relaxed);
        self.open.store(true, Ordering::Release);
    }

    /// Whether nothing waits: a new frame may then go straight to the socket.
    pub(crate) fn is_empty(&self) -> bool {
        self.len.load(Ordering::Acquire) == 0
    }

    /// How long a sender waits for room by default.
    pub(crate) fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms.load(Ordering::Relaxed) as u64)
    }

    /// Queues `frame`, waiting up to `timeout` for room.
    pub(crate) async fn put(
        &self,
        core: &Core,
        frame: Vec<u8>,
        timeout: Duration,
    ) -> Result<(), Error> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut frame = Some(frame);
        loop {
            let room = self.room.notified();
            tokio::pin!(room);
            room.as_mut().enable();
            {
                let mut frames = lock(&self.frames);
                if !self.open.load(Ordering::Acquire) {
                    return Err(Error::NoSocket {
                        service: core.name().to_owned(),
                        role: Role::Push,
                    });
                }
                if frames.len() < self.capacity.load(Ordering::Relaxed) {
                    frames.waiting.extend(frame.take());
                    self.len.store(frames.len(), Ordering::Release);
                    drop(frames);
                    self.queued.notify_one();
                    return Ok(());
                }
            }
            core.set_condition(Condition::SendQueueFull, true);
            if tokio::time::timeout_at(deadline, room).await.is_err() {
                core.counters.error();
                return Err(Error::SendTimeout {
                    service: core.name().to_owned(),
                    role: Role::Push,
                    after: timeout,
                });
            }
        }
    }

    /// Takes the oldest frame to hand to libzmq; it keeps its place in the capacity until
    /// [`SendQueue::sent`] or [`SendQueue::unpop`].
    fn pop(&self) -> Option<Vec<u8>> {
        let mut frames = lock(&self.frames);
        let frame = frames.waiting.pop_front();
        frames.in_hand = frame.is_some();
        frame
    }

    /// libzmq took the frame in hand: its place is free.
    fn sent(&self) {
        let mut frames = lock(&self.frames);
        frames.in_hand = false;
        self.len.store(frames.len(), Ordering::Release);
        drop(frames);
        self.room.notify_waiters();
    }

    /// Puts back the frame in hand, which the pump could not send before it was stopped.
    fn unpop(&self, frame: Vec<u8>) {
        let mut frames = lock(&self.frames);
        frames.in_hand = false;
        frames.waiting.push_front(frame);
        self.len.store(frames.len(), Ordering::Release);
    }

    /// Waits until the queue is empty or `deadline`; returns whether it is empty.
    pub(crate) async fn flushed(&self, deadline: tokio::time::Instant) -> bool {
        loop {
            let empty = self.empty.notified();
            tokio::pin!(empty);
            empty.as_mut().enable();
            if self.is_empty() {
                return true;
            }
            if tokio::time::timeout_at(deadline, empty).await.is_err() {
                return self.is_empty();
            }
        }
    }

    /// Closes the queue; returns how many frames were still in it (they are dropped).
    pub(crate) fn close(&self) -> usize {
        let mut frames = lock(&self.frames);
        self.open.store(false, Ordering::Release);
        let left = frames.len();
        *frames = Frames::default();
        self.len.store(0, Ordering::Release);
        self.room.notify_waiters();
        left
    }
}

/// Hands queued PUSH frames to libzmq as pullers take them, until `stop`. A frame in hand
/// when it stops goes back to the front of the queue.
pub(crate) async fn flush_pushes(core: Arc<Core>, stop: CancellationToken) {
    let queue = &core.send_queue;
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = queue.queued.notified() => {}
        }
        let mut guard = core.pusher.lock().await;
        let Some(outbox) = guard.as_mut() else {
            return;
        };
        while let Some(frame) = queue.pop() {
            let sent = tokio::select! {
                biased;
                _ = stop.cancelled() => {
                    queue.unpop(frame);
                    return;
                }
                sent = outbox.socket.send(&frame) => sent,
            };
            queue.sent();
            match sent {
                Ok(()) => core.counters.sent(),
                Err(e) => {
                    core.counters.error();
                    tracing::warn!(error = %e, "push socket failed; a queued message was dropped");
                }
            }
        }
        drop(guard);
        core.set_condition(Condition::SendQueueFull, false);
        queue.empty.notify_waiters();
    }
}

/// Keeps the PUB socket's libzmq state current between publishes, until `stop`: whenever
/// the socket or its connection monitor signals, reads the (un)subscriptions peers sent,
/// which also makes libzmq process its pending commands (connections that closed are then
/// freed, not only at the next publish), and drops anything else a peer sent upstream.
pub(crate) async fn read_subscriptions(
    core: Arc<Core>,
    socket: Readiness,
    monitor: Option<Readiness>,
    stop: CancellationToken,
) {
    async fn changed(readiness: Option<&Readiness>) -> std::io::Result<()> {
        match readiness {
            Some(readiness) => readiness.changed().await,
            None => std::future::pending().await,
        }
    }
    loop {
        core.take_subscriptions().await;
        let changed = tokio::select! {
            _ = stop.cancelled() => return,
            changed = socket.changed() => changed,
            changed = changed(monitor.as_ref()) => changed,
        };
        if let Err(e) = changed {
            tracing::warn!(error = %e, "cannot watch the PUB socket; subscriptions are read at each heartbeat only");
            return;
        }
    }
}
