//! Bad input (issue 2): every kind of malformed message or failing handler is counted in
//! `errors`, and the service keeps handling the good messages around it.

mod common;

use common::{events, sync_service_sub, Events, Raw, Tx};
use experimance::{handlers, service, Role, Runner, State, Status};
use serde::Deserialize;
use serde_json::{json, Value};

#[derive(Debug, Deserialize)]
struct Typed {
    n: u64,
}

/// Subscribes to every topic, so that even an empty frame or a non-UTF-8 topic gets through
/// the SUB prefix filter and reaches the runtime's checks.
#[service(sub = "inproc://overridden-by-the-test", topics = [""], stats_interval = "off")]
struct Robust {
    tx: Tx,
}

#[handlers]
impl Robust {
    #[topic("probe")]
    async fn probe(&mut self, msg: Value) {
        self.tx.send("probe", "probe", msg);
    }

    #[topic("good")]
    async fn good(&mut self, msg: Value) {
        self.tx.send("good", "good", msg);
    }

    #[topic("typed")]
    async fn typed(&mut self, msg: Typed) {
        self.tx.send("typed", "typed", json!({ "n": msg.n }));
    }

    #[topic("fail")]
    async fn fail(&mut self, _msg: Value) -> Result<(), String> {
        Err("this handler always fails".to_owned())
    }

    #[topic("panic")]
    async fn panics(&mut self, _msg: Value) {
        panic!("this handler always panics");
    }
}

