//! The socket-free test harness (`experimance::testing`) with virtual time: heartbeats,
//! timers and liveness timeouts of seconds run in microseconds, deterministically; routing
//! follows the real semantics (prefix subscription, exact dispatch).

use std::time::Duration;

use experimance::testing::{Delivery, TestHarness};
use experimance::{handlers, service, Context, Liveness};
use serde::Deserialize;
use serde_json::{json, Value};

#[derive(Debug, Deserialize)]
struct EraChanged {
    era: String,
}

#[service(
    name = "Harnessed",
    pub = "tcp://*:5555",
    sub = "tcp://localhost:5556",
    push = "tcp://*:5557",
    pull = "tcp://localhost:5558",
    topics = ["era", "display."],
    watch = ["peer.heartbeat"],
    peer_interval = "5s",
    heartbeat = "harnessed.heartbeat",
    heartbeat_interval = "5s",
    stats_interval = "off"
)]
#[derive(Default)]
struct Harnessed {
    log: Vec<String>,
}

#[handlers]
impl Harnessed {
    #[on_start]
    async fn started(&mut self) {
        self.log.push("start".into());
    }

    #[topic("era")]
    async fn on_era(
        &mut self,
        msg: EraChanged,
        ctx: &Context<Self>,
    ) -> Result<(), experimance::Error> {
        self.log.push(format!("era {}", msg.era));
        ctx.push(&json!({"type": "RenderRequest", "era": msg.era}))
            .await
    }

    #[catch_all]
    async fn other(&mut self, topic: &str, _msg: Value) {
        self.log.push(format!("other {topic}"));
    }

    #[task]
    async fn on_task(
        &mut self,
        task: Value,
        ctx: &Context<Self>,
    ) -> Result<(), experimance::Error> {
        self.log.push(format!("task {}", task["n"]));
        ctx.publish_to("done", &task).await
    }

    #[every("2s")]
    async fn tick(&mut self) {
        self.log.push("tick".into());
    }

    #[on_peer]
    async fn peer(&mut self, peer: &str, liveness: Liveness) {
        self.log.push(format!("{peer} {liveness}"));
    }

    #[on_stop]
    async fn stopping(&mut self, ctx: &Context<Self>) -> Result<(), experimance::Error> {
        self.log.push("stop".into());
        ctx.publish_to("goodbye", &json!({"type": "Goodbye"})).await
    }
}

const SECOND: Duration = Duration::from_secs(1);

#[tokio::test(start_paused = true)]
async fn routing_follows_prefix_subscription_and_exact_dispatch() {
    let mut h = TestHarness::start(Harnessed::default()).await.unwrap();
    assert_eq!(
        h.publish("era", &json!({"era": "modern"})),
        Delivery::Delivered
    );
    // Subscribed by the prefix `era`, but no handler has exactly this topic: the catch-all.
    assert_eq!(
        h.publish("era_changed", &json!({"era": "x"})),
        Delivery::Delivered
    );
    assert_eq!(h.publish("display.ready", &json!({})), Delivery::Delivered);
    // No subscription is a prefix of these: ZeroMQ would never deliver them.
    assert_eq!(h.publish("idle", &json!({})), Delivery::Filtered);
    assert_eq!(h.publish("ERA", &json!({})), Delivery::Filtered);
    assert_eq!(h.push(&json!({"n": 7})), Delivery::Delivered);
    h.settle().await;
    assert_eq!(
        h.next_pushed(SECOND).await,
        Some(json!({"type": "RenderRequest", "era": "modern"}))
    );
    let (topic, body) = h.next_published_on("done", SECOND).await.unwrap();
    assert_eq!((topic.as_str(), body), ("done", json!({"n": 7})));
    let stats = h.stats();
    assert_eq!((stats.messages_received, stats.errors), (4, 0));
    let service = h.stop().await;
    // SUB messages in order; the PULL task may come before or after them.
    let sub: Vec<&String> = service
        .log
        .iter()
        .filter(|l| !l.starts_with("task"))
        .collect();
    assert_eq!(
        sub,
        [
            "start",
            "era modern",
            "other era_changed",
            "other display.ready",
            "stop"
        ]
    );
    assert!(service.log.contains(&"task 7".to_string()));
}

