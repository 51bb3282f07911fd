use std::future::pending;
use std::sync::{Arc, Mutex};
use std::task::Poll;
use std::time::Duration;

use tokio::signal::unix::{signal, SignalKind};
use tokio::time::{Interval, MissedTickBehavior};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::address::{env_var_name, Endpoint, Role};
use crate::context::Context;
use crate::core::{lock, Core, Outbox};
use crate::dispatch::{CatchUnwind, DispatchResult, Handled};
use crate::error::{Error, HandlerError};
use crate::lifecycle::{State, Status};
use crate::service::Service;
use crate::socket::{AsyncSocket, SocketOptions};
use crate::stats::StatsSnapshot;
use crate::{heartbeat, stats, wire};

/// How many queued messages one socket may hand over before the loop looks at its other
/// sockets, timers and stop requests again.
const BATCH: usize = 256;

/// How long a stop waits for background tasks to notice their cancellation.
const TASK_GRACE: Duration = Duration::from_secs(2);

/// Runs one service: owns it while stopped, drives it while running.
///
/// Build one with [`Runner::new`], then [`Runner::run`] it (until a signal), or
/// [`Runner::start`] and [`Runner::stop`] it.
///
/// All methods take `&self`, so a runner can be shared (for example in an `Arc`) and
/// stopped from anywhere; `stop` is idempotent and safe to call concurrently.
pub struct Runner<S: Service> {
    core: Arc<Core>,
    service: Arc<Mutex<Option<S>>>,
    overrides: [Option<String>; 4],
    linger: Duration,
}

impl<S: Service> Runner<S> {
    /// Wraps `service`; its state is `initialized`.
    pub fn new(service: S) -> Self {
        Runner {
            core: Arc::new(Core::new(&S::SPEC, S::SPEC.name.to_owned())),
            service: Arc::new(Mutex::new(Some(service))),
            overrides: Default::default(),
            linger: Duration::from_secs(1),
        }
    }

    /// Replaces the address of the `role` socket, over both the attribute and the
    /// `EXPERIMANCE_<NAME>_<ROLE>` environment variable. Tests use it to bind
    /// `tcp://127.0.0.1:*` and read the port back with [`Runner::endpoint`].
    ///
    /// # Panics
    /// If the service has no `role` socket: an address for a socket that does not exist is
    /// a programming error.
    pub fn with_address(mut self, role: Role, address: impl Into<String>) -> Self {
        assert!(
            S::SPEC.address(role).is_some(),
            "service `{}` has no {role} socket (no `{}` key in its #[service] attribute)",
            self.name(),
            role.key()
        );
        self.overrides[role.index()] = Some(address.into());
        self
    }

