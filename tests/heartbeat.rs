//! Heartbeats (issue 2): the exact body of `docs/wire.md`, on the configured topic, at the configured
//! interval, a last `stopping` heartbeat when the service stops, and one at once for a
//! watcher that subscribes late.

mod common;

use std::time::{SystemTime, UNIX_EPOCH};

use common::{split, text, Raw, ANY_PORT};
use experimance::{handlers, service, Role, Runner};

#[service(
    name = "HbService",
    pub = "inproc://overridden-by-the-test",
    heartbeat = "hb.test",
    heartbeat_interval = "100ms",
    stats_interval = "off"
)]
struct HbService;

#[handlers]
impl HbService {}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// Checks one heartbeat frame byte for byte, except for the timestamp, which it returns.
fn check_heartbeat(frame: &[u8], topic: &str, service: &str, state: &str) -> f64 {
    let text = text(frame);
    let prefix = format!(r#"{topic} {{"type":"Heartbeat","timestamp":"#);
    let suffix = format!(r#","service":"{service}","state":"{state}"}}"#);
    assert!(
        text.starts_with(&prefix) && text.ends_with(&suffix),
        "heartbeat frame {text:?} is not `{prefix}<float>{suffix}`"
    );
    let stamp = &text[prefix.len()..text.len() - suffix.len()];
    assert!(
        stamp.contains('.') && stamp.parse::<f64>().is_ok(),
        "timestamp {stamp:?} is not a JSON float"
    );

    let (got_topic, body) = split(frame);
    assert_eq!(got_topic, topic);
    let object = body.as_object().expect("heartbeat body is a JSON object");
    let mut keys: Vec<&str> = object.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["service", "state", "timestamp", "type"]);
    assert_eq!(body["type"], "Heartbeat");
    assert_eq!(body["service"], service);
    assert_eq!(body["state"], state);
    let timestamp = body["timestamp"].as_f64().expect("timestamp is a number");
    assert!(body["timestamp"].is_f64(), "timestamp must be a float");
    // Unix seconds (not milliseconds); a loose sanity bound, not a timing assertion.
    assert!(
        (timestamp - now()).abs() < 3600.0,
        "timestamp {timestamp} is not Unix time in seconds"
    );
    timestamp
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heartbeat_body_topic_and_interval() {
    let runner = Runner::new(HbService).with_address(Role::Pub, ANY_PORT);
    runner.start().await.expect("start");
    // Subscribe to the topic's prefix only: every frame must be on exactly `hb.test`.
    let mut raw = Raw::sub(&runner.endpoint(Role::Pub).unwrap(), &["hb"]);

    // At 100 ms, several heartbeats arrive (the safety net is 10 s per frame).
    let mut stamps = Vec::new();
    for _ in 0..5 {
        let frame = raw.recv().await;
        stamps.push(check_heartbeat(&frame, "hb.test", "HbService", "running"));
    }
    assert!(
        stamps.windows(2).all(|w| w[0] <= w[1]),
        "timestamps go backwards: {stamps:?}"
    );
    runner.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn last_heartbeat_says_stopping() {
    let runner = Runner::new(HbService).with_address(Role::Pub, ANY_PORT);
    runner.start().await.expect("start");
    let mut raw = Raw::sub(&runner.endpoint(Role::Pub).unwrap(), &["hb.test"]);
    // A `running` heartbeat proves the subscription is live.
    check_heartbeat(&raw.recv().await, "hb.test", "HbService", "running");

    runner.stop().await;
    // Every heartbeat before the last says `running`; the last says `stopping`.
    loop {
        let frame = raw.recv().await;
        let (_, body) = split(&frame);
        match body["state"].as_str() {
            Some("running") => continue,
            Some("stopping") => {
                check_heartbeat(&frame, "hb.test", "HbService", "stopping");
                break;
            }
            other => panic!("unexpected heartbeat state {other:?} in {}", text(&frame)),
        }
    }
}

/// No `heartbeat` key: the topic is `heartbeat`; the name defaults to the struct's name.
#[service(
    pub = "inproc://overridden-by-the-test",
    heartbeat_interval = "100ms",
    stats_interval = "off"
)]
struct DefaultTopic;

#[handlers]
impl DefaultTopic {}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn default_heartbeat_topic_and_name() {
    let runner = Runner::new(DefaultTopic).with_address(Role::Pub, ANY_PORT);
    runner.start().await.expect("start");
    let mut raw = Raw::sub(&runner.endpoint(Role::Pub).unwrap(), &[""]);
    for _ in 0..2 {
        let frame = raw.recv().await;
        check_heartbeat(&frame, "heartbeat", "DefaultTopic", "running");
    }
    runner.stop().await;
}

/// A renamed instance (several instances of one service type) heartbeats with its own name.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heartbeat_carries_the_instance_name() {
    let runner = Runner::new(HbService)
        .with_name("HbService-2")
        .with_address(Role::Pub, ANY_PORT);
    runner.start().await.expect("start");
    let mut raw = Raw::sub(&runner.endpoint(Role::Pub).unwrap(), &["hb.test"]);
    let frame = raw.recv().await;
    check_heartbeat(&frame, "hb.test", "HbService-2", "running");
    runner.stop().await;
}

/// Heartbeats an hour apart: only the one at start, and one for a late watcher.
#[service(
    name = "Hourly",
    pub = "inproc://overridden-by-the-test",
    heartbeat = "hb.hourly",
    heartbeat_interval = "1h",
    stats_interval = "off"
)]
struct Hourly;

#[handlers]
impl Hourly {}

/// A watcher that subscribes after the heartbeat at start went out (to nobody) still gets a
/// heartbeat at once, not an interval later: the service reads subscriptions at 1, 2, 4, …
/// ms until one to heartbeats arrives.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_watcher_gets_a_heartbeat_at_once() {
    let runner = Runner::new(Hourly).with_address(Role::Pub, ANY_PORT);
    runner.start().await.expect("start");
    let endpoint = runner.endpoint(Role::Pub).unwrap();
    // The heartbeat at start has gone out, with no subscriber to get it.
    common::wait::until("a heartbeat at start", || runner.stats().messages_sent > 0).await;

    // Were it not for the look at subscriptions, the next heartbeat would be an hour away.
    let mut watcher = Raw::sub(&endpoint, &["hb"]);
    let frame = watcher.recv().await;
    check_heartbeat(&frame, "hb.hourly", "Hourly", "running");
    runner.stop().await;
}
