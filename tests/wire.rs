//! The bytes on the wire, both directions, with a raw `zmq` socket as the Python peer
//! (issue 2 and `docs/wire.md`): `<topic> <compact json>` out, Python-style JSON with spaces in,
//! bare JSON on PUSH/PULL, the topic rules of `publish`, address overrides by environment
//! variable, `@`/`>` prefixes, and the `ipc://` transport.

mod common;

use common::{
    events, ipc_endpoint, relay, serve_pub, serve_push, split, sync_raw_sub, sync_service_sub,
    text, Inlet, Raw, Tx, ANY_PORT,
};
use experimance::{env_var_name, handlers, service, Context, Error, Role, Runner};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tokio::sync::oneshot;

// ---------------------------------------------------------------------------------------------
// Service → raw SUB
// ---------------------------------------------------------------------------------------------

#[derive(Serialize)]
struct EraChanged {
    #[serde(rename = "type")]
    kind: &'static str,
    era: &'static str,
    biome: &'static str,
}

const ERA: EraChanged = EraChanged {
    kind: "EraChanged",
    era: "modern",
    biome: "forest",
};

/// Fires the struct publisher; it answers with the results of `publish_to` and `publish`.
type Fire = oneshot::Sender<FireAnswer>;
type FireAnswer = oneshot::Sender<[Result<(), Error>; 2]>;

#[service(
    name = "WirePublisher",
    pub = "inproc://overridden-by-the-test",
    heartbeat = "wire.hb",
    heartbeat_interval = "1h",
    stats_interval = "off"
)]
struct WirePublisher {
    relay: Option<Inlet>,
    /// Publishes [`ERA`] with and without a topic when fired.
    go: Option<oneshot::Receiver<FireAnswer>>,
}

#[handlers]
impl WirePublisher {
    #[on_start]
    async fn start(&mut self, ctx: &Context<Self>) {
        serve_pub(ctx, self.relay.take().expect("relay"));
        let go = self.go.take().expect("go");
        let ctx = ctx.clone();
        ctx.clone().spawn("publish-struct", async move {
            if let Ok(done) = go.await {
                let _ = done.send([ctx.publish_to("era", &ERA).await, ctx.publish(&ERA).await]);
            }
        });
    }
}

struct Publisher {
    runner: Runner<WirePublisher>,
    outlet: common::Outlet,
    go: Option<Fire>,
    raw: Raw,
    /// How many probes the service published to sync the raw SUB.
    probes: u64,
}

/// A running `WirePublisher` and a raw SUB subscribed to `prefixes` (and `probe`), synced.
async fn publisher(prefixes: &[&str]) -> Publisher {
    let (outlet, inlet) = relay();
    let (go_tx, go_rx) = oneshot::channel();
    let runner = Runner::new(WirePublisher {
        relay: Some(inlet),
        go: Some(go_rx),
    })
    .with_address(Role::Pub, ANY_PORT);
    runner.start().await.expect("start");
    let mut raw = Raw::sub(&runner.endpoint(Role::Pub).unwrap(), prefixes);
    raw.subscribe("probe");
    let (probes, _) = sync_raw_sub(&outlet, &mut raw).await;
    Publisher {
        runner,
        outlet,
        go: Some(go_tx),
        raw,
        probes,
    }
}

