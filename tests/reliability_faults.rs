//! Faults (issue 4): processes killed with SIGKILL and restarted, over real TCP.
//!
//! The parent tests re-execute this test binary (`--exact child_* --nocapture`) with
//! `EXPERIMANCE_RELIABILITY_CHILD` set; the child tests do nothing without it.
//!
//! # What ZeroMQ guarantees for PUSH/PULL here (libzmq 4.3, as vendored by the `zmq` crate)
//!
//! These are the facts the tests below check, for the Experimance topology (the
//! controller's PUSH binds, workers' PULL connect):
//!
//! - **At most once.** There are no acknowledgements and no redelivery: a task is received
//!   once or not at all, never twice, and a restarted worker never gets a task that was meant
//!   for its previous incarnation.
//! - **Lossless and in order while a connection lives.** A PUSH never drops (a send waits
//!   while every peer is at its high-water mark), so what one worker receives from one
//!   controller is, task for task, the order it was pushed in.
//! - **A worker's death loses what was already routed to it.** Tasks in the dead worker's
//!   receive queue (up to its RCVHWM), in the kernel's buffers of its TCP connection, and in
//!   the controller's pipe for that peer (up to SNDHWM: a bound PUSH discards the pipe of a
//!   peer whose connection dropped) are lost. libzmq does not re-route them to the other
//!   workers.
//! - **Routing skips full peers.** Round robin skips a peer whose pipe is at its high-water
//!   mark, so once a stuck worker's queues are full every later push goes to the others, and
//!   a push made after such a worker died reaches a live worker. (A push made in the short
//!   window between a worker's death and libzmq noticing it, to a worker whose queue still had
//!   room, can be lost: ZeroMQ gives no guarantee for it, and no test relies on it.)
//! - **A controller's death loses what it had queued but not yet written**, and nothing
//!   else: what a worker received is a gap-free prefix of what that controller pushed. Workers
//!   reconnect by themselves (their PULL connects, with libzmq's reconnect) and receive from
//!   the restarted controller without a restart of their own.
//!
//! Publishers behave alike: a SUB reconnects to a publisher restarted on the same address and
//! resumes; what was published while it was away is gone (PUB/SUB never queues for absent
//! subscribers).

mod reliability_support;

use std::collections::{BTreeSet, HashMap};
use std::os::unix::process::ExitStatusExt;

use std::time::Duration;

use experimance::{handlers, service, Context, Role, Runner, ServiceSpec, State};
use reliability_support::{
    child_arg, child_mode, child_stdin, free_tcp_address, next, port_of, say, spawn_child,
    tcp_sockets, until_tcp, Kid, Raw, ANY_PORT, SAFETY, TCP_ESTABLISHED,
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::sync::{mpsc, oneshot};

// ---------------------------------------------------------------------------------------------
// The child services
// ---------------------------------------------------------------------------------------------

/// Publishes `tick {"gen": g, "n": n}` every 10 ms.
#[service(
    name = "TickPublisher",
    pub = "inproc://overridden-by-the-test",
    heartbeat_interval = "1h",
    stats_interval = "off"
)]
struct TickPublisher {
    generation: u64,
    n: u64,
}

#[handlers]
impl TickPublisher {
    #[on_start]
    async fn started(&mut self, ctx: &Context<Self>) {
        say(format_args!(
            "RUNNING {}",
            ctx.endpoint(Role::Pub).expect("endpoint")
        ));
    }

