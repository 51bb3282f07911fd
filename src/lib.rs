//! # experimance
//!
//! Message-bus services over ZeroMQ, declared with a small DSL and wire-compatible with the
//! Python services of the Experimance installation (`<topic> <json>` frames on PUB/SUB,
//! bare JSON on PUSH/PULL, heartbeats, lifecycle states, statistics).
//!
//! A service is a struct with [`macro@service`] and an impl block with [`macro@handlers`]:
//!
//! ```no_run
//! use experimance::{handlers, service, Context, Runner};
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Debug, Deserialize, Serialize)]
//! struct EraChanged {
//!     era: String,
//! }
//!
//! #[service(pub = "tcp://*:5555", sub = "tcp://localhost:5556", topics = ["era"])]
//! #[derive(Default)]
//! struct Coordinator {
//!     eras_seen: u64,
//! }
//!
//! #[handlers]
//! impl Coordinator {
//!     #[topic("era")]
//!     async fn on_era(&mut self, msg: EraChanged, ctx: &Context<Self>) -> Result<(), experimance::Error> {
//!         self.eras_seen += 1;
//!         ctx.publish_to("coordinator.ack", &serde_json::json!({"type": "Ack", "era": msg.era})).await
//!     }
//! }
//!
//! #[tokio::main]
//! async fn main() -> Result<(), experimance::Error> {
//!     experimance::init_logging();
//!     Runner::new(Coordinator::default()).run().await
//! }
//! ```
//!
//! The macros expand to an implementation of the runtime's [`Service`] and [`Handlers`]
//! traits: a spec (addresses, topics, intervals) and a `match` that decodes each message into
//! its handler's type. The [`Runner`] owns sockets, the message loop, heartbeats, statistics,
//! signals and the lifecycle.
//!
//! ## Concurrency
//! The handlers, timers and hooks of one service run one at a time against `&mut self`, in
//! the service's own task: no locks are needed for its state. Different services run
//! concurrently. Background tasks started with [`Context::spawn`] run concurrently with the
//! handlers and do not get `&mut self`.
//!
//! ## Several services in one process
//! [`Services`] runs several services as one, under one signal handler: they start in
//! order, a signal stops them all, and a service that stops by itself stops the others.
//! Below, a clock publishes a heartbeat every 100 ms and a listener stops itself after three
//! beats: when the listener stops, the group stops the clock, and `run` returns. The clock is
//! started beforehand to learn the port it bound; `run` leaves it running and starts the
//! listener. Ctrl-C would stop both.
//!
//! ```
//! use std::sync::Arc;
//!
//! use experimance::{handlers, service, Context, Role, Runner, Services};
//!
//! #[service(pub = "tcp://127.0.0.1:*", heartbeat_interval = "100ms", stats_interval = "off")]
//! struct Clock;
//!
//! #[handlers]
//! impl Clock {}
//!
//! #[service(sub = "tcp://localhost:5555", topics = ["heartbeat"], stats_interval = "off")]
//! #[derive(Default)]
//! struct Listener {
//!     beats: u32,
//! }
//!
//! #[handlers]
//! impl Listener {
//!     #[topic("heartbeat")]
//!     async fn beat(&mut self, _beat: serde_json::Value, ctx: &Context<Self>) {
//!         self.beats += 1;
//!         if self.beats == 3 {
//!             ctx.stop();
//!         }
//!     }
//! }
//!
//! #[tokio::main]
//! async fn main() -> Result<(), experimance::Error> {
//!     let clock = Arc::new(Runner::new(Clock));
//!     clock.start().await?;
//!     let endpoint = clock.endpoint(Role::Pub).expect("bound");
//!     let services = Services::new()
//!         .with_shared(Arc::clone(&clock))
//!         .with(Runner::new(Listener::default()).with_address(Role::Sub, endpoint));
//!     services.run().await?;
//!     assert_eq!(clock.state(), experimance::State::Stopped);
//!     Ok(())
//! }
//! ```
#![warn(missing_docs)]

pub use experimance_runtime::*;

