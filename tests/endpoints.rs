//! Several endpoints per socket (issue 11) over real sockets: one SUB connected to three
//! publishers, one PULL connected to two bound PUSH sockets, one PUB bound on tcp and ipc;
//! a bind to a host name; and the current Python generation's quiet mode (no heartbeats, a
//! default topic for messages without `"type"`).

#[path = "common/capture.rs"]
mod capture;
mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use common::wait::until;
use common::{ipc_endpoint, relay, serve_pub, serve_push, split, Inlet, Raw, ANY_PORT};
use experimance::{
    env_var_name, handlers, service, Context, Error, Liveness, Role, Runner, DESCRIPTION_TOPIC,
};
use serde_json::{json, Value};

/// What a collecting service received, by sender.
type Received = Arc<Mutex<BTreeMap<String, Vec<u64>>>>;

fn record(received: &Received, msg: &Value) {
    let from = msg["from"].as_str().expect("from").to_owned();
    let n = msg["n"].as_u64().expect("n");
    received.lock().unwrap().entry(from).or_default().push(n);
}

fn count(received: &Received) -> usize {
    received.lock().unwrap().values().map(Vec::len).sum()
}

// ---------------------------------------------------------------------------------------------
// Three publishers, one subscriber
// ---------------------------------------------------------------------------------------------

#[service(
    pub = "tcp://127.0.0.1:1",
    heartbeat = "fanin.heartbeat",
    stats_interval = "off"
)]
struct FanInPublisher {
    inlet: Option<Inlet>,
}

#[handlers]
impl FanInPublisher {
    #[on_start]
    async fn start(&mut self, ctx: &Context<Self>) {
        serve_pub(ctx, self.inlet.take().expect("inlet"));
    }
}

/// Listens to three publishers on one SUB socket, and follows their heartbeats so the test
/// knows when each subscription is live.
#[service(
    sub = "tcp://127.0.0.1:1",
    topics = ["count"],
    watch = ["fanin.heartbeat"],
    peer_interval = "1h",
    stats_interval = "off"
)]
struct FanInSubscriber {
    received: Received,
}

#[handlers]
impl FanInSubscriber {
    #[topic("count")]
    async fn count(&mut self, msg: Value) {
        record(&self.received, &msg);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_sub_socket_hears_three_publishers() {
    const EACH: u64 = 200;
    let mut publishers = Vec::new();
    let mut outlets = Vec::new();
    for i in 0..3 {
        let (outlet, inlet) = relay();
        let runner = Runner::new(FanInPublisher { inlet: Some(inlet) })
            .with_name(format!("fanin-pub-{i}"))
            .with_address(Role::Pub, ANY_PORT);
        runner.start().await.expect("publisher starts");
        outlets.push(outlet);
        publishers.push(runner);
    }
    let endpoints: Vec<String> = publishers
        .iter()
        .map(|p| p.endpoint(Role::Pub).expect("bound"))
        .collect();
    let received = Received::default();
    let subscriber = Runner::new(FanInSubscriber {
        received: Arc::clone(&received),
    })
    .with_address(Role::Sub, endpoints.clone());
    subscriber.start().await.expect("subscriber starts");
    assert_eq!(subscriber.endpoints(Role::Sub), endpoints);

    // Each publisher's heartbeat arrives once the subscriber's subscription reached it.
    until("every publisher is heard", || {
        let peers = subscriber.stats().peers;
        peers.len() == 3 && peers.values().all(|p| p.liveness == Liveness::Alive)
    })
    .await;

    for n in 0..EACH {
        for (i, outlet) in outlets.iter().enumerate() {
            let from = format!("fanin-pub-{i}");
            outlet
                .publish_to("count", json!({ "from": from, "n": n }))
                .await
                .expect("publish");
        }
    }
    until("every message is handled", || {
        count(&received) == 3 * EACH as usize
    })
    .await;
    let received = received.lock().unwrap().clone();
    for i in 0..3 {
        let got = &received[&format!("fanin-pub-{i}")];
        assert_eq!(
            *got,
            (0..EACH).collect::<Vec<_>>(),
            "publisher {i}, in order"
        );
    }
    let stats = subscriber.stats();
    assert_eq!(stats.errors, 0);
    subscriber.stop().await;
    for publisher in &publishers {
        publisher.stop().await;
    }
}

// ---------------------------------------------------------------------------------------------
// One PULL connected to two bound PUSH sockets (addresses from the environment)
// ---------------------------------------------------------------------------------------------

#[service(
    push = "tcp://127.0.0.1:1",
    heartbeat_interval = "off",
    stats_interval = "off"
)]
struct ResultPusher {
    inlet: Option<Inlet>,
}

#[handlers]
impl ResultPusher {
    #[on_start]
    async fn start(&mut self, ctx: &Context<Self>) {
        serve_push(ctx, self.inlet.take().expect("inlet"));
    }
}