    /// Gives this instance another name than the attribute's, for several instances of one
    /// service type (two workers, say). The name is what heartbeats, stats and logs carry,
    /// and what the `EXPERIMANCE_<NAME>_<ROLE>` variables are looked up by.
    ///
    /// # Panics
    /// If `name` is empty.
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        let name = name.into();
        assert!(!name.trim().is_empty(), "a service name must not be empty");
        self.core = Arc::new(Core::new(&S::SPEC, name));
        self
    }

    /// How long closing the sockets may wait for queued outgoing messages (`ZMQ_LINGER`);
    /// default 1 s.
    pub fn with_linger(mut self, linger: Duration) -> Self {
        self.linger = linger;
        self
    }

    /// The service's name.
    pub fn name(&self) -> &str {
        self.core.name()
    }

    /// The lifecycle state.
    pub fn state(&self) -> State {
        self.core.lifecycle().state
    }

    /// The health status.
    pub fn status(&self) -> Status {
        self.core.lifecycle().status
    }

    /// A snapshot of the statistics.
    pub fn stats(&self) -> StatsSnapshot {
        self.core.stats()
    }

    /// The endpoint of the `role` socket while running: for a bound wildcard port
    /// (`tcp://127.0.0.1:*`), the port the system chose.
    pub fn endpoint(&self, role: Role) -> Option<String> {
        self.core.endpoint(role)
    }

    /// Runs `f` on the service while it is not running (`None` while it is).
    pub fn with_service<R>(&self, f: impl FnOnce(&mut S) -> R) -> Option<R> {
        lock(&self.service).as_mut().map(f)
    }

    /// The address `role` will use: the override, else the environment variable, else the
    /// attribute; `None` if the service has no such socket.
    pub fn address(&self, role: Role) -> Option<String> {
        let declared = S::SPEC.address(role)?;
        if let Some(address) = &self.overrides[role.index()] {
            return Some(address.clone());
        }
        match std::env::var(env_var_name(self.name(), role)) {
            Ok(address) if !address.trim().is_empty() => Some(address),
            _ => Some(declared.to_owned()),
        }
    }

    /// Opens the sockets, runs `#[on_start]`, and starts handling messages, heartbeats,
    /// timers and stats in the background. Allowed only from `initialized` or `stopped`.
    pub async fn start(&self) -> Result<(), Error> {
        let core = &self.core;
        let allowed = core.lifecycle.send_if_modified(|l| {
            let ok = matches!(l.state, State::Initialized | State::Stopped);
            if ok {
                l.state = State::Starting;
            }
            ok
        });
        if !allowed {
            return Err(self.invalid("start"));
        }
        let Some(mut service) = lock(&self.service).take() else {
            core.set_state(State::Stopped);
            return Err(self.invalid("start"));
        };
        *lock(&core.failure) = None;
        core.set_status(Status::Healthy);

        let zmq_context = zmq::Context::new();
        let mut sockets = match self.open_sockets(&zmq_context) {
            Ok(sockets) => sockets,
            Err(e) => {
                *lock(&self.service) = Some(service);
                core.lifecycle.send_modify(|l| {
                    l.state = State::Stopped;
                    l.status = Status::Fatal;
                });
                return Err(e);
            }
        };
        *lock(&core.endpoints) =
            std::array::from_fn(|i| sockets[i].as_ref().map(|s| s.endpoint().to_owned()));
        let cancel = CancellationToken::new();
        *lock(&core.cancel) = cancel.clone();
        core.tasks.reopen();
        core.counters.mark_started();
        *core.publisher.lock().await = sockets[Role::Pub.index()].take().map(Outbox::new);
        *core.pusher.lock().await = sockets[Role::Push.index()].take().map(Outbox::new);

        let ctx = Context::<S>::new(Arc::clone(core));
        let span = tracing::info_span!("service", name = core.name());
        let started = CatchUnwind(service.on_start(&ctx))
            .instrument(span.clone())
            .await;
        if let Some(message) = hook_failure(started) {
            cancel.cancel();
            let outboxes = self.take_outboxes().await;
            close(sockets, outboxes, zmq_context).await;
            *lock(&self.service) = Some(service);
            core.lifecycle.send_modify(|l| {
                l.state = State::Stopped;
                l.status = Status::Fatal;
            });
            return Err(Error::StartHook {
                service: core.name().to_owned(),
                message,
            });
        }

        core.set_state(State::Running);
        tracing::info!(parent: &span, endpoints = ?*lock(&core.endpoints), "service running");
        if S::SPEC.address(Role::Pub).is_some() {
            core.tasks
                .spawn(heartbeat::run(Arc::clone(core), cancel.clone()).instrument(span.clone()));
        }
        core.tasks
            .spawn(stats::log_stats(Arc::clone(core), cancel.clone()).instrument(span.clone()));
        let serve = Serve {
            service,
            ctx,
            sub: sockets[Role::Sub.index()].take(),
            pull: sockets[Role::Pull.index()].take(),
            cancel,
        };
        let slot = Arc::clone(&self.service);
        let core = Arc::clone(core);
        tokio::spawn(
            async move {
                let service = serve.run().await;
                let outboxes = take_outboxes(&core).await;
                close(service.1, outboxes, zmq_context).await;
                *lock(&slot) = Some(service.0);
                core.counters.mark_stopped();
                core.set_state(State::Stopped);
                tracing::info!(target: "experimance::stats", "final: {}", core.stats());
            }
            .instrument(span),
        );
        Ok(())
    }

    /// Stops the service and waits until it is `stopped`: `#[on_stop]` runs, background
    /// tasks are cancelled, a last heartbeat says `stopping`, sockets close with a bounded
    /// linger, and final stats are logged. Idempotent; safe to call concurrently.
    pub async fn stop(&self) {
        let mut changes = self.core.lifecycle.subscribe();
        loop {
            let state = changes.borrow_and_update().state;
            match state {
                State::Initialized | State::Stopped => return,
                State::Running | State::Stopping => {
                    self.core.cancel_token().cancel();
                    break;
                }
                State::Starting => {}
            }
            if changes.changed().await.is_err() {
                return;
            }
        }
        self.wait_stopped().await;
    }

    /// Waits until the service is stopped (by [`Runner::stop`], a context, or a failed
    /// task), and returns the error that stopped it, if any.
    pub async fn wait(&self) -> Result<(), Error> {
        self.wait_stopped().await;
        self.outcome()
    }

    /// Starts the service if it is not running, then runs until it stops or the process
    /// receives SIGINT or SIGTERM, which stop it gracefully; a second signal exits the
    /// process at once (status 130). Returns the error that stopped the service, if any.
    pub async fn run(&self) -> Result<(), Error> {
        let mut interrupt = signal(SignalKind::interrupt()).map_err(Error::Signal)?;
        let mut terminate = signal(SignalKind::terminate()).map_err(Error::Signal)?;
        if matches!(self.state(), State::Initialized | State::Stopped) {
            self.start().await?;
        }
        tokio::select! {
            _ = self.wait_stopped() => {}
            name = first_signal(&mut interrupt, &mut terminate) => {
                tracing::info!(service = self.name(), signal = name, "stopping gracefully; a second signal exits at once");
                let second = tokio::spawn(async move {
                    let name = first_signal(&mut interrupt, &mut terminate).await;
                    tracing::warn!(signal = name, "second signal: exiting at once");
                    std::process::exit(130);
                });
                self.stop().await;
                second.abort();
            }
        }
        self.outcome()
    }

    fn outcome(&self) -> Result<(), Error> {
        match lock(&self.core.failure).take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    async fn wait_stopped(&self) {
        let mut changes = self.core.lifecycle.subscribe();
        let _ = changes
            .wait_for(|l| matches!(l.state, State::Stopped | State::Initialized))
            .await;
    }

    fn invalid(&self, operation: &'static str) -> Error {
        Error::InvalidState {
            service: self.name().to_owned(),
            operation,
            state: self.state(),
        }
    }

    fn open_sockets(&self, context: &zmq::Context) -> Result<[Option<AsyncSocket>; 4], Error> {
        let options = SocketOptions {
            linger_ms: i32::try_from(self.linger.as_millis()).unwrap_or(i32::MAX),
        };
        let topics = S::SPEC.topics.unwrap_or(S::TOPICS);
        let mut sockets: [Option<AsyncSocket>; 4] = Default::default();
        for role in Role::ALL {
            let Some(address) = self.address(role) else {
                continue;
            };
            let endpoint = Endpoint::parse(role, &address);
            let socket = AsyncSocket::open(context, role, &endpoint, &options, topics).map_err(
                |source| Error::Socket {
                    service: self.name().to_owned(),
                    role,
                    endpoint: address.clone(),
                    source,
                },
            )?;
            sockets[role.index()] = Some(socket);
        }
        Ok(sockets)
    }

    async fn take_outboxes(&self) -> [Option<Outbox>; 2] {
        take_outboxes(&self.core).await
    }
}