/// Drive a service's handlers without sockets, with virtual time.
///
/// A [`TestHarness`](testing::TestHarness) runs the service's real loop, timers, heartbeats,
/// stats and liveness on in-memory sockets. Inject messages with `publish` (filtered by the
/// service's SUB prefixes, as ZeroMQ would) and `push`; capture what it publishes and pushes;
/// `advance` the clock. Under `#[tokio::test(start_paused = true)]` (tokio's `test-util`
/// feature) time is virtual, so a test of a 5 s heartbeat or a 15 s liveness timeout runs in
/// microseconds, deterministically.
///
/// ```
/// use std::time::Duration;
/// use experimance::testing::{Delivery, TestHarness};
/// use experimance::{handlers, service, Context};
///
/// #[service(sub = "tcp://localhost:5555", pub = "tcp://*:5556", topics = ["era"])]
/// #[derive(Default)]
/// struct Echo {
///     seen: u32,
/// }
///
/// #[handlers]
/// impl Echo {
///     #[topic("era")]
///     async fn on_era(&mut self, msg: serde_json::Value, ctx: &Context<Self>) -> Result<(), experimance::Error> {
///         self.seen += 1;
///         ctx.publish_to("echo", &msg).await
///     }
/// }
///
/// #[tokio::main(flavor = "current_thread", start_paused = true)]
/// async fn main() {
///     let mut harness = TestHarness::start(Echo::default()).await.unwrap();
///     assert_eq!(harness.publish("era", &serde_json::json!({"era": "modern"})), Delivery::Delivered);
///     assert_eq!(harness.publish("idle", &1), Delivery::Filtered); // not subscribed
///     let (topic, body) = harness.next_published_on("echo", Duration::from_secs(1)).await.unwrap();
///     assert_eq!((topic.as_str(), body["era"].as_str()), ("echo", Some("modern")));
///     let echo = harness.stop().await;
///     assert_eq!(echo.seen, 1);
/// }
/// ```
pub mod testing {
    pub use experimance_runtime::testing::*;
}

/// Declares a service on a struct.
///
/// ```
/// # use experimance::{handlers, service};
/// #[service(
///     name = "MyController",                    // default: the struct's name
///     pub = "tcp://*:5555",                     // PUB socket (binds)
///     sub = ["tcp://localhost:5556", "tcp://localhost:5559"], // one socket, two endpoints
///     push = "tcp://*:5557",                    // PUSH socket (binds)
///     pull = "tcp://*:5558",                    // PULL socket (connects; `@` forces bind)
///     topics = ["worker.status"],               // SUB prefixes; default: the handlers' topics
///     heartbeat = "controller.heartbeat",       // heartbeat topic; default "heartbeat"
///     heartbeat_interval = "5s",                // default "5s"; "off" sends none
///     default_topic = "core.events",            // for messages without "type"; default: heartbeat topic
///     stats_interval = "10s",                   // default "10s"; "off" disables the stats log
///     service_type = "controller",              // default: derived from the sockets
/// )]
/// struct MyController;
/// # #[handlers] impl MyController {}
/// ```
///
/// A socket key takes one address or a list. Addresses take `@` (bind) or `>` (connect)
/// prefixes; without one, PUB and PUSH bind and SUB and PULL connect. Every key can be
/// replaced at run time by the environment variable `EXPERIMANCE_<NAME>_<KEY>` (see
/// [`env_var_name`]; lists comma-separated), by the configuration file (see [`Config`]), or
/// by the program (e.g. [`Runner::with_address`]).
///
/// Mistakes are compile errors at the offending token: unknown or repeated keys, malformed
/// addresses (in a list, at the entry), durations and topics, and a `sub` with nothing to
/// subscribe to.
pub use experimance_macros::service;