#[tokio::test(start_paused = true)]
async fn heartbeats_and_timers_run_on_virtual_time() {
    let started = tokio::time::Instant::now();
    let mut h = TestHarness::start(Harnessed::default()).await.unwrap();
    // One heartbeat at start, then one every 5 s: 13 by 61 s (at 0, 5, ..., 60 s).
    h.advance(Duration::from_secs(61)).await;
    let heartbeats: Vec<Value> = h
        .published()
        .into_iter()
        .filter(|(topic, _)| topic == "harnessed.heartbeat")
        .map(|(_, body)| body)
        .collect();
    assert_eq!(heartbeats.len(), 13);
    for beat in &heartbeats {
        assert_eq!(beat["type"], "Heartbeat");
        assert_eq!(beat["service"], "Harnessed");
        assert_eq!(beat["state"], "running");
    }
    let service = h.stop().await;
    // Every 2 s for 61 s: 30 ticks, at 2, 4, ..., 60 s.
    assert_eq!(service.log.iter().filter(|l| *l == "tick").count(), 30);
    assert!(
        started.elapsed() >= Duration::from_secs(61),
        "the clock is virtual"
    );
}

#[tokio::test(start_paused = true)]
async fn liveness_times_out_after_three_missed_intervals() {
    let mut h = TestHarness::start(Harnessed::default()).await.unwrap();
    let beat = |state: &str| json!({"type": "Heartbeat", "timestamp": 1.0, "service": "display", "state": state});
    assert_eq!(
        h.publish("peer.heartbeat", &beat("running")),
        Delivery::Delivered
    );
    h.settle().await;
    // Heartbeats every 5 s keep it alive for a minute.
    for _ in 0..12 {
        h.advance(Duration::from_secs(5)).await;
        h.publish("peer.heartbeat", &beat("running"));
        h.settle().await;
    }
    assert_eq!(h.stats().peers["display"].liveness, Liveness::Alive);
    // Silence: lost once three intervals (15 s) have passed, not before.
    h.advance(Duration::from_secs(14)).await;
    assert_eq!(h.stats().peers["display"].liveness, Liveness::Alive);
    let lost = |s: &experimance::StatsSnapshot| s.peers["display"].liveness == Liveness::Lost;
    assert!(h.until(Duration::from_secs(4), lost).await);
    // Back.
    h.publish("peer.heartbeat", &beat("running"));
    h.settle().await;
    // A goodbye marks it lost at once.
    h.publish("peer.heartbeat", &beat("stopping"));
    h.settle().await;
    let service = h.stop().await;
    let changes: Vec<&String> = service
        .log
        .iter()
        .filter(|l| l.starts_with("display"))
        .collect();
    assert_eq!(
        changes,
        [
            "display alive",
            "display lost",
            "display alive",
            "display lost"
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn bad_input_is_counted_and_good_input_still_handled() {
    let mut h = TestHarness::start(Harnessed::default()).await.unwrap();
    h.publish_frame(b"era".to_vec()); // no space
    h.publish_frame(b"era {not json".to_vec());
    h.publish_frame(b"era {\"era\": 5}".to_vec()); // wrong shape
    h.publish_frame(b"era {\"era\":\"\xff\"}".to_vec()); // not UTF-8
    h.push_frame(b"".to_vec());
    h.publish("era", &json!({"era": "still"}));
    h.settle().await;
    let stats = h.stats();
    assert_eq!((stats.messages_received, stats.errors), (6, 5));
    let service = h.stop().await;
    assert!(service.log.contains(&"era still".to_string()));
}

#[tokio::test(start_paused = true)]
async fn on_stop_can_still_publish() {
    let mut h = TestHarness::start(Harnessed::default()).await.unwrap();
    h.next_published_on("harnessed.heartbeat", SECOND)
        .await
        .unwrap();
    h.runner().stop().await;
    let published = h.published();
    let topics: Vec<&str> = published.iter().map(|(t, _)| t.as_str()).collect();
    // The goodbye of `#[on_stop]`, then the last heartbeat saying `stopping`.
    assert_eq!(topics, ["goodbye", "harnessed.heartbeat"]);
    assert_eq!(published[1].1["state"], "stopping");
}
