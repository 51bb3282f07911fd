use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use crate::core::{lock, Core, Subscriptions};
use crate::description::DESCRIPTION_TOPIC;
use crate::lifecycle::State;
use crate::stats::unix_seconds;

/// The heartbeat body (see the project's `docs/wire.md`):
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
/// on [`DESCRIPTION_TOPIC`] if a subscriber asked for it; failures are logged. Returns
/// whether a subscriber to heartbeats had arrived: the subscriptions are read first, which
/// makes libzmq apply them, so the heartbeat reaches those subscribers.
pub(crate) async fn beat(core: &Core) -> bool {
    let subscriptions = core.subscriptions().await;
    publish_heartbeat(core).await;
    answer(core, subscriptions).await;
    subscriptions.heartbeat
}

async fn publish_heartbeat(core: &Core) {
    let Some(topic) = core.heartbeat_topic().await else {
        return;
    };
    let heartbeat = Heartbeat::now(core.name(), core.lifecycle().state);
    if let Err(e) = core.publish(Some(&topic), &heartbeat).await {
        tracing::warn!(service = core.name(), error = %e, "heartbeat not sent");
    }
}

/// Publishes the description if `subscriptions` asked for it.
async fn answer(core: &Core, subscriptions: Subscriptions) {
    if !subscriptions.description {
        return;
    }
    let description = lock(&core.description).clone();
    if let Some(description) = description {
        if let Err(e) = core.publish(Some(DESCRIPTION_TOPIC), &description).await {
            tracing::warn!(service = core.name(), error = %e, "description not sent");
        }
    }
}

/// The first wait for a late first subscription; each next one is twice as long.
const FIRST_LOOK: Duration = Duration::from_millis(1);

/// Publishes a heartbeat at once and then every interval until `cancel`.
///
/// The heartbeat at start is lost to a subscriber whose subscription has not reached the
/// socket yet (ZeroMQ's slow joiner: a subscriber that connects at the same moment). So
/// until a heartbeat has gone out after a subscription to heartbeats (to the heartbeat topic
/// or a prefix of it other than everything), subscriptions are read after 1, 2, 4, … ms
/// (for the first interval: about a dozen looks at the default 5 s), and a heartbeat goes
/// out at the first look that finds one. Rarely, a subscriber applied by libzmq between
/// reading and sending gets that heartbeat twice.
pub(crate) async fn run(core: Arc<Core>, period: Option<Duration>, cancel: CancellationToken) {
    let Some(period) = period else {
        return answer_only(&core, cancel).await;
    };
    let mut ticks = tokio::time::interval(period);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut look = Some(FIRST_LOOK);
    let mut looked = Duration::ZERO;
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = ticks.tick() => {
                if beat(&core).await {
                    look = None;
                }
            }
            _ = tokio::time::sleep(look.unwrap_or(period)), if look.is_some() => {
                let waited = look.take().unwrap_or_default();
                let subscriptions = core.subscriptions().await;
                if subscriptions.heartbeat {
                    publish_heartbeat(&core).await;
                } else {
                    looked += waited;
                    look = Some(waited * 2).filter(|next| looked + *next < period);
                }
                answer(&core, subscriptions).await;
            }
        }
    }
}

/// How often a service without heartbeats looks for description requests.
const DESCRIPTION_LOOK: Duration = Duration::from_secs(1);

/// With heartbeats off: answers description requests, looking every second (and soon after
/// start, as [`run`] does), and sends nothing else.
async fn answer_only(core: &Core, cancel: CancellationToken) {
    let mut look = FIRST_LOOK;
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(look) => {
                let subscriptions = core.subscriptions().await;
                answer(core, subscriptions).await;
                look = (look * 2).min(DESCRIPTION_LOOK);
            }
        }
    }
}
