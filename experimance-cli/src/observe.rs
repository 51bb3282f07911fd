//! Reading what services say about themselves on the bus, leniently (a service written in
//! another language may send fewer fields or other states): heartbeats and statistics, for
//! `watch` and `dashboard`.

use experimance_runtime::{Heartbeat, State};
use serde::Deserialize;

/// The topic suffix of published statistics: `<name>.stats`.
pub const STATS_SUFFIX: &str = ".stats";

/// A heartbeat, as far as the observers need it.
#[derive(Debug, PartialEq, Eq)]
pub struct Beat {
    /// The service that sent it.
    pub service: String,
    /// Its state as sent (a state the runtime does not know is kept as is; `?` if none).
    pub state: String,
    /// It said `stopping` or `stopped`.
    pub leaving: bool,
}

/// A heartbeat whose state is not one of the five the runtime knows.
#[derive(Deserialize)]
struct LooseHeartbeat {
    #[serde(rename = "type")]
    kind: String,
    service: String,
    state: Option<serde_json::Value>,
}

/// Reads `json` as a heartbeat (`"type": "Heartbeat"` with a `service`), whatever its topic.
pub fn heartbeat(json: &str) -> Option<Beat> {
    match serde_json::from_str::<Heartbeat>(json) {
        Ok(hb) if hb.kind == "Heartbeat" => Some(Beat {
            service: hb.service,
            state: hb.state.to_string(),
            leaving: matches!(hb.state, State::Stopping | State::Stopped),
        }),
        _ => match serde_json::from_str::<LooseHeartbeat>(json) {
            Ok(hb) if hb.kind == "Heartbeat" => {
                let state = match hb.state {
                    Some(serde_json::Value::String(s)) => s,
                    Some(other) => other.to_string(),
                    None => "?".to_owned(),
                };
                let leaving = state == "stopping" || state == "stopped";
                Some(Beat {
                    service: hb.service,
                    state,
                    leaving,
                })
            }
            _ => None,
        },
    }
}

/// The fields of a `StatsSnapshot` the observers show, each optional.
#[derive(Debug, Deserialize)]
pub struct StatsFields {
    /// The service (else the name in the topic).
    pub service: Option<String>,
    /// Its state.
    pub state: Option<String>,
    /// Its health.
    pub status: Option<String>,
    /// Seconds since it started.
    pub uptime: Option<f64>,
    /// Messages sent so far.
    pub messages_sent: Option<u64>,
    /// Messages received so far.
    pub messages_received: Option<u64>,
    /// Errors so far.
    pub errors: Option<u64>,
    /// Messages sent per second, over its lifetime.
    pub send_rate: Option<f64>,
    /// Messages received per second, over its lifetime.
    pub receive_rate: Option<f64>,
}

/// Reads a message on `topic` as statistics: the topic ends in `.stats` and the JSON is an
/// object. Returns the service's name (the `service` field, else the topic's stem) and the
/// fields.
pub fn stats(topic: &str, json: &str) -> Option<(String, StatsFields)> {
    let stem = topic.strip_suffix(STATS_SUFFIX)?;
    let fields: StatsFields = serde_json::from_str(json).ok()?;
    let name = fields.service.clone().unwrap_or_else(|| stem.to_owned());
    Some((name, fields))
}

/// The latest statistics of a service, with current rates.
#[derive(Debug, Clone, Default)]
pub struct Stats {
    /// Seconds since it started.
    pub uptime: Option<f64>,
    /// Messages sent so far.
    pub messages_sent: Option<u64>,
    /// Messages received so far.
    pub messages_received: Option<u64>,
    /// Messages sent per second: between the last two snapshots, else over its lifetime.
    pub send_rate: Option<f64>,
    /// Messages received per second, likewise.
    pub receive_rate: Option<f64>,
    /// Errors so far.
    pub errors: Option<u64>,
    /// Its health.
    pub status: Option<String>,
}

impl Stats {
    /// The statistics after `fields` arrived, `previous` being those before. Rates between
    /// two snapshots are current; a snapshot's own are lifetime averages, used for the first.
    pub fn next(previous: Option<&Stats>, fields: StatsFields) -> Stats {
        let counters = |s: &Stats| match (s.uptime, s.messages_sent, s.messages_received) {
            (Some(u), Some(s), Some(r)) => Some((u, s, r)),
            _ => None,
        };
        let now = Stats {
            uptime: fields.uptime,
            messages_sent: fields.messages_sent,
            messages_received: fields.messages_received,
            send_rate: fields.send_rate,
            receive_rate: fields.receive_rate,
            errors: fields.errors,
            status: fields.status,
        };
        let between = match (previous.and_then(counters), counters(&now)) {
            (Some((u0, s0, r0)), Some((u1, s1, r1))) if u1 > u0 && s1 >= s0 && r1 >= r0 => {
                let dt = u1 - u0;
                Some(((s1 - s0) as f64 / dt, (r1 - r0) as f64 / dt))
            }
            _ => None,
        };
        Stats {
            send_rate: between.map(|b| b.0).or(now.send_rate),
            receive_rate: between.map(|b| b.1).or(now.receive_rate),
            ..now
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn heartbeats_known_and_unknown_states() {
        let hb = |state: &str| {
            json!({"type": "Heartbeat", "timestamp": 1.0, "service": "A", "state": state})
                .to_string()
        };
        assert_eq!(
            heartbeat(&hb("running")),
            Some(Beat {
                service: "A".into(),
                state: "running".into(),
                leaving: false
            })
        );
        assert!(heartbeat(&hb("stopping")).unwrap().leaving);
        assert_eq!(heartbeat(&hb("paused")).unwrap().state, "paused");
        assert_eq!(
            heartbeat(r#"{"type":"Heartbeat","service":"B"}"#)
                .unwrap()
                .state,
            "?"
        );
        assert_eq!(heartbeat(r#"{"type":"Other","service":"B"}"#), None);
    }

    #[test]
    fn rates_between_snapshots() {
        let fields = |uptime: f64, sent: u64| {
            serde_json::from_value::<StatsFields>(json!({
                "uptime": uptime, "messages_sent": sent, "messages_received": 0,
                "send_rate": 1.0, "receive_rate": 0.0
            }))
            .unwrap()
        };
        let first = Stats::next(None, fields(10.0, 10));
        assert_eq!(first.send_rate, Some(1.0), "lifetime rate first");
        let second = Stats::next(Some(&first), fields(12.0, 30));
        assert_eq!(second.send_rate, Some(10.0));
        // A restart (uptime went back): the snapshot's own rate.
        let restarted = Stats::next(Some(&second), fields(1.0, 1));
        assert_eq!(restarted.send_rate, Some(1.0));
        assert_eq!(stats("A.stats", "{}").unwrap().0, "A");
        assert!(stats("A.status", "{}").is_none());
    }
}