    #[every("10ms")]
    async fn tick(&mut self, ctx: &Context<Self>) -> Result<(), experimance::Error> {
        self.n += 1;
        ctx.publish_to("tick", &json!({ "gen": self.generation, "n": self.n }))
            .await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn child_publisher() {
    if child_mode().as_deref() != Some("publisher") {
        return;
    }
    let _stdin = child_stdin();
    let runner = Runner::new(TickPublisher {
        generation: child_arg("GEN").parse().unwrap(),
        n: 0,
    })
    .with_address(Role::Pub, child_arg("ADDR"));
    runner.run().await.expect("run");
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Job {
    gen: u64,
    i: u64,
    #[serde(default)]
    pad: String,
}

/// A worker: prints `TASK <i>` for every task; a `stuck` one hangs forever in its first task.
#[service(
    name = "ChildWorker",
    pull = "inproc://overridden-by-the-test",
    stats_interval = "off"
)]
struct ChildWorker {
    stuck: bool,
}

#[handlers]
impl ChildWorker {
    #[on_start]
    async fn started(&mut self) {
        say("READY");
    }

    #[task]
    async fn task(&mut self, job: Job) {
        say(format_args!("TASK {}", job.i));
        if self.stuck {
            std::future::pending::<()>().await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn child_worker() {
    let Some(mode) = child_mode() else { return };
    if mode != "worker" && mode != "stuck_worker" {
        return;
    }
    let _stdin = child_stdin();
    let runner = Runner::new(ChildWorker {
        stuck: mode == "stuck_worker",
    })
    .with_address(Role::Pull, child_arg("ADDR"))
    .with_hwm(Role::Pull, 4);
    runner.run().await.expect("run");
}

/// A controller: pushes `{"gen": g, "i": i}` for i in 0..COUNT (forever when COUNT is 0),
/// then prints `PUSHED <count>`.
#[service(
    name = "ChildController",
    push = "inproc://overridden-by-the-test",
    stats_interval = "off"
)]
struct ChildController {
    generation: u64,
    count: u64,
}

#[handlers]
impl ChildController {
    #[on_start]
    async fn started(&mut self, ctx: &Context<Self>) {
        let (generation, count) = (self.generation, self.count);
        let ctx2 = ctx.clone();
        ctx.spawn("push", async move {
            let mut i = 0;
            while count == 0 || i < count {
                let job = Job {
                    gen: generation,
                    i,
                    pad: String::new(),
                };
                ctx2.push(&job).await?;
                i += 1;
            }
            say(format_args!("PUSHED {count}"));
            Ok::<(), experimance::Error>(())
        });
        say("RUNNING");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn child_controller() {
    if child_mode().as_deref() != Some("controller") {
        return;
    }
    let _stdin = child_stdin();
    let runner = Runner::new(ChildController {
        generation: child_arg("GEN").parse().unwrap(),
        count: child_arg("COUNT").parse().unwrap(),
    })
    .with_address(Role::Push, child_arg("ADDR"))
    .with_hwm(Role::Push, 10);
    runner.run().await.expect("run");
}

// ---------------------------------------------------------------------------------------------
// The parent services
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Deserialize)]
struct Tick {
    gen: u64,
    n: u64,
}

#[service(
    sub = "inproc://overridden-by-the-test",
    topics = ["tick"],
    stats_interval = "off"
)]
struct TickSubscriber {
    tx: mpsc::UnboundedSender<(u64, u64)>,
}

#[handlers]
impl TickSubscriber {
    #[topic("tick")]
    async fn tick(&mut self, tick: Tick) {
        let _ = self.tx.send((tick.gen, tick.n));
    }
}

fn spawn_publisher(address: &str, generation: u64) -> Kid {
    spawn_child(
        "child_publisher",
        "publisher",
        &[("ADDR", address), ("GEN", &generation.to_string())],
    )
}

/// Waits for a tick of generation `generation`, skipping older ones.
async fn tick_of(rx: &mut mpsc::UnboundedReceiver<(u64, u64)>, generation: u64) {
    loop {
        let (g, _) = next(rx, &format!("a tick of publisher generation {generation}")).await;
        if g == generation {
            return;
        }
        assert!(g < generation, "tick of an unknown generation {g}");
    }
}

async fn assert_killed(child: Kid) {
    let status = child.kill().await;
    assert_eq!(
        status.signal(),
        Some(9),
        "the child died of SIGKILL: {status:?}"
    );
}

