//! Peer liveness (issue 4) over real TCP sockets: a service that watches a heartbeat topic
//! sees each sender `alive`, `lost` when it stops (its last heartbeat says `stopping`) or
//! goes silent for three `peer_interval`s (a process killed with SIGKILL), and `alive` again
//! when it comes back. The `#[on_peer]` hook fires once per change, and the liveness table of
//! the stats agrees with it.
//!
//! Every wait ends on an event sent by the `#[on_peer]` hook into a channel (or on a line a
//! child process prints); timeouts are only safety nets, and nothing asserts on timing.
//!
//! The kill test re-executes this test binary (`--exact child_heartbeat_publisher
//! --nocapture`) with `EXPERIMANCE_LIVENESS_CHILD` set; the child test does nothing without
//! it.

mod liveness_support;

use std::time::Instant;

use experimance::{handlers, service, Context, Heartbeat, Liveness, Role, Runner, State, Status};
use liveness_support::{child_address, child_stdin, is_child, say, spawn_kid, SAFETY};
use tokio::sync::mpsc;

/// A bind address with a port chosen by the system.
const ANY_PORT: &str = "tcp://127.0.0.1:*";

/// The heartbeat topic the publishers use and the watchers follow.
const HEARTBEATS: &str = "peer.heartbeat";

/// What an `#[on_peer]` hook saw: the peer, its new liveness, and (for hooks that take a
/// context) the peer's liveness in the stats' table at that moment.
#[derive(Debug, Clone, PartialEq)]
struct PeerEvent {
    peer: String,
    liveness: Liveness,
    table: Option<Liveness>,
}

type Events = mpsc::UnboundedSender<PeerEvent>;

// ---------------------------------------------------------------------------------------------
// The services
// ---------------------------------------------------------------------------------------------

/// A publisher that only sends heartbeats, every 100 ms, on `peer.heartbeat`.
#[service(
    name = "LivePub",
    pub = "tcp://127.0.0.1:1",
    heartbeat = "peer.heartbeat",
    heartbeat_interval = "100ms",
    stats_interval = "off"
)]
struct LivePub;

#[handlers]
impl LivePub {}

/// The child process of the kill test: heartbeats every 50 ms, nothing else.
#[service(
    name = "KidPub",
    pub = "tcp://127.0.0.1:1",
    heartbeat = "peer.heartbeat",
    heartbeat_interval = "50ms",
    stats_interval = "off"
)]
struct KidPub;

#[handlers]
impl KidPub {}

/// A watcher whose peers cannot time out during a test (3 × 60 s): every `lost` it reports
/// comes from a heartbeat that said `stopping` (or `stopped`). Its hook takes no context.
#[service(
    name = "SlowWatcher",
    sub = "tcp://127.0.0.1:1",
    watch = ["peer.heartbeat"],
    peer_interval = "60s",
    stats_interval = "off"
)]
struct SlowWatcher {
    events: Events,
}

#[handlers]
impl SlowWatcher {
    #[on_peer]
    async fn peer(&mut self, peer: &str, liveness: Liveness) {
        let _ = self.events.send(PeerEvent {
            peer: peer.to_owned(),
            liveness,
            table: None,
        });
    }
}

/// A watcher that expects a heartbeat every 300 ms: a peer silent for 900 ms is lost. (Its
/// peer beats every 50 ms, so a loaded machine does not make it flap.) Its hook takes the
/// context and reports what the stats' table says when the hook runs.
#[service(
    name = "FastWatcher",
    sub = "tcp://127.0.0.1:1",
    watch = ["peer.heartbeat"],
    peer_interval = "300ms",
    stats_interval = "off"
)]
struct FastWatcher {
    events: Events,
}

#[handlers]
impl FastWatcher {
    #[on_peer]
    async fn peer(&mut self, peer: &str, liveness: Liveness, ctx: &Context<Self>) {
        let table = ctx.stats().peers.get(peer).map(|p| p.liveness);
        let _ = self.events.send(PeerEvent {
            peer: peer.to_owned(),
            liveness,
            table,
        });
    }
}

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

async fn next_event(rx: &mut mpsc::UnboundedReceiver<PeerEvent>, what: &str) -> PeerEvent {
    match tokio::time::timeout(SAFETY, rx.recv()).await {
        Ok(Some(event)) => event,
        Ok(None) => panic!("event channel closed while waiting for {what}"),
        Err(_) => panic!("no peer event within {SAFETY:?} while waiting for {what}"),
    }
}

/// Waits for the next hook call and checks it says `peer` became `liveness`, and that the
/// watcher's stats hold exactly that one peer with that liveness and last `state`.
async fn expect_change<S: experimance::Service>(
    rx: &mut mpsc::UnboundedReceiver<PeerEvent>,
    watcher: &Runner<S>,
    peer: &str,
    liveness: Liveness,
    state: State,
) {
    let event = next_event(rx, &format!("{peer} {liveness}")).await;
    assert_eq!(
        (event.peer.as_str(), event.liveness),
        (peer, liveness),
        "unexpected hook call"
    );
    if let Some(table) = event.table {
        assert_eq!(table, liveness, "the table is updated before the hook runs");
    }
    let peers = watcher.stats().peers;
    assert_eq!(
        peers.keys().collect::<Vec<_>>(),
        [peer],
        "the liveness table: {peers:?}"
    );
    let row = &peers[peer];
    assert_eq!(row.liveness, liveness, "the liveness table: {peers:?}");
    assert_eq!(row.state, state, "the last state the peer gave: {peers:?}");
    assert!(row.last_seen > 0.0, "a Unix time: {peers:?}");
}

