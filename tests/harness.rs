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

/// Topics added at run time (here by the environment) let more through, as they do on a real
/// SUB socket.
#[tokio::test(start_paused = true)]
async fn topics_added_at_run_time_are_subscribed() {
    std::env::set_var("EXPERIMANCE_HARNESSED_EXTRA_TOPICS", "era,display.,idle");
    let runner = experimance::Runner::new(Harnessed::default()).with_name("Harnessed-extra");
    let mut h = TestHarness::start_runner(runner).await.unwrap();
    assert_eq!(h.publish("idle", &json!({})), Delivery::Delivered);
    assert_eq!(h.publish("ERA", &json!({})), Delivery::Filtered);
    h.settle().await;
    let service = h.stop().await;
    assert!(
        service.log.contains(&"other idle".to_string()),
        "{:?}",
        service.log
    );
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

/// A timer and a heartbeat, and no SUB or PULL socket: nothing can be injected.
#[service(
    name = "Ticker",
    pub = "tcp://*:5559",
    heartbeat = "ticker.heartbeat",
    heartbeat_interval = "1s",
    stats_interval = "off"
)]
#[derive(Default)]
struct Ticker {
    ticks: u64,
}

#[handlers]
impl Ticker {
    #[every("200ms")]
    async fn tick(&mut self, ctx: &Context<Self>) -> Result<(), experimance::Error> {
        self.ticks += 1;
        ctx.publish_to("tick", &json!({"n": self.ticks})).await
    }
}

/// The ticks and heartbeats published since the last call: `(tick numbers, heartbeats)`.
fn ticks_and_beats(h: &mut TestHarness<Ticker>) -> (Vec<u64>, usize) {
    let published = h.published();
    let ticks = published
        .iter()
        .filter(|(topic, _)| topic == "tick")
        .map(|(_, body)| body["n"].as_u64().expect("tick number"))
        .collect();
    let beats = published
        .iter()
        .filter(|(topic, _)| topic == "ticker.heartbeat")
        .count();
    (ticks, beats)
}

/// `settle` used to wait for the loop to sit on an empty SUB or PULL socket; a service with
/// neither never does, so under a paused clock `settle` let the runtime advance the clock
/// forever, timers firing and their messages piling up in memory.
#[tokio::test(start_paused = true)]
async fn settle_returns_for_a_service_without_sub_or_pull() {
    let mut h = TestHarness::start(Ticker::default()).await.unwrap();
    let before = tokio::time::Instant::now();
    // The safety net is virtual time: a `settle` that never returns fails here, it does not
    // hang the test.
    tokio::time::timeout(Duration::from_secs(60), h.settle())
        .await
        .expect("settle returns for a service without SUB or PULL");
    assert_eq!(before.elapsed(), Duration::ZERO, "settling moves no time");
    assert_eq!(h.publish("tick", &json!({})), Delivery::Filtered);
    assert_eq!(h.push(&json!({})), Delivery::NoSocket);
    h.settle().await;
    assert_eq!(
        ticks_and_beats(&mut h),
        (vec![], 1),
        "only the first heartbeat"
    );
    h.stop().await;
}

/// `advance(d)` runs every timer due at or before its end, the one due exactly at the end
/// included (it used to return before the service's loop had run it).
#[tokio::test(start_paused = true)]
async fn advance_runs_the_timers_due_at_its_end() {
    let mut h = TestHarness::start(Ticker::default()).await.unwrap();
    // Ticks at 200, 400, ..., 1000 ms; heartbeats at 0 and 1000 ms.
    h.advance(Duration::from_millis(1000)).await;
    assert_eq!(ticks_and_beats(&mut h), (vec![1, 2, 3, 4, 5], 2));
    h.advance(Duration::from_millis(199)).await;
    assert_eq!(ticks_and_beats(&mut h), (vec![], 0));
    h.advance(Duration::from_millis(1)).await;
    assert_eq!(ticks_and_beats(&mut h), (vec![6], 0));
    for n in 7..=11 {
        h.advance(Duration::from_millis(200)).await;
        let beats = usize::from(n == 10); // 2000 ms
        assert_eq!(ticks_and_beats(&mut h), (vec![n], beats), "tick {n}");
    }
    let ticker = h.stop().await;
    assert_eq!(ticker.ticks, 11);
}

/// Uptime and rates follow tokio's clock: under a paused clock, virtual time.
#[tokio::test(start_paused = true)]
async fn uptime_and_rates_follow_virtual_time() {
    let h = TestHarness::start(Ticker::default()).await.unwrap();
    assert_eq!(h.stats().uptime, 0.0);
    h.advance(Duration::from_secs(90)).await;
    let stats = h.stats();
    assert_eq!(stats.uptime, 90.0, "{stats:?}");
    // 450 ticks and 91 heartbeats (at 0, 1, ..., 90 s).
    assert_eq!(stats.messages_sent, 450 + 91);
    assert_eq!(stats.send_rate, (450.0 + 91.0) / 90.0);
    h.runner().stop().await;
    let frozen = h.stats().uptime;
    assert!(
        (90.0..91.0).contains(&frozen),
        "uptime at the stop: {frozen}"
    );
    h.advance(Duration::from_secs(30)).await;
    assert_eq!(
        h.stats().uptime,
        frozen,
        "a stopped service's uptime stands still"
    );
}

/// On real sockets and the real clock, uptime is wall-clock time since the start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uptime_on_real_sockets_follows_the_wall_clock() {
    let before = std::time::Instant::now();
    let runner = experimance::Runner::new(Ticker::default())
        .with_address(experimance::Role::Pub, "tcp://127.0.0.1:*");
    runner.start().await.unwrap();
    let deadline = before + Duration::from_secs(10);
    // Waits on the uptime itself: it reaches 50 ms, and never runs ahead of the wall clock.
    loop {
        let uptime = runner.stats().uptime;
        let wall = before.elapsed().as_secs_f64();
        assert!(
            uptime <= wall,
            "uptime {uptime} s, but only {wall} s passed"
        );
        if uptime >= 0.05 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "uptime stuck at {uptime} s"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let start_time = runner.stats().start_time.expect("started");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    assert!(
        start_time <= now && now - start_time < 10.0,
        "{start_time} vs {now}"
    );
    runner.stop().await;
    let frozen = runner.stats().uptime;
    assert!(frozen >= 0.05 && frozen <= before.elapsed().as_secs_f64());
}
