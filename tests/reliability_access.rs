//! Access control (issue 4): ZAP (RFC 27) on bound sockets, PLAIN credentials and an IP
//! allow-list, in both directions: a refused peer's messages never reach a handler, and a
//! refused peer receives nothing. Refusals are logged; secrets never are. CURVE without keys
//! fails at start (CURVE itself: `tests/curve.rs`).
//!
//! Every refusal is observed as an event: the raw peer's socket monitor reports the failed
//! handshake. Windows in which nothing may arrive are closed by a later event (a second
//! refused attempt, or a message to the well-behaved peer).

mod reliability_support;

use std::time::Duration;

use experimance::{handlers, service, Context, Error, Role, Runner, State, Status};
use reliability_support::capture::{capture, logs};
use reliability_support::{next, Raw, ANY_PORT, HANDSHAKE_ENDS, SAFETY};
use serde_json::{json, Value};
use tokio::sync::mpsc;
use zmq::SocketEvent;

const USER: &str = "installation";
/// Distinctive strings, so that finding them in a log is no accident.
const PASSWORD: &str = "pw-7f3a9c-right";
const WRONG: &str = "pw-51e0d2-wrong";
const ATTRIBUTE_PASSWORD: &str = "pw-0b8e44-attribute";

/// No secret in any log line of this binary so far (every test's).
fn assert_no_secrets() {
    for line in logs() {
        for secret in [PASSWORD, WRONG, ATTRIBUTE_PASSWORD] {
            assert!(!line.contains(secret), "a secret was logged: {line}");
        }
    }
}

/// The log line of a refused connection to service `service`, with `reason`.
fn refusal_logged(service: &str, reason: &str) -> String {
    logs()
        .into_iter()
        .find(|l| {
            l.contains("connection refused")
                && l.contains(&format!("service={service}"))
                && l.contains(reason)
        })
        .unwrap_or_else(|| {
            panic!(
                "no refusal of `{reason}` logged for {service}; logs: {:#?}",
                logs()
            )
        })
}

// ---------------------------------------------------------------------------------------------
// Services
// ---------------------------------------------------------------------------------------------

/// Publishes `tick {"n": n}` every 10 ms.
#[service(
    pub = "inproc://overridden-by-the-test",
    heartbeat_interval = "1h",
    stats_interval = "off"
)]
struct Ticker {
    n: u64,
}

#[handlers]
impl Ticker {
    #[every("10ms")]
    async fn tick(&mut self, ctx: &Context<Self>) -> Result<(), Error> {
        self.n += 1;
        ctx.publish_to("tick", &json!({ "n": self.n })).await
    }
}

/// Reports every task.
#[service(pull = "inproc://overridden-by-the-test", stats_interval = "off")]
struct Sink {
    tx: mpsc::UnboundedSender<Value>,
}

#[handlers]
impl Sink {
    #[task]
    async fn task(&mut self, msg: Value) {
        let _ = self.tx.send(msg);
    }
}

fn ticker(name: &str) -> Runner<Ticker> {
    Runner::new(Ticker { n: 0 })
        .with_name(name)
        .with_address(Role::Pub, ANY_PORT)
}

fn sink(name: &str) -> (Runner<Sink>, mpsc::UnboundedReceiver<Value>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let runner = Runner::new(Sink { tx })
        .with_name(name)
        .with_address(Role::Pull, "@tcp://127.0.0.1:*");
    (runner, rx)
}

/// A raw socket of `kind` with `credentials` (PLAIN, or none), monitored for its handshakes.
fn peer(kind: zmq::SocketType, credentials: Option<&str>) -> (Raw, reliability_support::Monitor) {
    let raw = Raw::new(kind);
    if let Some(password) = credentials {
        raw.sock().set_plain_username(Some(USER)).expect("username");
        raw.sock()
            .set_plain_password(Some(password))
            .expect("password");
    }
    if kind == zmq::SUB {
        raw.sock().set_subscribe(b"tick").expect("subscribe");
    }
    let monitor = raw.monitor(&HANDSHAKE_ENDS);
    (raw, monitor)
}

// ---------------------------------------------------------------------------------------------
// PLAIN
// ---------------------------------------------------------------------------------------------