async fn take_outboxes(core: &Core) -> [Option<Outbox>; 2] {
    [
        core.publisher.lock().await.take(),
        core.pusher.lock().await.take(),
    ]
}

/// Closes sockets and terminates their libzmq context off the reactor: termination waits up
/// to the linger for queued messages to leave.
async fn close<const N: usize>(
    sockets: [Option<AsyncSocket>; N],
    outboxes: [Option<Outbox>; 2],
    context: zmq::Context,
) {
    let _ = tokio::task::spawn_blocking(move || {
        drop(sockets);
        drop(outboxes);
        drop(context);
    })
    .await;
}

async fn first_signal(
    interrupt: &mut tokio::signal::unix::Signal,
    terminate: &mut tokio::signal::unix::Signal,
) -> &'static str {
    tokio::select! {
        _ = interrupt.recv() => "SIGINT",
        _ = terminate.recv() => "SIGTERM",
    }
}

fn hook_failure(result: Result<DispatchResult, String>) -> Option<String> {
    match result {
        Ok(Ok(_)) => None,
        Ok(Err(e)) => Some(e.to_string()),
        Err(panic) => Some(panic),
    }
}

/// The message loop of one running service.
struct Serve<S: Service> {
    service: S,
    ctx: Context<S>,
    sub: Option<AsyncSocket>,
    pull: Option<AsyncSocket>,
    cancel: CancellationToken,
}