#[service(
    name = "EndpointsCollector",
    pull = "tcp://127.0.0.1:1",
    stats_interval = "off"
)]
struct Collector {
    received: Received,
}

#[handlers]
impl Collector {
    #[task]
    async fn result(&mut self, msg: Value) {
        record(&self.received, &msg);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_pull_socket_connects_to_two_bound_push_sockets() {
    const EACH: u64 = 100;
    let mut pushers = Vec::new();
    let mut outlets = Vec::new();
    for i in 0..2 {
        let (outlet, inlet) = relay();
        let runner = Runner::new(ResultPusher { inlet: Some(inlet) })
            .with_name(format!("worker-{i}"))
            .with_address(Role::Push, ANY_PORT);
        runner.start().await.expect("pusher starts");
        outlets.push(outlet);
        pushers.push(runner);
    }
    // The pushers push before anyone pulls: their send queues hold the tasks.
    for n in 0..EACH {
        for (i, outlet) in outlets.iter().enumerate() {
            let from = format!("worker-{i}");
            outlet
                .push(json!({ "from": from, "n": n }))
                .await
                .expect("push");
        }
    }
    // As an installation would configure it: a comma-separated list in the environment.
    let list = pushers
        .iter()
        .map(|p| format!(">{}", p.endpoint(Role::Push).expect("bound")))
        .collect::<Vec<_>>()
        .join(",");
    std::env::set_var(env_var_name("EndpointsCollector", Role::Pull), &list);
    let received = Received::default();
    let collector = Runner::new(Collector {
        received: Arc::clone(&received),
    });
    collector.start().await.expect("collector starts");
    assert_eq!(collector.endpoints(Role::Pull).len(), 2);

    until("every task is pulled", || {
        count(&received) == 2 * EACH as usize
    })
    .await;
    let received = received.lock().unwrap().clone();
    for i in 0..2 {
        assert_eq!(
            received[&format!("worker-{i}")],
            (0..EACH).collect::<Vec<_>>(),
            "worker {i}, in order"
        );
    }
    let description = collector.describe().expect("describe");
    let pulls: Vec<_> = description
        .sockets
        .iter()
        .filter(|s| s.role == "pull")
        .collect();
    assert_eq!(pulls.len(), 2, "one entry per endpoint: {description:?}");
    assert!(pulls.iter().all(|s| s.direction == "connect"));
    collector.stop().await;
    for pusher in &pushers {
        pusher.stop().await;
    }
}

// ---------------------------------------------------------------------------------------------
// One PUB bound on tcp and ipc
// ---------------------------------------------------------------------------------------------

#[service(pub = "tcp://127.0.0.1:1", stats_interval = "off")]
struct TwoPlaces {
    inlet: Option<Inlet>,
}

#[handlers]
impl TwoPlaces {
    #[on_start]
    async fn start(&mut self, ctx: &Context<Self>) {
        serve_pub(ctx, self.inlet.take().expect("inlet"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_pub_socket_binds_tcp_and_ipc() {
    capture::capture();
    let ipc = ipc_endpoint("two-places");
    let (outlet, inlet) = relay();
    let runner = Runner::new(TwoPlaces { inlet: Some(inlet) })
        .with_address(Role::Pub, [ANY_PORT, ipc.as_str()]);
    runner.start().await.expect("start");
    let endpoints = runner.endpoints(Role::Pub);
    assert_eq!(endpoints.len(), 2, "{endpoints:?}");
    assert!(endpoints[0].starts_with("tcp://127.0.0.1:") && !endpoints[0].ends_with('*'));
    assert_eq!(endpoints[1], ipc);
    // The start log names each socket's endpoints, role by role.
    let started = capture::logged(&["service running"]);
    let pairs = format!("endpoints=pub={},{}", endpoints[0], endpoints[1]);
    assert!(
        started.iter().any(|line| line.contains(&pairs)),
        "{pairs} in {started:?}"
    );

    let mut subs = [
        Raw::sub(&endpoints[0], &["probe", "era"]),
        Raw::sub(&endpoints[1], &["probe", "era"]),
    ];
    for sub in &mut subs {
        common::sync_raw_sub(&outlet, sub).await;
    }
    outlet
        .publish_to("era", json!({ "era": "future" }))
        .await
        .expect("publish");
    for sub in &mut subs {
        let (topic, body) = split(&sub.recv_skipping("probe").await);
        assert_eq!((topic.as_str(), body), ("era", json!({ "era": "future" })));
    }
    runner.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Binding a host name
// ---------------------------------------------------------------------------------------------

#[service(push = "tcp://localhost:1", stats_interval = "off")]
struct HostPusher;

#[handlers]
impl HostPusher {}

#[tokio::test]
async fn binding_a_host_name_says_how_to_connect() {
    let runner = Runner::new(HostPusher).with_address(Role::Push, "tcp://localhost:*");
    let error = runner
        .start()
        .await
        .expect_err("a bind to a host name fails");
    assert!(matches!(error, Error::BindHostName { .. }), "{error:?}");
    let text = error.to_string();
    assert!(
        text.contains("a bind needs an interface") && text.contains("`>tcp://localhost:*`"),
        "{text}"
    );
}

// ---------------------------------------------------------------------------------------------
// Beside the current Python generation: no heartbeats, a default topic
// ---------------------------------------------------------------------------------------------

#[service(
    pub = "tcp://127.0.0.1:1",
    heartbeat_interval = "off",
    default_topic = "core.events",
    stats_interval = "off"
)]
struct QuietCore {
    inlet: Option<Inlet>,
}

#[handlers]
impl QuietCore {
    #[on_start]
    async fn start(&mut self, ctx: &Context<Self>) {
        serve_pub(ctx, self.inlet.take().expect("inlet"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quiet_service_sends_no_heartbeat_and_uses_its_default_topic() {
    let (outlet, inlet) = relay();
    let runner = Runner::new(QuietCore { inlet: Some(inlet) }).with_address(Role::Pub, ANY_PORT);
    runner.start().await.expect("start");
    let endpoint = runner.endpoint(Role::Pub).expect("bound");
    // Everything the service sends, heartbeats included if there were any.
    let mut all = Raw::sub(&endpoint, &[""]);
    let (_, before) = common::sync_raw_sub(&outlet, &mut all).await;
    outlet
        .publish(json!({ "era": "modern" }))
        .await
        .expect("publish without a type");
    outlet
        .publish(json!({ "type": "Marker" }))
        .await
        .expect("publish a marker");
    let mut frames = before;
    loop {
        let frame = all.recv().await;
        let done = frame.starts_with(b"Marker ");
        frames.push(frame);
        if done {
            break;
        }
    }
    let topics: Vec<String> = frames
        .iter()
        .map(|f| split(f).0)
        .filter(|t| t != "probe")
        .collect();
    assert_eq!(topics, ["core.events", "Marker"], "and no heartbeat");

    // Descriptions are still answered.
    let mut describer = Raw::sub(&endpoint, &[DESCRIPTION_TOPIC]);
    let (topic, description) = split(&describer.recv().await);
    assert_eq!(topic, DESCRIPTION_TOPIC);
    assert_eq!(description["heartbeat_interval"], Value::Null);
    assert_eq!(description["heartbeat_topic"], Value::Null);

    // Nor a last heartbeat at the stop: the stream ends with the service's last message.
    runner.stop().await;
    while let Some(parts) = all.recv_within(common::PROBE_WAIT).await {
        let (topic, _) = split(&parts[0]);
        assert_ne!(topic, "heartbeat", "no heartbeat at the stop");
        assert_eq!(topic, DESCRIPTION_TOPIC, "only the description may follow");
    }
}

// ---------------------------------------------------------------------------------------------
// A service without PUB, seen through a hub
// ---------------------------------------------------------------------------------------------

/// A pure subscriber: without `hub`, no one would see it.
#[service(
    name = "HubbedDisplay",
    sub = "tcp://127.0.0.1:1",
    topics = ["era"],
    heartbeat = "display.heartbeat",
    heartbeat_interval = "50ms",
    hub = ">tcp://127.0.0.1:1",
    stats_interval = "100ms"
)]
struct HubbedDisplay;

#[handlers]
impl HubbedDisplay {}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_without_pub_sends_heartbeats_stats_and_its_description_to_a_hub() {
    // The hub's side that publishers connect to (a proxy's XSUB); a SUB stands in for it.
    let mut hub = Raw::bind(zmq::SUB);
    hub.subscribe("display.heartbeat");
    hub.subscribe("HubbedDisplay.stats");
    hub.subscribe(DESCRIPTION_TOPIC);
    std::env::set_var(env_var_name("HubbedDisplay", "HUB"), &hub.endpoint);
    let publisher = Raw::bind(zmq::PUB);
    let runner = Runner::new(HubbedDisplay).with_address(Role::Sub, publisher.endpoint.clone());
    runner.start().await.expect("start");
    assert_eq!(runner.endpoints(Role::Pub), [hub.endpoint.clone()]);
    let mut seen = std::collections::BTreeSet::new();
    while seen.len() < 3 {
        let (topic, body) = split(&hub.recv().await);
        if topic == DESCRIPTION_TOPIC {
            assert_eq!(body["name"], "HubbedDisplay");
            assert_eq!(body["heartbeat_topic"], "display.heartbeat");
            let pub_socket = body["sockets"]
                .as_array()
                .unwrap()
                .iter()
                .find(|s| s["role"] == "pub")
                .cloned()
                .expect("the hub's socket is described");
            assert_eq!(pub_socket["direction"], "connect");
        }
        seen.insert(topic);
    }
    assert_eq!(
        seen.into_iter().collect::<Vec<_>>(),
        [
            "HubbedDisplay.stats",
            "display.heartbeat",
            DESCRIPTION_TOPIC
        ]
    );
    runner.stop().await;
}
