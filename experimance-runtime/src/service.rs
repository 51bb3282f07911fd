use std::future::Future;
use std::time::Duration;

use crate::address::Role;
use crate::context::Context;
use crate::dispatch::{DispatchResult, Handled};
use crate::liveness::Liveness;

/// The static description of a service: what `#[service(...)]` says.
#[derive(Debug, Clone, Copy)]
pub struct ServiceSpec {
    /// The service's name (the `name` key, or the struct's name).
    pub name: &'static str,
    /// The service's type (the `service_type` key, or one derived from its sockets).
    pub service_type: &'static str,
    /// The addresses of the `pub`, `sub`, `push` and `pull` keys, in that order: one or
    /// several per socket, `None` for a socket the service does not have.
    pub addresses: [Option<&'static [&'static str]>; 4],
    /// The `topics` key: the SUB subscriptions. `None` subscribes to the handlers' topics.
    pub topics: Option<&'static [&'static str]>,
    /// The heartbeat topic (`heartbeat` key; default `heartbeat`).
    pub heartbeat_topic: &'static str,
    /// The heartbeat period (`heartbeat_interval` key; default 5 s); `None` when `"off"`.
    pub heartbeat_interval: Option<Duration>,
    /// The topic of a message published without a topic and without a `"type"` field
    /// (`default_topic` key); `None` uses the heartbeat topic, as the first generation of the
    /// Python services does.
    pub default_topic: Option<&'static str>,
    /// The period of the stats log (`stats_interval` key; default 10 s); `None` when `"off"`.
    pub stats_interval: Option<Duration>,
    /// The largest message a SUB or PULL socket accepts (`max_message_size` key; default
    /// 16 MiB). libzmq enforces it while reading, so a larger message is never buffered, and
    /// drops the connection of the peer that sent it.
    pub max_message_size: i64,
    /// The high-water mark of every socket, in messages (`hwm` key); `None` keeps libzmq's
    /// default of 1000.
    pub hwm: Option<i32>,
    /// How long a stop may take to handle the messages already received and to flush the
    /// ones queued to send (`drain_timeout` key; default 5 s). A handler, timer or hook still
    /// running then is cancelled.
    pub drain_timeout: Duration,
    /// How many PUSH messages may wait in the service's send queue for a puller
    /// (`send_queue` key; default 1000).
    pub send_queue: usize,
    /// How long a push waits for room in a full send queue before it fails with
    /// `SendTimeout` (`send_timeout` key; default 5 s).
    pub send_timeout: Duration,
    /// The largest (un)subscription the PUB socket accepts from a subscriber
    /// (`max_subscription_size` key; default 256 bytes); a subscriber that sends a larger one
    /// is disconnected.
    pub max_subscription_size: i64,
    /// How many subscriptions the PUB socket's subscribers may hold together
    /// (`max_subscriptions` key; default 10,000); past it, the subscriber holding the most is
    /// disconnected.
    pub max_subscriptions: usize,
    /// The ZMTP heartbeat period of PUB and SUB sockets (`zmtp_heartbeat` key; default 5 s,
    /// like the service heartbeat; `None` when `"off"`): a TCP peer silent for three periods
    /// is disconnected, so dead peers are noticed. (Each period costs every connection a
    /// PING and a PONG; at 1 s, 100 idle services spent about 1 % of a core on them.) PUSH and PULL do not use it: a consumer that is slow (not dead)
    /// stops reading its connection, its heartbeat replies queue behind the data, and the
    /// connection would be dropped with the tasks queued on it.
    pub zmtp_heartbeat: Option<Duration>,
    /// Heartbeat topics whose senders this service follows (`watch` key): each sender is a
    /// peer, `alive` until it misses three `peer_interval`s, then `lost`.
    pub watch: &'static [&'static str],
    /// Where a service without a PUB socket sends its heartbeats, stats and description
    /// (`hub` key): a PUB socket used for nothing else, connected (unless `@`) to a hub such
    /// as `experimance proxy`, so that `watch`, `describe` and a dashboard see the service.
    pub hub: Option<&'static [&'static str]>,
    /// Topics the service declares it publishes (`publishes` key), for its description.
    pub publishes: &'static [&'static str],
    /// The heartbeat period expected of watched peers (`peer_interval` key; default 5 s).
    pub peer_interval: Duration,
    /// Access control of the service's sockets.
    pub auth: AuthSpec,
}

/// Access control as the attribute gives it; each part can be replaced at run time.
#[derive(Clone, Copy)]
pub struct AuthSpec {
    /// The PLAIN username (`username` key).
    pub username: Option<&'static str>,
    /// The PLAIN password (`password` key); prefer the `EXPERIMANCE_<NAME>_PASSWORD`
    /// environment variable to a password in the source.
    pub password: Option<&'static str>,
    /// Addresses or CIDR networks allowed to connect to bound sockets (`allow` key).
    pub allow: &'static [&'static str],
    /// Whether CURVE encryption is asked for (`curve` key); a secret key turns it on too.
    pub curve: bool,
    /// This service's CURVE secret key: the path of a key file (`curve_secret_key` key; the
    /// attribute refuses a key in the source).
    pub curve_secret_key: Option<&'static str>,
    /// This service's CURVE public key, or the path of a key file (`curve_public_key` key):
    /// optional, since it follows from the secret key, which it must match.
    pub curve_public_key: Option<&'static str>,
    /// The public key of the servers its connecting sockets connect to, or a key file
    /// (`curve_server_key` key).
    pub curve_server_key: Option<&'static str>,
    /// The client public keys (or key files) its bound sockets accept (`curve_allow` key).
    pub curve_allow: &'static [&'static str],
}

