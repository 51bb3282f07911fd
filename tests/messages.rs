//! Message types as contracts (issue 12): `#[message]` structs and enums, `#[topic]` without a
//! topic, `#[task]` handlers chosen by `"type"`, the wire-type check on arrival, and Python's
//! non-finite floats. Dispatch is driven through the test harness; the wire, over real
//! sockets.

#[path = "common/capture.rs"]
mod capture;
mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{Raw, ANY_PORT};
use experimance::testing::{Delivery, TestHarness};
use experimance::{handlers, message, service, Context, Message, Role, Runner, WireType};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// Something a handler saw.
type Seen = Arc<Mutex<Vec<String>>>;

fn note(seen: &Seen, line: String) {
    seen.lock().unwrap().push(line);
}

fn seen(seen: &Seen) -> Vec<String> {
    seen.lock().unwrap().clone()
}

#[message]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct RenderRequest {
    prompt: String,
    #[serde(default = "default_width")]
    width: Option<u32>,
}

fn default_width() -> Option<u32> {
    Some(1024)
}

#[message]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct ImageReady {
    uri: String,
}

#[message("SpaceTimeUpdate")]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Update {
    era: Era,
    #[serde(rename = "loop")]
    looping: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Era {
    Wilderness,
    PreIndustrial,
}

#[message]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Cancel {
    request_id: u64,
}

#[message]
#[derive(Debug, Clone, PartialEq)]
enum Request {
    Render(RenderRequest),
    Cancel(Cancel),
}

#[message]
#[derive(Debug, Clone, PartialEq)]
enum Control {
    Cancel(Cancel),
    Ready(ImageReady),
}

/// Without a serde derive: `#[message]` adds the derives.
#[message]
#[derive(Debug, PartialEq)]
struct Ping {
    #[serde(default)]
    n: u32,
}

