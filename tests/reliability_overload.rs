//! Overload (issue 4): a stalled subscriber does not block its publisher nor grow its memory
//! without bound; PUSH applies back-pressure, `push_timeout` gives up with
//! `Error::SendTimeout`, and nothing is dropped silently.

mod reliability_support;

use std::collections::BTreeSet;
use std::time::Duration;

use experimance::{handlers, service, Context, Error, Role, Runner};
use reliability_support::{
    child_mode, child_stdin, say, spawn_child, status_kib, Raw, ANY_PORT, SAFETY,
};
use serde::Serialize;
use serde_json::{json, Value};
use tokio::sync::oneshot;

/// How many messages the flood publishes.
const FLOOD: u64 = 1_000_000;

/// The bound on the publisher's resident memory growth during the flood: 64 MiB. The flood
/// itself is about 100 MB of messages, so a publisher that queued them for the stalled
/// subscriber (a high-water mark of 0, "no limit") would exceed it; one that drops at its
/// high-water mark (the default 1000 messages per subscriber) stays a few MiB above where it
/// started.
const RSS_BOUND_KIB: u64 = 64 * 1024;

#[service(
    name = "FloodPublisher",
    pub = "inproc://overridden-by-the-test",
    heartbeat_interval = "1h",
    stats_interval = "off"
)]
struct FloodPublisher {
    ctx: Option<oneshot::Sender<Context<FloodPublisher>>>,
}

#[handlers]
impl FloodPublisher {
    #[on_start]
    async fn started(&mut self, ctx: &Context<Self>) {
        if let Some(tx) = self.ctx.take() {
            let _ = tx.send(ctx.clone());
        }
    }
}

/// About 100 bytes on the wire: `flood {"n":123456,"pad":"xxx…"}`.
#[derive(Serialize)]
struct Flood<'a> {
    n: u64,
    pad: &'a str,
}

/// The child: publishes probes until the parent's stalled SUB has seen one (the parent says
/// `GO`), then publishes the flood and reports its resident memory before and its peak after.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn child_flood_publisher() {
    if child_mode().as_deref() != Some("flood_publisher") {
        return;
    }
    let mut stdin = child_stdin();
    let (ctx_tx, ctx_rx) = oneshot::channel();
    let runner =
        Runner::new(FloodPublisher { ctx: Some(ctx_tx) }).with_address(Role::Pub, ANY_PORT);
    runner.start().await.expect("start");
    let ctx = ctx_rx.await.expect("context");
    say(format_args!(
        "ENDPOINT {}",
        runner.endpoint(Role::Pub).expect("endpoint")
    ));
    let mut n = 0u64;
    loop {
        n += 1;
        ctx.publish_to("probe", &json!({ "n": n }))
            .await
            .expect("probe");
        match tokio::time::timeout(Duration::from_millis(20), stdin.recv()).await {
            Ok(Some(line)) if line == "GO" => break,
            Ok(other) => panic!("unexpected {other:?}"),
            Err(_) => {}
        }
    }
    let pad = "x".repeat(70);
    let before = status_kib("VmRSS");
    let started = std::time::Instant::now();
    for n in 0..FLOOD {
        ctx.publish_to("flood", &Flood { n, pad: &pad })
            .await
            .expect("publish never fails or blocks for a stalled subscriber");
    }
    let elapsed = started.elapsed();
    let after = status_kib("VmRSS");
    let peak = status_kib("VmHWM");
    say(format_args!(
        "RESULT {FLOOD} {before} {after} {peak} {}",
        elapsed.as_millis()
    ));
    runner.stop().await;
}