impl Publisher {
    /// The next frame that is neither a probe nor a heartbeat.
    async fn next(&mut self) -> Vec<u8> {
        loop {
            let frame = self.raw.recv().await;
            if frame.starts_with(b"probe ") {
                continue;
            }
            if frame.starts_with(b"wire.hb ") && split(&frame).1["type"] == "Heartbeat" {
                continue;
            }
            return frame;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_publishes_exactly_topic_space_compact_json() {
    let mut p = publisher(&["topic", "era", "EraChanged"]).await;

    p.outlet
        .publish_to("topic", json!({"compact": "json"}))
        .await
        .expect("publish");
    assert_eq!(text(&p.next().await), r#"topic {"compact":"json"}"#);

    // A struct keeps its field order; without a topic, its `"type"` is the topic.
    let (done_tx, done_rx) = oneshot::channel();
    p.go.take().unwrap().send(done_tx).expect("fire");
    let [with_topic, without_topic] = done_rx.await.expect("publisher task answered");
    with_topic.expect("publish_to");
    without_topic.expect("publish");
    assert_eq!(
        text(&p.next().await),
        r#"era {"type":"EraChanged","era":"modern","biome":"forest"}"#
    );
    assert_eq!(
        text(&p.next().await),
        r#"EraChanged {"type":"EraChanged","era":"modern","biome":"forest"}"#
    );

    // Nested values and non-ASCII text stay compact JSON on one frame.
    p.outlet
        .publish_to(
            "topic",
            json!({"nested": {"list": [1, 2.5, null]}, "text": "é ✓"}),
        )
        .await
        .expect("publish");
    let frame = p.next().await;
    let text = text(&frame);
    assert_eq!(
        text,
        r#"topic {"nested":{"list":[1,2.5,null]},"text":"é ✓"}"#
    );
    p.runner.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_without_topic_uses_type_else_heartbeat_topic() {
    let mut p = publisher(&[""]).await;

    p.outlet
        .publish(json!({"type": "IdleStatus", "idle": true}))
        .await
        .unwrap();
    let (topic, body) = split(&p.next().await);
    assert_eq!(topic, "IdleStatus");
    assert_eq!(body, json!({"type": "IdleStatus", "idle": true}));

    // No "type", or a "type" that is not a string: the default topic, the heartbeat topic.
    let no_topic = [
        json!({"era": "modern"}),
        json!({"type": 5}),
        json!({"type": null}),
        json!([1, 2]),
        json!("text"),
    ];
    for message in &no_topic {
        p.outlet.publish(message.clone()).await.unwrap();
    }
    for message in &no_topic {
        let (topic, body) = split(&p.next().await);
        assert_eq!((topic.as_str(), &body), ("wire.hb", message));
    }
    p.runner.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_topic_is_an_error_and_sends_nothing() {
    let mut p = publisher(&[""]).await;

    for topic in ["bad topic", "", " lead", "trail "] {
        let result = p.outlet.publish_to(topic, json!({"a": 1})).await;
        assert!(
            matches!(&result, Err(Error::InvalidTopic(t)) if t == topic),
            "publish_to({topic:?}) returned {result:?}"
        );
    }
    // A `"type"` with a space cannot be a topic either.
    let result = p.outlet.publish(json!({"type": "Era Changed"})).await;
    assert!(
        matches!(&result, Err(Error::InvalidTopic(t)) if t == "Era Changed"),
        "publish returned {result:?}"
    );

    // The raw SUB takes every topic: the next frame it sees is the fence, nothing corrupt.
    p.outlet.publish_to("fence", json!({})).await.unwrap();
    assert_eq!(text(&p.next().await), "fence {}");
    p.runner.stop().await;
    // Sent: the probes, the fence, and two heartbeats (at start and `stopping`); no more.
    assert_eq!(p.runner.stats().messages_sent, p.probes + 1 + 2);
}

// ---------------------------------------------------------------------------------------------
// Raw PUB → service
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Deserialize)]
struct X {
    #[serde(rename = "type")]
    kind: String,
    a: i64,
}

#[service(sub = "inproc://overridden-by-the-test", topics = ["probe", "topic", "any"])]
struct WireSubscriber {
    tx: Tx,
}

#[handlers]
impl WireSubscriber {
    #[topic("probe")]
    async fn probe(&mut self, msg: Value) {
        self.tx.send("probe", "probe", msg);
    }

    #[topic("topic")]
    async fn on_topic(&mut self, msg: X) {
        self.tx
            .send("topic", "topic", json!({"type": msg.kind, "a": msg.a}));
    }

    #[topic("any")]
    async fn on_any(&mut self, msg: Value) {
        self.tx.send("any", "any", msg);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_style_json_with_spaces_reaches_the_handler() {
    let (tx, mut events) = events();
    let mut raw = Raw::bind(zmq::PUB);
    let runner = Runner::new(WireSubscriber { tx }).with_address(Role::Sub, raw.endpoint.clone());
    runner.start().await.expect("start");
    sync_service_sub(&mut raw, &mut events).await;

    // What Python's `f"{topic} {json.dumps(message)}"` produces.
    raw.send(r#"topic {"type": "X", "a": 1}"#).await;
    assert_eq!(
        events.expect("topic").await.body,
        json!({"type": "X", "a": 1})
    );
    // Indented JSON (json.dumps(indent=2)): only the first space separates the topic.
    raw.send("topic {\n  \"type\": \"X\",\n  \"a\": 2\n}").await;
    assert_eq!(
        events.expect("topic").await.body,
        json!({"type": "X", "a": 2})
    );
    // Escapes, unicode, and spaces inside strings.
    raw.send(r#"any {"text": "a b \"c\" \u00e9", "n": 1.5e3}"#)
        .await;
    assert_eq!(
        events.expect("any").await.body,
        json!({"text": "a b \"c\" é", "n": 1500.0})
    );
    runner.stop().await;
    assert_eq!(runner.stats().errors, 0);
}

// ---------------------------------------------------------------------------------------------
// PUSH / PULL: bare JSON, one frame, no topic
// ---------------------------------------------------------------------------------------------

#[service(push = "inproc://overridden-by-the-test", stats_interval = "off")]
struct WirePusher {
    relay: Option<Inlet>,
}

#[handlers]
impl WirePusher {
    #[on_start]
    async fn start(&mut self, ctx: &Context<Self>) {
        serve_push(ctx, self.relay.take().expect("relay"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_sends_bare_compact_json() {
    let (outlet, inlet) = relay();
    // PUSH binds by default.
    let runner = Runner::new(WirePusher { relay: Some(inlet) }).with_address(Role::Push, ANY_PORT);
    runner.start().await.expect("start");
    let mut raw = Raw::connect(zmq::PULL, &runner.endpoint(Role::Push).unwrap());

    outlet.push(json!({"type": "Task"})).await.expect("push");
    outlet.push(json!([1, "two", null])).await.expect("push");
    assert_eq!(text(&raw.recv().await), r#"{"type":"Task"}"#);
    assert_eq!(text(&raw.recv().await), r#"[1,"two",null]"#);
    runner.stop().await;
    assert_eq!(runner.stats().messages_sent, 2);
}

#[derive(Debug, Deserialize)]
struct Task {
    #[serde(rename = "type")]
    kind: String,
    id: u64,
}

#[service(pull = "inproc://overridden-by-the-test", stats_interval = "off")]
struct WirePuller {
    tx: Tx,
}

#[handlers]
impl WirePuller {
    #[task]
    async fn task(&mut self, task: Task) {
        self.tx
            .send("task", "", json!({"type": task.kind, "id": task.id}));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pull_takes_python_style_bare_json() {
    let (tx, mut events) = events();
    // PULL connects by default, to the raw PUSH's bound port.
    let mut raw = Raw::bind(zmq::PUSH);
    let runner = Runner::new(WirePuller { tx }).with_address(Role::Pull, raw.endpoint.clone());
    runner.start().await.expect("start");
    assert_eq!(
        runner.endpoint(Role::Pull).as_deref(),
        Some(raw.endpoint.as_str())
    );

    raw.send(r#"{"type": "Task", "id": 7}"#).await;
    assert_eq!(
        events.expect("task").await.body,
        json!({"type": "Task", "id": 7})
    );
    runner.stop().await;
    let stats = runner.stats();
    assert_eq!((stats.messages_received, stats.errors), (1, 0));
}

// ---------------------------------------------------------------------------------------------
// Addresses: environment overrides, `@` and `>`, ipc
// ---------------------------------------------------------------------------------------------

/// Its attribute address cannot be bound (the directory does not exist): starting works only
/// if an override replaced it.
#[service(
    name = "wire-env.pub",
    pub = "ipc:///nonexistent-experimance-test-dir/pub.sock",
    heartbeat_interval = "100ms",
    stats_interval = "off"
)]
struct EnvPublisher;

#[handlers]
impl EnvPublisher {}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn environment_variable_replaces_the_attribute_address() {
    let var = "EXPERIMANCE_WIRE_ENV_PUB_PUB";
    assert_eq!(env_var_name("wire-env.pub", Role::Pub), var);

    // Without the variable, the attribute's (unbindable) address is used.
    std::env::remove_var(var);
    let runner = Runner::new(EnvPublisher);
    assert_eq!(
        runner.addresses(Role::Pub).first().map(String::as_str),
        Some("ipc:///nonexistent-experimance-test-dir/pub.sock")
    );
    let error = runner.start().await.expect_err("unbindable address");
    assert!(
        matches!(
            error,
            Error::Socket {
                role: Role::Pub,
                ..
            }
        ),
        "{error}"
    );

    std::env::set_var(var, ANY_PORT);
    let runner = Runner::new(EnvPublisher);
    assert_eq!(
        runner.addresses(Role::Pub).first().map(String::as_str),
        Some(ANY_PORT)
    );
    runner
        .start()
        .await
        .expect("start with the variable's address");
    let endpoint = runner.endpoint(Role::Pub).unwrap();
    assert!(
        endpoint.starts_with("tcp://127.0.0.1:") && !endpoint.ends_with(":*"),
        "a bound wildcard reports its port: {endpoint}"
    );
    let mut raw = Raw::sub(&endpoint, &["heartbeat"]);
    let (_, body) = split(&raw.recv().await);
    assert_eq!(body["service"], "wire-env.pub");
    runner.stop().await;

    // The programmatic override wins over the variable.
    std::env::set_var(var, "ipc:///nonexistent-experimance-test-dir/other.sock");
    let runner = Runner::new(EnvPublisher).with_address(Role::Pub, ANY_PORT);
    assert_eq!(
        runner.addresses(Role::Pub).first().map(String::as_str),
        Some(ANY_PORT)
    );
    runner.start().await.expect("start with the override");
    runner.stop().await;
    std::env::remove_var(var);
}

#[service(
    name = "wire-env.sub",
    sub = "inproc://overridden-by-the-environment",
    stats_interval = "off"
)]
struct EnvSubscriber {
    tx: Tx,
}

#[handlers]
impl EnvSubscriber {
    #[topic("probe")]
    async fn probe(&mut self, msg: Value) {
        self.tx.send("probe", "probe", msg);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn environment_variable_replaces_the_sub_address() {
    let var = "EXPERIMANCE_WIRE_ENV_SUB_SUB";
    assert_eq!(env_var_name("wire-env.sub", Role::Sub), var);
    let (tx, mut events) = events();
    let mut raw = Raw::bind(zmq::PUB);
    std::env::set_var(var, &raw.endpoint);
    let runner = Runner::new(EnvSubscriber { tx });
    runner.start().await.expect("start");
    std::env::remove_var(var);
    assert_eq!(
        runner.endpoint(Role::Sub).as_deref(),
        Some(raw.endpoint.as_str())
    );
    sync_service_sub(&mut raw, &mut events).await;
    runner.stop().await;
}

/// The variable is looked up by the instance name given with `with_name`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn environment_variable_follows_the_instance_name() {
    let var = "EXPERIMANCE_WIRE_ENV_RENAMED_7_PUB";
    std::env::set_var(var, ANY_PORT);
    let runner = Runner::new(EnvPublisher).with_name("wire-env renamed#7");
    assert_eq!(
        runner.addresses(Role::Pub).first().map(String::as_str),
        Some(ANY_PORT)
    );
    runner.start().await.expect("start");
    std::env::remove_var(var);
    runner.stop().await;
}

/// Every socket at once with forced directions: `@` binds a SUB and a PULL, `>` connects a
/// PUB and a PUSH.
#[service(
    pub = "inproc://overridden-by-the-test",
    sub = "inproc://overridden-by-the-test",
    push = "inproc://overridden-by-the-test",
    pull = "inproc://overridden-by-the-test",
    heartbeat_interval = "1h",
    stats_interval = "off"
)]
struct Directions {
    tx: Tx,
    relay: Option<Inlet>,
}

#[handlers]
impl Directions {
    #[on_start]
    async fn start(&mut self, ctx: &Context<Self>) {
        common::serve_pub_push(ctx, self.relay.take().expect("relay"));
    }

    #[topic("probe")]
    async fn probe(&mut self, msg: Value) {
        self.tx.send("probe", "probe", msg);
    }

    #[task]
    async fn task(&mut self, msg: Value) {
        self.tx.send("task", "", msg);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_binds_and_angle_connects() {
    let (tx, mut events) = events();
    let (outlet, inlet) = relay();
    let mut raw_sub = Raw::bind(zmq::SUB);
    raw_sub.subscribe("probe");
    let mut raw_pull = Raw::bind(zmq::PULL);
    let runner = Runner::new(Directions {
        tx,
        relay: Some(inlet),
    })
    .with_address(Role::Pub, format!(">{}", raw_sub.endpoint))
    .with_address(Role::Sub, format!("@{ANY_PORT}"))
    .with_address(Role::Push, format!(">{}", raw_pull.endpoint))
    .with_address(Role::Pull, format!("@{ANY_PORT}"));
    runner.start().await.expect("start");

    // Connected sockets report the address they connected to, bound ones the port they got.
    assert_eq!(runner.endpoint(Role::Pub).unwrap(), raw_sub.endpoint);
    assert_eq!(runner.endpoint(Role::Push).unwrap(), raw_pull.endpoint);
    let sub_endpoint = runner.endpoint(Role::Sub).unwrap();
    let pull_endpoint = runner.endpoint(Role::Pull).unwrap();
    for endpoint in [&sub_endpoint, &pull_endpoint] {
        assert!(
            endpoint.starts_with("tcp://127.0.0.1:") && !endpoint.ends_with(":*"),
            "{endpoint}"
        );
    }

    // `>` PUB → bound raw SUB.
    sync_raw_sub(&outlet, &mut raw_sub).await;
    // Raw PUB → `@` SUB.
    let mut raw_pub = Raw::connect(zmq::PUB, &sub_endpoint);
    sync_service_sub(&mut raw_pub, &mut events).await;
    // `>` PUSH → bound raw PULL.
    outlet.push(json!({"to": "raw"})).await.expect("push");
    assert_eq!(text(&raw_pull.recv().await), r#"{"to":"raw"}"#);
    // Raw PUSH → `@` PULL.
    let mut raw_push = Raw::connect(zmq::PUSH, &pull_endpoint);
    raw_push.send(r#"{"to": "service"}"#).await;
    assert_eq!(events.expect("task").await.body, json!({"to": "service"}));
    runner.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ipc_transport_works_both_ways() {
    let (tx, mut events) = events();
    let (outlet, inlet) = relay();
    let pub_endpoint = ipc_endpoint("wire-pub");
    let pull_endpoint = ipc_endpoint("wire-pull");
    let mut raw_pub = Raw::bind_at(zmq::PUB, &ipc_endpoint("wire-raw-pub"));
    let mut raw_pull = Raw::bind_at(zmq::PULL, &ipc_endpoint("wire-raw-pull"));
    let runner = Runner::new(Directions {
        tx,
        relay: Some(inlet),
    })
    .with_address(Role::Pub, pub_endpoint.clone())
    .with_address(Role::Sub, raw_pub.endpoint.clone())
    .with_address(Role::Push, format!(">{}", raw_pull.endpoint))
    .with_address(Role::Pull, format!("@{pull_endpoint}"));
    runner.start().await.expect("start");
    assert_eq!(runner.endpoint(Role::Pub).unwrap(), pub_endpoint);

    let mut raw_sub = Raw::sub(&pub_endpoint, &["probe"]);
    sync_raw_sub(&outlet, &mut raw_sub).await;
    sync_service_sub(&mut raw_pub, &mut events).await;
    outlet.push(json!({"via": "ipc"})).await.expect("push");
    assert_eq!(text(&raw_pull.recv().await), r#"{"via":"ipc"}"#);
    let mut raw_push = Raw::connect(zmq::PUSH, &pull_endpoint);
    raw_push.send(r#"{"via": "ipc"}"#).await;
    assert_eq!(events.expect("task").await.body, json!({"via": "ipc"}));
    runner.stop().await;
    let raw_ends = [raw_pub.endpoint.clone(), raw_pull.endpoint.clone()];
    drop((raw_pub, raw_pull, raw_sub, raw_push));
    for endpoint in [&pub_endpoint, &pull_endpoint, &raw_ends[0], &raw_ends[1]] {
        let _ = std::fs::remove_file(endpoint.trim_start_matches("ipc://"));
    }
}