#[test]
fn a_message_without_a_serde_derive_gets_one() {
    assert_eq!(
        serde_json::to_string(&Ping { n: 2 }).unwrap(),
        r#"{"type":"Ping","n":2}"#
    );
    assert_eq!(
        serde_json::from_str::<Ping>(r#"{"type":"Ping"}"#).unwrap(),
        Ping { n: 0 }
    );
}

#[test]
fn a_message_writes_its_type_first_and_an_enum_reads_by_type() {
    assert_eq!(<RenderRequest as WireType>::TYPE, "RenderRequest");
    assert_eq!(<Update as WireType>::TYPE, "SpaceTimeUpdate");
    assert_eq!(<Request as Message>::TYPES, ["RenderRequest", "Cancel"]);
    let update = Update {
        era: Era::PreIndustrial,
        looping: true,
    };
    assert_eq!(
        serde_json::to_string(&update).unwrap(),
        r#"{"type":"SpaceTimeUpdate","era":"pre_industrial","loop":true}"#
    );
    // Read back from Python's spacing, with the default of a missing optional field.
    let request: RenderRequest =
        serde_json::from_str(r#"{"type": "RenderRequest", "prompt": "forest"}"#).unwrap();
    assert_eq!(request.width, Some(1024));
    let request: Request = serde_json::from_str(r#"{"type": "Cancel", "request_id": 3}"#).unwrap();
    assert_eq!(request, Request::Cancel(Cancel { request_id: 3 }));
    assert_eq!(
        serde_json::to_string(&request).unwrap(),
        r#"{"type":"Cancel","request_id":3}"#
    );
    let error = serde_json::from_str::<Request>(r#"{"type":"ImageReady","uri":"x"}"#)
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("expected type RenderRequest or Cancel, got ImageReady"),
        "{error}"
    );
}

// ---------------------------------------------------------------------------------------------
// Topics from types, and the check on arrival
// ---------------------------------------------------------------------------------------------

#[service(
    name = "MessageDisplay",
    sub = "tcp://localhost:1",
    stats_interval = "off"
)]
struct Display {
    seen: Seen,
}

#[handlers]
impl Display {
    /// Subscribes to `RenderRequest`.
    #[topic]
    async fn on_render(&mut self, request: RenderRequest) {
        note(&self.seen, format!("render {}", request.prompt));
    }

    /// Subscribes to `SpaceTimeUpdate`, the name given to `#[message]`.
    #[topic]
    async fn on_update(&mut self, update: Update) {
        note(&self.seen, format!("update {:?}", update.era));
    }

    /// Subscribes to both wire types of the enum.
    #[topic]
    async fn on_control(&mut self, control: Control) {
        let line = match control {
            Control::Cancel(c) => format!("cancel {}", c.request_id),
            Control::Ready(r) => format!("ready {}", r.uri),
        };
        note(&self.seen, line);
    }

    /// A topic of its own, and a `#[message]` type: the `"type"` is still checked.
    #[topic("images")]
    async fn on_image(&mut self, image: ImageReady) {
        note(&self.seen, format!("image {}", image.uri));
    }
}

#[tokio::test(start_paused = true)]
async fn topics_come_from_types_and_a_wrong_type_is_a_counted_error() {
    capture::capture();
    let log = Seen::default();
    let mut h = TestHarness::start(Display { seen: log.clone() })
        .await
        .unwrap();
    assert_eq!(
        h.publish(
            "RenderRequest",
            &json!({"type": "RenderRequest", "prompt": "forest"})
        ),
        Delivery::Delivered
    );
    assert_eq!(
        h.publish(
            "SpaceTimeUpdate",
            &json!({"type": "SpaceTimeUpdate", "era": "wilderness", "loop": false})
        ),
        Delivery::Delivered
    );
    assert_eq!(
        h.publish(
            "images",
            &json!({"type": "ImageReady", "uri": "file:///a.png"})
        ),
        Delivery::Delivered
    );
    // The wrong message on a topic: counted, logged, not decoded into `ImageReady`.
    assert_eq!(
        h.publish(
            "images",
            &json!({"type": "RenderRequest", "uri": "file:///b.png"})
        ),
        Delivery::Delivered
    );
    assert_eq!(
        h.publish("Cancel", &json!({"type": "Cancel", "request_id": 4})),
        Delivery::Delivered
    );
    assert_eq!(
        h.publish("ImageReady", &json!({"type": "ImageReady", "uri": "c"})),
        Delivery::Delivered
    );
    // Not subscribed: the service subscribes to the wire types and `images` only.
    assert_eq!(h.publish("Unrelated", &json!({})), Delivery::Filtered);
    h.settle().await;
    assert_eq!(
        seen(&log),
        [
            "render forest",
            "update Wilderness",
            "image file:///a.png",
            "cancel 4",
            "ready c"
        ]
    );
    assert_eq!(h.stats().errors, 1);
    let logged = capture::logged(&[
        "message not handled",
        "expected type ImageReady, got RenderRequest",
    ]);
    assert_eq!(logged.len(), 1, "{:?}", capture::logs());
    let description = h.runner().describe().unwrap();
    assert_eq!(
        description.subscriptions,
        [
            "images",
            "RenderRequest",
            "SpaceTimeUpdate",
            "Cancel",
            "ImageReady"
        ]
    );
    let topics: Vec<_> = description
        .handlers
        .iter()
        .map(|d| (d.topic.clone().unwrap(), d.wire_types.clone().unwrap()))
        .collect();
    assert_eq!(
        topics,
        [
            ("RenderRequest".into(), vec!["RenderRequest".to_owned()]),
            ("SpaceTimeUpdate".into(), vec!["SpaceTimeUpdate".to_owned()]),
            (
                "Cancel".into(),
                vec!["Cancel".to_owned(), "ImageReady".to_owned()]
            ),
            (
                "ImageReady".into(),
                vec!["Cancel".to_owned(), "ImageReady".to_owned()]
            ),
            ("images".into(), vec!["ImageReady".to_owned()]),
        ]
    );
    h.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Tasks chosen by type
// ---------------------------------------------------------------------------------------------

#[service(
    name = "MessageWorker",
    pull = "tcp://localhost:1",
    stats_interval = "off"
)]
struct Worker {
    seen: Seen,
}

#[handlers]
impl Worker {
    #[task]
    async fn render(&mut self, request: RenderRequest) {
        note(&self.seen, format!("render {}", request.prompt));
    }

    #[task]
    async fn cancel(&mut self, cancel: Cancel) {
        note(&self.seen, format!("cancel {}", cancel.request_id));
    }

