use std::future::pending;
use std::sync::{Arc, Mutex};
use std::task::Poll;
use std::time::Duration;

use tokio::time::{Interval, MissedTickBehavior};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::address::{Addresses, Direction, Role};
use crate::context::Context;
use crate::core::{lock, Condition, Core};
use crate::deadline::Limit;
use crate::description::ServiceDescription;
use crate::dispatch::{CatchUnwind, DispatchResult, Handled};
use crate::error::Error;
use crate::heartbeat::Heartbeat;
use crate::lifecycle::{State, Status};
use crate::liveness::{Liveness, Refused};
use crate::monitor::{Connection, Monitor, Watch};
use crate::outbox::{self, Outbox, PubTopics};
use crate::service::Service;
use crate::settings::{Overrides, Settings};
use crate::socket::AsyncSocket;
use crate::stats::StatsSnapshot;
use crate::testing::Wires;
use crate::untrusted::Untrusted;
use crate::{auth, heartbeat, stats, wire};

/// How many queued messages one socket may hand over before the loop looks at its other
/// sockets, timers and stop requests again.
const BATCH: usize = 256;

/// How long a stop waits for background tasks to end once they are cancelled (they end at
/// their next await, so this only bounds a task busy without awaiting).
const TASK_GRACE: Duration = Duration::from_millis(500);

/// `#[on_stop]` may run until the drain deadline, and at least this long even when the drain
/// used all of it.
const ON_STOP_MIN: Duration = Duration::from_secs(1);

/// How much of a peer's topic and of an error quoting a peer's text a log line shows, in
/// characters: a peer must not set the size of the log.
const TOPIC_SHOWN: usize = 120;
const ERROR_SHOWN: usize = 240;

/// Closing always gives what is queued to send at least this long, even past the deadline.
const CLOSE_MIN: Duration = Duration::from_millis(100);

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
    overrides: Overrides,
    /// Set by [`testing`](crate::testing): channels instead of libzmq sockets.
    memory: Option<Arc<Mutex<Wires>>>,
}

impl<S: Service> Runner<S> {
    /// Wraps `service`; its state is `initialized`.
    ///
    /// Its name is the attribute's, unless `EXPERIMANCE_<NAME>_NAME` or the `name` of its
    /// section in the configuration file renames it.
    pub fn new(service: S) -> Self {
        let overrides = Overrides::default();
        Runner {
            core: Arc::new(Core::new(overrides.name(&S::SPEC))),
            service: Arc::new(Mutex::new(Some(service))),
            overrides,
            memory: None,
        }
    }

    /// Replaces the addresses of the `role` socket, over the attribute, the configuration
    /// file and the `EXPERIMANCE_<NAME>_<ROLE>` environment variable: one address, or several
    /// (an array or `Vec`), each with its own `@`/`>` prefix. Tests use it to bind
    /// `tcp://127.0.0.1:*` and read the port back with [`Runner::endpoint`].
    ///
    /// ```text
    /// let display = Runner::new(Display)
    ///     .with_address(Role::Sub, ["tcp://localhost:5555", "tcp://localhost:5557"]);
    /// ```
    ///
    /// # Panics
    /// If the service has no `role` socket (an address for a socket that does not exist is
    /// a programming error), or if `addresses` is empty.
    pub fn with_address(mut self, role: Role, addresses: impl Into<Addresses>) -> Self {
        assert!(
            S::SPEC.has(role),
            "service `{}` has no {role} socket (no `{}` key in its #[service] attribute)",
            self.name(),
            role.key()
        );
        let addresses = addresses.into();
        assert!(
            !addresses.is_empty(),
            "the {role} socket needs at least one address"
        );
        self.overrides.addresses[role.index()] = Some(addresses);
        self
    }

    /// Sets the high-water mark (in messages) of the `role` socket, over the `hwm` key.
    pub fn with_hwm(mut self, role: Role, hwm: i32) -> Self {
        self.overrides.hwm[role.index()] = Some(hwm);
        self
    }

    /// Sets the largest message SUB and PULL accept, over the `max_message_size` key.
    pub fn with_max_message_size(mut self, bytes: i64) -> Self {
        self.overrides.max_message_size = Some(bytes);
        self
    }

    /// Sets how long a stop may spend handling what was already received and flushing
    /// what was queued to send, over the `drain_timeout` key.
    pub fn with_drain_timeout(mut self, timeout: Duration) -> Self {
        self.overrides.drain_timeout = Some(timeout);
        self
    }

    /// Sets how many PUSH messages may wait for a puller in the send queue, over the
    /// `send_queue` key.
    pub fn with_send_queue(mut self, messages: usize) -> Self {
        self.overrides.send_queue = Some(messages);
        self
    }

    /// Sets how long a push waits for room in a full send queue before it fails with
    /// [`Error::SendTimeout`], over the `send_timeout` key.
    pub fn with_send_timeout(mut self, timeout: Duration) -> Self {
        self.overrides.send_timeout = Some(timeout);
        self
    }

    /// Sets the largest subscription the PUB socket accepts, over the
    /// `max_subscription_size` key.
    pub fn with_max_subscription_size(mut self, bytes: i64) -> Self {
        self.overrides.max_subscription_size = Some(bytes);
        self
    }

    /// Sets how many subscriptions the PUB socket's subscribers may hold together, over the
    /// `max_subscriptions` key.
    pub fn with_max_subscriptions(mut self, subscriptions: usize) -> Self {
        self.overrides.max_subscriptions = Some(subscriptions);
        self
    }

    /// Sets the ZMTP heartbeat period (`None` turns ZMTP heartbeats off), over the
    /// `zmtp_heartbeat` key.
    pub fn with_zmtp_heartbeat(mut self, period: Option<Duration>) -> Self {
        self.overrides.zmtp_heartbeat = Some(period);
        self
    }