/// A publisher process killed with SIGKILL and restarted on the same address: the subscriber
/// service resumes receiving, without a restart of its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publisher_killed_and_restarted_on_the_same_address_subscriber_resumes() {
    let address = free_tcp_address();
    let mut first = spawn_publisher(&address, 1);
    first.line("RUNNING").await;

    let (tx, mut rx) = mpsc::unbounded_channel();
    let runner = Runner::new(TickSubscriber { tx }).with_address(Role::Sub, address.clone());
    runner.start().await.expect("start");
    tick_of(&mut rx, 1).await;

    assert_killed(first).await;
    let mut second = spawn_publisher(&address, 2);
    second.line("RUNNING").await;
    tick_of(&mut rx, 2).await;

    assert_eq!(
        runner.state(),
        State::Running,
        "the subscriber never stopped"
    );
    assert_eq!(runner.stats().errors, 0);
    runner.stop().await;
    assert_killed(second).await;
}

/// A subscriber started before its publisher exists receives once the publisher comes up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscriber_started_before_its_publisher_receives_once_it_is_up() {
    let address = free_tcp_address();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let runner = Runner::new(TickSubscriber { tx }).with_address(Role::Sub, address.clone());
    runner.start().await.expect("start");
    assert_eq!(runner.state(), State::Running);

    let mut publisher = spawn_publisher(&address, 1);
    publisher.line("RUNNING").await;
    tick_of(&mut rx, 1).await;
    runner.stop().await;
    assert_killed(publisher).await;
}

// ---------------------------------------------------------------------------------------------
// PUSH/PULL: a worker killed mid-stream
// ---------------------------------------------------------------------------------------------

#[service(push = "inproc://overridden-by-the-test", stats_interval = "off")]
struct Controller {
    ctx: Option<oneshot::Sender<Context<Controller>>>,
}

#[handlers]
impl Controller {
    #[on_start]
    async fn started(&mut self, ctx: &Context<Self>) {
        if let Some(tx) = self.ctx.take() {
            let _ = tx.send(ctx.clone());
        }
    }
}

#[service(pull = "inproc://overridden-by-the-test", stats_interval = "off")]
struct Puller {
    tx: mpsc::UnboundedSender<(u64, u64)>,
}

#[handlers]
impl Puller {
    #[task]
    async fn task(&mut self, job: Job) {
        let _ = self.tx.send((job.gen, job.i));
    }
}

/// 64 KiB of padding per task, so that the kernel's TCP buffers of a connection hold tens of
/// tasks, not tens of thousands, and a stuck worker's queues fill quickly.
fn pad() -> String {
    "x".repeat(64 * 1024)
}