    #[task(catch_all)]
    async fn other(&mut self, task: Value) {
        note(&self.seen, format!("other {}", task["type"]));
    }
}

#[service(
    name = "StrictWorker",
    pull = "tcp://localhost:1",
    stats_interval = "off"
)]
struct StrictWorker {
    seen: Seen,
}

#[handlers]
impl StrictWorker {
    /// One handler for a closed set of types.
    #[task]
    async fn request(&mut self, request: Request) {
        let line = match request {
            Request::Render(r) => format!("render {}", r.prompt),
            Request::Cancel(c) => format!("cancel {}", c.request_id),
        };
        note(&self.seen, line);
    }
}

#[service(
    name = "PickyWorker",
    pull = "tcp://localhost:1",
    stats_interval = "off"
)]
struct PickyWorker {
    seen: Seen,
}

#[handlers]
impl PickyWorker {
    #[task]
    async fn render(&mut self, request: RenderRequest) {
        note(&self.seen, format!("render {}", request.prompt));
    }

    #[task]
    async fn image(&mut self, image: ImageReady) {
        note(&self.seen, format!("image {}", image.uri));
    }
}

#[tokio::test(start_paused = true)]
async fn tasks_are_chosen_by_type_with_a_catch_all() {
    let log = Seen::default();
    let mut h = TestHarness::start(Worker { seen: log.clone() })
        .await
        .unwrap();
    for task in [
        json!({"type": "RenderRequest", "prompt": "forest"}),
        json!({"type": "Cancel", "request_id": 9}),
        json!({"type": "Unknown", "x": 1}),
        json!({"untyped": true}),
    ] {
        assert_eq!(h.push(&task), Delivery::Delivered);
    }
    h.settle().await;
    assert_eq!(
        seen(&log),
        [
            "render forest",
            "cancel 9",
            "other \"Unknown\"",
            "other null"
        ]
    );
    assert_eq!(h.stats().errors, 0);
    h.stop().await;
}