/// A bound PUB with PLAIN: a raw SUB without credentials and one with the wrong password are
/// refused and receive nothing, while one with the right credentials receives ticks before,
/// during and after the window in which the others are checked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_pub_sends_nothing_to_subscribers_without_the_right_credentials() {
    capture();
    let runner = ticker("PlainPub").with_plain(Some((USER, PASSWORD)));
    runner.start().await.expect("start");
    let endpoint = runner.endpoint(Role::Pub).expect("endpoint");

    let (none, mut none_events) = peer(zmq::SUB, None);
    let mut none = none.connect_to(&endpoint);
    let (wrong, mut wrong_events) = peer(zmq::SUB, Some(WRONG));
    let mut wrong = wrong.connect_to(&endpoint);
    let (good, mut good_events) = peer(zmq::SUB, Some(PASSWORD));
    let mut good = good.connect_to(&endpoint);

    good_events
        .wait_for(&[SocketEvent::HANDSHAKE_SUCCEEDED])
        .await;
    assert!(good.recv().await.starts_with(b"tick "));
    none_events
        .expect_refused("a SUB without credentials")
        .await;
    wrong_events
        .expect_refused("a SUB with the wrong password")
        .await;
    assert!(none.recv_within(Duration::from_millis(300)).await.is_none());
    assert!(wrong
        .recv_within(Duration::from_millis(300))
        .await
        .is_none());
    // The publisher went on publishing all along.
    assert!(good.recv().await.starts_with(b"tick "));

    refusal_logged("PlainPub", "invalid username or password");
    assert_no_secrets();
    runner.stop().await;
}

/// A bound PULL with PLAIN: none of the tasks of a raw PUSH with the wrong password (or none)
/// reaches the handler; the right credentials' tasks all do, in order. The refusal is logged
/// with the peer's address and the reason, never with a password.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_pull_takes_nothing_from_pushers_without_the_right_credentials() {
    capture();
    let (runner, mut rx) = sink("PlainPull");
    let runner = runner.with_plain(Some((USER, PASSWORD)));
    runner.start().await.expect("start");
    let endpoint = runner.endpoint(Role::Pull).expect("endpoint");

    let (wrong, mut wrong_events) = peer(zmq::PUSH, Some(WRONG));
    let mut wrong = wrong.connect_to(&endpoint);
    let (none, mut none_events) = peer(zmq::PUSH, None);
    let mut none = none.connect_to(&endpoint);
    // Queued if the handshake is still under way; after a refusal a PUSH has no peer left
    // to send to, and the send is refused at once (both are fine).
    wrong.try_send(json!({"from": "wrong"}).to_string());
    none.try_send(json!({"from": "none"}).to_string());
    wrong_events
        .expect_refused("a PUSH with the wrong password")
        .await;
    none_events
        .expect_refused("a PUSH without credentials")
        .await;

    let (good, mut good_events) = peer(zmq::PUSH, Some(PASSWORD));
    let mut good = good.connect_to(&endpoint);
    for i in 0..10 {
        good.send(json!({"from": "good", "i": i}).to_string()).await;
    }
    for i in 0..10 {
        let msg = next(&mut rx, "a task of the good pusher").await;
        assert_eq!(msg, json!({"from": "good", "i": i}));
    }
    good_events
        .wait_for(&[SocketEvent::HANDSHAKE_SUCCEEDED])
        .await;
    runner.stop().await;
    if let Ok(msg) = rx.try_recv() {
        panic!("only the good pusher's tasks may be handled, got {msg}");
    }
    assert_eq!(runner.stats().messages_received, 10);

    let line = refusal_logged("PlainPull", "invalid username or password");
    assert!(
        line.contains("127.0.0.1"),
        "the peer's address is logged: {line}"
    );
    assert_no_secrets();
}

/// PLAIN from the attribute, replaced at run time: two services with the same credentials
/// (one binds a PUB, the other's SUB connects and sends them) talk; a subscriber service with
/// the attribute's (now wrong) password receives nothing.
#[service(
    sub = "inproc://overridden-by-the-test",
    topics = ["tick"],
    username = "installation",
    password = "pw-0b8e44-attribute",
    stats_interval = "off"
)]
struct Listener {
    tx: mpsc::UnboundedSender<Value>,
}