    /// Sets the PLAIN credentials (`None` turns PLAIN off), over the `username` and
    /// `password` keys and the `EXPERIMANCE_<NAME>_USERNAME` / `_PASSWORD` variables.
    pub fn with_plain(mut self, credentials: Option<(&str, &str)>) -> Self {
        self.overrides.plain = Some(credentials.map(|(u, p)| (u.to_owned(), p.to_owned())));
        self
    }

    /// Sets CURVE encryption (`None` turns it off), over the `curve*` keys and their
    /// `EXPERIMANCE_<NAME>_CURVE*` variables: bound sockets become CURVE servers with this
    /// key pair, connecting ones clients of the server key it gives.
    ///
    /// ```
    /// use experimance_runtime::{Curve, CurveKey};
    ///
    /// // This service's key pair, and the public key of the service it connects to.
    /// let server: CurveKey = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7".parse().unwrap();
    /// let keys = Curve::generate().expect("keys").with_server_key(server);
    /// // runner.with_curve(Some(keys))
    /// # drop(keys);
    /// ```
    pub fn with_curve(mut self, curve: Option<crate::Curve>) -> Self {
        self.overrides.curve = Some(curve);
        self
    }

    /// Uses `config` (see [`Config`](crate::Config)) instead of the file named by a
    /// `--config PATH` argument of the program or by the `EXPERIMANCE_CONFIG` variable. Its section `[services.<name>]` overrides
    /// the attribute; environment variables and the other `with_*` settings override it.
    pub fn with_config(mut self, config: crate::Config) -> Self {
        self.overrides.config = Some(config);
        self.renamed()
    }

    /// Sets the addresses or CIDR networks allowed to connect to bound sockets (empty
    /// allows all), over the `allow` key and the `EXPERIMANCE_<NAME>_ALLOW` variable.
    pub fn with_allow<I: IntoIterator<Item = T>, T: Into<String>>(mut self, allow: I) -> Self {
        self.overrides.allow = Some(allow.into_iter().map(Into::into).collect());
        self
    }

