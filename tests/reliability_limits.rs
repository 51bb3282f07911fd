//! Limits on what a peer can make a service do (issue 10): it cannot set the volume of the
//! log (warnings are rate-limited, `errors` counts every one), and it cannot make a
//! publisher hold more subscriptions than its budget.

mod reliability_support;

use std::io::Write;
use std::sync::Mutex;

use experimance::{handlers, service, Context, Role, Runner};
use reliability_support::{until, Raw, ANY_PORT, SAFETY};
use serde_json::Value;
use tokio::sync::mpsc;

/// At most this many warnings of one kind per window (the runtime's burst).
const BURST: usize = 10;

// ---------------------------------------------------------------------------------------------
// Log capture: the formatter users see, into a buffer
// ---------------------------------------------------------------------------------------------

static LOG: Mutex<Vec<u8>> = Mutex::new(Vec::new());

struct Capture;

impl Write for Capture {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        LOG.lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn capture() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let subscriber = tracing_subscriber::fmt()
            .with_writer(|| Capture)
            .with_ansi(false)
            .with_max_level(tracing::Level::INFO)
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("install the log capture");
    });
}

/// The captured lines that mention `service` and `text`.
fn lines(service: &str, text: &str) -> Vec<String> {
    let log = LOG.lock().unwrap_or_else(|e| e.into_inner());
    String::from_utf8_lossy(&log)
        .lines()
        .filter(|l| l.contains(service) && l.contains(text))
        .map(str::to_owned)
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Bad tasks
// ---------------------------------------------------------------------------------------------

#[service(
    name = "LimitsTasks",
    pull = "@tcp://127.0.0.1:*",
    stats_interval = "off"
)]
struct LimitsTasks;

#[handlers]
impl LimitsTasks {
    #[task]
    async fn task(&mut self, _msg: Value) {}
}

/// 1,000 tasks that are not JSON: `errors` counts all 1,000, but at most 10 `message not
/// handled` lines are written, and the stop writes one line that says how many were held back (990).
/// Without the rate limit there are 1,000 lines.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_bad_tasks_are_all_counted_and_a_handful_logged() {
    capture();
    let runner = Runner::new(LimitsTasks);
    runner.start().await.expect("start");
    let endpoint = runner.endpoint(Role::Pull).expect("endpoint");
    let mut pusher = Raw::connect(zmq::PUSH, &endpoint);
    for i in 0..1000 {
        pusher.send(format!("not json {i}")).await;
    }
    until("1,000 errors", || runner.stats().errors >= 1000).await;
    runner.stop().await;
    assert_eq!(runner.stats().errors, 1000);
    let written = lines("LimitsTasks", "message not handled");
    assert!(
        !written.is_empty() && written.len() <= BURST,
        "{} lines: {written:#?}",
        written.len()
    );
    let held_back = lines("LimitsTasks", "were not written");
    let total: usize = held_back
        .iter()
        .filter_map(|l| l.split("suppressed=").nth(1))
        .filter_map(|n| n.split_whitespace().next()?.parse::<usize>().ok())
        .sum();
    assert_eq!(total + written.len(), 1000, "{held_back:#?}");
}

// ---------------------------------------------------------------------------------------------
// Refused connections
// ---------------------------------------------------------------------------------------------

#[service(
    name = "LimitsPlain",
    pull = "@tcp://127.0.0.1:*",
    username = "installation",
    password = "right-password",
    stats_interval = "off"
)]
struct LimitsPlain;

#[handlers]
impl LimitsPlain {
    #[task]
    async fn task(&mut self, _msg: Value) {}
}

