//! Publish/subscribe dispatch (issue 2): typed handlers, exact topic match versus the SUB
//! prefix filter, the catch-all, and the statistics after known traffic.

mod common;

use common::{events, relay, serve_pub, split, sync_raw_sub, sync_service_sub, Inlet, Raw, Tx};
use experimance::{handlers, service, Context, Role, Runner, State, Status};
use serde::Deserialize;
use serde_json::{json, Value};

#[derive(Debug, Deserialize)]
struct EraChanged {
    #[serde(rename = "type")]
    kind: String,
    era: String,
    biome: String,
    #[serde(default)]
    note: Option<String>,
}

// ---------------------------------------------------------------------------------------------
// Typed dispatch
// ---------------------------------------------------------------------------------------------

#[service(sub = "inproc://overridden-by-the-test")]
struct TypedSubscriber {
    tx: Tx,
}

#[handlers]
impl TypedSubscriber {
    #[topic("probe")]
    async fn probe(&mut self, msg: Value) {
        self.tx.send("probe", "probe", msg);
    }

    #[topic("era")]
    async fn on_era(&mut self, msg: EraChanged) {
        self.tx.send(
            "era",
            "era",
            json!({"type": msg.kind, "era": msg.era, "biome": msg.biome, "note": msg.note}),
        );
    }

    #[topic("count")]
    async fn on_count(&mut self, n: u64, ctx: &Context<Self>) {
        self.tx
            .send("count", "count", json!({"n": n, "service": ctx.name()}));
    }