    /// Gives this instance another name than the attribute's, for several instances of one
    /// service type (two workers, say). The name is what heartbeats, stats and logs carry,
    /// and what the `EXPERIMANCE_<NAME>_<KEY>` variables and the configuration file's
    /// `[services.<name>]` section are looked up by. (A `name` key set by the environment or
    /// the file renames the service without changing where its keys are looked up.)
    ///
    /// # Panics
    /// If `name` is empty.
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        let name = name.into();
        assert!(!name.trim().is_empty(), "a service name must not be empty");
        self.overrides.name = Some(name);
        self.renamed()
    }

    /// Takes the name the overrides now give.
    fn renamed(mut self) -> Self {
        let name = self.overrides.name(&S::SPEC);
        if name != self.name() {
            self.core = Arc::new(Core::new(name));
        }
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

    /// The (first) endpoint of the `role` socket while running: for a bound wildcard port
    /// (`tcp://127.0.0.1:*`), the port the system chose. See [`Runner::endpoints`] for a
    /// socket with several.
    pub fn endpoint(&self, role: Role) -> Option<String> {
        self.core.endpoints(role).into_iter().next()
    }

    /// Every endpoint of the `role` socket while running, in the order of its addresses
    /// (bound wildcard ports resolved); empty while stopped.
    pub fn endpoints(&self, role: Role) -> Vec<String> {
        self.core.endpoints(role)
    }

    /// What the service says about itself: sockets and addresses (with the endpoints in use
    /// while running), subscriptions, handlers with their message types, heartbeat. Stopped,
    /// it describes what a start would use, and fails as the start would on a bad setting.
    pub fn describe(&self) -> Result<ServiceDescription, Error> {
        if let Some(description) = lock(&self.core.description).clone() {
            return Ok(description);
        }
        let settings = self.overrides.resolve(&S::SPEC, S::TOPICS)?;
        Ok(ServiceDescription::of::<S>(
            self.name(),
            &settings,
            &Default::default(),
        ))
    }

    /// Gives the service back, if it is not running.
    pub fn into_service(self) -> Option<S> {
        lock(&self.service).take()
    }

    /// Runs `f` on the service while it is not running (`None` while it is).
    pub fn with_service<R>(&self, f: impl FnOnce(&mut S) -> R) -> Option<R> {
        lock(&self.service).as_mut().map(f)
    }

    /// The addresses `role` will use, as given (with their prefixes): the program's, else the
    /// environment variable's, else the configuration file's, else the attribute's; empty if
    /// the service has no such socket.
    pub fn addresses(&self, role: Role) -> Vec<String> {
        self.overrides
            .addresses(&S::SPEC, role)
            .map(Addresses::into_vec)
            .unwrap_or_default()
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
        core.reset_run();
        core.set_status(Status::Healthy);

        let opened = self
            .overrides
            .resolve(&S::SPEC, S::TOPICS)
            .and_then(|settings| self.open(settings));
        let mut opened = match opened {
            Ok(opened) => opened,
            Err(e) => return Err(self.abort_start(service, e)),
        };
        *lock(&core.endpoints) = std::array::from_fn(|i| {
            opened.sockets[i]
                .as_ref()
                .map(|s| s.endpoints().to_vec())
                .unwrap_or_default()
        });
        *lock(&core.addresses) = Role::ALL.map(|role| {
            let given = opened.settings.addresses[role.index()].is_some();
            let endpoints = if given {
                opened.settings.endpoints(role)
            } else {
                Vec::new()
            };
            (endpoints, None)
        });
        *lock(&core.description) = Some(ServiceDescription::of::<S>(
            self.name(),
            &opened.settings,
            &lock(&core.endpoints),
        ));
        let cancel = CancellationToken::new();
        *lock(&core.cancel) = cancel.clone();
        core.tasks.reopen();
        core.counters.mark_started();
        let span = tracing::info_span!("service", name = core.name());
        let pumps = Pumps::start(core, &mut opened, &span).await;

        let ctx = Context::<S>::new(Arc::clone(core));
        let started = CatchUnwind(service.on_start(&ctx))
            .instrument(span.clone())
            .await;
        if let Some(message) = hook_failure(started) {
            cancel.cancel();
            let monitors = pumps.stop().await;
            opened.parked.extend(monitors);
            close_send_queue(core);
            opened.close(core, Duration::ZERO).await;
            let error = Error::StartHook {
                service: core.name().to_owned(),
                message,
            };
            return Err(self.abort_start(service, error));
        }

        core.set_state(State::Running);
        tracing::info!(parent: &span, endpoints = %EndpointList(&lock(&core.endpoints)), "service running");
        if opened.settings.addresses[Role::Pub.index()].is_some() {
            let beat = heartbeat::run(
                Arc::clone(core),
                opened.settings.heartbeat_interval,
                cancel.clone(),
            );
            core.tasks.spawn(beat.instrument(span.clone()));
        }
        if let Some(period) = opened.settings.stats_interval {
            let log = stats::log_stats(Arc::clone(core), period, cancel.clone());
            core.tasks.spawn(log.instrument(span.clone()));
        }
        let serve = Serve {
            service,
            ctx,
            sub: opened.take(Role::Sub),
            pull: opened.take(Role::Pull),
            monitors: [Role::Sub, Role::Pull].map(|r| opened.monitors[r.index()].take()),
            mending: Default::default(),
            parked: Vec::new(),
            cancel,
            drain_timeout: opened.settings.drain_timeout,
            peer_interval: opened.settings.peer_interval,
            watch: opened.settings.watch.clone(),
            heartbeats: opened.settings.heartbeat_interval.is_some()
                && opened.settings.addresses[Role::Pub.index()].is_some(),
        };
        let slot = Arc::clone(&self.service);
        let core = Arc::clone(core);
        tokio::spawn(
            async move {
                let (service, [sub, pull], monitors) = serve.run().await;
                opened.sockets[Role::Sub.index()] = sub;
                opened.sockets[Role::Pull.index()] = pull;
                opened.parked = monitors;
                let flush_by = core
                    .drain_deadline(opened.settings.drain_timeout)
                    .max(tokio::time::Instant::now() + CLOSE_MIN);
                core.send_queue.flushed(flush_by).await;
                opened.parked.extend(pumps.stop().await);
                close_send_queue(&core);
                let linger = flush_by
                    .saturating_duration_since(tokio::time::Instant::now())
                    .max(CLOSE_MIN);
                opened.close(&core, linger).await;
                *lock(&slot) = Some(service);
                core.counters.mark_stopped();
                // Logged before the state says `stopped`, so whoever waits for that (a `main`
                // about to return) finds the final lines written.
                core.throttles.flush();
                let mut stats = core.stats();
                stats.state = State::Stopped;
                tracing::info!(target: "experimance::stats", "final: {stats}");
                core.set_state(State::Stopped);
            }
            .instrument(span),
        );
        Ok(())
    }

    /// Gives the service back after a failed start, which leaves it `stopped` and `fatal`.
    fn abort_start(&self, service: S, error: Error) -> Error {
        *lock(&self.service) = Some(service);
        self.core.lifecycle.send_modify(|l| {
            l.state = State::Stopped;
            l.status = Status::Fatal;
        });
        error
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
                    self.core.request_stop();
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
    /// receives SIGINT, SIGTERM or SIGHUP (a closed terminal), which stop it gracefully; a
    /// second signal exits the process at once (status 130). A signal while `#[on_start]`
    /// runs stops the service as soon as the start ends. Returns the error that stopped the
    /// service, if any. Several services of one process run under one signal handler with
    /// [`Services`](crate::Services).
    pub async fn run(&self) -> Result<(), Error> {
        crate::group::run(&[self]).await
    }

    fn outcome(&self) -> Result<(), Error> {
        match lock(&self.core.failure).clone() {
            Some((task, message)) => Err(Error::TaskFailed {
                service: self.name().to_owned(),
                task,
                message,
            }),
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

    /// The state the service shares with its loop and contexts.
    pub(crate) fn core(&self) -> &Arc<Core> {
        &self.core
    }

    /// Runs the service on in-memory sockets whose other ends go into `wires` at each start.
    pub(crate) fn in_memory(mut self, wires: Arc<Mutex<Wires>>) -> Self {
        self.memory = Some(wires);
        self
    }

    fn open(&self, settings: Settings) -> Result<Opened, Error> {
        let context = zmq::Context::new();
        if let Some(wires) = &self.memory {
            let sockets = lock(wires).connect(&settings.addresses);
            return Ok(Opened {
                context,
                sockets,
                monitors: Default::default(),
                parked: Vec::new(),
                zap: None,
                settings,
            });
        }
        self.core.curve.store(
            settings.auth.curve.is_some(),
            std::sync::atomic::Ordering::Relaxed,
        );
        let zap = if settings.auth.enabled() {
            let socket = auth::bind_handler(&context).map_err(|e| Error::Config {
                service: self.name().to_owned(),
                message: format!("cannot start the ZAP handler: {e}"),
            })?;
            let cancel = CancellationToken::new();
            let task = tokio::spawn(auth::serve(
                socket,
                settings.auth.clone(),
                Arc::clone(&self.core),
                cancel.clone(),
            ));
            Some((task, cancel))
        } else {
            None
        };
        let mut opened = Opened {
            context,
            sockets: Default::default(),
            monitors: Default::default(),
            parked: Vec::new(),
            zap,
            settings,
        };
        let topics: Vec<&str> = opened
            .settings
            .subscriptions
            .iter()
            .map(String::as_str)
            .collect();
        for role in Role::ALL {
            let Some(addresses) = opened.settings.addresses[role.index()].clone() else {
                continue;
            };
            let endpoints = opened.settings.endpoints(role);
            let socket = AsyncSocket::open(
                &opened.context,
                role,
                &endpoints,
                &opened.settings.sockets[role.index()],
                &topics,
            );
            let connects = endpoints.iter().any(|e| e.direction == Direction::Connect);
            let curve = opened.settings.auth.curve.is_some();
            let watch = match role {
                Role::Pub => Some(Watch::Peers),
                Role::Sub | Role::Pull if connects => Some(Watch::Mending),
                // Only to say why a connecting PUSH gets nowhere.
                Role::Push if connects && curve => Some(Watch::Handshakes),
                _ => None,
            };
            let socket = socket.and_then(|socket| {
                if let (Some(watch), Some(zmq)) = (watch, socket.zmq()) {
                    let monitor =
                        Monitor::attach(&opened.context, zmq, watch).map_err(|e| (None, e))?;
                    opened.monitors[role.index()] = Some(monitor);
                }
                Ok(socket)
            });
            match socket {
                Ok(socket) => opened.sockets[role.index()] = Some(socket),
                Err((endpoint, source)) => {
                    let core = Arc::clone(&self.core);
                    tokio::spawn(async move { opened.close(&core, Duration::ZERO).await });
                    return Err(socket_error(
                        self.name(),
                        role,
                        endpoint.unwrap_or_else(|| addresses.to_string()),
                        source,
                    ));
                }
            }
        }
        Ok(opened)
    }
}

/// The libzmq context of one run, its sockets, and its ZAP handler.
struct Opened {
    context: zmq::Context,
    sockets: [Option<AsyncSocket>; 4],
    /// The connection monitors of the PUB socket and of connecting SUB and PULL sockets,
    /// until the service takes them.
    monitors: [Option<Monitor>; 4],
    /// Monitors given back at the end of a run, closed after the sockets.
    parked: Vec<Monitor>,
    zap: Option<(tokio::task::JoinHandle<AsyncSocket>, CancellationToken)>,
    settings: Settings,
}

impl Opened {
    fn take(&mut self, role: Role) -> Option<AsyncSocket> {
        self.sockets[role.index()].take()
    }

    /// Closes every socket (taking the sending ones back from `core`) and terminates the
    /// context off the reactor: termination waits up to `linger` for queued messages.
    async fn close(mut self, core: &Core, linger: Duration) {
        *lock(&core.endpoints) = Default::default();
        *lock(&core.addresses) = Default::default();
        *lock(&core.description) = None;
        if let Some(outbox) = core.publisher.lock().await.take() {
            self.sockets[Role::Pub.index()] = Some(outbox.socket);
            self.parked.extend(outbox.monitor);
        }
        if let Some(outbox) = core.pusher.lock().await.take() {
            self.sockets[Role::Push.index()] = Some(outbox.socket);
        }
        // Only what PUB and PUSH queued is worth waiting for; a SUB's queue holds nothing but
        // subscriptions for a publisher that may never come.
        for role in Role::ALL {
            if let Some(socket) = &self.sockets[role.index()] {
                let keep = matches!(role, Role::Pub | Role::Push);
                let _ = socket.set_linger(if keep { linger } else { Duration::ZERO });
            }
        }
        let zap = match self.zap.take() {
            Some((task, cancel)) => {
                cancel.cancel();
                task.await.ok()
            }
            None => None,
        };
        let pushing = self.sockets[Role::Push.index()].is_some();
        let Opened {
            context,
            sockets,
            monitors,
            parked,
            ..
        } = self;
        let closing = std::time::Instant::now();
        let _ = tokio::task::spawn_blocking(move || {
            // Closing a socket stops its monitor; only then may the monitor's reader close.
            drop(sockets);
            drop(monitors);
            drop(parked);
            drop(zap);
            drop(context);
        })
        .await;
        // libzmq does not say what it drops when the linger runs out; closing takes the whole
        // linger when something was still waiting for a peer (or when the machine is so busy
        // that closing alone took that long), so this can only be a warning, not a count.
        if pushing && !linger.is_zero() && closing.elapsed() >= linger {
            tracing::warn!(
                ?linger,
                "closing took the whole linger: libzmq may have held messages for a slow puller (or subscriber) and dropped them; it does not say how many"
            );
        }
    }
}

/// The error of a socket that could not be opened on `endpoint`. A TCP bind to a host name
/// (libzmq's "No such device") says that a bind needs an interface, and how to connect.
fn socket_error(service: &str, role: Role, endpoint: String, source: zmq::Error) -> Error {
    if source == zmq::Error::ENODEV {
        if let Some(rest) = endpoint.strip_prefix("tcp://") {
            return Error::BindHostName {
                service: service.to_owned(),
                role,
                connect: format!(">tcp://{rest}"),
                endpoint,
            };
        }
    }
    Error::Socket {
        service: service.to_owned(),
        role,
        endpoint,
        source,
    }
}

/// The endpoints of a service's sockets for its start log: `pub=tcp://0.0.0.0:5555
/// sub=tcp://core:5555,tcp://agent:5557`.
struct EndpointList<'a>(&'a [Vec<String>; 4]);

impl std::fmt::Display for EndpointList<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut first = true;
        for role in Role::ALL {
            let endpoints = &self.0[role.index()];
            if endpoints.is_empty() {
                continue;
            }
            if !first {
                f.write_str(" ")?;
            }
            first = false;
            write!(f, "{}={}", role.key(), endpoints.join(","))?;
        }
        Ok(())
    }
}

