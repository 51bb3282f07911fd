//! Service descriptions: what `Runner::describe` says, and the description a running service
//! publishes when a subscriber asks for it (a subscription to exactly
//! `experimance.description`), but not to subscribers of other topics or of everything.

use std::time::Duration;

use experimance::{handlers, service, Role, Runner, ServiceDescription, DESCRIPTION_TOPIC};
use serde::Deserialize;

const SAFETY: Duration = Duration::from_secs(10);

#[derive(Deserialize)]
struct EraChanged {
    #[allow(dead_code)]
    era: String,
}

#[service(
    name = "Described",
    pub = "tcp://127.0.0.1:*",
    sub = "tcp://127.0.0.1:1",
    pull = "@tcp://127.0.0.1:*",
    topics = ["era", "idle"],
    watch = ["display.heartbeat"],
    publishes = ["era.ack"],
    heartbeat = "described.heartbeat",
    heartbeat_interval = "50ms",
    stats_interval = "off"
)]
struct Described;

#[handlers]
impl Described {
    #[topic("era")]
    async fn on_era(&mut self, _msg: EraChanged) {}

    #[catch_all]
    async fn other(&mut self, _topic: &str, _msg: serde_json::Value) {}

    #[task]
    async fn work(&mut self, _task: Vec<u32>) {}
}

fn check(d: &ServiceDescription) {
    assert_eq!(d.kind, "ServiceDescription");
    assert_eq!(d.name, "Described");
    assert_eq!(d.service_type, "service");
    let roles: Vec<(&str, &str)> = d
        .sockets
        .iter()
        .map(|s| (s.role.as_str(), s.direction.as_str()))
        .collect();
    assert_eq!(
        roles,
        [("pub", "bind"), ("sub", "connect"), ("pull", "bind")]
    );
    assert_eq!(d.subscriptions, ["era", "idle", "display.heartbeat"]);
    let handlers: Vec<(&str, Option<&str>, &str)> = d
        .handlers
        .iter()
        .map(|h| (h.kind.as_str(), h.topic.as_deref(), h.message_type.as_str()))
        .collect();
    assert_eq!(
        handlers,
        [
            ("topic", Some("era"), "EraChanged"),
            ("catch_all", None, "serde_json::Value"),
            ("task", None, "Vec<u32>"),
        ]
    );
    assert_eq!(d.publishes, ["era.ack", "described.heartbeat"]);
    assert_eq!(d.heartbeat_topic.as_deref(), Some("described.heartbeat"));
    assert_eq!(d.heartbeat_interval, Some(0.05));
    assert_eq!(d.watch, ["display.heartbeat"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn describe_lists_sockets_handlers_types_and_heartbeat() {
    let runner = Runner::new(Described);
    let stopped = runner.describe().unwrap();
    check(&stopped);
    assert!(stopped.sockets.iter().all(|s| s.endpoint.is_none()));

    runner.start().await.expect("start");
    let running = runner.describe().unwrap();
    check(&running);
    let pub_socket = &running.sockets[0];
    assert_eq!(pub_socket.endpoint, runner.endpoint(Role::Pub));
    assert!(!pub_socket.endpoint.as_deref().unwrap().ends_with(":*"));
    runner.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_service_publishes_its_description_on_request_only() {
    let runner = Runner::new(Described);
    runner.start().await.expect("start");
    let endpoint = runner.endpoint(Role::Pub).expect("bound");
    let received = tokio::task::spawn_blocking(move || {
        let context = zmq::Context::new();
        // A subscriber to everything sees heartbeats but no description...
        let everything = context.socket(zmq::SUB).unwrap();
        everything.set_subscribe(b"").unwrap();
        everything.set_rcvtimeo(SAFETY.as_millis() as i32).unwrap();
        everything.connect(&endpoint).unwrap();
        let first = everything.recv_bytes(0).expect("a heartbeat arrives");
        assert!(first.starts_with(b"described.heartbeat {"));
        // ...until someone asks for it.
        let asker = context.socket(zmq::SUB).unwrap();
        asker.set_subscribe(DESCRIPTION_TOPIC.as_bytes()).unwrap();
        asker.set_rcvtimeo(SAFETY.as_millis() as i32).unwrap();
        asker.connect(&endpoint).unwrap();
        let frame = asker.recv_bytes(0).expect("the description arrives");
        // Every frame the subscriber to everything got before the description was a heartbeat.
        loop {
            let seen = everything.recv_bytes(0).expect("frames keep arriving");
            if seen.starts_with(DESCRIPTION_TOPIC.as_bytes()) {
                break;
            }
            assert!(
                seen.starts_with(b"described.heartbeat {"),
                "{:?}",
                String::from_utf8_lossy(&seen)
            );
        }
        frame
    })
    .await
    .expect("raw peers");
    let text = String::from_utf8(received).expect("UTF-8");
    let (topic, json) = text.split_once(' ').expect("topic and JSON");
    assert_eq!(topic, DESCRIPTION_TOPIC);
    let description: ServiceDescription = serde_json::from_str(json).expect("a description");
    check(&description);
    assert_eq!(description, runner.describe().unwrap());
    runner.stop().await;
}
