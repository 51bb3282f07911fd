//! The runtime of [`experimance`](https://docs.rs/experimance): sockets, lifecycle, dispatch,
//! heartbeats and statistics for services declared with `#[service]`.
//!
//! Users depend on the `experimance` crate, which re-exports this one together with the
//! macros. Generated code reaches the runtime through `experimance::__private`.
#![warn(missing_docs)]

mod address;
mod auth;
pub mod codegen;
mod config;
mod context;
mod core;
pub mod curve;
mod deadline;
mod description;
mod dispatch;
mod duration;
mod error;
mod group;
mod heartbeat;
pub mod image;
mod json;
mod lifecycle;
mod liveness;
mod logging;
mod memory;
mod message;
mod monitor;
mod outbox;
mod runner;
mod service;
mod settings;
mod socket;
mod stats;
mod subscribers;
pub mod testing;
mod throttle;
mod untrusted;
pub mod wire;
mod z85;

pub use address::{env_var_name, Addresses, Direction, Endpoint, Role};
pub use auth::{Auth, Network};
pub use config::{parse_duration, Config, ServiceConfig, CONFIG_ENV};
pub use context::Context;
pub use curve::{Curve, CurveKey};
pub use description::{
    HandlerDescription, ServiceDescription, SocketDescription, DESCRIPTION_TOPIC,
};
// Used by generated code (through `__private`) and in the signatures of `Handlers` and
// `Context::spawn`; kept at the root for code that names them, but not documented there.
#[doc(hidden)]
pub use dispatch::{decode, outcome, DispatchResult, Handled, Outcome};
pub use error::{Error, HandlerError};
pub use group::Services;
pub use heartbeat::Heartbeat;
pub use lifecycle::{State, Status};
pub use liveness::{Liveness, PeerStatus, MISSED_INTERVALS};
pub use logging::init_logging;
pub use message::{wire_type_of, Message, WireType};
pub use runner::Runner;
pub use service::{
    AuthSpec, HandlerKind, Handlers, HasPub, HasPush, MessageInfo, Service, ServiceSpec,
};
pub use stats::{stats_topic, StatsSnapshot};
pub use untrusted::Untrusted;

#[doc(hidden)]
pub mod __private {
    pub use crate::description::{HasSchema, NoSchema, SchemaProbe};
    pub use crate::dispatch::{decode, decode_json, outcome, DispatchResult, Handled, Outcome};
    pub use crate::error::HandlerError;
    pub use crate::liveness::Liveness;
    pub use crate::message::{
        all_subscribed, concat, decode_checked, has_duplicate, one_of, overlap, total,
        unknown_type, wire_type_of, Message, TypeProbe, Typed, Untyped, WireType,
    };
    pub use crate::service::{
        AuthSpec, HandlerKind, Handlers, HasPub, HasPush, MessageInfo, Service, ServiceSpec,
    };
    pub use crate::Context;
    pub use ::core::time::Duration;
    pub use ::serde;
    pub use ::serde_json;

    /// Whether `topic` is matched by one of the SUB prefixes in `topics`.
    pub const fn subscribed(topics: &[&str], topic: &str) -> bool {
        let mut i = 0;
        while i < topics.len() {
            if starts_with(topic.as_bytes(), topics[i].as_bytes()) {
                return true;
            }
            i += 1;
        }
        false
    }

    const fn starts_with(s: &[u8], prefix: &[u8]) -> bool {
        if prefix.len() > s.len() {
            return false;
        }
        let mut i = 0;
        while i < prefix.len() {
            if s[i] != prefix[i] {
                return false;
            }
            i += 1;
        }
        true
    }
}
