//! `experimance dashboard` against real services: the `installation` example as a child
//! process (four services, killed with SIGKILL to go lost), a `#[service]` in this process
//! (stopped gracefully), and a raw hostile publisher. The JSON API and the event stream are
//! read with a real HTTP client; every wait is on the dashboard's own snapshots.

mod common;

use std::time::Duration;

use common::installation::*;
use common::*;
use experimance::{handlers, service, Role, Runner};
use serde_json::Value;

/// How long a snapshot may take to show a change: heartbeats every 200 ms, lost after three
/// missed, and slow CI machines.
const CHANGE: Duration = Duration::from_secs(20);

/// A lamp that follows the era, in this process.
#[service(
    name = "lamp",
    pub = "tcp://127.0.0.1:*",
    sub = "tcp://127.0.0.1:1",
    topics = ["EraChanged"],
    heartbeat_interval = "100ms",
    stats_interval = "off",
    service_type = "lamp"
)]
struct Lamp;

#[handlers]
impl Lamp {
    #[topic("EraChanged")]
    async fn on_era(&mut self, _era: Value) {}
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_shows_nodes_edges_rates_and_services_going_lost() {
    let mut installation = Installation::start();
    let lamp = Runner::new(Lamp)
        .with_address(Role::Pub, ANY_PORT)
        .with_address(Role::Sub, installation.addrs[0].clone());
    lamp.start().await.expect("lamp starts");
    let mut addrs = installation.addrs.clone();
    addrs.push(lamp.endpoint(Role::Pub).unwrap());
    let addrs_for_check = addrs.clone();

    let (dashboard, events) = tokio::task::spawn_blocking(move || {
        let dashboard = Dashboard::start(&addrs, &[]);
        let mut events = dashboard.events();
        let mut expected: Vec<&str> = EDGES.to_vec();
        expected.push("core -topic-> lamp");
        expected.sort();
        let snapshot = events.until(
            "every service alive, described, with stats, and every edge",
            CHANGE,
            |s| {
                all(s, "alive")
                    && edges(s) == expected
                    && SERVICES.iter().all(|name| {
                        service(s, name)
                            .is_some_and(|s| s["described"] == true && s["send_rate"].is_number())
                    })
                    && topic(s, "EraChanged").is_some_and(|t| t["rate"].as_f64() > Some(0.0))
            },
        );
        assert_eq!(snapshot["addresses"], serde_json::json!(addrs_for_check));

        // Nodes: the four services and the lamp, with what their descriptions and stats say.
        let core = service(&snapshot, "core").unwrap();
        assert_eq!(core["service_type"], "core");
        assert_eq!(core["state"], "running");
        assert_eq!(core["status"], "healthy");
        assert_eq!(core["heartbeat_interval"], 0.2);
        assert!(core["uptime"].as_f64().unwrap() > 0.0);
        assert!(core["messages_sent"].as_u64().unwrap() > 0);
        // The core publishes 4 eras a second and pushes 2 tasks: about 6 messages a second
        // plus heartbeats and stats (not asserted closely: the machine may be slow).
        assert!(core["send_rate"].as_f64().unwrap() > 0.0, "{core}");
        let roles: Vec<&str> = core["sockets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["role"].as_str().unwrap())
            .collect();
        assert_eq!(roles, ["pub", "push"]);
        let display = service(&snapshot, "display").unwrap();
        assert_eq!(
            display["subscriptions"],
            serde_json::json!(["EraChanged", "ImageReady"])
        );
        assert!(display["messages_received"].as_u64().unwrap() > 0);
        let lamp_node = service(&snapshot, "lamp").unwrap();
        assert_eq!(lamp_node["liveness"], "alive");
        assert_eq!(lamp_node["service_type"], "lamp");

        // Topics: rate, size, publishers and subscribers, and the edges' labels.
        let era = topic(&snapshot, "EraChanged").unwrap();
        assert_eq!(era["publishers"], serde_json::json!(["core"]));
        assert_eq!(
            era["subscribers"],
            serde_json::json!(["audio", "display", "lamp"])
        );
        assert!(era["avg_bytes"].as_f64().unwrap() > 20.0);
        assert_eq!(era["errors"], 0);
        let image = snapshot["edges"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["from"] == "image_server")
            .unwrap();
        assert_eq!(image["topics"], serde_json::json!(["ImageReady"]));

        // The same data at the other routes.
        let graph = dashboard.json("/api/graph");
        assert_eq!(edges(&graph), expected);
        let names: Vec<&str> = graph["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["audio", "core", "display", "image_server", "lamp"]);
        assert_eq!(dashboard.json("/api/services").as_array().unwrap().len(), 5);
        assert!(dashboard
            .json("/api/topics")
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["topic"] == "ImageReady"));
        assert!(dashboard.json("/api/snapshot")["services"].is_array());

        // The last message of a topic, as it was sent.
        let last = dashboard.json("/api/topics/ImageReady/last");
        assert_eq!(last["topic"], "ImageReady");
        assert_eq!(last["message"]["type"], "ImageReady");
        assert_eq!(last["message"]["width"], 1920);
        assert_eq!(last["truncated"], false);
        assert!(last["bytes"].as_u64().unwrap() > 0);
        let (status, body) = dashboard.get("/api/topics/nothing.here/last");
        assert_eq!(status, 404, "{body}");
        assert!(body.contains("no message on topic"), "{body}");

        // The page and its files, compiled in.
        let (status, page) = dashboard.get("/");
        assert_eq!(status, 200);
        assert!(page.contains("<svg id=\"graph\""), "{page}");
        let (status, script) = dashboard.get("/app.js");
        assert_eq!(status, 200);
        assert!(script.contains("new EventSource(\"/api/events\")"));
        let (status, _) = dashboard.get("/style.css");
        assert_eq!(status, 200);
        (dashboard, events)
    })
    .await
    .unwrap();

    // A graceful stop: the last heartbeat says it is stopping.
    lamp.stop().await;
    let dashboard = tokio::task::spawn_blocking(move || {
        let mut events = events;
        events.until("the lamp stopping", CHANGE, |s| {
            service(s, "lamp").is_some_and(|l| l["liveness"] == "stopping")
        });
        // A crash: no last heartbeat; lost after three missed intervals.
        installation.kill();
        let snapshot = events.until("every service of the installation lost", CHANGE, |s| {
            all(s, "lost")
        });
        assert_eq!(service(&snapshot, "lamp").unwrap()["liveness"], "stopping");
        // The edges stay: they come from the descriptions.
        assert_eq!(edges(&snapshot).len(), 5);
        dashboard
    })
    .await
    .unwrap();

    // SIGTERM: the event stream ends and the process exits 0.
    let finished = dashboard.stop();
    assert!(finished.status.success(), "{finished:?}");
}

#[test]
fn a_hostile_publisher_is_counted_and_bounded_and_foreign_hosts_are_refused() {
    let ctx = zmq::Context::new();
    let xpub = ctx.socket(zmq::XPUB).unwrap();
    // Every message reaches the dashboard: no high-water mark on this side.
    xpub.set_sndhwm(0).unwrap();
    xpub.set_rcvtimeo(SAFETY.as_millis() as i32).unwrap();
    xpub.bind(ANY_PORT).unwrap();
    let endpoint = xpub.get_last_endpoint().unwrap().unwrap();
    let mut dashboard = Dashboard::start(&[endpoint], &[]);
    await_subscription(&xpub);

    let forged = "peer\n2026-12-01T00:00:00Z INFO forged \u{1b}[31mline";
    let heartbeat = serde_json::json!({
        "type": "Heartbeat", "timestamp": 1.0, "service": forged, "state": "running"
    });
    let send = |frames: &[&[u8]]| xpub.send_multipart(frames, 0).unwrap();
    send(&[format!("heartbeat {heartbeat}").as_bytes()]);
    send(&[b"\xff\xfe not UTF-8"]);
    send(&[b"two", b"frames"]);
    send(&[b"era not-json"]);
    send(&[format!("{} 1", "x".repeat(300)).as_bytes()]);
    send(&[br#"experimance.description {"type":"Nope"}"#]);
    for i in 0..1100 {
        send(&[format!("t{i} {{\"i\":{i}}}").as_bytes()]);
    }
    send(&[format!("heartbeat {heartbeat}").as_bytes()]);

    let mut events = dashboard.events();
    let snapshot = events.until("the flood counted", CHANGE, |s| {
        s["topics"].as_array().is_some_and(|t| t.len() == 1024)
            && s["dropped"]["topics"] == 1100 + 2 + 1 - 1024
            && s["malformed"] == 2
            && s["dropped"]["descriptions"] == 1
    });
    let peer = service(&snapshot, forged).expect("the peer, by its name as sent");
    assert_eq!(peer["liveness"], "alive");
    assert_eq!(topic(&snapshot, "era").unwrap()["errors"], 1);
    assert_eq!(topic(&snapshot, "heartbeat").unwrap()["count"], 2);

    // The log says what was left out, and never repeats a peer's text.
    // (The totals are the API's above: a warning given at a tick in the middle of the flood
    // has the counts of that moment.)
    let warning = dashboard.await_stderr("left out to bound memory");
    assert!(
        warning.contains("message(s) on topics beyond 1024"),
        "{warning}"
    );

    // A page elsewhere that rebinds its DNS name to 127.0.0.1 gets nothing.
    let response = agent()
        .get(&format!("{}/api/snapshot", dashboard.base))
        .header("Host", "evil.example")
        .call()
        .unwrap();
    assert_eq!(response.status().as_u16(), 403);
    let (status, _) = dashboard.get("/api/snapshot");
    assert_eq!(status, 200);
    let response = agent()
        .get(&format!("{}/api/snapshot", dashboard.base))
        .header("Host", "localhost:80")
        .call()
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);

    drop(events);
    let finished = dashboard.stop();
    assert!(finished.status.success(), "{finished:?}");
    assert!(
        !finished.stderr.lines().any(|l| l.contains("forged")),
        "{}",
        finished.stderr
    );
}