    #[topic("text")]
    async fn on_text(&mut self, text: String) {
        self.tx.send("text", "text", json!(text));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typed_handlers_receive_decoded_messages() {
    let (tx, mut events) = events();
    let mut raw = Raw::bind(zmq::PUB);
    let runner = Runner::new(TypedSubscriber { tx }).with_address(Role::Sub, raw.endpoint.clone());
    runner.start().await.expect("start");
    sync_service_sub(&mut raw, &mut events).await;

    raw.send(r#"era {"type":"EraChanged","era":"modern","biome":"forest"}"#)
        .await;
    let event = events.expect("era").await;
    assert_eq!(
        event.body,
        json!({"type": "EraChanged", "era": "modern", "biome": "forest", "note": null})
    );

    // Unknown fields are ignored, optional ones are decoded.
    raw.send(
        r#"era {"type":"EraChanged","era":"future","biome":"desert","note":"n","extra":[1,2]}"#,
    )
    .await;
    let event = events.expect("era").await;
    assert_eq!(
        event.body,
        json!({"type": "EraChanged", "era": "future", "biome": "desert", "note": "n"})
    );

    // Any DeserializeOwned type: a number, a string; with the context parameter.
    raw.send("count 42").await;
    let event = events.expect("count").await;
    assert_eq!(event.body, json!({"n": 42, "service": "TypedSubscriber"}));
    raw.send(r#"text "hello world""#).await;
    assert_eq!(events.expect("text").await.body, json!("hello world"));

    runner.stop().await;
    assert_eq!(runner.stats().errors, 0);
}

// ---------------------------------------------------------------------------------------------
// Exact topic match versus the prefix filter; the catch-all
// ---------------------------------------------------------------------------------------------

/// Subscribes to its handlers' topics (`era`, `probe`): the prefix filter lets `era_changed`
/// through, dispatch must not hand it to the `era` handler.
#[service(sub = "inproc://overridden-by-the-test")]
struct ExactWithCatchAll {
    tx: Tx,
}

#[handlers]
impl ExactWithCatchAll {
    #[topic("probe")]
    async fn probe(&mut self, msg: Value) {
        self.tx.send("probe", "probe", msg);
    }

    #[topic("era")]
    async fn on_era(&mut self, msg: Value) {
        self.tx.send("era", "era", msg);
    }

    #[catch_all]
    async fn other(&mut self, topic: &str, msg: Value) {
        self.tx.send("catch_all", topic, msg);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prefix_match_goes_to_the_catch_all_not_the_exact_handler() {
    let (tx, mut events) = events();
    let mut raw = Raw::bind(zmq::PUB);
    let runner =
        Runner::new(ExactWithCatchAll { tx }).with_address(Role::Sub, raw.endpoint.clone());
    runner.start().await.expect("start");
    let probes = sync_service_sub(&mut raw, &mut events).await;

    raw.send(r#"era_changed {"id":1}"#).await;
    raw.send(r#"era {"id":2}"#).await;
    raw.send(r#"eras {"id":3}"#).await;
    raw.send(r#"era {"id":4}"#).await;

    let got = [
        events.next_non_probe().await,
        events.next_non_probe().await,
        events.next_non_probe().await,
        events.next_non_probe().await,
    ];
    let got: Vec<(&str, &str, &Value)> = got
        .iter()
        .map(|e| (e.what.as_str(), e.topic.as_str(), &e.body))
        .collect();
    assert_eq!(
        got,
        vec![
            ("catch_all", "era_changed", &json!({"id": 1})),
            ("era", "era", &json!({"id": 2})),
            ("catch_all", "eras", &json!({"id": 3})),
            ("era", "era", &json!({"id": 4})),
        ]
    );
    runner.stop().await;
    let stats = runner.stats();
    assert_eq!(stats.messages_received, probes + 4);
    assert_eq!(stats.errors, 0);
}

/// Without a catch-all, a prefix match with no handler is dropped quietly (not an error).
#[service(sub = "inproc://overridden-by-the-test")]
struct ExactOnly {
    tx: Tx,
}

#[handlers]
impl ExactOnly {
    #[topic("probe")]
    async fn probe(&mut self, msg: Value) {
        self.tx.send("probe", "probe", msg);
    }

    #[topic("era")]
    async fn on_era(&mut self, msg: Value) {
        self.tx.send("era", "era", msg);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prefix_match_without_a_catch_all_reaches_no_handler() {
    let (tx, mut events) = events();
    let mut raw = Raw::bind(zmq::PUB);
    let runner = Runner::new(ExactOnly { tx }).with_address(Role::Sub, raw.endpoint.clone());
    runner.start().await.expect("start");
    let probes = sync_service_sub(&mut raw, &mut events).await;

    raw.send(r#"era_changed {"id":1}"#).await;
    raw.send(r#"era.x {"id":2}"#).await;
    raw.send(r#"era {"id":3}"#).await;
    // Delivery is in order: had `era_changed` or `era.x` reached `on_era`, it would come first.
    let event = events.next_non_probe().await;
    assert_eq!(
        (event.what.as_str(), &event.body),
        ("era", &json!({"id": 3}))
    );

    runner.stop().await;
    let stats = runner.stats();
    assert_eq!(stats.messages_received, probes + 3);
    assert_eq!(
        stats.errors, 0,
        "a message without a handler is not an error"
    );
}

/// `topics = [""]` subscribes to everything; the catch-all takes what no handler takes, with
/// its topic and its raw JSON.
#[service(sub = "inproc://overridden-by-the-test", topics = [""])]
struct CatchEverything {
    tx: Tx,
}

#[handlers]
impl CatchEverything {
    #[topic("probe")]
    async fn probe(&mut self, msg: Value) {
        self.tx.send("probe", "probe", msg);
    }

    #[topic("known")]
    async fn known(&mut self, msg: Value) {
        self.tx.send("known", "known", msg);
    }

    #[catch_all]
    async fn anything(&mut self, topic: &str, msg: Value, ctx: &Context<Self>) {
        assert_eq!(ctx.state(), State::Running);
        self.tx.send("catch_all", topic, msg);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catch_all_receives_topic_and_raw_json() {
    let (tx, mut events) = events();
    let mut raw = Raw::bind(zmq::PUB);
    let runner = Runner::new(CatchEverything { tx }).with_address(Role::Sub, raw.endpoint.clone());
    runner.start().await.expect("start");
    sync_service_sub(&mut raw, &mut events).await;

    raw.send(r#"image.ready {"type": "ImageReady", "uri": "file:///x.png", "size": [1, 2]}"#)
        .await;
    raw.send(r#"known {"k":true}"#).await;
    raw.send("unknown.scalar 3.5").await;

    let event = events.expect("catch_all").await;
    assert_eq!(event.topic, "image.ready");
    assert_eq!(
        event.body,
        json!({"type": "ImageReady", "uri": "file:///x.png", "size": [1, 2]})
    );
    let event = events.expect("known").await;
    assert_eq!(event.body, json!({"k": true}));
    let event = events.expect("catch_all").await;
    assert_eq!(
        (event.topic.as_str(), &event.body),
        ("unknown.scalar", &json!(3.5))
    );

    runner.stop().await;
    assert_eq!(runner.stats().errors, 0);
}

// ---------------------------------------------------------------------------------------------
// Statistics after known traffic
// ---------------------------------------------------------------------------------------------

/// PUB and SUB, heartbeats only at start and stop (`1h`), so every message is accounted for.
#[service(
    name = "StatsCounter",
    pub = "inproc://overridden-by-the-test",
    sub = "inproc://overridden-by-the-test",
    topics = ["probe", "data"],
    heartbeat = "stats.hb",
    heartbeat_interval = "1h",
    stats_interval = "off",
)]
struct StatsCounter {
    tx: Tx,
    relay: Option<Inlet>,
}

#[handlers]
impl StatsCounter {
    #[on_start]
    async fn start(&mut self, ctx: &Context<Self>) {
        serve_pub(ctx, self.relay.take().expect("relay"));
    }

    #[topic("probe")]
    async fn probe(&mut self, msg: Value) {
        self.tx.send("probe", "probe", msg);
    }

    #[topic("data")]
    async fn data(&mut self, msg: Value) {
        self.tx.send("data", "data", msg);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stats_count_sent_received_and_errors() {
    const IN: u64 = 7;
    const OUT: u64 = 5;
    let (tx, mut events) = events();
    let (outlet, inlet) = relay();
    let mut raw_pub = Raw::bind(zmq::PUB);
    let runner = Runner::new(StatsCounter {
        tx,
        relay: Some(inlet),
    })
    .with_address(Role::Sub, raw_pub.endpoint.clone())
    .with_address(Role::Pub, common::ANY_PORT);

    let before = runner.stats();
    assert_eq!(
        (
            before.messages_sent,
            before.messages_received,
            before.errors
        ),
        (0, 0, 0)
    );
    assert_eq!(before.state, State::Initialized);
    assert_eq!(before.start_time, None);

    runner.start().await.expect("start");
    let mut raw_sub = Raw::sub(
        &runner.endpoint(Role::Pub).expect("pub endpoint"),
        &["probe", "data"],
    );
    let probes_in = sync_service_sub(&mut raw_pub, &mut events).await;
    let (probes_out, others) = sync_raw_sub(&outlet, &mut raw_sub).await;
    assert!(others.is_empty(), "unexpected frames: {others:?}");

    for i in 0..IN {
        raw_pub.send(format!(r#"data {{"i":{i}}}"#)).await;
    }
    for i in 0..IN {
        assert_eq!(events.expect("data").await.body, json!({ "i": i }));
    }
    for i in 0..OUT {
        outlet
            .publish_to("data", json!({ "o": i }))
            .await
            .expect("publish");
    }
    for i in 0..OUT {
        let (topic, body) = split(&raw_sub.recv().await);
        assert_eq!((topic.as_str(), body), ("data", json!({ "o": i })));
    }

    let running = runner.stats();
    assert_eq!(running.service, "StatsCounter");
    assert_eq!(running.state, State::Running);
    assert_eq!(running.status, Status::Healthy);
    assert!(running.start_time.is_some());
    assert_eq!(running.messages_received, probes_in + IN);
    assert_eq!(running.errors, 0);

    runner.stop().await;
    let stats = runner.stats();
    assert_eq!(stats.state, State::Stopped);
    assert_eq!(stats.status, Status::Healthy);
    assert_eq!(stats.messages_received, probes_in + IN);
    // The probes, the data, and two heartbeats: the one at start and the `stopping` one.
    assert_eq!(stats.messages_sent, probes_out + OUT + 2);
    assert_eq!(stats.errors, 0);
}
