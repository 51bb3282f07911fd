//! Several services in one process, started, watched and stopped together, under one signal
//! handler: [`Services`].

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;

use tokio::signal::unix::{signal, Signal, SignalKind};

use crate::error::Error;
use crate::lifecycle::State;
use crate::runner::Runner;
use crate::service::Service;

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// One service of a group, whatever its type: what [`Services`] needs of a [`Runner`].
pub(crate) trait Member: Send + Sync {
    fn name(&self) -> &str;
    fn state(&self) -> State;
    fn start(&self) -> BoxFuture<'_, Result<(), Error>>;
    fn stop(&self) -> BoxFuture<'_, ()>;
    /// Waits until the service is stopped; the error that stopped it, if any.
    fn wait(&self) -> BoxFuture<'_, Result<(), Error>>;
}

impl<S: Service> Member for Runner<S> {
    fn name(&self) -> &str {
        Runner::name(self)
    }

    fn state(&self) -> State {
        Runner::state(self)
    }

    fn start(&self) -> BoxFuture<'_, Result<(), Error>> {
        Box::pin(Runner::start(self))
    }

    fn stop(&self) -> BoxFuture<'_, ()> {
        Box::pin(Runner::stop(self))
    }

    fn wait(&self) -> BoxFuture<'_, Result<(), Error>> {
        Box::pin(Runner::wait(self))
    }
}

/// Several services in one process, run as one: started in order, stopped together by one
/// signal handler, and stopped together when one of them stops.
///
/// Add each service's [`Runner`] with [`Services::with`] (or, to keep a handle on it for its
/// stats or endpoints, with [`Services::with_shared`]), then [`Services::run`] the group, as
/// [`Runner::run`] runs one service:
///
/// - the services start in the order they were added (those already running are left as
///   they are); if one fails to start, those already running are stopped and its error is
///   returned;
/// - SIGINT, SIGTERM or SIGHUP stops them all gracefully, in the reverse order; a second
///   signal exits the process at once with status 130;
/// - when one service stops by itself (a failed [`Context::spawn`](crate::Context::spawn)
///   task, a [`Context::stop`](crate::Context::stop), a stop from elsewhere), the others are
///   stopped too;
/// - `run` returns the first error: that of the service that stopped first, else the first
///   in order that has one.
///
/// [`Services::start`], [`Services::wait`] and [`Services::stop`] do the same without the
/// signal handling, for a program that handles signals itself. All methods take `&self`, so
/// a group can be shared (in an `Arc`) and stopped from anywhere.
///
/// The front page of the `experimance` crate's documentation has an example.
#[derive(Default)]
pub struct Services {
    members: Vec<Arc<dyn Member>>,
}

impl Services {
    /// An empty group.
    pub fn new() -> Self {
        Services::default()
    }

    /// Adds a service; it starts after those added before it.
    pub fn with<S: Service>(self, runner: Runner<S>) -> Self {
        self.with_shared(Arc::new(runner))
    }

    /// Adds a service that the caller keeps a handle on (for its stats, endpoints or
    /// state); it starts after those added before it.
    pub fn with_shared<S: Service>(mut self, runner: Arc<Runner<S>>) -> Self {
        self.members.push(runner);
        self
    }

    /// How many services the group has.
    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// Whether the group has no service.
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// The services' names, in the order they start.
    pub fn names(&self) -> Vec<&str> {
        self.members.iter().map(|m| m.name()).collect()
    }

    /// Starts the services that are not running, in order. If one fails to start, those this
    /// call started are stopped again (in the reverse order) and its error is returned.
    pub async fn start(&self) -> Result<(), Error> {
        let mut started: Vec<&dyn Member> = Vec::new();
        for member in &self.members {
            if !startable(member.state()) {
                continue;
            }
            if let Err(e) = member.start().await {
                stop_all(&started).await;
                return Err(e);
            }
            started.push(member.as_ref());
        }
        Ok(())
    }

    /// Stops every service, in the reverse order, and waits until all are stopped.
    /// Idempotent.
    pub async fn stop(&self) {
        stop_all(&self.members()).await;
    }

    /// Waits until one of the services stops (by itself, or by a stop from anywhere), then
    /// stops the others and returns the first error. A service that is not running counts
    /// as stopped: for a group that was not started, this stops it at once.
    pub async fn wait(&self) -> Result<(), Error> {
        let members = self.members();
        if members.is_empty() {
            return Ok(());
        }
        let first = first_stopped(&members).await;
        stop_all(&members).await;
        outcome(&members, Some(first)).await
    }

