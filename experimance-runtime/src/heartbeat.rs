use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use crate::core::{lock, Core};
use crate::description::DESCRIPTION_TOPIC;
use crate::lifecycle::State;
use crate::stats::unix_seconds;

/// The heartbeat body of WIRE.md:
/// `{"type": "Heartbeat", "timestamp": 1764345600.123, "service": "MyPublisher", "state": "running"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Heartbeat {
    /// Always `"Heartbeat"`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Unix time in seconds.
    pub timestamp: f64,
    /// The sending service's name.
    pub service: String,
    /// The sending service's lifecycle state.
    pub state: State,
}

impl Heartbeat {
    /// A heartbeat of `service` in `state`, stamped now.
    pub fn now(service: &str, state: State) -> Heartbeat {
        Heartbeat {
            kind: "Heartbeat".to_owned(),
            timestamp: unix_seconds(SystemTime::now()),
            service: service.to_owned(),
            state,
        }
    }
}

/// Publishes one heartbeat with the service's current state, and the service's description
/// on [`DESCRIPTION_TOPIC`] if a subscriber asked for it; failures are logged.
pub(crate) async fn beat(core: &Core) {
    let heartbeat = Heartbeat::now(core.name(), core.lifecycle().state);
    if let Err(e) = core
        .publish(Some(core.spec.heartbeat_topic), &heartbeat)
        .await
    {
        tracing::warn!(service = core.name(), error = %e, "heartbeat not sent");
    }
    if !core.description_requested().await {
        return;
    }
    let description = lock(&core.description).clone();
    if let Some(description) = description {
        if let Err(e) = core.publish(Some(DESCRIPTION_TOPIC), &description).await {
            tracing::warn!(service = core.name(), error = %e, "description not sent");
        }
    }
}

/// Publishes a heartbeat at once and then every interval until `cancel`.
pub(crate) async fn run(core: Arc<Core>, period: Duration, cancel: CancellationToken) {
    let mut ticks = tokio::time::interval(period);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = ticks.tick() => beat(&core).await,
        }
    }
}
