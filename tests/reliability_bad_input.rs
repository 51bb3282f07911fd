//! Bad input (issue 4): garbage from a raw peer never stops a service nor costs it a good
//! message, each bad message counts as exactly one error, a panicking handler leaves the
//! service's state usable, an oversized message is dropped by libzmq before it is buffered,
//! and a topic with a space is refused at publish with nothing on the wire.

mod reliability_support;

use std::time::Duration;

use experimance::{handlers, service, Context, Error, Role, Runner, Service, ServiceSpec, State};
use reliability_support::{next, quiet_panics, until, Raw, ANY_PORT, SAFETY};
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::sync::{mpsc, oneshot};

/// How many good messages the at-scale tests send.
const GOOD: u64 = 10_000;

/// The text of the panics handlers raise on purpose (their messages are not printed).
const DELIBERATE: &str = "deliberate panic in a test handler";

/// A good task, and what the handlers report.
#[derive(Debug, PartialEq)]
enum Ev {
    Probe(u64),
    Good(u64),
    Report { count: u64, sum: u64, panics: u64 },
}

/// The bad messages, each one frame list and a description; every one must cost exactly one
/// error. `i` makes each instance distinct.
fn bad_pull_message(kind: usize, i: u64) -> (&'static str, Vec<Vec<u8>>) {
    let one = |bytes: Vec<u8>| vec![bytes];
    match kind % 13 {
        0 => ("an empty frame", one(Vec::new())),
        1 => (
            "a PUB/SUB frame (topic first) on PUSH/PULL",
            one(format!(r#"good {{"type":"Good","i":{i}}}"#).into_bytes()),
        ),
        2 => (
            "invalid UTF-8 in a string the handler reads",
            one(format!(r#"{{"type":"Good","i":{i},"s":""#)
                .into_bytes()
                .into_iter()
                .chain(*b"\xc3\x28\"}")
                .collect()),
        ),
        3 => (
            "bytes that are not UTF-8 at all",
            one(b"\xff\xfe\xfd".to_vec()),
        ),
        4 => (
            "invalid JSON",
            one(format!(r#"{{"type":"Good","i":{i}"#).into_bytes()),
        ),
        5 => ("JSON of the wrong shape (array)", one(b"[1,2,3]".to_vec())),
        6 => (
            "a field of the wrong type",
            one(br#"{"type":"Good","i":"one"}"#.to_vec()),
        ),
        7 => (
            "an unknown message type",
            one(br#"{"type":"Nope"}"#.to_vec()),
        ),
        8 => ("a missing field", one(br#"{"type":"Good"}"#.to_vec())),
        9 => (
            "a two-frame message (the first frame alone would be good)",
            vec![
                br#"{"type":"Good","i":999999999}"#.to_vec(),
                br#"{"type":"Good","i":999999998}"#.to_vec(),
            ],
        ),
        10 => (
            "a handler returning Err",
            one(br#"{"type":"Fail"}"#.to_vec()),
        ),
        11 => (
            "invalid UTF-8 in a field the handler ignores",
            one(format!(r#"{{"type":"Good","i":{i},"ignored":""#)
                .into_bytes()
                .into_iter()
                .chain(*b"\xff\"}")
                .collect()),
        ),
        _ => ("a handler panicking", one(br#"{"type":"Panic"}"#.to_vec())),
    }
}

#[derive(Debug, Deserialize)]
#[serde(tag = "type")]
enum Task {
    Good {
        i: u64,
        #[serde(default)]
        #[allow(dead_code)]
        s: String,
    },
    Fail,
    Panic,
    Report,
}

#[service(pull = "inproc://overridden-by-the-test", stats_interval = "off")]
struct Worker {
    tx: mpsc::UnboundedSender<Ev>,
    count: u64,
    sum: u64,
    panics: u64,
}

#[handlers]
impl Worker {
    #[task]
    async fn task(&mut self, task: Task) -> Result<(), String> {
        match task {
            Task::Good { i, .. } => {
                self.count += 1;
                self.sum += i;
                let _ = self.tx.send(Ev::Good(i));
                Ok(())
            }
            Task::Fail => Err("this task always fails".to_owned()),
            Task::Panic => {
                // A mutation made before the panic stays: the state is not rolled back, and
                // not poisoned either.
                self.panics += 1;
                panic!("{DELIBERATE}");
            }
            Task::Report => {
                let _ = self.tx.send(Ev::Report {
                    count: self.count,
                    sum: self.sum,
                    panics: self.panics,
                });
                Ok(())
            }
        }
    }
}

/// 10,000 good tasks interleaved with 1,429 bad ones (every kind of bad input, about 110 of
/// each) from a raw PUSH: every good task is handled, in order; `errors` equals the number of
/// bad ones exactly; the handler state survives the panics (later tasks still mutate it).
/// PUSH/PULL never drops, so the counts are exact.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_good_tasks_among_bad_ones_all_handled_and_errors_exact() {
    quiet_panics(DELIBERATE);
    let (tx, mut rx) = mpsc::unbounded_channel();
    let mut raw = Raw::new(zmq::PUSH).bind_to(ANY_PORT);
    let runner = Runner::new(Worker {
        tx,
        count: 0,
        sum: 0,
        panics: 0,
    })
    .with_address(Role::Pull, raw.endpoint.clone());
    runner.start().await.expect("start");

    let mut messages = Vec::new();
    let mut bad = 0u64;
    let mut panics = 0u64;
    let mut kinds = std::collections::BTreeMap::new();
    for i in 0..GOOD {
        messages.push(vec![format!(r#"{{"type":"Good","i":{i}}}"#).into_bytes()]);
        if i % 7 == 3 {
            let kind = (i / 7) as usize;
            let (what, parts) = bad_pull_message(kind, i);
            messages.push(parts);
            bad += 1;
            *kinds.entry(what).or_insert(0u64) += 1;
            if what == "a handler panicking" {
                panics += 1;
            }
        }
    }
    assert_eq!(
        kinds.len(),
        13,
        "every kind of bad input is sent: {kinds:?}"
    );
    messages.push(vec![br#"{"type":"Report"}"#.to_vec()]);
    raw.send_all(messages).await;

    for i in 0..GOOD {
        let event = next(&mut rx, "a handled good task").await;
        assert_eq!(
            event,
            Ev::Good(i),
            "good task {i} must be the next thing handled"
        );
    }
    let report = next(&mut rx, "the report").await;
    assert_eq!(
        report,
        Ev::Report {
            count: GOOD,
            sum: GOOD * (GOOD - 1) / 2,
            panics,
        },
        "the state is intact and usable after {panics} panics"
    );
    let stats = runner.stats();
    assert_eq!(stats.errors, bad, "one error per bad message ({kinds:?})");
    assert_eq!(stats.messages_received, GOOD + bad + 1);
    assert_eq!(runner.state(), State::Running);
    runner.stop().await;
    assert_eq!(runner.stats().errors, bad);
}

// ---------------------------------------------------------------------------------------------
// The same over PUB/SUB
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Deserialize)]
struct Good {
    i: u64,
    #[serde(default)]
    #[allow(dead_code)]
    s: String,
}

#[service(sub = "inproc://overridden-by-the-test", topics = [""], stats_interval = "off")]
struct Subscriber {
    tx: mpsc::UnboundedSender<Ev>,
    count: u64,
    sum: u64,
    panics: u64,
}

#[handlers]
impl Subscriber {
    #[topic("probe")]
    async fn probe(&mut self, msg: Value) {
        let _ = self
            .tx
            .send(Ev::Probe(msg["n"].as_u64().expect("probe number")));
    }

    #[topic("good")]
    async fn good(&mut self, msg: Good) {
        self.count += 1;
        self.sum += msg.i;
        let _ = self.tx.send(Ev::Good(msg.i));
    }

    #[topic("fail")]
    async fn fail(&mut self, _msg: Value) -> Result<(), String> {
        Err("this handler always fails".to_owned())
    }

    #[topic("panic")]
    async fn panic(&mut self, _msg: Value) {
        self.panics += 1;
        panic!("{DELIBERATE}");
    }

    #[topic("report")]
    async fn report(&mut self, _msg: Value) {
        let _ = self.tx.send(Ev::Report {
            count: self.count,
            sum: self.sum,
            panics: self.panics,
        });
    }
}

fn bad_sub_frame(kind: usize, i: u64) -> (&'static str, Vec<Vec<u8>>) {
    let one = |bytes: Vec<u8>| vec![bytes];
    match kind % 14 {
        0 => (
            "a frame without a space",
            one(format!(r#"good{{"i":{i}}}"#).into_bytes()),
        ),
        1 => ("a topic alone", one(b"good".to_vec())),
        2 => ("an empty frame", one(Vec::new())),
        3 => (
            "a topic that is not UTF-8",
            one(b"\xff\xfe {\"i\":1}".to_vec()),
        ),
        4 => (
            "invalid UTF-8 in a string the handler reads",
            one(b"good {\"i\":1,\"s\":\"\xc3\x28\"}".to_vec()),
        ),
        5 => (
            "invalid JSON",
            one(format!(r#"good {{"i":{i}"#).into_bytes()),
        ),
        6 => ("not JSON at all", one(b"good hello".to_vec())),
        7 => ("an empty payload", one(b"good ".to_vec())),
        8 => (
            "JSON of the wrong shape (array)",
            one(b"good [1,2,3]".to_vec()),
        ),
        9 => (
            "a field of the wrong type",
            one(br#"good {"i":"one"}"#.to_vec()),
        ),
        10 => (
            "a two-frame message (the first frame alone would be good)",
            vec![
                br#"good {"i":999999999}"#.to_vec(),
                br#"{"i":999999998}"#.to_vec(),
            ],
        ),
        11 => ("a handler returning Err", one(b"fail {}".to_vec())),
        12 => (
            "invalid UTF-8 in a field the handler ignores",
            one(b"good {\"i\":1,\"ignored\":\"\xff\"}".to_vec()),
        ),
        _ => ("a handler panicking", one(b"panic {}".to_vec())),
    }
}

/// The PUB/SUB version: the raw PUB's and the service's high-water marks are raised above the
/// number of messages sent, so nothing may be dropped and the counts are exact. Probes are
/// sent until one is handled (the slow joiner), and counting starts after them. A topic no
/// handler takes (`goodx`: dispatch compares topics exactly) is received but not an error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_good_frames_among_bad_ones_over_pub_sub() {
    quiet_panics(DELIBERATE);
    let (tx, mut rx) = mpsc::unbounded_channel();
    let raw = Raw::new(zmq::PUB);
    raw.sock().set_sndhwm(100_000).expect("sndhwm");
    let mut raw = raw.bind_to(ANY_PORT);
    let runner = Runner::new(Subscriber {
        tx,
        count: 0,
        sum: 0,
        panics: 0,
    })
    .with_address(Role::Sub, raw.endpoint.clone())
    .with_hwm(Role::Sub, 100_000);
    runner.start().await.expect("start");

    // The slow joiner: probe until one is handled, then wait for the stragglers.
    let mut sent = 0;
    let first = loop {
        assert!(sent < 200, "the service never received a probe");
        sent += 1;
        raw.send(format!(r#"probe {{"n":{sent}}}"#)).await;
        match tokio::time::timeout(Duration::from_millis(50), rx.recv()).await {
            Ok(Some(Ev::Probe(n))) => break n,
            Ok(other) => panic!("unexpected {other:?}"),
            Err(_) => {}
        }
    };
    let mut probes = 1;
    let mut last = first;
    while last < sent {
        match next(&mut rx, "a straggling probe").await {
            Ev::Probe(n) => last = n,
            other => panic!("unexpected {other:?}"),
        }
        probes += 1;
    }

    let mut messages = Vec::new();
    let (mut bad, mut neutral, mut panics) = (0u64, 0u64, 0u64);
    let mut kinds = std::collections::BTreeMap::new();
    for i in 0..GOOD {
        messages.push(vec![format!(r#"good {{"i":{i}}}"#).into_bytes()]);
        if i % 7 == 3 {
            let (what, parts) = bad_sub_frame((i / 7) as usize, i);
            messages.push(parts);
            bad += 1;
            *kinds.entry(what).or_insert(0u64) += 1;
            if what == "a handler panicking" {
                panics += 1;
            }
        }
        if i % 100 == 50 {
            // A topic that only starts like a handled one: no handler, not an error.
            messages.push(vec![format!(r#"goodx {{"i":{i}}}"#).into_bytes()]);
            neutral += 1;
        }
    }
    assert_eq!(
        kinds.len(),
        14,
        "every kind of bad input is sent: {kinds:?}"
    );
    messages.push(vec![b"report {}".to_vec()]);
    raw.send_all(messages).await;

    for i in 0..GOOD {
        let event = next(&mut rx, "a handled good frame").await;
        assert_eq!(
            event,
            Ev::Good(i),
            "good frame {i} must be the next thing handled"
        );
    }
    let report = next(&mut rx, "the report").await;
    assert_eq!(
        report,
        Ev::Report {
            count: GOOD,
            sum: GOOD * (GOOD - 1) / 2,
            panics,
        }
    );
    let stats = runner.stats();
    assert_eq!(stats.errors, bad, "one error per bad frame ({kinds:?})");
    assert_eq!(stats.messages_received, probes + GOOD + bad + neutral + 1);
    assert_eq!(runner.state(), State::Running);
    runner.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Oversized messages
// ---------------------------------------------------------------------------------------------

#[service(pull = "inproc://overridden-by-the-test", stats_interval = "off")]
struct Limited {
    tx: mpsc::UnboundedSender<Value>,
}

#[handlers]
impl Limited {
    #[task]
    async fn task(&mut self, msg: Value) {
        let _ = self.tx.send(msg);
    }
}

/// A JSON object of exactly `size` bytes: `{"tag":"<tag>","pad":"xxx…"}`.
fn json_of_size(tag: &str, size: usize) -> Vec<u8> {
    let head = format!(r#"{{"tag":"{tag}","pad":""#);
    let pad = size
        .checked_sub(head.len() + 2)
        .expect("size too small for the tag");
    let mut out = head.into_bytes();
    out.extend(std::iter::repeat_n(b'x', pad));
    out.extend_from_slice(b"\"}");
    assert_eq!(out.len(), size);
    out
}

/// Sends `oversize` bytes from a fresh raw PUSH to the service's bound PULL whose maximum is
/// `max`: the service drops that connection (the raw socket's monitor sees it disconnected)
/// and never hands the message to the handler; a message of exactly `max` bytes from another
/// fresh connection afterwards is handled.
async fn oversize_is_dropped(
    runner: Runner<Limited>,
    rx: &mut mpsc::UnboundedReceiver<Value>,
    max: usize,
) {
    runner.start().await.expect("start");
    let endpoint = runner.endpoint(Role::Pull).expect("pull endpoint");

    let raw = Raw::new(zmq::PUSH);
    let mut monitor = raw.monitor(&[
        zmq::SocketEvent::HANDSHAKE_SUCCEEDED,
        zmq::SocketEvent::DISCONNECTED,
    ]);
    let mut offender = raw.connect_to(&endpoint);
    monitor
        .wait_for(&[zmq::SocketEvent::HANDSHAKE_SUCCEEDED])
        .await;
    offender.send(json_of_size("big", max + 1)).await;
    monitor.wait_for(&[zmq::SocketEvent::DISCONNECTED]).await;

    let mut fresh = Raw::new(zmq::PUSH).connect_to(&endpoint);
    fresh.send(json_of_size("limit", max)).await;
    fresh.send(r#"{"tag":"small"}"#).await;
    let first = next(rx, "the message of exactly the maximum size").await;
    assert_eq!(
        first["tag"], "limit",
        "a message of exactly the maximum is accepted"
    );
    let second = next(rx, "the small message").await;
    assert_eq!(second["tag"], "small");

    runner.stop().await;
    if let Ok(msg) = rx.try_recv() {
        panic!("nothing else may be handled, got {}", msg["tag"]);
    }
    let stats = runner.stats();
    assert_eq!(
        stats.messages_received, 2,
        "the oversized message never reached the service"
    );
    drop(monitor);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_over_the_configured_maximum_never_reaches_the_handler() {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let runner = Runner::new(Limited { tx })
        .with_address(Role::Pull, "@tcp://127.0.0.1:*")
        .with_max_message_size(1024);
    oversize_is_dropped(runner, &mut rx, 1024).await;
}

/// The default maximum is 16 MiB, and the runtime applies it when nothing is configured.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_default_maximum_is_16_mib_and_enforced() {
    const MIB16: usize = 16 * 1024 * 1024;
    assert_eq!(ServiceSpec::DEFAULT.max_message_size, MIB16 as i64);
    assert_eq!(<Limited as Service>::SPEC.max_message_size, MIB16 as i64);
    let (tx, mut rx) = mpsc::unbounded_channel();
    let runner = Runner::new(Limited { tx }).with_address(Role::Pull, "@tcp://127.0.0.1:*");
    oversize_is_dropped(runner, &mut rx, MIB16).await;
}

// ---------------------------------------------------------------------------------------------
// A topic with a space at publish
// ---------------------------------------------------------------------------------------------

#[service(
    pub = "inproc://overridden-by-the-test",
    heartbeat = "hb",
    heartbeat_interval = "1h",
    stats_interval = "off"
)]
struct Publisher {
    ctx: Option<oneshot::Sender<Context<Publisher>>>,
}

#[handlers]
impl Publisher {
    #[on_start]
    async fn started(&mut self, ctx: &Context<Self>) {
        if let Some(tx) = self.ctx.take() {
            let _ = tx.send(ctx.clone());
        }
    }
}

/// A frame of the raw SUB that is not the heartbeat.
async fn next_non_heartbeat(sub: &mut Raw) -> String {
    loop {
        let frame = String::from_utf8(sub.recv().await).expect("UTF-8 frame");
        if !frame.starts_with("hb ") {
            return frame;
        }
    }
}

/// `publish_to` with a topic that has a space (or is empty), and `publish` of a message whose
/// `"type"` has a space, return `Error::InvalidTopic` and send nothing: a raw SUB subscribed
/// to everything sees the next good message first, and only that one is counted as sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_topic_with_a_space_is_refused_and_nothing_goes_on_the_wire() {
    let (ctx_tx, ctx_rx) = oneshot::channel();
    let runner = Runner::new(Publisher { ctx: Some(ctx_tx) }).with_address(Role::Pub, ANY_PORT);
    runner.start().await.expect("start");
    let ctx = tokio::time::timeout(SAFETY, ctx_rx)
        .await
        .expect("on_start ran")
        .expect("context");
    let endpoint = runner.endpoint(Role::Pub).expect("pub endpoint");
    let raw = Raw::new(zmq::SUB);
    raw.sock()
        .set_subscribe(b"")
        .expect("subscribe to everything");
    let mut sub = raw.connect_to(&endpoint);

    // The slow joiner: publish probes until the raw SUB sees one, then read the stragglers.
    let mut sent = 0u64;
    let mut last = 'probing: loop {
        assert!(sent < 200, "the raw SUB never received a probe");
        sent += 1;
        ctx.publish_to("probe", &json!({ "n": sent }))
            .await
            .expect("publish probe");
        while let Some(parts) = sub.recv_within(Duration::from_millis(50)).await {
            let frame = String::from_utf8(parts[0].clone()).unwrap();
            if let Some(json) = frame.strip_prefix("probe ") {
                let v: Value = serde_json::from_str(json).unwrap();
                break 'probing v["n"].as_u64().unwrap();
            }
        }
    };
    while last < sent {
        let frame = next_non_heartbeat(&mut sub).await;
        let json = frame.strip_prefix("probe ").expect("a straggling probe");
        last = serde_json::from_str::<Value>(json).unwrap()["n"]
            .as_u64()
            .unwrap();
    }

    // The heartbeat at start (the only one: the period is an hour) is counted by now.
    until("a heartbeat at start", || {
        runner.stats().messages_sent > sent
    })
    .await;
    let sent_before = runner.stats().messages_sent;
    assert_eq!(sent_before, sent + 1, "{sent} probes and one heartbeat");
    for topic in ["bad topic", " leading", "trailing ", ""] {
        match ctx.publish_to(topic, &json!({"x": 1})).await {
            Err(Error::InvalidTopic(t)) => assert_eq!(t, topic),
            other => panic!("topic {topic:?}: expected InvalidTopic, got {other:?}"),
        }
    }
    match ctx.publish(&json!({"type": "Has Space", "x": 1})).await {
        Err(Error::InvalidTopic(t)) => assert_eq!(t, "Has Space"),
        other => panic!("a \"type\" with a space: expected InvalidTopic, got {other:?}"),
    }
    ctx.publish_to("after", &json!({"n": 1}))
        .await
        .expect("good publish");
    assert_eq!(next_non_heartbeat(&mut sub).await, r#"after {"n":1}"#);
    assert_eq!(
        runner.stats().messages_sent - sent_before,
        1,
        "only the good message was sent"
    );
    assert_eq!(runner.state(), State::Running);
    runner.stop().await;
}