/// 200 connections with a wrong password: each is refused and counted in `errors`, but at
/// most 10 `connection refused` lines are written (an attacker used to set the log volume:
/// 1,000 attempts wrote 994 lines).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_refused_logins_are_all_counted_and_a_handful_logged() {
    capture();
    const ATTEMPTS: u64 = 200;
    let runner = Runner::new(LimitsPlain);
    runner.start().await.expect("start");
    let endpoint = runner.endpoint(Role::Pull).expect("endpoint");
    let context = zmq::Context::new();
    let sockets: Vec<zmq::Socket> = (0..ATTEMPTS)
        .map(|_| {
            let socket = context.socket(zmq::PUSH).expect("socket");
            socket.set_linger(0).expect("linger");
            socket
                .set_plain_username(Some("installation"))
                .expect("user");
            socket.set_plain_password(Some("wrong")).expect("password");
            socket.connect(&endpoint).expect("connect");
            socket
        })
        .collect();
    until("every attempt refused", || {
        runner.stats().errors >= ATTEMPTS
    })
    .await;
    drop(sockets);
    runner.stop().await;
    let written = lines("LimitsPlain", "connection refused");
    assert!(
        !written.is_empty() && written.len() <= BURST,
        "{} lines: {written:#?}",
        written.len()
    );
    assert!(
        !lines("LimitsPlain", "were not written").is_empty(),
        "the stop says how many refusals were not written"
    );
}

// ---------------------------------------------------------------------------------------------
// The subscription budget of a publisher
// ---------------------------------------------------------------------------------------------

#[service(name = "LimitsPub", pub = "@tcp://127.0.0.1:*", stats_interval = "off")]
struct LimitsPub;

#[handlers]
impl LimitsPub {
    #[every("10ms")]
    async fn tick(&mut self, ctx: &Context<Self>) -> Result<(), experimance::Error> {
        ctx.publish_to("tick", &serde_json::json!({ "n": 1 })).await
    }
}

/// A publisher with a budget of 50 subscriptions: a raw XSUB that subscribes to 60 distinct
/// prefixes is disconnected (its monitor sees it), the eviction is counted and logged, and a
/// well-behaved subscriber (one subscription) is not disconnected and keeps receiving. Without the budget
/// nothing disconnects the XSUB and libzmq keeps all its subscriptions.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_over_the_budget_is_disconnected_and_the_others_keep_receiving() {
    capture();
    let runner = Runner::new(LimitsPub)
        .with_address(Role::Pub, ANY_PORT)
        .with_max_subscriptions(50);
    runner.start().await.expect("start");
    let endpoint = runner.endpoint(Role::Pub).expect("endpoint");
    let mut good = Raw::sub(&endpoint, &["tick"]);
    good.recv().await;

    let attacker = Raw::new(zmq::XSUB);
    let mut monitor =
        attacker.monitor(&[zmq::SocketEvent::CONNECTED, zmq::SocketEvent::DISCONNECTED]);
    let mut attacker = attacker.connect_to(&endpoint);
    monitor.wait_for(&[zmq::SocketEvent::CONNECTED]).await;
    let subscriptions: Vec<Vec<Vec<u8>>> = (0..60)
        .map(|i| vec![[&[1u8][..], format!("x{i:04}").as_bytes()].concat()])
        .collect();
    attacker.send_all(subscriptions).await;
    monitor.wait_for(&[zmq::SocketEvent::DISCONNECTED]).await;
    until("the eviction counted", || runner.stats().errors >= 1).await;
    // The count comes just before the line: wait for the line.
    until("the eviction logged", || {
        !lines("LimitsPub", "over the service's budget").is_empty()
    })
    .await;

    let (tx, mut rx) = mpsc::unbounded_channel();
    let receiving = tokio::spawn(async move {
        for _ in 0..20 {
            let frame = good.recv().await;
            tx.send(frame).expect("send");
        }
        good
    });
    for _ in 0..20 {
        let frame = tokio::time::timeout(SAFETY, rx.recv())
            .await
            .expect("the good subscriber keeps receiving")
            .expect("frame");
        assert!(
            frame.starts_with(b"tick "),
            "{}",
            String::from_utf8_lossy(&frame)
        );
    }
    let _good = receiving.await.expect("receiver");
    drop(attacker);
    runner.stop().await;
}