/// After the watcher stopped (so no hook can run any more): no hook call is left unread.
fn assert_no_more_events(rx: &mut mpsc::UnboundedReceiver<PeerEvent>) {
    let mut extra = Vec::new();
    while let Ok(event) = rx.try_recv() {
        extra.push(event);
    }
    assert!(
        extra.is_empty(),
        "hooks fired more than once per change: {extra:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// (a) A service stopped and started again
// ---------------------------------------------------------------------------------------------

/// A publisher stopped with `stop()` is `lost` at once, by its last heartbeat (`stopping`):
/// the watcher cannot time it out within the test. Started again on the same endpoint, by a
/// new runner and then by `Runner::start` on a stopped runner, it is `alive` again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_service_is_lost_at_once_and_alive_again_when_restarted() {
    let first = Runner::new(LivePub).with_address(Role::Pub, ANY_PORT);
    first.start().await.expect("start the publisher");
    let endpoint = first.endpoint(Role::Pub).expect("bound endpoint");

    let (tx, mut rx) = mpsc::unbounded_channel();
    let watcher = Runner::new(SlowWatcher { events: tx }).with_address(Role::Sub, &endpoint);
    watcher.start().await.expect("start the watcher");

    expect_change(
        &mut rx,
        &watcher,
        "LivePub",
        Liveness::Alive,
        State::Running,
    )
    .await;

    // Stopped: its last heartbeat says `stopping`.
    first.stop().await;
    expect_change(
        &mut rx,
        &watcher,
        "LivePub",
        Liveness::Lost,
        State::Stopping,
    )
    .await;

    // Back on the endpoint the first run reported: the watcher's SUB reconnects by itself.
    let second = Runner::new(LivePub).with_address(Role::Pub, &endpoint);
    second
        .start()
        .await
        .expect("start again on the same endpoint");
    assert_eq!(
        second.endpoint(Role::Pub).as_deref(),
        Some(endpoint.as_str())
    );
    expect_change(
        &mut rx,
        &watcher,
        "LivePub",
        Liveness::Alive,
        State::Running,
    )
    .await;

    // The same runner, stopped and started again.
    second.stop().await;
    assert_eq!(second.state(), State::Stopped);
    expect_change(
        &mut rx,
        &watcher,
        "LivePub",
        Liveness::Lost,
        State::Stopping,
    )
    .await;
    second.start().await.expect("Runner::start from stopped");
    expect_change(
        &mut rx,
        &watcher,
        "LivePub",
        Liveness::Alive,
        State::Running,
    )
    .await;

    watcher.stop().await;
    assert_no_more_events(&mut rx);
    let stats = watcher.stats();
    assert_eq!(stats.errors, 0, "{stats}");
    assert_eq!(stats.peers["LivePub"].liveness, Liveness::Alive, "{stats}");
    assert_eq!(watcher.status(), Status::Healthy);
    second.stop().await;
}

// ---------------------------------------------------------------------------------------------
// (b) A peer process killed and restarted
// ---------------------------------------------------------------------------------------------

const CHILD_TEST: &str = "child_heartbeat_publisher";
const CHILD_MODE: &str = "heartbeat-publisher";

/// The child of [`a_killed_peer_is_lost_after_three_intervals_and_alive_when_restarted`]:
/// runs [`KidPub`] on the address the parent gives, prints `ENDPOINT <endpoint>` once it is
/// running, and runs until it is killed (or its stdin closes). Does nothing as a plain test.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn child_heartbeat_publisher() {
    if !is_child(CHILD_MODE) {
        return;
    }
    let mut stdin = child_stdin();
    let runner = Runner::new(KidPub).with_address(Role::Pub, child_address());
    runner.start().await.expect("child: start the publisher");
    say("ENDPOINT", runner.endpoint(Role::Pub).expect("endpoint"));
    while stdin.recv().await.is_some() {}
}