#[handlers]
impl Listener {
    #[topic("tick")]
    async fn tick(&mut self, msg: Value) {
        let _ = self.tx.send(msg);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn services_with_the_same_plain_credentials_talk_and_others_hear_nothing() {
    capture();
    let publisher = ticker("PlainTicker").with_plain(Some((USER, PASSWORD)));
    publisher.start().await.expect("start publisher");
    let endpoint = publisher.endpoint(Role::Pub).expect("endpoint");

    // The attribute's password is not the publisher's.
    let (tx, mut stale_rx) = mpsc::unbounded_channel();
    let stale = Runner::new(Listener { tx })
        .with_name("StaleListener")
        .with_address(Role::Sub, endpoint.clone());
    stale.start().await.expect("start stale listener");
    // The run-time override is.
    let (tx, mut rx) = mpsc::unbounded_channel();
    let listener = Runner::new(Listener { tx })
        .with_name("Listener")
        .with_address(Role::Sub, endpoint.clone())
        .with_plain(Some((USER, PASSWORD)));
    listener.start().await.expect("start listener");

    let first = next(&mut rx, "a tick at the listener with the right password").await;
    // Wait for the refusal of the stale listener logged by the publisher (libzmq does not
    // retry after it), then for a tick the good listener received later: the stale one got
    // none.
    let deadline = std::time::Instant::now() + SAFETY;
    while logs()
        .iter()
        .filter(|l| l.contains("connection refused") && l.contains("service=PlainTicker"))
        .count()
        == 0
    {
        assert!(
            std::time::Instant::now() < deadline,
            "no refusals logged: {:#?}",
            logs()
        );
        let _ = next(&mut rx, "ticks while waiting for refusals").await;
    }
    let later = next(&mut rx, "a later tick").await;
    assert!(later["n"].as_u64() > first["n"].as_u64());
    assert!(
        stale_rx.try_recv().is_err(),
        "a service with the wrong password receives nothing"
    );
    assert_eq!(stale.stats().messages_received, 0);
    listener.stop().await;
    stale.stop().await;
    publisher.stop().await;
    assert_no_secrets();
}

// ---------------------------------------------------------------------------------------------
// IP allow-list
// ---------------------------------------------------------------------------------------------

/// `allow = ["10.9.9.9"]` refuses peers from 127.0.0.1, in both directions: a raw PUSH's tasks
/// never reach the PULL's handler, and a raw SUB receives nothing from the PUB.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_allow_list_refuses_other_addresses() {
    capture();
    let (runner, mut rx) = sink("AllowPullOther");
    let runner = runner.with_allow(["10.9.9.9"]);
    runner.start().await.expect("start");
    let endpoint = runner.endpoint(Role::Pull).expect("endpoint");
    let (pusher, mut events) = peer(zmq::PUSH, None);
    let mut pusher = pusher.connect_to(&endpoint);
    // The pipe exists from `connect`, so the tasks are queued at once, before the handshake
    // is refused; one sent after the refusal finds no pipe and is refused here (a blocking
    // send would wait forever), which is just as good.
    for i in 0..5 {
        pusher.try_send(json!({ "i": i }).to_string());
    }
    events.expect_refused("a PUSH from 127.0.0.1").await;
    runner.stop().await;
    assert!(
        rx.try_recv().is_err(),
        "no task of a refused peer is handled"
    );
    assert_eq!(runner.stats().messages_received, 0);
    let line = refusal_logged("AllowPullOther", "address not allowed");
    assert!(line.contains("127.0.0.1"), "{line}");

    let publisher = ticker("AllowPubOther").with_allow(["10.9.9.9"]);
    publisher.start().await.expect("start");
    let endpoint = publisher.endpoint(Role::Pub).expect("endpoint");
    let (sub, mut events) = peer(zmq::SUB, None);
    let mut sub = sub.connect_to(&endpoint);
    events.expect_refused("a SUB from 127.0.0.1").await;
    assert!(sub.recv_within(Duration::from_millis(300)).await.is_none());
    publisher.stop().await;
    refusal_logged("AllowPubOther", "address not allowed");
}

/// `allow = ["127.0.0.0/8"]` (and a list with another network too) accepts 127.0.0.1 peers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_allow_list_accepts_matching_networks() {
    capture();
    let (runner, mut rx) = sink("AllowPullLoopback");
    let runner = runner.with_allow(["10.0.0.0/8", "127.0.0.0/8"]);
    runner.start().await.expect("start");
    let endpoint = runner.endpoint(Role::Pull).expect("endpoint");
    let mut pusher = Raw::new(zmq::PUSH).connect_to(&endpoint);
    for i in 0..5 {
        pusher.send(json!({ "i": i }).to_string()).await;
    }
    for i in 0..5 {
        assert_eq!(next(&mut rx, "an allowed task").await, json!({ "i": i }));
    }
    runner.stop().await;

