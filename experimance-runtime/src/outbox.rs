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
    /// The topics of this run (PUB only): of heartbeats, and of messages published without a
    /// topic or a `"type"`.
    pub(crate) topics: PubTopics,
}

/// The topics a PUB socket's run uses besides the ones messages name.
#[derive(Debug, Clone, Default)]
pub(crate) struct PubTopics {
    pub(crate) heartbeat: String,
    pub(crate) default: String,
}

impl Outbox {
    pub(crate) fn new(socket: AsyncSocket, monitor: Option<Monitor>, topics: PubTopics) -> Outbox {
        Outbox {
            socket,
            buf: Vec::with_capacity(256),
            monitor,
            topics,
        }
    }

    /// Takes the encoded frame out, leaving a buffer big enough for another like it.
    pub(crate) fn take_frame(&mut self) -> Vec<u8> {
        let next = Vec::with_capacity(self.buf.len() + self.buf.len() / 8);
        std::mem::replace(&mut self.buf, next)
    }
}

/// How many sent frames' buffers are kept for new frames.
const SPARES: usize = 64;

/// Buffers larger than this are not kept (a few big messages must not pin their memory).
const SPARE_MAX: usize = 64 * 1024;

/// Encoded PUSH frames waiting for a puller, oldest first, bounded by `send_queue`.
#[derive(Default)]
pub(crate) struct SendQueue {
    /// The frames waiting for the pump.
    waiting: Mutex<VecDeque<Vec<u8>>>,
    /// Buffers of frames already sent, for new frames: under a slow puller every push goes
    /// through the queue, and an allocation per message would cost more than the rest.
    spare: Mutex<Vec<Vec<u8>>>,
    /// How many frames there are: those waiting and those the pump took and libzmq has not
    /// taken yet. Readable without the lock: the send path looks at it for every push.
    len: AtomicUsize,
    capacity: AtomicUsize,
    /// How long a sender waits for room before [`Error::SendTimeout`], in milliseconds.
    timeout_ms: AtomicUsize,
    /// Whether the PUSH socket is open: frames put while it is not would never leave.
    open: AtomicBool,
    /// Whether a sender found the queue full and health says so.
    marked_full: AtomicBool,
    /// Tells the pump that a frame was queued.
    queued: Notify,
    /// Tells waiting senders that there is room: when the queue is down to half its capacity,
    /// so that a sender held by a slow puller wakes once per many messages, not per message.
    room: Notify,
    /// Tells a stop that the queue is empty.
    empty: Notify,
}