impl std::fmt::Debug for AuthSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthSpec")
            .field("username", &self.username)
            .field("password", &self.password.map(|_| "<redacted>"))
            .field("allow", &self.allow)
            .field("curve", &self.curve)
            .field(
                "curve_secret_key",
                &self.curve_secret_key.map(|_| "<redacted>"),
            )
            .field(
                "curve_public_key",
                &self.curve_public_key.map(|_| "<redacted>"),
            )
            .field(
                "curve_server_key",
                &self.curve_server_key.map(|_| "<redacted>"),
            )
            .field("curve_allow", &self.curve_allow.len())
            .finish()
    }
}

impl ServiceSpec {
    /// The defaults of every key but `name` and `service_type`; generated specs end with
    /// `..ServiceSpec::DEFAULT`.
    pub const DEFAULT: ServiceSpec = ServiceSpec {
        name: "",
        service_type: "base",
        addresses: [None; 4],
        topics: None,
        heartbeat_topic: "heartbeat",
        heartbeat_interval: Some(Duration::from_secs(5)),
        default_topic: None,
        stats_interval: Some(Duration::from_secs(10)),
        max_message_size: 16 * 1024 * 1024,
        hwm: None,
        drain_timeout: Duration::from_secs(5),
        send_queue: 1000,
        send_timeout: Duration::from_secs(5),
        max_subscription_size: 256,
        max_subscriptions: 10_000,
        zmtp_heartbeat: Some(Duration::from_secs(5)),
        watch: &[],
        hub: None,
        publishes: &[],
        peer_interval: Duration::from_secs(5),
        auth: AuthSpec {
            username: None,
            password: None,
            allow: &[],
            curve: false,
            curve_secret_key: None,
            curve_public_key: None,
            curve_server_key: None,
            curve_allow: &[],
        },
    };

    /// The addresses the attribute gives for `role`, if the service has that socket.
    pub fn addresses(&self, role: Role) -> Option<&'static [&'static str]> {
        self.addresses[role.index()]
    }

    /// Whether the service has a `role` socket.
    pub fn has(&self, role: Role) -> bool {
        self.addresses[role.index()].is_some()
    }
}

/// Which kind of handler a [`MessageInfo`] describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HandlerKind {
    /// A `#[topic("...")]` handler.
    Topic,
    /// The `#[catch_all]` handler.
    CatchAll,
    /// A `#[task]` handler of the PULL socket.
    Task,
    /// The `#[task(catch_all)]` handler: the tasks no `#[task]` takes by type.
    TaskCatchAll,
}

/// A handler and the Rust type of the messages it takes, as written in its signature.
#[derive(Debug, Clone, Copy)]
pub struct MessageInfo {
    /// The kind of handler.
    pub kind: HandlerKind,
    /// The topic of a `#[topic("...")]` handler; empty otherwise (a `#[topic]` handler
    /// without one takes the wire types of its message type).
    pub topic: &'static str,
    /// The message type, e.g. `EraChanged` or `serde_json::Value`.
    pub message_type: &'static str,
    /// The JSON Schema of the message type, with the `schemars` feature and a type that
    /// implements `schemars::JsonSchema`; `None` otherwise.
    pub schema: fn() -> Option<serde_json::Value>,
    /// The wire types of the message type, for a `#[message]` type; `None` otherwise.
    pub wire_types: fn() -> Option<&'static [&'static str]>,
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

    /// The message types of the topic, catch-all and task handlers, for descriptions.
    const MESSAGES: &'static [MessageInfo] = &[];

    /// Set when the impl block had errors, to keep dependent checks quiet.
    #[doc(hidden)]
    const __UNCHECKED: bool = false;

    /// Dispatches one SUB message whose topic is `topic` to its handler (exact match), or to
    /// the catch-all.
    fn dispatch_topic<'a>(
        &'a mut self,
        topic: &'a str,
        payload: &'a str,
        ctx: &'a Context<Self>,
    ) -> impl Future<Output = DispatchResult> + Send + 'a {
        let _ = (topic, payload, ctx);
        async { Ok(Handled::NoHandler) }
    }

    /// Dispatches one PULL message to the `#[task]` handler.
    fn dispatch_task<'a>(
        &'a mut self,
        payload: &'a str,
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

    /// The `#[on_peer]` hook: a followed peer became `alive` or `lost`.
    fn on_peer<'a>(
        &'a mut self,
        peer: &'a str,
        liveness: Liveness,
        ctx: &'a Context<Self>,
    ) -> impl Future<Output = DispatchResult> + Send + 'a {
        let _ = (peer, liveness, ctx);
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