/// A peer process killed with SIGKILL sends no last heartbeat: the watcher reports it `lost`
/// once it missed three intervals (the table still gives `running`, the last state it said),
/// and `alive` when a new process runs on the same address. One hook call per change.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_peer_is_lost_after_three_intervals_and_alive_when_restarted() {
    let no_prefix: &[&str] = &[];
    let mut first = spawn_kid(no_prefix, CHILD_TEST, CHILD_MODE, ANY_PORT);
    let endpoint = first.line("ENDPOINT").await;

    let (tx, mut rx) = mpsc::unbounded_channel();
    let watcher = Runner::new(FastWatcher { events: tx }).with_address(Role::Sub, &endpoint);
    watcher.start().await.expect("start the watcher");
    expect_change(&mut rx, &watcher, "KidPub", Liveness::Alive, State::Running).await;

    let killed_at = Instant::now();
    first.kill().await;
    // No `stopping` heartbeat: lost by silence, so the last state it gave is `running`.
    expect_change(&mut rx, &watcher, "KidPub", Liveness::Lost, State::Running).await;
    eprintln!(
        "lost {:?} after the SIGKILL (3 × peer_interval = 900 ms)",
        killed_at.elapsed()
    );

    let mut second = spawn_kid(no_prefix, CHILD_TEST, CHILD_MODE, &endpoint);
    assert_eq!(second.line("ENDPOINT").await, endpoint, "same address");
    expect_change(&mut rx, &watcher, "KidPub", Liveness::Alive, State::Running).await;

    watcher.stop().await;
    assert_no_more_events(&mut rx);
    let stats = watcher.stats();
    assert_eq!(stats.errors, 0, "{stats}");
    assert_eq!(stats.peers["KidPub"].liveness, Liveness::Alive, "{stats}");
    second.tell("bye");
}

// ---------------------------------------------------------------------------------------------
// (c) Garbage on a watched topic
// ---------------------------------------------------------------------------------------------

/// A message on a watched topic that is not a heartbeat (invalid JSON, or JSON of the wrong
/// shape) counts one error each and changes nothing: the peers keep their liveness, and
/// later heartbeats still make and break peers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_on_a_watched_topic_counts_an_error_and_liveness_goes_on() {
    let context = zmq::Context::new();
    let raw = context.socket(zmq::PUB).expect("raw PUB");
    raw.set_linger(0).expect("linger");
    raw.bind(ANY_PORT).expect("bind raw PUB");
    let endpoint = raw
        .get_last_endpoint()
        .expect("endpoint")
        .expect("UTF-8 endpoint");
    let beat = |service: &str, state: State| {
        let body = serde_json::to_string(&Heartbeat::now(service, state)).expect("JSON");
        format!("{HEARTBEATS} {body}")
    };

    let (tx, mut rx) = mpsc::unbounded_channel();
    let watcher = Runner::new(SlowWatcher { events: tx }).with_address(Role::Sub, &endpoint);
    watcher.start().await.expect("start the watcher");

    // Until the watcher's subscription reaches the raw PUB, what it sends is dropped (the
    // slow joiner): send heartbeats until the hook reports the peer.
    let deadline = Instant::now() + SAFETY;
    let first = loop {
        raw.send(beat("RawPeer", State::Running).as_str(), 0)
            .expect("send heartbeat");
        let wait = std::time::Duration::from_millis(50);
        if let Ok(event) = tokio::time::timeout(wait, rx.recv()).await {
            break event.expect("event channel open");
        }
        assert!(
            Instant::now() < deadline,
            "the watcher never saw RawPeer within {SAFETY:?}"
        );
    };
    assert_eq!(
        first,
        PeerEvent {
            peer: "RawPeer".to_owned(),
            liveness: Liveness::Alive,
            table: None
        }
    );
    assert_eq!(watcher.stats().errors, 0);

    // Garbage, then a heartbeat of another peer: one connection delivers in order, so once
    // the hook reports that peer the garbage has been handled.
    raw.send(
        format!("{HEARTBEATS} {{\"type\": \"Heartbeat\", oops").as_str(),
        0,
    )
    .expect("send invalid JSON");
    raw.send(
        format!("{HEARTBEATS} {{\"type\": \"Heartbeat\"}}").as_str(),
        0,
    )
    .expect("send a heartbeat without service and state");
    raw.send(beat("OtherPeer", State::Running).as_str(), 0)
        .expect("send heartbeat");
    let event = next_event(&mut rx, "OtherPeer alive").await;
    assert_eq!(
        (event.peer.as_str(), event.liveness),
        ("OtherPeer", Liveness::Alive)
    );

    let stats = watcher.stats();
    assert_eq!(stats.errors, 2, "one error per bad heartbeat: {stats}");
    assert_eq!(watcher.state(), State::Running);
    assert_eq!(
        stats
            .peers
            .iter()
            .map(|(name, p)| (name.as_str(), p.liveness))
            .collect::<Vec<_>>(),
        [("OtherPeer", Liveness::Alive), ("RawPeer", Liveness::Alive)],
        "the garbage changed nothing: {stats}"
    );

    // Liveness still works: a `stopping` heartbeat makes RawPeer lost.
    raw.send(beat("RawPeer", State::Stopping).as_str(), 0)
        .expect("send heartbeat");
    let event = next_event(&mut rx, "RawPeer lost").await;
    assert_eq!(
        (event.peer.as_str(), event.liveness),
        ("RawPeer", Liveness::Lost)
    );
    assert_eq!(watcher.stats().peers["RawPeer"].state, State::Stopping);

    watcher.stop().await;
    assert_no_more_events(&mut rx);
    assert_eq!(watcher.stats().errors, 2);
}
