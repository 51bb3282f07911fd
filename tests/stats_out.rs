//! Stats out: a service with a PUB socket publishes its stats every `stats_interval` on
//! `<name>.stats`, with `"type": "Stats"`, in the shape of `StatsSnapshot`.

use experimance::{handlers, service, stats_topic, Role, Runner, State, StatsSnapshot};

#[service(
    name = "Counted",
    pub = "tcp://127.0.0.1:*",
    heartbeat_interval = "1h",
    stats_interval = "50ms"
)]
struct Counted;

#[handlers]
impl Counted {}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stats_are_published_on_the_name_dot_stats_topic() {
    let runner = Runner::new(Counted);
    runner.start().await.expect("start");
    let endpoint = runner.endpoint(Role::Pub).expect("bound");
    let frames = tokio::task::spawn_blocking(move || {
        let context = zmq::Context::new();
        let sub = context.socket(zmq::SUB).unwrap();
        sub.set_subscribe(stats_topic("Counted").as_bytes())
            .unwrap();
        sub.set_rcvtimeo(10_000).unwrap();
        sub.connect(&endpoint).unwrap();
        // Two reports: the second counts the first as sent.
        [
            sub.recv_bytes(0).expect("stats"),
            sub.recv_bytes(0).expect("stats"),
        ]
    })
    .await
    .expect("raw peer");
    let mut sent = Vec::new();
    for frame in frames {
        let text = String::from_utf8(frame).expect("UTF-8");
        let (topic, json) = text.split_once(' ').expect("topic and JSON");
        assert_eq!(topic, "Counted.stats");
        let value: serde_json::Value = serde_json::from_str(json).expect("JSON");
        assert_eq!(value["type"], "Stats");
        let stats: StatsSnapshot = serde_json::from_value(value).expect("a StatsSnapshot");
        assert_eq!(stats.service, "Counted");
        assert_eq!(stats.state, State::Running);
        assert!(stats.start_time.is_some());
        sent.push(stats.messages_sent);
    }
    assert!(sent[1] > sent[0], "published stats count as sent: {sent:?}");
    runner.stop().await;
}