/// A worker (a child process) hangs in its first task while a second worker keeps up; once
/// the stuck worker's queues are full (the last 100 tasks all went to the other worker) it is
/// killed with SIGKILL. Then, as the module documentation states:
/// - the tasks queued for the dead worker are lost: not received by the survivor, not by the
///   restarted worker (at least one is lost: the stuck worker's full queues held some);
/// - every task pushed after the kill is received;
/// - no task is received twice;
/// - a restarted worker receives new tasks and none of the lost ones.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worker_killed_mid_stream_loses_exactly_what_was_queued_for_it() {
    const RUN: u64 = 100;
    const AFTER_KILL: u64 = 200;

    let (ctx_tx, ctx_rx) = oneshot::channel();
    let controller = Runner::new(Controller { ctx: Some(ctx_tx) })
        .with_address(Role::Push, ANY_PORT)
        .with_hwm(Role::Push, 4);
    controller.start().await.expect("start controller");
    let ctx = tokio::time::timeout(SAFETY, ctx_rx).await.unwrap().unwrap();
    let endpoint = controller.endpoint(Role::Push).expect("push endpoint");

    let mut stuck = spawn_child("child_worker", "stuck_worker", &[("ADDR", &endpoint)]);
    stuck.line("READY").await;
    let (tx, mut survivor_rx) = mpsc::unbounded_channel();
    let survivor = Runner::new(Puller { tx })
        .with_address(Role::Pull, endpoint.clone())
        .with_hwm(Role::Pull, 4);
    survivor.start().await.expect("start survivor");

    // Push until the survivor has received the last RUN tasks pushed (in order: one
    // connection is FIFO), which means the stuck worker's pipe was full all that time.
    let (stop_tx, mut stop_rx) = oneshot::channel::<()>();
    let pusher = {
        let ctx = ctx.clone();
        tokio::spawn(async move {
            let pad = pad();
            let mut i = 0u64;
            loop {
                let job = Job {
                    gen: 1,
                    i,
                    pad: pad.clone(),
                };
                tokio::select! {
                    biased;
                    _ = &mut stop_rx => return i,
                    pushed = ctx.push(&job) => pushed.expect("push"),
                }
                i += 1;
            }
        })
    };
    // The stuck worker is connected once it prints its first task; from then on round robin
    // alternates until its queues are full, after which every task goes to the survivor.
    let mut survivor_got: BTreeSet<u64> = BTreeSet::new();
    let mut stuck_first: Option<u64> = None;
    loop {
        tokio::select! {
            line = stuck.line("TASK"), if stuck_first.is_none() => {
                stuck_first = Some(line.parse().unwrap());
            }
            got = survivor_rx.recv() => {
                let (_, i) = got.expect("survivor");
                assert!(survivor_got.insert(i), "task {i} received twice");
                let full = stuck_first.is_some_and(|first| {
                    i >= first + RUN && (i + 1 - RUN..=i).all(|j| survivor_got.contains(&j))
                });
                if full {
                    break;
                }
            }
        }
    }
    let _ = stop_tx.send(());
    let pushed_before_kill = tokio::time::timeout(SAFETY, pusher).await.unwrap().unwrap();
    let stuck_first = stuck_first.unwrap();

    assert_killed(stuck).await;

    for i in pushed_before_kill..pushed_before_kill + AFTER_KILL {
        ctx.push(&Job {
            gen: 1,
            i,
            pad: String::new(),
        })
        .await
        .expect("push after the kill");
    }
    // Every task pushed after the kill arrives (the last one last: FIFO).
    let last = pushed_before_kill + AFTER_KILL - 1;
    loop {
        let (_, i) = next(&mut survivor_rx, "tasks pushed after the kill").await;
        assert!(survivor_got.insert(i), "task {i} received twice");
        if i == last {
            break;
        }
    }
    for i in pushed_before_kill..=last {
        assert!(
            survivor_got.contains(&i),
            "task {i}, pushed after the kill, was lost"
        );
    }
    assert!(
        !survivor_got.contains(&stuck_first),
        "task {stuck_first} received twice"
    );
    let lost: BTreeSet<u64> = (0..pushed_before_kill)
        .filter(|i| !survivor_got.contains(i) && *i != stuck_first)
        .collect();
    eprintln!(
        "pushed {pushed_before_kill} before the kill; the survivor got {}; the stuck worker \
         held task {stuck_first}; {} were lost with it",
        survivor_got.len(),
        lost.len()
    );
    assert!(
        !lost.is_empty(),
        "the tasks queued for the stuck worker are lost (ZeroMQ does not re-route them)"
    );

    // A restarted worker gets new tasks, never the lost ones.
    let mut restarted = spawn_child("child_worker", "worker", &[("ADDR", &endpoint)]);
    restarted.line("READY").await;
    let mut restarted_got: BTreeSet<u64> = BTreeSet::new();
    let mut i = last + 1;
    while restarted_got.is_empty() {
        assert!(
            i < last + 10_000,
            "the restarted worker never received a task"
        );
        let batch: Vec<u64> = (i..i + 10).collect();
        for &j in &batch {
            ctx.push(&Job {
                gen: 1,
                i: j,
                pad: String::new(),
            })
            .await
            .expect("push to the restarted worker");
        }
        // Each task of the batch arrives at one of the two workers.
        let mut arrived = 0;
        while arrived < batch.len() {
            tokio::select! {
                got = survivor_rx.recv() => {
                    let (_, j) = got.expect("survivor");
                    assert!(survivor_got.insert(j), "task {j} received twice");
                }
                line = restarted.line("TASK") => {
                    let j: u64 = line.parse().unwrap();
                    assert!(j > last, "the restarted worker got old task {j}");
                    assert!(restarted_got.insert(j), "task {j} received twice");
                    assert!(!survivor_got.contains(&j), "task {j} received twice");
                }
            }
            arrived = batch
                .iter()
                .filter(|j| survivor_got.contains(j) || restarted_got.contains(j))
                .count();
        }
        i += 10;
    }
    assert!(
        restarted_got.iter().all(|&j| j > last),
        "the restarted worker received only new tasks: {restarted_got:?}"
    );
    for j in &lost {
        assert!(!survivor_got.contains(j));
    }
    survivor.stop().await;
    controller.stop().await;
    drop(restarted);
}