/// Sends `good {"i": i}` and checks it is the next thing handled.
async fn good_still_handled(raw: &mut Raw, events: &mut Events, i: usize, after: &str) {
    raw.send(format!(r#"good {{"i":{i}}}"#)).await;
    let event = events.next_non_probe().await;
    assert_eq!(
        (event.what.as_str(), &event.body),
        ("good", &json!({ "i": i })),
        "after {after}, the next good message must be handled (and nothing else)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_bad_sub_message_is_counted_and_the_next_good_one_handled() {
    let (tx, mut events) = events();
    let mut raw = Raw::bind(zmq::PUB);
    let runner = Runner::new(Robust { tx }).with_address(Role::Sub, raw.endpoint.clone());
    runner.start().await.expect("start");
    let probes = sync_service_sub(&mut raw, &mut events).await;

    let bad: Vec<(&str, Vec<Vec<u8>>)> = vec![
        ("a frame with no space", vec![b"typed{\"n\":1}".to_vec()]),
        ("a topic alone", vec![b"typed".to_vec()]),
        ("an empty frame", vec![Vec::new()]),
        (
            "an invalid UTF-8 topic",
            vec![b"\xff\xfe {\"n\":1}".to_vec()],
        ),
        ("invalid JSON", vec![b"typed {\"n\":".to_vec()]),
        ("not JSON at all", vec![b"good hello".to_vec()]),
        ("an empty payload", vec![b"good ".to_vec()]),
        (
            "invalid UTF-8 inside a JSON string",
            vec![b"good {\"s\":\"\xff\"}".to_vec()],
        ),
        (
            "a wrong field type",
            vec![b"typed {\"n\":\"one\"}".to_vec()],
        ),
        ("a missing field", vec![b"typed {\"m\":1}".to_vec()]),
        ("the wrong JSON shape", vec![b"typed [1,2,3]".to_vec()]),
        ("a handler returning Err", vec![b"fail {}".to_vec()]),
        ("a handler panicking", vec![b"panic {}".to_vec()]),
        (
            "a multi-frame message",
            vec![b"typed {\"n\":1}".to_vec(), b"{\"extra\":true}".to_vec()],
        ),
        (
            "a three-frame message",
            vec![b"good".to_vec(), b"{}".to_vec(), b"{}".to_vec()],
        ),
    ];
    let mut good = 0;
    for (i, (what, parts)) in bad.iter().enumerate() {
        raw.send_parts(parts.clone()).await;
        good_still_handled(&mut raw, &mut events, i, what).await;
        good += 1;
        assert_eq!(
            runner.stats().errors,
            i as u64 + 1,
            "{what} must count as exactly one error"
        );
    }
    // A well-typed message still reaches the typed handler.
    raw.send(r#"typed {"n":5}"#).await;
    assert_eq!(events.expect("typed").await.body, json!({"n": 5}));

    assert_eq!(runner.state(), State::Running);
    assert_eq!(runner.status(), Status::Healthy);
    runner.stop().await;
    let stats = runner.stats();
    assert_eq!(stats.errors, bad.len() as u64);
    // Every message taken off the socket is received, well-formed or not.
    assert_eq!(
        stats.messages_received,
        probes + bad.len() as u64 + good + 1
    );
}

#[service(pull = "inproc://overridden-by-the-test", stats_interval = "off")]
struct RobustWorker {
    tx: Tx,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "type")]
enum Job {
    Good { i: u64 },
    Fail,
    Panic,
}

#[handlers]
impl RobustWorker {
    #[task]
    async fn task(&mut self, job: Job) -> Result<(), String> {
        match job {
            Job::Good { i } => {
                self.tx.send("good", "", json!({ "i": i }));
                Ok(())
            }
            Job::Fail => Err("this task always fails".to_owned()),
            Job::Panic => panic!("this task always panics"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_bad_pull_message_is_counted_and_the_next_good_one_handled() {
    let (tx, mut events) = events();
    let mut raw = Raw::bind(zmq::PUSH);
    let runner = Runner::new(RobustWorker { tx }).with_address(Role::Pull, raw.endpoint.clone());
    runner.start().await.expect("start");

    let bad: Vec<(&str, Vec<Vec<u8>>)> = vec![
        ("an empty frame", vec![Vec::new()]),
        ("invalid JSON", vec![b"{\"type\":".to_vec()]),
        (
            "a topic-prefixed frame",
            vec![b"good {\"type\":\"Good\",\"i\":0}".to_vec()],
        ),
        (
            "invalid UTF-8",
            vec![b"{\"type\":\"Good\",\"i\":1,\"s\":\"\xc3\x28\"}".to_vec()],
        ),
        ("an unknown type", vec![b"{\"type\":\"Other\"}".to_vec()]),
        (
            "a wrong field type",
            vec![b"{\"type\":\"Good\",\"i\":-1}".to_vec()],
        ),
        ("the wrong JSON shape", vec![b"[\"Good\"]".to_vec()]),
        (
            "a handler returning Err",
            vec![b"{\"type\":\"Fail\"}".to_vec()],
        ),
        (
            "a handler panicking",
            vec![b"{\"type\":\"Panic\"}".to_vec()],
        ),
        (
            "a multi-frame message",
            vec![b"{\"type\":\"Good\",\"i\":99}".to_vec(), b"{}".to_vec()],
        ),
    ];
    for (i, (what, parts)) in bad.iter().enumerate() {
        raw.send_parts(parts.clone()).await;
        raw.send(format!(r#"{{"type": "Good", "i": {i}}}"#)).await;
        let event = events.next().await;
        assert_eq!(
            (event.what.as_str(), &event.body),
            ("good", &json!({ "i": i })),
            "after {what}, the next good task must be handled (and nothing else)"
        );
        assert_eq!(
            runner.stats().errors,
            i as u64 + 1,
            "{what} must count as exactly one error"
        );
    }
    assert_eq!(runner.state(), State::Running);
    runner.stop().await;
    let stats = runner.stats();
    assert_eq!(stats.errors, bad.len() as u64);
    assert_eq!(stats.messages_received, 2 * bad.len() as u64);
    assert_eq!(stats.status, Status::Healthy);
}

// ---------------------------------------------------------------------------------------------
// Invalid UTF-8 in a part of the JSON the handler's type does not read
// ---------------------------------------------------------------------------------------------

/// `docs/wire.md`: a message is UTF-8 text. A frame whose JSON holds invalid UTF-8 is malformed even
/// when the bad bytes sit in a field the handler's type ignores (Python's `frame.decode()`
/// rejects the whole frame).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_utf8_in_an_ignored_field_is_bad_sub_input() {
    let (tx, mut events) = events();
    let mut raw = Raw::bind(zmq::PUB);
    let runner = Runner::new(Robust { tx }).with_address(Role::Sub, raw.endpoint.clone());
    runner.start().await.expect("start");
    sync_service_sub(&mut raw, &mut events).await;

    raw.send(b"typed {\"n\":1,\"ignored\":\"\xff\"}".to_vec())
        .await;
    good_still_handled(
        &mut raw,
        &mut events,
        0,
        "invalid UTF-8 in an ignored field",
    )
    .await;
    runner.stop().await;
    assert_eq!(runner.stats().errors, 1);
}

#[service(pull = "inproc://overridden-by-the-test", stats_interval = "off")]
struct TypedWorker {
    tx: Tx,
}

#[handlers]
impl TypedWorker {
    #[task]
    async fn task(&mut self, msg: Typed) {
        self.tx.send("typed", "", json!({ "n": msg.n }));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_utf8_in_an_ignored_field_is_bad_pull_input() {
    let (tx, mut events) = events();
    let mut raw = Raw::bind(zmq::PUSH);
    let runner = Runner::new(TypedWorker { tx }).with_address(Role::Pull, raw.endpoint.clone());
    runner.start().await.expect("start");

    raw.send(b"{\"n\":1,\"ignored\":\"\xff\"}".to_vec()).await;
    raw.send(r#"{"n":2}"#).await;
    let event = events.next().await;
    assert_eq!(
        event.body,
        json!({"n": 2}),
        "the frame with invalid UTF-8 must not be handled"
    );
    runner.stop().await;
    assert_eq!(runner.stats().errors, 1);
}