#[tokio::test(start_paused = true)]
async fn without_a_catch_all_an_unknown_type_is_a_counted_error() {
    capture::capture();
    let log = Seen::default();
    let mut h = TestHarness::start(PickyWorker { seen: log.clone() })
        .await
        .unwrap();
    h.push(&json!({"type": "ImageReady", "uri": "u"}));
    h.push(&json!({"type": "Cancel", "request_id": 1}));
    h.push(&json!({"type": "RenderRequest", "prompt": "p"}));
    h.settle().await;
    assert_eq!(seen(&log), ["image u", "render p"]);
    assert_eq!(h.stats().errors, 1);
    assert_eq!(
        capture::logged(&[
            "message not handled",
            "no #[task] handler takes type Cancel"
        ])
        .len(),
        1,
        "{:?}",
        capture::logs()
    );
    h.stop().await;

    let log = Seen::default();
    let mut h = TestHarness::start(StrictWorker { seen: log.clone() })
        .await
        .unwrap();
    h.push(&json!({"type": "Cancel", "request_id": 2}));
    h.push(&json!({"type": "ImageReady", "uri": "u"}));
    h.push(&json!({"type": "RenderRequest", "prompt": "q", "width": null}));
    h.settle().await;
    assert_eq!(seen(&log), ["cancel 2", "render q"]);
    assert_eq!(h.stats().errors, 1);
    assert_eq!(
        capture::logged(&["expected type RenderRequest or Cancel, got ImageReady"]).len(),
        1
    );
    h.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Over real sockets: the topic of a published message, and Python's floats
// ---------------------------------------------------------------------------------------------

/// Publishes an `Update` every 10 ms (a subscriber that joins late gets the next one).
#[service(pub = "tcp://127.0.0.1:1", stats_interval = "off")]
struct Core;

#[handlers]
impl Core {
    #[every("10ms")]
    async fn tick(&mut self, ctx: &Context<Self>) -> Result<(), experimance::Error> {
        let update = Update {
            era: Era::Wilderness,
            looping: false,
        };
        ctx.publish(&update).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_published_message_goes_out_on_its_wire_type() {
    let runner = Runner::new(Core).with_address(Role::Pub, ANY_PORT);
    runner.start().await.expect("start");
    let mut sub = Raw::sub(&runner.endpoint(Role::Pub).unwrap(), &["SpaceTimeUpdate"]);
    let frame = sub.recv().await;
    assert_eq!(
        String::from_utf8(frame).unwrap(),
        r#"SpaceTimeUpdate {"type":"SpaceTimeUpdate","era":"wilderness","loop":false}"#
    );
    runner.stop().await;
}

#[message]
#[derive(Debug, Serialize, Deserialize)]
struct Reading {
    value: f64,
    high: f64,
    label: String,
}

#[service(name = "Gauge", pull = "tcp://127.0.0.1:1", stats_interval = "off")]
struct Gauge {
    tx: tokio::sync::mpsc::UnboundedSender<Reading>,
}

#[handlers]
impl Gauge {
    #[task]
    async fn reading(&mut self, reading: Reading) {
        let _ = self.tx.send(reading);
    }
}

/// What Python's `json.dumps({"type": "Reading", "value": float("nan"), ...})` writes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_nan_and_infinity_reach_a_float_field() {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let mut pusher = Raw::bind(zmq::PUSH);
    let runner = Runner::new(Gauge { tx }).with_address(Role::Pull, pusher.endpoint.clone());
    runner.start().await.expect("start");
    pusher
        .send(r#"{"type": "Reading", "value": NaN, "high": Infinity, "label": "NaN"}"#)
        .await;
    let reading = tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("the reading arrives")
        .expect("a reading");
    assert!(reading.value.is_nan());
    assert_eq!(reading.high, f64::INFINITY);
    assert_eq!(reading.label, "NaN");
    assert_eq!(runner.stats().errors, 0);
    runner.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Messages that borrow from the frame
// ---------------------------------------------------------------------------------------------

/// A message whose strings point into the received frame: `&str` where the text has no
/// escapes, `Cow` where it may.
#[derive(Debug, Deserialize)]
struct Frame<'a> {
    name: &'a str,
    #[serde(borrow)]
    caption: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    tags: Vec<&'a str>,
}

#[service(name = "Viewer", pull = "tcp://127.0.0.1:1", stats_interval = "off")]
struct Viewer {
    tx: tokio::sync::mpsc::UnboundedSender<String>,
}

#[handlers]
impl Viewer {
    #[task]
    async fn frame(&mut self, frame: Frame<'_>) {
        let caption = match &frame.caption {
            std::borrow::Cow::Borrowed(c) => format!("borrowed {c:?}"),
            std::borrow::Cow::Owned(c) => format!("copied {c:?}"),
        };
        let _ = self
            .tx
            .send(format!("{} {caption} {:?}", frame.name, frame.tags));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handler_reads_strings_borrowed_from_the_frame() {
    capture::capture();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let mut pusher = Raw::bind(zmq::PUSH);
    let runner = Runner::new(Viewer { tx }).with_address(Role::Pull, pusher.endpoint.clone());
    runner.start().await.expect("start");
    // Plain text is borrowed; text with an escape can only be a copy (into the `Cow`); into
    // a `&str` it is a decode error that costs only that message.
    pusher
        .send(r#"{"name": "forest", "caption": "at dusk", "tags": ["a", "b"]}"#)
        .await;
    pusher
        .send(r#"{"name": "river", "caption": "a \"quoted\" word", "tags": []}"#)
        .await;
    pusher
        .send(r#"{"name": "sea\nshore", "caption": "x", "tags": []}"#)
        .await;
    pusher
        .send(r#"{"name": "hill", "caption": "é", "tags": ["c"]}"#)
        .await;
    let mut got = Vec::new();
    for _ in 0..3 {
        let line = tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .expect("a frame arrives")
            .expect("a frame");
        got.push(line);
    }
    assert_eq!(
        got,
        [
            r#"forest borrowed "at dusk" ["a", "b"]"#,
            r#"river copied "a \"quoted\" word" []"#,
            r#"hill borrowed "é" ["c"]"#,
        ]
    );
    assert_eq!(runner.stats().errors, 1);
    let refused = capture::logged(&["expected a borrowed string"]);
    assert_eq!(refused.len(), 1, "{:?}", capture::logs());
    runner.stop().await;
}