// ---------------------------------------------------------------------------------------------
// PUSH/PULL: a controller killed and restarted
// ---------------------------------------------------------------------------------------------

fn spawn_controller(address: &str, generation: u64, count: u64) -> Kid {
    spawn_child(
        "child_controller",
        "controller",
        &[
            ("ADDR", address),
            ("GEN", &generation.to_string()),
            ("COUNT", &count.to_string()),
        ],
    )
}

/// A controller process pushing without end is killed with SIGKILL mid-stream and restarted
/// on the same address; the worker service, never restarted, receives:
/// - from the dead controller, a gap-free prefix `0..k` of what it pushed (the rest, queued
///   in the dead process, is lost);
/// - from the restarted one, every task, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn controller_killed_and_restarted_worker_resumes_and_loses_only_the_tail() {
    const FIRST_SEEN: u64 = 100;
    const SECOND: u64 = 1_000;
    let address = free_tcp_address();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let worker = Runner::new(Puller { tx }).with_address(Role::Pull, address.clone());
    worker.start().await.expect("start worker");

    let mut first = spawn_controller(&address, 1, 0);
    first.line("RUNNING").await;
    let mut got: HashMap<u64, Vec<u64>> = HashMap::new();
    while got.get(&1).map_or(0, Vec::len) < FIRST_SEEN as usize {
        let (g, i) = next(&mut rx, "tasks of the first controller").await;
        got.entry(g).or_default().push(i);
    }
    assert_killed(first).await;

    let mut second = spawn_controller(&address, 2, SECOND);
    second.line("RUNNING").await;
    while got.get(&2).and_then(|v| v.last()) != Some(&(SECOND - 1)) {
        let (g, i) = next(&mut rx, "tasks of the restarted controller").await;
        got.entry(g).or_default().push(i);
    }
    // With pushes queued by the service, the pushes may all return before `on_start`
    // prints RUNNING: the PUSHED line may already have been read.
    if !second.seen.iter().any(|l| l.contains("PUSHED")) {
        second.line("PUSHED").await;
    }
    while let Ok((g, i)) = rx.try_recv() {
        got.entry(g).or_default().push(i);
    }

    let first_got = &got[&1];
    let k = first_got.len() as u64;
    eprintln!("the worker got tasks 0..{k} from the killed controller");
    assert!(k >= FIRST_SEEN);
    assert_eq!(
        *first_got,
        (0..k).collect::<Vec<_>>(),
        "from the killed controller: a gap-free prefix, in order, no duplicates"
    );
    assert_eq!(
        got[&2],
        (0..SECOND).collect::<Vec<_>>(),
        "from the restarted controller: everything, in order"
    );
    assert_eq!(worker.state(), State::Running, "the worker never stopped");
    assert_eq!(worker.stats().errors, 0);
    worker.stop().await;
    assert_killed(second).await;
}

// ---------------------------------------------------------------------------------------------
// ZMTP heartbeats notice a peer that stopped responding
// ---------------------------------------------------------------------------------------------