    let publisher = ticker("AllowPubLoopback").with_allow(["127.0.0.0/8"]);
    publisher.start().await.expect("start");
    let endpoint = publisher.endpoint(Role::Pub).expect("endpoint");
    let (sub, _events) = peer(zmq::SUB, None);
    let mut sub = sub.connect_to(&endpoint);
    assert!(sub.recv().await.starts_with(b"tick "));
    publisher.stop().await;
}

/// A PLAIN service and an allow-list together: the right credentials from an allowed address
/// get in; from a refused address they do not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_and_allow_list_together() {
    capture();
    let (runner, mut rx) = sink("PlainAndAllow");
    let runner = runner
        .with_plain(Some((USER, PASSWORD)))
        .with_allow(["127.0.0.1"]);
    runner.start().await.expect("start");
    let endpoint = runner.endpoint(Role::Pull).expect("endpoint");
    let (good, mut events) = peer(zmq::PUSH, Some(PASSWORD));
    let mut good = good.connect_to(&endpoint);
    good.send(r#"{"ok":true}"#).await;
    events.wait_for(&[SocketEvent::HANDSHAKE_SUCCEEDED]).await;
    assert_eq!(next(&mut rx, "the allowed task").await, json!({"ok": true}));
    runner.stop().await;

    let (runner, mut rx) = sink("PlainButNotAllowed");
    let runner = runner
        .with_plain(Some((USER, PASSWORD)))
        .with_allow(["10.9.9.9"]);
    runner.start().await.expect("start");
    let endpoint = runner.endpoint(Role::Pull).expect("endpoint");
    let (good, mut events) = peer(zmq::PUSH, Some(PASSWORD));
    let mut good = good.connect_to(&endpoint);
    good.send(r#"{"ok":true}"#).await;
    events
        .expect_refused("the right credentials from a refused address")
        .await;
    runner.stop().await;
    assert!(rx.try_recv().is_err());
    assert_no_secrets();
}

// ---------------------------------------------------------------------------------------------
// CURVE
// ---------------------------------------------------------------------------------------------

#[service(
    pub = "inproc://overridden-by-the-test",
    curve = true,
    stats_interval = "off"
)]
struct Encrypted;

#[handlers]
impl Encrypted {}

/// `curve = true` without keys fails at start with `Error::Config` that names the missing key,
/// binds nothing, and leaves the service stopped and `fatal`: it never falls back to running
/// unencrypted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curve_without_keys_is_refused_at_start_never_silently_dropped() {
    let address = reliability_support::free_tcp_address();
    let runner = Runner::new(Encrypted).with_address(Role::Pub, address.clone());
    match runner.start().await {
        Err(Error::Config { service, message }) => {
            assert_eq!(service, "Encrypted");
            assert!(message.contains("CURVE"), "{message}");
            assert!(message.contains("curve_secret_key"), "{message}");
        }
        other => panic!("expected Error::Config, got {other:?}"),
    }
    assert_eq!(runner.state(), State::Stopped);
    assert_eq!(runner.status(), Status::Fatal);
    assert_eq!(runner.endpoint(Role::Pub), None);
    // Nothing was bound: the address is still free.
    std::net::TcpListener::bind(address.trim_start_matches("tcp://"))
        .expect("the CURVE service bound nothing");
}