/// A raw SUB that connects, subscribes to everything, reads one probe (so the subscription
/// is live) and then never reads again, with a receive high-water mark of 10: the publisher
/// process publishes a million ~100-byte messages anyway, and its peak resident memory stays
/// within 64 MiB of what it was before the flood.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_subscriber_neither_blocks_the_publisher_nor_grows_its_memory() {
    let mut child = spawn_child("child_flood_publisher", "flood_publisher", &[]);
    let endpoint = child.line("ENDPOINT").await;
    let raw = Raw::new(zmq::SUB);
    raw.sock().set_rcvhwm(10).expect("rcvhwm");
    raw.sock().set_subscribe(b"").expect("subscribe");
    let mut stalled = raw.connect_to(&endpoint);
    // The subscription is live once a probe arrives (the heartbeat at start may come first).
    while !stalled.recv().await.starts_with(b"probe ") {}
    child.tell("GO");

    // A million sends in a debug build: the safety net is wider than usual.
    let mut result = None;
    for _ in 0..12 {
        if let Some(line) = child.next_line_within(SAFETY).await {
            if let Some(at) = line.find("RESULT ") {
                result = Some(line[at + 7..].to_owned());
                break;
            }
        }
    }
    let result = result.unwrap_or_else(|| panic!("no RESULT; child printed {:?}", child.seen));
    let fields: Vec<u64> = result
        .split_whitespace()
        .map(|f| f.parse().unwrap())
        .collect();
    let [sent, before, after, peak, millis] = fields[..] else {
        panic!("bad RESULT {result:?}")
    };
    eprintln!(
        "published {sent} in {millis} ms; VmRSS {before} KiB before, {after} KiB after, \
         VmHWM {peak} KiB"
    );
    assert_eq!(sent, FLOOD);
    assert!(
        peak.saturating_sub(before) < RSS_BOUND_KIB,
        "the publisher's peak resident memory grew by {} KiB (bound {RSS_BOUND_KIB} KiB)",
        peak - before
    );
    // The stalled subscriber was connected all along: it still has messages queued.
    assert!(stalled.recv_within(SAFETY).await.is_some());
    let (status, lines) = child.wait().await;
    assert!(status.success(), "child failed: {lines:?}");
}

// ---------------------------------------------------------------------------------------------
// PUSH back-pressure
// ---------------------------------------------------------------------------------------------

#[service(push = "inproc://overridden-by-the-test", stats_interval = "off")]
struct Pusher {
    ctx: Option<oneshot::Sender<Context<Pusher>>>,
}

#[handlers]
impl Pusher {
    #[on_start]
    async fn started(&mut self, ctx: &Context<Self>) {
        if let Some(tx) = self.ctx.take() {
            let _ = tx.send(ctx.clone());
        }
    }
}

/// With a raw PULL that never reads and high-water marks of 10 on both sides, pushes of 10 KiB
/// tasks with `push_timeout` succeed until the queues are full, then return
/// `Error::SendTimeout` (each counted as an error); a plain `push` waits. When the puller
/// starts reading it receives exactly the pushes that returned `Ok`, in order, then the
/// waiting one, and none that timed out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_waits_when_peers_are_full_and_push_timeout_never_drops_silently() {
    const TIMEOUT: Duration = Duration::from_millis(100);
    let (ctx_tx, ctx_rx) = oneshot::channel();
    let runner = Runner::new(Pusher { ctx: Some(ctx_tx) })
        .with_address(Role::Push, ANY_PORT)
        .with_hwm(Role::Push, 10);
    runner.start().await.expect("start");
    let ctx = tokio::time::timeout(SAFETY, ctx_rx).await.unwrap().unwrap();
    let endpoint = runner.endpoint(Role::Push).expect("endpoint");
    let raw = Raw::new(zmq::PULL);
    raw.sock().set_rcvhwm(10).expect("rcvhwm");
    let mut puller = raw.connect_to(&endpoint);

    let pad = "x".repeat(10 * 1024);
    let task = |i: u64| json!({ "i": i, "pad": pad });
    // The first plain push waits for the peer, so what follows measures full queues, not a
    // missing peer.
    ctx.push(&task(0)).await.expect("first push");
    let mut ok = vec![0u64];
    let mut timed_out = BTreeSet::new();
    let mut i = 1;
    let mut in_a_row = 0;
    while in_a_row < 3 {
        assert!(i < 100_000, "push_timeout never timed out");
        match ctx.push_timeout(&task(i), TIMEOUT).await {
            Ok(()) => {
                ok.push(i);
                in_a_row = 0;
            }
            Err(Error::SendTimeout { role, after, .. }) => {
                assert_eq!((role, after), (Role::Push, TIMEOUT));
                timed_out.insert(i);
                in_a_row += 1;
            }
            Err(e) => panic!("unexpected error {e}"),
        }
        i += 1;
    }
    assert!(
        ok.len() > 1,
        "some pushes succeeded before the queues were full"
    );
    assert_eq!(
        runner.stats().errors,
        timed_out.len() as u64,
        "each timeout is an error"
    );

    // A plain push waits while the peer is full...
    let mut waiting = {
        let ctx = ctx.clone();
        let marker = json!({ "i": u64::MAX, "pad": "" });
        tokio::spawn(async move { ctx.push(&marker).await })
    };
    assert!(
        tokio::time::timeout(Duration::from_millis(300), &mut waiting)
            .await
            .is_err(),
        "push must wait while every peer is full (nothing reads, so nothing can free room)"
    );

    // ...and the puller, reading at last, gets every Ok push, in order, then the waiting one.
    let mut received = Vec::new();
    loop {
        let frame = puller.recv().await;
        let value: Value = serde_json::from_slice(&frame).expect("JSON task");
        let n = value["i"].as_u64().expect("i");
        if n == u64::MAX {
            break;
        }
        received.push(n);
    }
    tokio::time::timeout(SAFETY, waiting)
        .await
        .expect("the waiting push completed")
        .unwrap()
        .expect("the waiting push succeeded");
    assert_eq!(
        received, ok,
        "exactly the pushes that returned Ok arrive, in order"
    );
    assert!(received.iter().all(|n| !timed_out.contains(n)));
    runner.stop().await;
}

