use std::future::Future;
use std::time::Duration;

use crate::address::Role;
use crate::context::Context;
use crate::dispatch::{DispatchResult, Handled};

/// The static description of a service: what `#[service(...)]` says.
#[derive(Debug, Clone, Copy)]
pub struct ServiceSpec {
    /// The service's name (the `name` key, or the struct's name).
    pub name: &'static str,
    /// The service's type (the `service_type` key, or one derived from its sockets).
    pub service_type: &'static str,
    /// The addresses of the `pub`, `sub`, `push` and `pull` keys, in that order.
    pub addresses: [Option<&'static str>; 4],
    /// The `topics` key: the SUB subscriptions. `None` subscribes to the handlers' topics.
    pub topics: Option<&'static [&'static str]>,
    /// The heartbeat topic (`heartbeat` key; default `heartbeat`).
    pub heartbeat_topic: &'static str,
    /// The heartbeat period (`heartbeat_interval` key; default 5 s).
    pub heartbeat_interval: Duration,
    /// The period of the stats log (`stats_interval` key; default 10 s); `None` when `"off"`.
    pub stats_interval: Option<Duration>,
}

impl ServiceSpec {
    /// The address the attribute gives for `role`, if the service has that socket.
    pub fn address(&self, role: Role) -> Option<&'static str> {
        self.addresses[role.index()]
    }
}

/// A service: implemented by `#[service(...)]` on a struct.
///
/// Do not implement it by hand; the attribute also checks the configuration at compile time.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a service",
    note = "put `#[experimance::service(...)]` on the struct `{Self}`"
)]
pub trait Service: Handlers {
    /// What the attribute says.
    const SPEC: ServiceSpec;

    /// Set when the attribute had errors, to keep dependent checks quiet.
    #[doc(hidden)]
    const __UNCHECKED: bool = false;
}

/// A service's handlers: implemented by `#[handlers]` on the struct's `impl` block.
///
/// Every method has a default that handles nothing, so an empty `#[handlers] impl X {}` is a
/// valid service with no handlers (a pure publisher, or background tasks only).
#[diagnostic::on_unimplemented(
    message = "`{Self}` has no `#[handlers]` impl block",
    note = "add `#[experimance::handlers] impl {Self} {{ ... }}` with its handlers; it may be empty"
)]
pub trait Handlers: Sized + Send + 'static {
    /// The topics that have a `#[topic(...)]` handler.
    const TOPICS: &'static [&'static str] = &[];
    /// The `#[every(...)]` periodic handlers: method name and period.
    const TIMERS: &'static [(&'static str, Duration)] = &[];

    /// Set when the impl block had errors, to keep dependent checks quiet.
    #[doc(hidden)]
    const __UNCHECKED: bool = false;

    /// Dispatches one SUB message whose topic is `topic` to its handler (exact match), or to
    /// the catch-all.
    fn dispatch_topic<'a>(
        &'a mut self,
        topic: &'a str,
        payload: &'a [u8],
        ctx: &'a Context<Self>,
    ) -> impl Future<Output = DispatchResult> + Send + 'a {
        let _ = (topic, payload, ctx);
        async { Ok(Handled::NoHandler) }
    }

    /// Dispatches one PULL message to the `#[task]` handler.
    fn dispatch_task<'a>(
        &'a mut self,
        payload: &'a [u8],
        ctx: &'a Context<Self>,
    ) -> impl Future<Output = DispatchResult> + Send + 'a {
        let _ = (payload, ctx);
        async { Ok(Handled::NoHandler) }
    }

    /// Runs the periodic handler number `index` of [`Handlers::TIMERS`].
    fn on_timer<'a>(
        &'a mut self,
        index: usize,
        ctx: &'a Context<Self>,
    ) -> impl Future<Output = DispatchResult> + Send + 'a {
        let _ = (index, ctx);
        async { Ok(Handled::NoHandler) }
    }

    /// The `#[on_start]` hook: after the sockets are up, before messages flow.
    fn on_start<'a>(
        &'a mut self,
        ctx: &'a Context<Self>,
    ) -> impl Future<Output = DispatchResult> + Send + 'a {
        let _ = ctx;
        async { Ok(Handled::NoHandler) }
    }

    /// The `#[on_stop]` hook: after a stop is requested, before the sockets close.
    fn on_stop<'a>(
        &'a mut self,
        ctx: &'a Context<Self>,
    ) -> impl Future<Output = DispatchResult> + Send + 'a {
        let _ = ctx;
        async { Ok(Handled::NoHandler) }
    }
}

/// Marks a service with a PUB socket, so its [`Context`] can publish.
#[diagnostic::on_unimplemented(
    message = "`{Self}` has no PUB socket, so it cannot publish",
    label = "`{Self}` has no `pub` key",
    note = "add `pub = \"tcp://*:PORT\"` to the `#[service(...)]` attribute of `{Self}`"
)]
pub trait HasPub: Service {}

/// Marks a service with a PUSH socket, so its [`Context`] can push.
#[diagnostic::on_unimplemented(
    message = "`{Self}` has no PUSH socket, so it cannot push",
    label = "`{Self}` has no `push` key",
    note = "add `push = \"tcp://*:PORT\"` to the `#[service(...)]` attribute of `{Self}`"
)]
pub trait HasPush: Service {}