/// The child: a raw SUB connected to `ADDR`, which says `CONNECTED` once its handshake is done
/// and then does nothing (the parent freezes it with SIGSTOP).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn child_frozen_subscriber() {
    if child_mode().as_deref() != Some("frozen_sub") {
        return;
    }
    let _stdin = child_stdin();
    let raw = Raw::new(zmq::SUB);
    raw.sock().set_subscribe(b"").expect("subscribe");
    let mut monitor = raw.monitor(&[zmq::SocketEvent::HANDSHAKE_SUCCEEDED]);
    let _sub = raw.connect_to(&child_arg("ADDR"));
    monitor
        .wait_for(&[zmq::SocketEvent::HANDSHAKE_SUCCEEDED])
        .await;
    say("CONNECTED");
    std::future::pending::<()>().await;
}

#[service(
    pub = "inproc://overridden-by-the-test",
    heartbeat_interval = "1h",
    stats_interval = "off"
)]
struct Quiet;

#[handlers]
impl Quiet {}

/// Starts `Quiet` with `zmtp_heartbeat`, connects a child's raw SUB to its PUB, freezes the
/// child (SIGSTOP: its kernel still acknowledges TCP, but nothing answers ZMTP) and returns
/// the runner, the child, the PUB's port and the child's port.
async fn frozen_peer(zmtp_heartbeat: Option<Duration>) -> (Runner<Quiet>, Kid, u16, u16) {
    let runner = Runner::new(Quiet)
        .with_address(Role::Pub, ANY_PORT)
        .with_zmtp_heartbeat(zmtp_heartbeat);
    runner.start().await.expect("start");
    let endpoint = runner.endpoint(Role::Pub).expect("endpoint");
    let port = port_of(&endpoint);
    let mut child = spawn_child(
        "child_frozen_subscriber",
        "frozen_sub",
        &[("ADDR", &endpoint)],
    );
    child.line("CONNECTED").await;
    let sockets = until_tcp("the service accepted the child's connection", |sockets| {
        sockets
            .iter()
            .any(|s| s.local_port == port && s.state == TCP_ESTABLISHED)
    })
    .await;
    let peer = sockets
        .iter()
        .find(|s| s.local_port == port && s.state == TCP_ESTABLISHED)
        .unwrap()
        .remote_port;
    child.signal("STOP");
    (runner, child, port, peer)
}

fn service_side_established(port: u16, peer: u16) -> bool {
    tcp_sockets()
        .iter()
        .any(|s| s.local_port == port && s.remote_port == peer && s.state == TCP_ESTABLISHED)
}

/// ZMTP heartbeats are on by default (5 s; a peer silent for three periods is dropped). With
/// a 100 ms period, the service closes its end of the connection to a frozen peer (the kernel
/// shows it leave ESTABLISHED); with heartbeats off, the connection stays up (checked over a
/// one-second window, ten times the 300 ms in which the heartbeat drops it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zmtp_heartbeats_are_on_by_default_and_drop_a_frozen_peer() {
    assert_eq!(
        ServiceSpec::DEFAULT.zmtp_heartbeat,
        Some(Duration::from_secs(5))
    );
    assert_eq!(
        <Quiet as experimance::Service>::SPEC.zmtp_heartbeat,
        Some(Duration::from_secs(5))
    );

    let (runner, child, port, peer) = frozen_peer(Some(Duration::from_millis(100))).await;
    until_tcp("the service dropped the frozen peer", |sockets| {
        !sockets
            .iter()
            .any(|s| s.local_port == port && s.remote_port == peer && s.state == TCP_ESTABLISHED)
    })
    .await;
    runner.stop().await;
    drop(child);

    let (runner, child, port, peer) = frozen_peer(None).await;
    let window = std::time::Instant::now() + Duration::from_secs(1);
    while std::time::Instant::now() < window {
        assert!(
            service_side_established(port, peer),
            "without ZMTP heartbeats the connection to a frozen peer stays up"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    runner.stop().await;
    drop(child);
}