/// Closes the send queue; what it still held is counted in `errors`, one per message, and
/// said in a warn log.
fn close_send_queue(core: &Core) {
    let left = core.send_queue.close();
    if left > 0 {
        core.counters.errors(left as u64);
        tracing::warn!(
            socket = "push",
            endpoint = core.endpoints(Role::Push).join(","),
            messages = left,
            "stopped with messages still queued for a puller; they were not sent"
        );
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
    /// The connection monitors of `sub` and `pull`, when they connect.
    monitors: [Option<Monitor>; 2],
    /// The mending of `sub`'s and `pull`'s connections, by endpoint as libzmq names it.
    mending: [Vec<(String, Mending)>; 2],
    /// Monitors no longer read, kept open until the sockets close.
    parked: Vec<Monitor>,
    cancel: CancellationToken,
    drain_timeout: Duration,
    peer_interval: Duration,
    /// The heartbeat topics whose senders the service follows.
    watch: Vec<String>,
    /// Whether the service sends heartbeats (so a last one at the stop).
    heartbeats: bool,
}

impl<S: Service> Serve<S> {
    /// Handles messages and timers until cancelled, then shuts down; gives back the service
    /// and its receiving sockets.
    async fn run(mut self) -> (S, [Option<AsyncSocket>; 2], Vec<Monitor>) {
        let core = self.core();
        let mut timers: Vec<Interval> = S::TIMERS
            .iter()
            .map(|&(_, period)| {
                let mut t = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
                t.set_missed_tick_behavior(MissedTickBehavior::Skip);
                t
            })
            .collect();
        let watching = !self.watch.is_empty() && self.sub.is_some();
        let mut liveness = tokio::time::interval(self.peer_interval / 2);
        liveness.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut msg = zmq::Message::new();
        // The receive loop ends on a stop request (`None`) or a socket failure.
        let failure: Option<(Role, zmq::Error)> = loop {
            let reconnect_at = self
                .mending
                .iter()
                .flatten()
                .filter_map(|(_, m)| m.due)
                .min();
            let step = tokio::select! {
                _ = self.cancel.cancelled() => break None,
                ready = readable(self.sub.as_mut()) => {
                    ready.and(self.drain(Role::Sub, &mut msg, None).await).map_err(|e| (Role::Sub, e))
                }
                ready = readable(self.pull.as_mut()) => {
                    ready.and(self.drain(Role::Pull, &mut msg, None).await).map_err(|e| (Role::Pull, e))
                }
                (role, event) = connection(&mut self.monitors) => {
                    self.connection_changed(role, event);
                    Ok(0)
                }
                _ = sleep_until(reconnect_at), if reconnect_at.is_some() => {
                    self.mend_due(&mut msg).await
                }
                index = next_tick(&mut timers), if !timers.is_empty() => {
                    // A tick due at the same moment as a stop request may win the select: no
                    // timer call starts once a stop is asked.
                    if self.cancel.is_cancelled() {
                        break None;
                    }
                    let limit = Limit::new(&core, &self.cancel, self.drain_timeout, None);
                    let name = S::TIMERS[index].0;
                    let call = CatchUnwind(self.service.on_timer(index, &self.ctx));
                    match limit.bound(call).await {
                        Some(result) => report(&core, name, None, result),
                        None => limit.cancelled(name),
                    }
                    Ok(0)
                }
                _ = liveness.tick(), if watching => {
                    if self.cancel.is_cancelled() {
                        break None;
                    }
                    // Heartbeats already queued count: read them before judging anyone lost.
                    let drained = self.drain(Role::Sub, &mut msg, None).await;
                    if drained.is_ok() {
                        let timeout = self.peer_interval * crate::liveness::MISSED_INTERVALS;
                        for peer in core.peers.expire(timeout) {
                            self.peer_changed(&peer, Liveness::Lost).await;
                        }
                    }
                    drained.map_err(|e| (Role::Sub, e))
                }
            };
            if let Err(failure) = step {
                break Some(failure);
            }
        };
        let failed = failure.is_some();
        if let Some((role, source)) = failure {
            self.fatal(role, source);
        }
        core.set_state(State::Stopping);
        let deadline = core.drain_deadline(self.drain_timeout);
        if !failed {
            self.drain_received(&mut msg, deadline).await;
        }
        let on_stop_end = tokio::time::Instant::now() + ON_STOP_MIN;
        let limit = Limit::new(&core, &self.cancel, self.drain_timeout, Some(on_stop_end));
        let stopped = limit
            .bound(CatchUnwind(self.service.on_stop(&self.ctx)))
            .await;
        if stopped.is_none() {
            limit.cancelled("on_stop");
        }
        if let Some(message) = stopped.and_then(hook_failure) {
            core.counters.error();
            tracing::warn!(error = %Untrusted::str(&message), "on_stop failed");
        }
        self.cancel.cancel();
        core.tasks.close();
        if tokio::time::timeout(TASK_GRACE, core.tasks.wait())
            .await
            .is_err()
        {
            tracing::warn!("background tasks did not end within {TASK_GRACE:?} of the stop");
        }
        if self.heartbeats {
            heartbeat::beat(&core).await;
        }
        // The monitors stay open until their sockets close: libzmq would block sending events
        // to a monitor that closed first.
        let mut monitors = self.parked;
        monitors.extend(self.monitors.into_iter().flatten());
        (self.service, [self.sub, self.pull], monitors)
    }

    /// Handles what the receiving sockets already hold, until they are empty or `deadline`.
    async fn drain_received(&mut self, msg: &mut zmq::Message, deadline: tokio::time::Instant) {
        for role in [Role::Sub, Role::Pull] {
            while tokio::time::Instant::now() < deadline {
                match self.drain(role, msg, Some(deadline)).await {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
            }
        }
    }

    async fn peer_changed(&mut self, peer: &str, liveness: Liveness) {
        let core = self.core();
        if core.throttles.liveness.allow() {
            tracing::info!(peer = %Untrusted::str(peer), %liveness, "peer liveness changed");
        }
        let limit = Limit::new(&core, &self.cancel, self.drain_timeout, None);
        let call = CatchUnwind(self.service.on_peer(peer, liveness, &self.ctx));
        match limit.bound(call).await {
            // No `#[on_peer]` hook: nothing to report.
            Some(Ok(Ok(Handled::NoHandler))) => {}
            Some(result) => report(&core, "on_peer", None, result),
            None => limit.cancelled("on_peer"),
        }
    }

    fn core(&self) -> Arc<Core> {
        Arc::clone(self.ctx.core())
    }

    /// Follows the connection of the connecting `role` socket. A lost connection is counted
    /// in `reconnects`, logged, and keeps health at `warning` until a new one is up. libzmq
    /// connects again by itself after most losses, and says so (a retry event) at once; after
    /// a protocol error (such as an oversize frame) it never does, and then the service does,
    /// once the grace for that event has passed (see [`Serve::mend_due`]).
    fn connection_changed(&mut self, role: Role, event: Result<Connection, zmq::Error>) {
        let core = self.core();
        let index = usize::from(role == Role::Pull);
        if let Ok(Connection::HandshakeFailed {
            endpoint,
            reason,
            refused,
        }) = &event
        {
            let bound = self.connected(role, endpoint).is_none();
            let curve = core.curve.load(std::sync::atomic::Ordering::Relaxed);
            let failed = (endpoint.as_str(), *reason, *refused);
            crate::monitor::report_handshake(&core, role, failed, curve, bound);
            return;
        }
        // Only the connections this socket makes are mended, each by its address as given;
        // a peer that leaves a bound endpoint of the same socket comes back by itself.
        let mut event = event;
        if let Ok(connection) = &mut event {
            if let Some(endpoint) = connection.endpoint_mut() {
                match self.connected(role, endpoint) {
                    Some(address) => *endpoint = address,
                    None => return,
                }
            }
        }
        let mending = &mut self.mending[index];
        match event {
            Ok(Connection::Lost { endpoint, .. }) => {
                let entry = mending_of(mending, &endpoint);
                entry.lost = true;
                entry.due = Some(tokio::time::Instant::now() + RETRY_GRACE);
                core.counters.reconnect();
                core.set_condition(Condition::Disconnected, true);
                if core.throttles.connection.allow() {
                    tracing::warn!(socket = %role, endpoint, "connection lost; connecting again");
                }
            }
            // libzmq is connecting again by itself.
            Ok(Connection::Retrying { endpoint }) => {
                if let Some((_, entry)) = mending.iter_mut().find(|(e, _)| *e == endpoint) {
                    if entry.lost {
                        entry.due = None;
                    }
                }
            }
            // Reported above.
            Ok(Connection::Opened(_) | Connection::HandshakeFailed { .. }) => {}
            Ok(Connection::Up { endpoint }) => {
                let was_lost = mending.iter().any(|(e, m)| *e == endpoint && m.lost);
                mending.retain(|(e, _)| *e != endpoint);
                if was_lost {
                    tracing::info!(socket = %role, endpoint, "connected again");
                }
                if self.mending.iter().flatten().all(|(_, m)| !m.lost) {
                    core.set_condition(Condition::Disconnected, false);
                }
            }
            // A receive interrupted by a signal: the next one goes on.
            Err(zmq::Error::EINTR) => {}
            Err(e) => {
                // Keep the monitor's socket open (libzmq would block sending it events if it
                // closed), but stop reading it.
                if let Some(monitor) = self.monitors[index].take() {
                    self.parked.push(monitor);
                }
                let endpoint = self
                    .receiver(role)
                    .map(|s| s.endpoint().to_owned())
                    .unwrap_or_default();
                tracing::warn!(socket = %role, endpoint, error = %e, "cannot watch the connection any more; a dropped connection may stay dropped");
            }
        }
    }

    /// Connects again the receiving sockets' endpoints whose loss libzmq left alone, after
    /// handling what the socket had already received (connecting again drops the old
    /// connection's queue). The first time at once; again before a connection came up (a
    /// peer that refuses us) after 100 ms, 200 ms, … up to 5 s.
    async fn mend_due(&mut self, msg: &mut zmq::Message) -> Result<usize, (Role, zmq::Error)> {
        let now = tokio::time::Instant::now();
        let mut handled = 0;
        for (index, role) in [Role::Sub, Role::Pull].into_iter().enumerate() {
            let mut due = Vec::new();
            for (endpoint, mending) in &mut self.mending[index] {
                if mending.due.is_none_or(|at| at > now) {
                    continue;
                }
                if !mending.waited {
                    // The grace has passed without libzmq retrying: mend it, after the backoff.
                    mending.attempts += 1;
                    let delay = reconnect_delay(mending.attempts);
                    mending.waited = true;
                    if !delay.is_zero() {
                        mending.due = Some(now + delay);
                        continue;
                    }
                }
                mending.due = None;
                mending.waited = false;
                due.push(endpoint.clone());
            }
            if due.is_empty() {
                continue;
            }
            loop {
                match self.drain(role, msg, None).await {
                    Ok(0) => break,
                    Ok(n) => handled += n,
                    Err(e) => return Err((role, e)),
                }
                if self.cancel.is_cancelled() {
                    return Ok(handled);
                }
            }
            for endpoint in due {
                self.reconnect(role, &endpoint);
            }
        }
        Ok(handled)
    }

    fn reconnect(&self, role: Role, endpoint: &str) {
        let Some(socket) = self.receiver(role) else {
            return;
        };
        if let Err(e) = socket.reconnect(endpoint) {
            let core = self.ctx.core();
            core.counters.error();
            tracing::warn!(socket = %role, endpoint, error = %e, "cannot connect again");
        }
    }

    /// The address as given that the `role` socket's connection event `endpoint` is about.
    fn connected(&self, role: Role, endpoint: &str) -> Option<String> {
        self.receiver(role)?
            .connected_address(endpoint)
            .map(str::to_owned)
    }

    fn receiver(&self, role: Role) -> Option<&AsyncSocket> {
        match role {
            Role::Sub => self.sub.as_ref(),
            _ => self.pull.as_ref(),
        }
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

    /// Handles up to [`BATCH`] queued messages of `role` without waiting; returns how many.
    ///
    /// In the message loop (`deadline` is `None`) a stop request ends the batch at once, so the
    /// rest is handled by the drain, which passes its deadline and checks it per message.
    async fn drain(
        &mut self,
        role: Role,
        msg: &mut zmq::Message,
        deadline: Option<tokio::time::Instant>,
    ) -> Result<usize, zmq::Error> {
        let core = self.core();
        let mut handled = 0;
        for _ in 0..BATCH {
            let stop = match deadline {
                None => self.cancel.is_cancelled(),
                Some(deadline) => tokio::time::Instant::now() >= deadline,
            };
            if stop {
                break;
            }
            let socket = match role {
                Role::Sub => self.sub.as_mut(),
                _ => self.pull.as_mut(),
            };
            let Some(socket) = socket else {
                break;
            };
            if !socket.try_recv(msg)? {
                break;
            }
            handled += 1;
            core.counters.received();
            if msg.get_more() {
                let mut parts = 1;
                while msg.get_more() && socket.try_recv(msg)? {
                    parts += 1;
                }
                core.counters.error();
                if core.throttles.bad_input.allow() {
                    tracing::warn!(role = %role, parts, error = %wire::FrameError::MultiFrame, "dropping message");
                }
                continue;
            }
            let bytes: &[u8] = msg;
            if role == Role::Pull {
                let task = match wire::check_task(bytes) {
                    Ok(task) => task,
                    Err(e) => {
                        core.counters.error();
                        if core.throttles.bad_input.allow() {
                            tracing::warn!(error = %e, preview = %wire::preview(bytes), "dropping task");
                        }
                        continue;
                    }
                };
                let limit = Limit::new(&core, &self.cancel, self.drain_timeout, None);
                let call = CatchUnwind(self.service.dispatch_task(task, &self.ctx));
                match limit.bound(call).await {
                    Some(result) => report(&core, "task", Some(task), result),
                    None => limit.cancelled("task"),
                }
                continue;
            }
            match wire::split_frame(bytes) {
                Ok((topic, payload)) => {
                    if self.watch.iter().any(|w| w == topic) {
                        self.heard(topic, payload).await;
                    }
                    let limit = Limit::new(&core, &self.cancel, self.drain_timeout, None);
                    let call = CatchUnwind(self.service.dispatch_topic(topic, payload, &self.ctx));
                    match limit.bound(call).await {
                        Some(result) => report(&core, topic, Some(payload), result),
                        None => limit.cancelled(&format!(
                            "topic {}",
                            wire::clipped(topic.as_bytes(), TOPIC_SHOWN)
                        )),
                    }
                }
                Err(e) => {
                    core.counters.error();
                    if core.throttles.bad_input.allow() {
                        tracing::warn!(error = %e, preview = %wire::preview(bytes), "dropping frame");
                    }
                }
            }
        }
        Ok(handled)
    }

    /// Updates the liveness table from a message on a watched heartbeat topic.
    async fn heard(&mut self, topic: &str, payload: &str) {
        match serde_json::from_str::<Heartbeat>(payload) {
            Ok(heartbeat) => match self.core().peers.heard(&heartbeat) {
                Ok(Some(change)) => self.peer_changed(&heartbeat.service, change).await,
                Ok(None) => {}
                Err(refused) => {
                    let core = self.core();
                    core.counters.error();
                    if core.throttles.bad_input.allow() {
                        let reason = match refused {
                            Refused::TableFull => "liveness table full of live peers",
                            Refused::NameTooLong => "peer name too long",
                        };
                        let name = wire::preview(heartbeat.service.as_bytes());
                        tracing::warn!(
                            peer = %name,
                            max_peers = crate::liveness::MAX_PEERS,
                            max_name = crate::liveness::MAX_PEER_NAME,
                            "{reason}; heartbeat ignored"
                        );
                    }
                }
            },
            Err(e) => {
                let core = self.core();
                core.counters.error();
                if !core.throttles.bad_input.allow() {
                    return;
                }
                tracing::warn!(topic = %Untrusted::str(topic), error = %wire::clipped(e.to_string().as_bytes(), ERROR_SHOWN), preview = %wire::preview(payload.as_bytes()), "not a heartbeat on a watched topic");
            }
        }
    }
}

/// The tasks that keep one run's sending sockets moving: the PUB socket's subscription reader
/// and the PUSH send queue's flusher.
struct Pumps {
    stop: CancellationToken,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    /// The tasks that watch a connecting PUSH's handshakes, each with its monitor.
    watchers: Vec<tokio::task::JoinHandle<Monitor>>,
}

impl Pumps {
    /// Hands the PUB and PUSH sockets of `opened` to `core` and starts their pumps.
    async fn start(core: &Arc<Core>, opened: &mut Opened, span: &tracing::Span) -> Pumps {
        let stop = CancellationToken::new();
        let mut tasks = Vec::new();
        let mut watchers = Vec::new();
        if let Some(socket) = opened.take(Role::Pub) {
            let monitor = opened.monitors[Role::Pub.index()].take();
            lock(&core.budget).reset(opened.settings.max_subscriptions);
            let readiness = socket.readiness();
            let monitor_readiness = monitor.as_ref().and_then(Monitor::readiness);
            let topics = PubTopics {
                heartbeat: opened.settings.heartbeat_topic.clone(),
                default: opened.settings.default_topic.clone(),
            };
            *core.publisher.lock().await = Some(Outbox::new(socket, monitor, topics));
            match (readiness, monitor_readiness.transpose()) {
                (Some(Ok(socket)), Ok(monitor)) => {
                    let pump =
                        outbox::read_subscriptions(Arc::clone(core), socket, monitor, stop.clone());
                    tasks.push(tokio::spawn(pump.instrument(span.clone())));
                }
                (Some(Err(e)), _) | (_, Err(e)) => {
                    tracing::warn!(parent: span, error = %e, "cannot watch the PUB socket; subscriptions are read at each heartbeat only");
                }
                (None, _) => {}
            }
        }
        if let Some(mut monitor) = opened.monitors[Role::Push.index()].take() {
            let connects = opened.sockets[Role::Push.index()]
                .as_ref()
                .map(AsyncSocket::connects)
                .unwrap_or_default();
            let core = Arc::clone(core);
            let stop = stop.clone();
            let watch = async move {
                loop {
                    let event = tokio::select! {
                        () = stop.cancelled() => break,
                        event = monitor.next() => event,
                    };
                    match event {
                        Ok(Connection::HandshakeFailed {
                            endpoint,
                            reason,
                            refused,
                        }) => {
                            let bound = connects.address(&endpoint).is_none();
                            let failed = (endpoint.as_str(), reason, refused);
                            crate::monitor::report_handshake(
                                &core,
                                Role::Push,
                                failed,
                                true,
                                bound,
                            );
                        }
                        Ok(_) | Err(zmq::Error::EINTR) => {}
                        Err(_) => break,
                    }
                }
                monitor
            };
            // Given back at the stop, to close after the socket.
            watchers.push(tokio::spawn(watch.instrument(span.clone())));
        }
        if let Some(socket) = opened.take(Role::Push) {
            let settings = &opened.settings;
            core.send_queue
                .open(settings.send_queue, settings.send_timeout);
            *core.pusher.lock().await = Some(Outbox::new(socket, None, PubTopics::default()));
            let pump = outbox::flush_pushes(Arc::clone(core), stop.clone(), span.clone());
            tasks.push(tokio::spawn(pump));
        }
        Pumps {
            stop,
            tasks,
            watchers,
        }
    }

    /// Stops the pumps; gives back the monitors they watched, to close after the sockets.
    async fn stop(self) -> Vec<Monitor> {
        self.stop.cancel();
        for task in self.tasks {
            let _ = task.await;
        }
        let mut monitors = Vec::new();
        for watcher in self.watchers {
            monitors.extend(watcher.await.ok());
        }
        monitors
    }
}

/// Counts and logs the outcome of one handler call; `what` is the topic, `task` or timer.
fn report(core: &Core, what: &str, payload: Option<&str>, result: Result<DispatchResult, String>) {
    let error = match result {
        Ok(Ok(Handled::Yes)) => return,
        Ok(Ok(Handled::NoHandler)) => {
            tracing::debug!(topic = %wire::clipped(what.as_bytes(), TOPIC_SHOWN), "no handler");
            return;
        }
        Ok(Err(e)) => e.to_string(),
        Err(panic) => format!("handler {panic}"),
    };
    core.counters.error();
    if !core.throttles.bad_input.allow() {
        return;
    }
    let preview = payload
        .map(|p| wire::preview(p.as_bytes()))
        .unwrap_or_default();
    let topic = wire::clipped(what.as_bytes(), TOPIC_SHOWN);
    let error = wire::clipped(error.as_bytes(), ERROR_SHOWN);
    tracing::warn!(%topic, %error, %preview, "message not handled");
}

/// How long after a lost connection libzmq has to say it is connecting again before the
/// service does. libzmq says so from the same thread, right after the loss.
const RETRY_GRACE: Duration = Duration::from_millis(100);

/// The mending of one connecting socket's connection.
#[derive(Debug, Default, Clone, Copy)]
struct Mending {
    /// Whether the connection was lost and none came up since.
    lost: bool,
    /// When to look at it again: the end of the grace, or of the backoff.
    due: Option<tokio::time::Instant>,
    /// Whether the grace has passed, so the next due time connects.
    waited: bool,
    /// How many times the service connected again since a connection last came up.
    attempts: u32,
}

/// The mending of `endpoint`, added if it has none yet.
fn mending_of<'a>(mending: &'a mut Vec<(String, Mending)>, endpoint: &str) -> &'a mut Mending {
    let at = match mending.iter().position(|(e, _)| e == endpoint) {
        Some(at) => at,
        None => {
            mending.push((endpoint.to_owned(), Mending::default()));
            mending.len() - 1
        }
    };
    &mut mending[at].1
}

/// How long to wait before the service's `attempts`-th connection in a row: not at all for
/// the first, then 100 ms, doubling, at most 5 s.
fn reconnect_delay(attempts: u32) -> Duration {
    match attempts {
        0 | 1 => Duration::ZERO,
        n => Duration::from_millis(100)
            .saturating_mul(1 << (n - 2).min(16))
            .min(Duration::from_secs(5)),
    }
}

async fn sleep_until(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => pending().await,
    }
}

/// The next event of either connection monitor (of SUB, then PULL).
async fn connection(monitors: &mut [Option<Monitor>; 2]) -> (Role, Result<Connection, zmq::Error>) {
    async fn next(monitor: Option<&mut Monitor>) -> Result<Connection, zmq::Error> {
        match monitor {
            Some(monitor) => monitor.next().await,
            None => pending().await,
        }
    }
    let [sub, pull] = monitors;
    tokio::select! {
        event = next(sub.as_mut()) => (Role::Sub, event),
        event = next(pull.as_mut()) => (Role::Pull, event),
    }
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