    /// Starts the services that are not running, in order, then runs them until one stops
    /// or the process receives SIGINT, SIGTERM or SIGHUP, and stops them all gracefully (in
    /// the reverse order). A second signal exits the process at once (status 130); a signal
    /// while a service starts stops the group as soon as that start ends. Returns the first
    /// error: see [`Services`].
    pub async fn run(&self) -> Result<(), Error> {
        run(&self.members()).await
    }

    fn members(&self) -> Vec<&dyn Member> {
        self.members.iter().map(|m| m.as_ref()).collect()
    }
}

impl fmt::Debug for Services {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.members.iter().map(|m| (m.name(), m.state())))
            .finish()
    }
}

fn startable(state: State) -> bool {
    matches!(state, State::Initialized | State::Stopped)
}

/// What [`Runner::run`] (a group of one) and [`Services::run`] do.
pub(crate) async fn run(members: &[&dyn Member]) -> Result<(), Error> {
    if members.is_empty() {
        return Ok(());
    }
    let mut signals = Signals::install()?;
    let names = members
        .iter()
        .map(|m| m.name())
        .collect::<Vec<_>>()
        .join(", ");
    let mut signalled = false;
    for member in members {
        if !startable(member.state()) {
            continue;
        }
        // A signal while `#[on_start]` runs stops the group as soon as that start has ended;
        // a second one exits at once, as it does later.
        let mut start = member.start();
        let started = tokio::select! {
            started = &mut start => started,
            name = signals.next() => {
                tracing::info!(service = %names, signal = name, "stopping once started; a second signal exits at once");
                signalled = true;
                tokio::select! {
                    started = &mut start => started,
                    name = signals.next() => exit_at_once(name),
                }
            }
        };
        if let Err(e) = started {
            stop_guarded(members, signals, signalled).await;
            return Err(e);
        }
        if signalled {
            break;
        }
    }
    let mut first = None;
    if !signalled {
        tokio::select! {
            index = first_stopped(members) => first = Some(index),
            name = signals.next() => {
                tracing::info!(service = %names, signal = name, "stopping gracefully; a second signal exits at once");
                signalled = true;
            }
        }
    }
    stop_guarded(members, signals, signalled).await;
    outcome(members, first).await
}

/// Stops every member (in the reverse order) while a signal exits at once: the first one
/// already did (`signalled`), or this stop is the answer to any signal.
async fn stop_guarded(members: &[&dyn Member], mut signals: Signals, signalled: bool) {
    let exit_on_signal = async {
        if !signalled {
            let name = signals.next().await;
            tracing::info!(
                signal = name,
                "already stopping; a second signal exits at once"
            );
        }
        let name = signals.next().await;
        exit_at_once(name)
    };
    tokio::select! {
        () = stop_all(members) => {}
        () = exit_on_signal => {}
    }
}

async fn stop_all(members: &[&dyn Member]) {
    for member in members.iter().rev() {
        member.stop().await;
    }
}

/// The index of the first member to be stopped (at once if one is not running).
async fn first_stopped(members: &[&dyn Member]) -> usize {
    let mut waits: Vec<_> = members.iter().map(|m| m.wait()).collect();
    std::future::poll_fn(|cx| {
        for (index, wait) in waits.iter_mut().enumerate() {
            if wait.as_mut().poll(cx).is_ready() {
                return Poll::Ready(index);
            }
        }
        Poll::Pending
    })
    .await
}

/// The first error of stopped members: that of `first`, else the first in order.
async fn outcome(members: &[&dyn Member], first: Option<usize>) -> Result<(), Error> {
    for index in first.into_iter().chain(0..members.len()) {
        members[index].wait().await?;
    }
    Ok(())
}

fn exit_at_once(signal: &'static str) -> ! {
    tracing::warn!(signal, "second signal: exiting at once");
    std::process::exit(130);
}

/// SIGINT, SIGTERM and SIGHUP (a closed terminal): the signals that stop a service or a
/// group.
struct Signals {
    interrupt: Signal,
    terminate: Signal,
    hangup: Signal,
}

impl Signals {
    fn install() -> Result<Signals, Error> {
        Ok(Signals {
            interrupt: signal(SignalKind::interrupt()).map_err(Error::Signal)?,
            terminate: signal(SignalKind::terminate()).map_err(Error::Signal)?,
            hangup: signal(SignalKind::hangup()).map_err(Error::Signal)?,
        })
    }

    /// The name of the next signal received.
    async fn next(&mut self) -> &'static str {
        tokio::select! {
            _ = self.interrupt.recv() => "SIGINT",
            _ = self.terminate.recv() => "SIGTERM",
            _ = self.hangup.recv() => "SIGHUP",
        }
    }
}