impl SendQueue {
    /// Opens the queue for a run.
    pub(crate) fn open(&self, capacity: usize, timeout: Duration) {
        lock(&self.waiting).clear();
        self.len.store(0, Ordering::Release);
        self.capacity.store(capacity.max(1), Ordering::Relaxed);
        let ms = usize::try_from(timeout.as_millis()).unwrap_or(usize::MAX);
        self.timeout_ms.store(ms, Ordering::Relaxed);
        self.marked_full.store(false, Ordering::Relaxed);
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
        let mut frame = Some(frame);
        if self.try_put(core, &mut frame)? {
            return Ok(());
        }
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            // Full: listen for room, then look again, so no room made meanwhile is missed.
            let room = self.room.notified();
            tokio::pin!(room);
            room.as_mut().enable();
            if self.try_put(core, &mut frame)? {
                return Ok(());
            }
            if !self.marked_full.swap(true, Ordering::AcqRel) {
                core.set_condition(Condition::SendQueueFull, true);
            }
            if tokio::time::timeout_at(deadline, room).await.is_err() {
                // Room may have come without a wake-up (senders are woken at half capacity,
                // or when the pump has to wait for a puller): one last look.
                if self.try_put(core, &mut frame)? {
                    return Ok(());
                }
                core.counters.error();
                return Err(Error::SendTimeout {
                    service: core.name().to_owned(),
                    role: Role::Push,
                    after: timeout,
                });
            }
        }
    }

    /// Queues the frame in `frame` (taking it) if there is room; `Ok(false)` if full.
    fn try_put(&self, core: &Core, frame: &mut Option<Vec<u8>>) -> Result<bool, Error> {
        let mut waiting = lock(&self.waiting);
        if !self.open.load(Ordering::Acquire) {
            // The service stopped while this push waited: the message is lost, counted.
            core.counters.error();
            return Err(Error::NoSocket {
                service: core.name().to_owned(),
                role: Role::Push,
            });
        }
        // Only the pump lowers `len`, so a stale value here only errs on the full side.
        if self.len.load(Ordering::Acquire) >= self.capacity.load(Ordering::Relaxed) {
            return Ok(false);
        }
        waiting.extend(frame.take());
        self.len.fetch_add(1, Ordering::AcqRel);
        drop(waiting);
        self.queued.notify_one();
        Ok(true)
    }

    /// An empty buffer for a new frame.
    pub(crate) fn buffer(&self) -> Vec<u8> {
        lock(&self.spare)
            .pop()
            .unwrap_or_else(|| Vec::with_capacity(256))
    }

    /// Keeps the buffers of sent frames for new ones.
    fn recycle(&self, sent: &mut Vec<Vec<u8>>) {
        let mut spare = lock(&self.spare);
        for mut buffer in sent.drain(..) {
            if spare.len() < SPARES && buffer.capacity() <= SPARE_MAX {
                buffer.clear();
                spare.push(buffer);
            }
        }
    }

    /// Moves every waiting frame, oldest first, into `taken` (empty) for the pump to hand to
    /// libzmq; each keeps its place in the capacity until [`SendQueue::sent`] (or
    /// [`SendQueue::unpop`]). The two deques swap, so neither is allocated anew.
    fn take(&self, taken: &mut VecDeque<Vec<u8>>) {
        std::mem::swap(&mut *lock(&self.waiting), taken);
    }

    /// libzmq took one frame the pump had taken: its place is free. Health is `healthy` again
    /// once the queue is below its capacity.
    fn sent(&self, core: &Core) {
        let len = self.len.fetch_sub(1, Ordering::AcqRel) - 1;
        let capacity = self.capacity.load(Ordering::Relaxed);
        if len <= capacity / 2 {
            self.room.notify_waiters();
        }
        if len < capacity && self.marked_full.swap(false, Ordering::AcqRel) {
            core.set_condition(Condition::SendQueueFull, false);
        }
    }

    /// The pump is about to wait for a puller: senders waiting for room may use what there is.
    fn offer_room(&self) {
        if self.len.load(Ordering::Acquire) < self.capacity.load(Ordering::Relaxed) {
            self.room.notify_waiters();
        }
    }

    /// Puts back, before those waiting, the frames the pump took but could not send before it
    /// was stopped.
    fn unpop(&self, taken: &mut VecDeque<Vec<u8>>) {
        let mut waiting = lock(&self.waiting);
        taken.append(&mut waiting);
        std::mem::swap(&mut *waiting, taken);
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

    /// Closes the queue; returns how many frames were still in it (they are dropped). The
    /// pump must have stopped.
    pub(crate) fn close(&self) -> usize {
        let mut waiting = lock(&self.waiting);
        self.open.store(false, Ordering::Release);
        waiting.clear();
        let left = self.len.swap(0, Ordering::AcqRel);
        drop(waiting);
        self.room.notify_waiters();
        left
    }
}

/// Hands queued PUSH frames to libzmq as pullers take them, until `stop`. A frame in hand
/// when it stops goes back to the front of the queue. (Not instrumented with the service's
/// span, which would cost an enter and exit per poll: its one log line names it.)
pub(crate) async fn flush_pushes(core: Arc<Core>, stop: CancellationToken, span: tracing::Span) {
    let queue = &core.send_queue;
    let mut sent_buffers = Vec::new();
    let mut taken = VecDeque::new();
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = queue.queued.notified() => {}
        }
        let mut guard = core.pusher.lock().await;
        let Some(outbox) = guard.as_mut() else {
            return;
        };
        loop {
            queue.take(&mut taken);
            if taken.is_empty() {
                break;
            }
            while let Some(frame) = taken.pop_front() {
                let sent = match outbox.socket.try_send(&frame) {
                    Ok(true) => Ok(()),
                    // Wait for a puller, unless the service stops meanwhile.
                    Ok(false) => tokio::select! {
                        biased;
                        _ = stop.cancelled() => {
                            taken.push_front(frame);
                            queue.unpop(&mut taken);
                            return;
                        }
                        sent = async {
                            queue.offer_room();
                            outbox.socket.send(&frame).await
                        } => sent,
                    },
                    Err(e) => Err(e),
                };
                queue.sent(&core);
                match sent {
                    Ok(()) => core.counters.sent(),
                    Err(e) => {
                        core.counters.error();
                        tracing::warn!(parent: &span, error = %e, "push socket failed; a queued message was dropped");
                    }
                }
                sent_buffers.push(frame);
            }
            queue.recycle(&mut sent_buffers);
        }
        drop(guard);
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