impl<S: Service> Serve<S> {
    /// Handles messages and timers until cancelled, then shuts down; gives back the service
    /// and its receiving sockets.
    async fn run(mut self) -> (S, [Option<AsyncSocket>; 2]) {
        let core = self.core();
        let mut timers: Vec<Interval> = S::TIMERS
            .iter()
            .map(|&(_, period)| {
                let mut t = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
                t.set_missed_tick_behavior(MissedTickBehavior::Skip);
                t
            })
            .collect();
        let mut msg = zmq::Message::new();
        loop {
            tokio::select! {
                _ = self.cancel.cancelled() => break,
                ready = readable(self.sub.as_mut()) => {
                    if let Err(e) = ready {
                        self.fatal(Role::Sub, e);
                        break;
                    }
                    if let Err(e) = self.drain(Role::Sub, &mut msg).await {
                        self.fatal(Role::Sub, e);
                        break;
                    }
                }
                ready = readable(self.pull.as_mut()) => {
                    if let Err(e) = ready {
                        self.fatal(Role::Pull, e);
                        break;
                    }
                    if let Err(e) = self.drain(Role::Pull, &mut msg).await {
                        self.fatal(Role::Pull, e);
                        break;
                    }
                }
                index = next_tick(&mut timers), if !timers.is_empty() => {
                    let result = CatchUnwind(self.service.on_timer(index, &self.ctx)).await;
                    report(&core, S::TIMERS[index].0, None, result);
                }
            }
        }
        core.set_state(State::Stopping);
        let stopped = CatchUnwind(self.service.on_stop(&self.ctx)).await;
        if let Some(message) = hook_failure(stopped) {
            core.counters.error();
            tracing::warn!(error = %message, "on_stop failed");
        }
        self.cancel.cancel();
        core.tasks.close();
        if tokio::time::timeout(TASK_GRACE, core.tasks.wait())
            .await
            .is_err()
        {
            tracing::warn!("background tasks did not end within {TASK_GRACE:?} of the stop");
        }
        if S::SPEC.address(Role::Pub).is_some() {
            heartbeat::beat(&core).await;
        }
        (self.service, [self.sub, self.pull])
    }

    fn core(&self) -> Arc<Core> {
        Arc::clone(self.ctx.core())
    }

    fn fatal(&self, role: Role, source: zmq::Error) {
        let core = self.ctx.core();
        core.fail(
            &format!("{role} receiver"),
            Error::Transport {
                service: core.name().to_owned(),
                role,
                source,
            }
            .to_string(),
        );
    }

    /// Handles up to [`BATCH`] queued messages of `role` without waiting.
    async fn drain(&mut self, role: Role, msg: &mut zmq::Message) -> Result<(), zmq::Error> {
        let core = self.core();
        let socket = match role {
            Role::Sub => self.sub.as_mut(),
            _ => self.pull.as_mut(),
        };
        let Some(socket) = socket else {
            return Ok(());
        };
        for _ in 0..BATCH {
            if !socket.try_recv(msg)? {
                break;
            }
            core.counters.received();
            if msg.get_more() {
                let mut parts = 1;
                while msg.get_more() && socket.try_recv(msg)? {
                    parts += 1;
                }
                core.counters.error();
                tracing::warn!(role = %role, parts, error = %wire::FrameError::MultiFrame, "dropping message");
                continue;
            }
            let bytes: &[u8] = msg;
            if role == Role::Pull {
                let result = CatchUnwind(self.service.dispatch_task(bytes, &self.ctx)).await;
                report(&core, "task", Some(bytes), result);
                continue;
            }
            match wire::split_frame(bytes) {
                Ok((topic, payload)) => {
                    let result =
                        CatchUnwind(self.service.dispatch_topic(topic, payload, &self.ctx)).await;
                    report(&core, topic, Some(payload), result);
                }
                Err(e) => {
                    core.counters.error();
                    tracing::warn!(error = %e, preview = %wire::preview(bytes), "dropping frame");
                }
            }
        }
        Ok(())
    }
}

/// Counts and logs the outcome of one handler call; `what` is the topic, `task` or timer.
fn report(core: &Core, what: &str, payload: Option<&[u8]>, result: Result<DispatchResult, String>) {
    let error = match result {
        Ok(Ok(Handled::Yes)) => return,
        Ok(Ok(Handled::NoHandler)) => {
            tracing::debug!(topic = what, "no handler");
            return;
        }
        Ok(Err(HandlerError::Decode(e))) => format!("cannot decode message: {e}"),
        Ok(Err(HandlerError::Failed(e))) => format!("handler failed: {e}"),
        Err(panic) => format!("handler {panic}"),
    };
    core.counters.error();
    let preview = payload.map(wire::preview).unwrap_or_default();
    tracing::warn!(topic = what, %error, %preview, "message not handled");
}

async fn readable(socket: Option<&mut AsyncSocket>) -> Result<(), zmq::Error> {
    match socket {
        Some(socket) => socket.ready(zmq::POLLIN).await,
        None => pending().await,
    }
}

async fn next_tick(timers: &mut [Interval]) -> usize {
    std::future::poll_fn(|cx| {
        for (index, timer) in timers.iter_mut().enumerate() {
            if timer.poll_tick(cx).is_ready() {
                return Poll::Ready(index);
            }
        }
        Poll::Pending
    })
    .await
}