/// Marks the impl block that holds a service's handlers.
///
/// | attribute | signature | called for |
/// |---|---|---|
/// | `#[topic("era")]` | `async fn(&mut self, msg: T [, ctx: &Context<Self>])` | SUB messages whose topic is exactly `era` |
/// | `#[catch_all]` | `async fn(&mut self, topic: &str, msg: T [, ctx])` | SUB messages no `#[topic]` handler takes |
/// | `#[task]` | `async fn(&mut self, msg: T [, ctx])` | PULL messages |
/// | `#[every("250ms")]` | `async fn(&mut self [, ctx])` | periodically; no drift, no pile-up |
/// | `#[on_start]` | `async fn(&mut self [, ctx])` | after the sockets are up, before messages flow; an error aborts the start |
/// | `#[on_stop]` | `async fn(&mut self [, ctx])` | after a stop is requested, before the sockets close |
/// | `#[on_peer]` | `async fn(&mut self, peer: &str, liveness: Liveness [, ctx])` | a peer followed with the `watch` key became `alive` or `lost` |
///
/// `T` is any `serde::de::DeserializeOwned` type (`serde_json::Value` for untyped JSON).
/// Handlers return `()` or `Result<(), E>` with `E: Display`. A message that does not decode
/// into `T`, a handler that returns an error, and a handler that panics are counted in the
/// stats' `errors` and logged at warn with the topic and a preview; the service keeps
/// running. `&self` works in place of `&mut self`.
///
/// ```
/// use experimance::{handlers, service, Context};
///
/// #[service(sub = "tcp://localhost:5555")]
/// struct Display;
///
/// #[handlers]
/// impl Display {
///     #[topic("era")]
///     async fn on_era(&mut self, msg: serde_json::Value) {
///         println!("era: {msg}");
///     }
///
///     #[every("1s")]
///     async fn tick(&mut self, ctx: &Context<Self>) {
///         println!("{}", ctx.stats());
///     }
/// }
/// ```
pub use experimance_macros::handlers;

/// Declares a message type with a wire type: the `"type"` field every message of the Python
/// services carries, written once here instead of as a field.
///
/// On a struct with named fields, above its `#[derive(Serialize, Deserialize)]` (or without
/// one: it adds the serde derives the struct lacks), it writes
/// `"type": "<Name>"` first (the struct's name, or the one given: `#[message("Other")]`),
/// and handlers that take the struct check the `"type"` of what arrives: a message of
/// another type is a counted error (`expected type RenderRequest, got ImageReady`), never
/// decoded into the wrong struct. `ctx.publish(&msg)` publishes on the wire type.
///
/// On an enum whose variants each hold one `#[message]` struct (no derive needed), it
/// takes the closed set of their types: it is written as the variant's struct and read by
/// `"type"` (through a `serde_json::Value`, so from self-describing formats such as JSON
/// only). A handler that takes the enum receives any of them.
///
/// ```
/// use experimance::{handlers, message, service, Context};
/// use serde::{Deserialize, Serialize};
///
/// #[message]
/// #[derive(Debug, Serialize, Deserialize)]
/// struct RenderRequest {
///     prompt: String,
///     #[serde(default = "default_width")]
///     width: u32,
/// }
/// fn default_width() -> u32 {
///     1024
/// }
///
/// #[message]
/// #[derive(Debug, Serialize, Deserialize)]
/// struct Cancel {
///     request_id: u64,
/// }
///
/// #[message]
/// #[derive(Debug)]
/// enum Request {
///     Render(RenderRequest),
///     Cancel(Cancel),
/// }
///
/// let json = serde_json::to_string(&RenderRequest { prompt: "forest".into(), width: 512 }).unwrap();
/// assert_eq!(json, r#"{"type":"RenderRequest","prompt":"forest","width":512}"#);
/// let request: Request = serde_json::from_str(r#"{"type": "Cancel", "request_id": 7}"#).unwrap();
/// assert!(matches!(request, Request::Cancel(Cancel { request_id: 7 })));
///
/// // Handlers take their topic, or their task type, from the message type.
/// #[service(sub = "tcp://localhost:5555", pull = "tcp://localhost:5564")]
/// struct ImageServer;
///
/// #[handlers]
/// impl ImageServer {
///     #[topic] // subscribes to `RenderRequest`
///     async fn on_render(&mut self, request: RenderRequest) {}
///
///     #[task] // PULL tasks of type `RenderRequest`
///     async fn render(&mut self, request: RenderRequest) {}
///
///     #[task] // and of type `Cancel`
///     async fn cancel(&mut self, cancel: Cancel) {}
///
///     #[task(catch_all)] // every other type (without it: a counted error)
///     async fn other(&mut self, task: serde_json::Value) {}
/// }
/// ```
pub use experimance_macros::message;

/// The README's examples, compiled as doctests so they stay true.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