/// A puller that reads more slowly than the service pushes is slow, not dead: it keeps its
/// connection and receives every task. The service asks for a 100 ms ZMTP heartbeat; the
/// runtime applies ZMTP heartbeats to PUB/SUB only, because on PUSH/PULL a PING queued behind
/// megabytes of tasks reaches a slow reader late, its PONG misses the timeout, and libzmq
/// drops the connection with every task queued for it (with raw libzmq sockets and this
/// setup, about two thirds of the tasks are lost).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_puller_keeps_its_connection_and_loses_nothing() {
    const TASKS: u64 = 5_000;
    let (ctx_tx, ctx_rx) = oneshot::channel();
    let runner = Runner::new(Pusher { ctx: Some(ctx_tx) })
        .with_address(Role::Push, ANY_PORT)
        .with_hwm(Role::Push, 2 * TASKS as i32)
        .with_zmtp_heartbeat(Some(Duration::from_millis(100)));
    runner.start().await.expect("start");
    let ctx = tokio::time::timeout(SAFETY, ctx_rx).await.unwrap().unwrap();
    let endpoint = runner.endpoint(Role::Push).expect("endpoint");
    let raw = Raw::new(zmq::PULL);
    raw.sock().set_rcvhwm(10).expect("rcvhwm");
    raw.sock().set_rcvbuf(64 * 1024).expect("rcvbuf");
    let mut monitor = raw.monitor(&[
        zmq::SocketEvent::HANDSHAKE_SUCCEEDED,
        zmq::SocketEvent::DISCONNECTED,
    ]);
    let mut puller = raw.connect_to(&endpoint);
    monitor
        .wait_for(&[zmq::SocketEvent::HANDSHAKE_SUCCEEDED])
        .await;

    let pad = "x".repeat(1024);
    for i in 0..TASKS {
        ctx.push(&json!({ "i": i, "pad": pad }))
            .await
            .expect("push");
    }
    for i in 0..TASKS {
        let Some(frame) = puller.recv_within(Duration::from_secs(5)).await else {
            while monitor.next_within(Duration::ZERO).await.is_some() {}
            panic!(
                "task {i} never arrived; the puller's connection events: {:?}",
                monitor.seen
            );
        };
        let value: Value = serde_json::from_slice(&frame[0]).expect("JSON task");
        assert_eq!(value["i"], i);
        // The slow part: 200 µs of work per task (not synchronisation).
        std::thread::sleep(Duration::from_micros(200));
    }
    assert_eq!(monitor.next_within(Duration::ZERO).await, None);
    assert!(
        !monitor.seen.contains(&zmq::SocketEvent::DISCONNECTED),
        "the slow puller was disconnected: {:?}",
        monitor.seen
    );
    runner.stop().await;
}
