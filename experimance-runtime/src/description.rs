//! What a service says about itself: its sockets, subscriptions, handlers with the Rust type
//! of each message, what it publishes, and its heartbeat.
//!
//! A service with a PUB socket publishes its description on [`DESCRIPTION_TOPIC`] on
//! request: its PUB socket is an XPUB (the same on the wire for subscribers), and a
//! subscription to exactly that topic is answered with the next heartbeat (sooner in the
//! first moments after start, when subscriptions are read more often). Subscribers to
//! other topics, or to everything (`""`), never trigger it.

use serde::{Deserialize, Serialize};

use crate::address::{Direction, Role};
use crate::service::{HandlerKind, Service};
use crate::settings::Settings;

/// The topic services publish their description on.
pub const DESCRIPTION_TOPIC: &str = "experimance.description";

/// One service's description.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceDescription {
    /// Always `"ServiceDescription"`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The service's name.
    pub name: String,
    /// The service's type.
    pub service_type: String,
    /// Its sockets, one entry per endpoint: a socket bound or connected to several
    /// endpoints has several entries with the same role.
    pub sockets: Vec<SocketDescription>,
    /// The SUB subscriptions (prefixes), watched heartbeat topics included.
    pub subscriptions: Vec<String>,
    /// The handlers that take messages, with the Rust type of each.
    pub handlers: Vec<HandlerDescription>,
    /// The topics it declares it publishes (the `publishes` key) and its heartbeat topic.
    pub publishes: Vec<String>,
    /// The heartbeat topic, if it has a PUB socket and heartbeats are on.
    pub heartbeat_topic: Option<String>,
    /// The heartbeat period in seconds; `None` when the service sends no heartbeats (no PUB
    /// socket, or heartbeats off).
    pub heartbeat_interval: Option<f64>,
    /// Heartbeat topics whose senders it follows.
    pub watch: Vec<String>,
}

/// One endpoint of a socket of a described service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SocketDescription {
    /// `pub`, `sub`, `push` or `pull`.
    pub role: String,
    /// The address as configured (after overrides), without its `@`/`>` prefix.
    pub address: String,
    /// `bind` or `connect`.
    pub direction: String,
    /// The endpoint in use while running (a bound wildcard port resolved).
    pub endpoint: Option<String>,
}

/// One handler of a described service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HandlerDescription {
    /// `topic`, `catch_all`, `task` or `task_catch_all`.
    pub kind: String,
    /// The topic of a `topic` handler.
    pub topic: Option<String>,
    /// The Rust type of its messages, as written in the handler.
    pub message_type: String,
    /// The wire types (`"type"` values) its message type takes, for a `#[message]` type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wire_types: Option<Vec<String>>,
    /// The JSON Schema of that type (with the `schemars` feature, for types that implement
    /// `schemars::JsonSchema`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<serde_json::Value>,
}

/// Finds a message type's JSON Schema where there is one: `(&SchemaProbe::<T>::new()).schema()`
/// picks [`HasSchema`] when `T: JsonSchema` (and the `schemars` feature is on), else
/// [`NoSchema`], by method resolution (autoref specialization), so generated code need not
/// know about the feature.
#[doc(hidden)]
pub struct SchemaProbe<T: ?Sized>(std::marker::PhantomData<fn() -> T>);

impl<T: ?Sized> SchemaProbe<T> {
    #[doc(hidden)]
    pub fn new() -> Self {
        SchemaProbe(std::marker::PhantomData)
    }
}

impl<T: ?Sized> Default for SchemaProbe<T> {
    fn default() -> Self {
        Self::new()
    }
}

#[doc(hidden)]
pub trait NoSchema {
    fn schema(&self) -> Option<serde_json::Value> {
        None
    }
}

impl<T: ?Sized> NoSchema for &SchemaProbe<T> {}

#[doc(hidden)]
pub trait HasSchema {
    fn schema(&self) -> Option<serde_json::Value>;
}

#[cfg(feature = "schemars")]
impl<T: schemars::JsonSchema + ?Sized> HasSchema for SchemaProbe<T> {
    fn schema(&self) -> Option<serde_json::Value> {
        serde_json::to_value(schemars::schema_for!(T)).ok()
    }
}

impl ServiceDescription {
    /// Describes `S` running (or configured) as `name` with `settings`, and the endpoints
    /// in use while running, indexed by [`Role`] (empty when not running).
    pub(crate) fn of<S: Service>(
        name: &str,
        settings: &Settings,
        endpoints: &[Vec<String>; 4],
    ) -> ServiceDescription {
        let mut sockets = Vec::new();
        for role in Role::ALL {
            for (i, endpoint) in settings.endpoints(role).into_iter().enumerate() {
                sockets.push(SocketDescription {
                    role: role.key().to_owned(),
                    address: endpoint.address,
                    direction: match endpoint.direction {
                        Direction::Bind => "bind",
                        Direction::Connect => "connect",
                    }
                    .to_owned(),
                    endpoint: endpoints[role.index()].get(i).cloned(),
                });
            }
        }
        let mut handlers = Vec::new();
        for m in S::MESSAGES {
            let wire_types = (m.wire_types)();
            let kind = match m.kind {
                HandlerKind::Topic => "topic",
                HandlerKind::CatchAll => "catch_all",
                HandlerKind::Task => "task",
                HandlerKind::TaskCatchAll => "task_catch_all",
            };
            // The schema of a `#[message]` struct says what `#[message]` writes: its `"type"`.
            let schema = match ((m.schema)(), wire_types) {
                (Some(schema), Some([wire_type])) => {
                    Some(crate::codegen::with_wire_type(schema, wire_type))
                }
                (schema, _) => schema,
            };
            let describe = |topic: Option<String>| HandlerDescription {
                kind: kind.to_owned(),
                topic,
                message_type: m.message_type.to_owned(),
                wire_types: wire_types.map(|t| t.iter().map(|t| (*t).to_owned()).collect()),
                schema: schema.clone(),
            };
            match (m.kind, wire_types) {
                // A `#[topic]` handler without a topic: one entry per wire type it takes.
                (HandlerKind::Topic, Some(types)) if m.topic.is_empty() => {
                    handlers.extend(types.iter().map(|t| describe(Some((*t).to_owned()))));
                }
                (HandlerKind::Topic, _) => handlers.push(describe(Some(m.topic.to_owned()))),
                _ => handlers.push(describe(None)),
            }
        }
        let heartbeat_topic = (settings.addresses[Role::Pub.index()].is_some()
            && settings.heartbeat_interval.is_some())
        .then(|| settings.heartbeat_topic.clone());
        let mut publishes = settings.publishes.clone();
        if let Some(topic) = &heartbeat_topic {
            if !publishes.contains(topic) {
                publishes.push(topic.clone());
            }
        }
        let heartbeat_interval = heartbeat_topic
            .as_ref()
            .and(settings.heartbeat_interval)
            .map(|d| d.as_secs_f64());
        ServiceDescription {
            kind: "ServiceDescription".to_owned(),
            name: name.to_owned(),
            service_type: settings.service_type.clone(),
            sockets,
            subscriptions: settings.subscriptions.clone(),
            handlers,
            publishes,
            heartbeat_topic,
            heartbeat_interval,
            watch: settings.watch.clone(),
        }
    }
}
