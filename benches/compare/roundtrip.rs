//! Section `rtt`: round trips, in one process and across two, against raw libzmq and the
//! pure-Rust `zeromq` crate.
//!
//! A controller PUSHes a task, a worker PULLs it and PUSHes it back, the controller PULLs the
//! answer: p50, p99 and p99.9 over `10_000 × COMPARE_SCALE` round trips after a warm-up, the
//! median of [`REPS`](super::REPS) repetitions. Every end encodes and decodes the same JSON
//! message ([`Ping`](super::Ping)): (a) raw libzmq with `serde_json` (the `zmq` crate,
//! blocking, one thread per end, one libzmq context per end), (c) a `#[service]` controller and
//! worker with typed `#[task]` handlers, and (z) the pure-Rust `zeromq` crate 0.7 with
//! `serde_json`, both ends tasks on a tokio runtime. Each runs in two placements: both ends in
//! this process, and the worker in a child process (this binary with `--rtt-child`; it exits
//! when the parent closes its stdin or dies, and the parent kills and reaps it on every path).
//! Runs start on events (the first answer, or the `zeromq` PUSH's accepted connection), never
//! on sleeps. `--rtt-selftest` runs only this section and prints its table.
//!
//! What a 2-core machine with other work on it showed (indicative): (z) wins in one process,
//! about a third of (a)'s p50 (20–23 µs against 55–67 µs) and of its p99. The likely reason:
//! the `zeromq` crate runs on the caller's tokio runtime, and its PULL reads the TCP stream in
//! the receiving task, where libzmq hands every message to and from its separate I/O thread:
//! one thread hop fewer per direction. It kept most of that lead across two processes (p50
//! 25–29 µs against 65–71 µs, p99 about half), so there the hop still dominates. Under load
//! (two busy loops on the two cores) it kept its p50 lead everywhere and its p99 lead in one
//! process, but the lead went in the tails: across two processes its p99 matched (a)'s (z/a
//! 0.84–1.03), and its p99.9 ranged from 0.55 to 2 times (a)'s, every variant's tail being
//! then the scheduler's (4–9 ms); likely because its reader, its writer task and the
//! controller share the runtime's two worker threads with everything else. (c) follows (a) at
//! p50 (its sockets are libzmq's) and adds its dispatch on top.

use std::io::Read;
use std::process::{Command, Stdio};
use std::thread;
use std::time::Duration;

use experimance::{handlers, service, Context, Error, Role, Runner};
use futures::StreamExt;
use tokio::sync::oneshot;
use zeromq::{Socket, SocketEvent, SocketRecv, SocketSend, ZmqMessage};

use super::{
    bind_any, now_ns, percentile, ratio, raw_socket, scaled, variant, Ping, Stat, Table, Unit, ANY,
    REPS,
};

/// `--rtt-child <a|c|z> <tasks endpoint> <results endpoint>`: this process is the worker of
/// one two-process run; it lives until its standard input closes (the parent is done or gone).
const CHILD: &str = "--rtt-child";
/// `--rtt-selftest`: run only this section and print its table, e.g.
/// `COMPARE_SCALE=0.1 target/release/deps/compare-<hash> --rtt-selftest`.
const SELFTEST: &str = "--rtt-selftest";
/// A bind address with a port chosen by the system, as the `zeromq` crate spells it.
const ZMQ_RS_ANY: &str = "tcp://127.0.0.1:0";
/// Longest wait for one answer (the first one includes a child's start-up) or a connection.
const ANSWER: Duration = Duration::from_secs(30);
/// Longest wait for a whole `#[service]` run.
const RUN: Duration = Duration::from_secs(120);
/// A worker child exits after this long whatever happens.
const CHILD_LIFETIME: Duration = Duration::from_secs(600);

/// Where the worker runs.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Placement {
    /// Both ends in this process.
    One,
    /// The worker in a child process (this binary with `--rtt-child`).
    Two,
}

impl Placement {
    const ALL: [Placement; 2] = [Placement::One, Placement::Two];

    fn label(self) -> &'static str {
        match self {
            Placement::One => "one process",
            Placement::Two => "two processes",
        }
    }
}

/// What both ends are written with.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Variant {
    /// The `zmq` crate (libzmq), blocking, one thread each end.
    Raw = 0,
    /// A `#[service]` controller and a `#[service]` worker.
    Service = 1,
    /// The pure-Rust `zeromq` crate on tokio.
    ZmqRs = 2,
}

impl Variant {
    const ALL: [Variant; 3] = [Variant::Raw, Variant::Service, Variant::ZmqRs];

    /// The name on the command line of a child and in `COMPARE_ONLY`.
    fn key(self) -> &'static str {
        match self {
            Variant::Raw => "a",
            Variant::Service => "c",
            Variant::ZmqRs => "z",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Variant::Raw => "(a) raw libzmq (zmq crate, blocking)",
            Variant::Service => "(c) #[service] controller/worker",
            Variant::ZmqRs => "(z) zeromq crate 0.7 (pure Rust, tokio)",
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The message, the same JSON for every variant
// ---------------------------------------------------------------------------------------------

fn new_ping(id: u64) -> Ping {
    Ping {
        kind: "Task".to_owned(),
        id,
        sent_ns: now_ns(),
        payload: "frame-0".to_owned(),
    }
}

/// The controller's task frame, stamped now.
fn encode_ping(id: u64) -> Vec<u8> {
    serde_json::to_vec(&new_ping(id)).expect("encode")
}

/// The worker's answer: the task decoded and encoded again.
fn echo(frame: &[u8]) -> Vec<u8> {
    let ping: Ping = serde_json::from_slice(frame).expect("decode task");
    serde_json::to_vec(&ping).expect("encode")
}

/// The round trip of the answer `frame` to task `id`, in nanoseconds, once decoded.
fn answered(frame: &[u8], id: u64) -> u64 {
    let ping: Ping = serde_json::from_slice(frame).expect("decode answer");
    assert_eq!(ping.id, id, "answers come back in order");
    now_ns().saturating_sub(ping.sent_ns)
}

// ---------------------------------------------------------------------------------------------
// The worker child
// ---------------------------------------------------------------------------------------------

/// The worker process of one two-process run; ends the process when the parent closes its end
/// of our standard input, or after [`CHILD_LIFETIME`].
struct WorkerChild(std::process::Child);

impl WorkerChild {
    fn spawn(variant: Variant, tasks_at: &str, results_at: &str) -> WorkerChild {
        let exe = std::env::current_exe().expect("current exe");
        let child = Command::new(exe)
            .args([CHILD, variant.key(), tasks_at, results_at])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start rtt child");
        WorkerChild(child)
    }
}

impl Drop for WorkerChild {
    /// On every path, panics included: close its stdin (it would exit by itself), kill it in
    /// case it is stuck, and reap it.
    fn drop(&mut self) {
        drop(self.0.stdin.take());
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs the worker that `args` (`<a|c|z> <tasks endpoint> <results endpoint>`) ask for, then
/// waits for the parent to close our stdin, and exits.
fn serve(args: &[String]) -> ! {
    let [key, tasks_at, results_at, ..] = args else {
        panic!("usage: {CHILD} <a|c|z> <tasks endpoint> <results endpoint>");
    };
    thread::spawn(|| {
        thread::sleep(CHILD_LIFETIME);
        eprintln!("rtt child: still running after {CHILD_LIFETIME:?}; exiting");
        std::process::exit(2);
    });
    let (tasks_at, results_at) = (tasks_at.clone(), results_at.clone());
    match key.as_str() {
        "a" => {
            thread::spawn(move || raw_worker(&zmq::Context::new(), &tasks_at, &results_at));
            wait_for_parent()
        }
        "c" => {
            let rt = super::runtime();
            let _worker = rt.block_on(async {
                let worker = Runner::new(RoundTripWorker)
                    .with_address(Role::Pull, tasks_at)
                    .with_address(Role::Push, format!(">{results_at}"));
                worker.start().await.expect("start worker");
                worker
            });
            wait_for_parent()
        }
        "z" => {
            let rt = super::runtime();
            rt.spawn(zmq_rs_worker(tasks_at, results_at));
            wait_for_parent()
        }
        other => panic!("{CHILD}: unknown variant {other:?}"),
    }
}

/// Blocks until standard input reaches its end (the parent closed it, or died), then exits.
fn wait_for_parent() -> ! {
    let _ = std::io::stdin().read_to_end(&mut Vec::new());
    std::process::exit(0);
}

// ---------------------------------------------------------------------------------------------
// (a) raw libzmq
// ---------------------------------------------------------------------------------------------

/// Echoes tasks until `stop`, or until none came for [`ANSWER`].
fn raw_worker(ctx: &zmq::Context, tasks_at: &str, results_at: &str) {
    let pull = raw_socket(ctx, zmq::PULL, None);
    let push = raw_socket(ctx, zmq::PUSH, None);
    push.connect(results_at).expect("connect");
    pull.connect(tasks_at).expect("connect");
    pull.set_rcvtimeo(ANSWER.as_millis() as i32)
        .expect("rcvtimeo");
    let mut msg = zmq::Message::new();
    while pull.recv(&mut msg, 0).is_ok() && &msg[..] != b"stop" {
        push.send(echo(&msg), 0).expect("send");
    }
}

/// `n` round trips after `warmup`, in nanoseconds; the first task waits in the blocking send
/// until the worker has connected.
fn raw_rtt(placement: Placement, warmup: usize, n: usize) -> Vec<u64> {
    let ctx = zmq::Context::new();
    let tasks = raw_socket(&ctx, zmq::PUSH, None);
    let results = raw_socket(&ctx, zmq::PULL, None);
    let tasks_at = bind_any(&tasks);
    let results_at = bind_any(&results);
    let timeout = ANSWER.as_millis() as i32;
    tasks.set_sndtimeo(timeout).expect("sndtimeo");
    results.set_rcvtimeo(timeout).expect("rcvtimeo");
    let (worker, child) = match placement {
        Placement::One => {
            let worker_ctx = zmq::Context::new();
            let worker = thread::spawn(move || raw_worker(&worker_ctx, &tasks_at, &results_at));
            (Some(worker), None)
        }
        Placement::Two => (
            None,
            Some(WorkerChild::spawn(Variant::Raw, &tasks_at, &results_at)),
        ),
    };
    let mut msg = zmq::Message::new();
    let mut samples = Vec::with_capacity(n);
    for id in 0..(warmup + n) as u64 {
        tasks
            .send(encode_ping(id), 0)
            .unwrap_or_else(|e| panic!("(a) no worker within {ANSWER:?}: {e}"));
        results
            .recv(&mut msg, 0)
            .unwrap_or_else(|e| panic!("(a) no answer within {ANSWER:?}: {e}"));
        let rtt = answered(&msg, id);
        if id >= warmup as u64 {
            samples.push(rtt);
        }
    }
    tasks.send("stop", 0).expect("send");
    if let Some(worker) = worker {
        worker.join().expect("worker");
    }
    drop(child);
    samples
}

// ---------------------------------------------------------------------------------------------
// (c) #[service]
// ---------------------------------------------------------------------------------------------

// The controller pushes a task, the worker's #[task] handler pushes it back, the controller's
// #[task] handler records the time and pushes the next one.

#[service(push = "tcp://127.0.0.1:*", pull = "@tcp://127.0.0.1:*")]
struct RoundTripController {
    go: Option<oneshot::Receiver<()>>,
    warmup: u64,
    n: usize,
    samples: Vec<u64>,
    done: Option<oneshot::Sender<Vec<u64>>>,
}

#[handlers]
impl RoundTripController {
    #[on_start]
    async fn on_start(&mut self, ctx: &Context<Self>) {
        if let Some(go) = self.go.take() {
            let ctx2 = ctx.clone();
            ctx.spawn("kick", async move {
                if go.await.is_ok() {
                    ctx2.push(&new_ping(0)).await
                } else {
                    Ok(())
                }
            });
        }
    }

    #[task]
    async fn on_result(&mut self, ping: Ping, ctx: &Context<Self>) -> Result<(), Error> {
        let rtt = now_ns().saturating_sub(ping.sent_ns);
        if ping.id >= self.warmup {
            self.samples.push(rtt);
        }
        if self.samples.len() >= self.n {
            if let Some(done) = self.done.take() {
                let _ = done.send(std::mem::take(&mut self.samples));
            }
            return Ok(());
        }
        ctx.push(&new_ping(ping.id + 1)).await
    }
}

#[service(pull = "tcp://127.0.0.1:1", push = ">tcp://127.0.0.1:1")]
struct RoundTripWorker;

#[handlers]
impl RoundTripWorker {
    #[task]
    async fn on_task(&mut self, task: Ping, ctx: &Context<Self>) -> Result<(), Error> {
        ctx.push(&task).await
    }
}

/// `n` round trips after `warmup`; the first task waits in the controller's send queue until
/// the worker has connected.
async fn service_rtt(placement: Placement, warmup: usize, n: usize) -> Vec<u64> {
    let (go, go_rx) = oneshot::channel();
    let (done, done_rx) = oneshot::channel();
    let controller = Runner::new(RoundTripController {
        go: Some(go_rx),
        warmup: warmup as u64,
        n,
        samples: Vec::with_capacity(n),
        done: Some(done),
    })
    .with_address(Role::Push, ANY)
    .with_address(Role::Pull, format!("@{ANY}"));
    controller.start().await.expect("start controller");
    let tasks_at = controller.endpoint(Role::Push).expect("endpoint");
    let results_at = controller.endpoint(Role::Pull).expect("endpoint");
    let (worker, child) = match placement {
        Placement::One => {
            let worker = Runner::new(RoundTripWorker)
                .with_address(Role::Pull, tasks_at)
                .with_address(Role::Push, format!(">{results_at}"));
            worker.start().await.expect("start worker");
            (Some(worker), None)
        }
        Placement::Two => (
            None,
            Some(WorkerChild::spawn(Variant::Service, &tasks_at, &results_at)),
        ),
    };
    go.send(()).expect("controller waits");
    let samples = tokio::time::timeout(RUN, done_rx)
        .await
        .unwrap_or_else(|_| panic!("(c) round trips within {RUN:?}"))
        .expect("controller ran");
    controller.stop().await;
    if let Some(worker) = worker {
        worker.stop().await;
    }
    drop(child);
    samples
}

// ---------------------------------------------------------------------------------------------
// (z) the pure-Rust zeromq crate
// ---------------------------------------------------------------------------------------------

/// Connects its PUSH (results) first, then its PULL (tasks): once the controller has accepted
/// the PULL, both connections are up. Echoes tasks until `stop` or the controller goes.
async fn zmq_rs_worker(tasks_at: String, results_at: String) -> zeromq::ZmqResult<()> {
    let mut push = zeromq::PushSocket::new();
    push.connect(&results_at).await?;
    let mut pull = zeromq::PullSocket::new();
    pull.connect(&tasks_at).await?;
    loop {
        let msg = pull.recv().await?;
        let frame = msg.get(0).expect("one frame");
        if &frame[..] == b"stop" {
            return Ok(());
        }
        push.send(ZmqMessage::from(echo(frame))).await?;
    }
}

/// `n` round trips after `warmup`. The crate's PUSH refuses to send without a peer, so the
/// first task waits for the worker's connection to be accepted (a monitor event).
async fn zmq_rs_rtt(placement: Placement, warmup: usize, n: usize) -> Vec<u64> {
    let mut tasks = zeromq::PushSocket::new();
    let mut events = tasks.monitor();
    let tasks_at = tasks.bind(ZMQ_RS_ANY).await.expect("bind").to_string();
    let mut results = zeromq::PullSocket::new();
    let results_at = results.bind(ZMQ_RS_ANY).await.expect("bind").to_string();
    let (worker, child) = match placement {
        Placement::One => (
            Some(tokio::spawn(zmq_rs_worker(tasks_at, results_at))),
            None,
        ),
        Placement::Two => (
            None,
            Some(WorkerChild::spawn(Variant::ZmqRs, &tasks_at, &results_at)),
        ),
    };
    let accepted = async {
        while let Some(event) = events.next().await {
            if matches!(event, SocketEvent::Accepted(..)) {
                return;
            }
        }
        panic!("(z) monitor closed");
    };
    tokio::time::timeout(ANSWER, accepted)
        .await
        .unwrap_or_else(|_| panic!("(z) no worker within {ANSWER:?}"));
    let mut samples = Vec::with_capacity(n);
    for id in 0..(warmup + n) as u64 {
        tasks
            .send(ZmqMessage::from(encode_ping(id)))
            .await
            .expect("(z) send");
        let msg = tokio::time::timeout(ANSWER, results.recv())
            .await
            .unwrap_or_else(|_| panic!("(z) no answer within {ANSWER:?}"))
            .expect("(z) recv");
        let rtt = answered(msg.get(0).expect("one frame"), id);
        if id >= warmup as u64 {
            samples.push(rtt);
        }
    }
    tasks.send(ZmqMessage::from("stop")).await.expect("send");
    if let Some(worker) = worker {
        worker.await.expect("worker task").expect("(z) worker");
    }
    drop(child);
    let _ = tasks.close().await;
    let _ = results.close().await;
    samples
}

// ---------------------------------------------------------------------------------------------
// The section
// ---------------------------------------------------------------------------------------------

/// One run: `n` round-trip times in nanoseconds, sorted.
fn run(
    rt: &tokio::runtime::Runtime,
    v: Variant,
    placement: Placement,
    warmup: usize,
    n: usize,
) -> Vec<u64> {
    let mut samples = match v {
        Variant::Raw => raw_rtt(placement, warmup, n),
        Variant::Service => rt.block_on(service_rtt(placement, warmup, n)),
        // On a worker thread of the runtime, like the services' tasks, not on this one.
        Variant::ZmqRs => rt
            .block_on(rt.spawn(zmq_rs_rtt(placement, warmup, n)))
            .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic())),
    };
    samples.sort_unstable();
    samples
}

/// Section 4: controller → worker → controller round trips (PUSH→PULL→PUSH→PULL), (a), (c)
/// and (z), each in one process and across two.
pub(crate) fn rtt(rt: &tokio::runtime::Runtime, table: &mut Table) {
    let warmup = scaled(500) as usize;
    let n = scaled(10_000) as usize;
    let chosen: Vec<Variant> = Variant::ALL
        .into_iter()
        .filter(|v| variant(v.key()))
        .collect();
    eprintln!("[rtt] round trips, {n} per rep after {warmup}, in one process and across two");
    let ps = [50.0, 99.0, 99.9];
    // [placement][variant][percentile]
    let mut stats: [[[Stat; 3]; 3]; 2] = Default::default();
    for rep in 0..REPS {
        for (pi, &placement) in Placement::ALL.iter().enumerate() {
            let mut p50 = [f64::NAN; 3];
            // A different variant first in each repetition, so drift spreads over all.
            for k in 0..chosen.len() {
                let v = chosen[(k + rep) % chosen.len()];
                let samples = run(rt, v, placement, warmup, n);
                for (i, &p) in ps.iter().enumerate() {
                    stats[pi][v as usize][i].push(percentile(&samples, p));
                }
                p50[v as usize] = percentile(&samples, 50.0);
            }
            let line: Vec<String> = chosen
                .iter()
                .map(|&v| format!("{} {:.1} µs", v.key(), p50[v as usize] / 1e3))
                .collect();
            eprintln!(
                "  rep {rep}, {}: p50 {}",
                placement.label(),
                line.join(", ")
            );
        }
    }
    let on = |v: Variant| chosen.contains(&v);
    let limits = [Some(1.2), Some(1.5), None];
    for (pi, &placement) in Placement::ALL.iter().enumerate() {
        let [a, c, z] = &stats[pi];
        for (i, &p) in ps.iter().enumerate() {
            let figure = format!(
                "4. round trip PUSH→PULL→PUSH→PULL, {}, {n} per rep: p{p}",
                placement.label()
            );
            if on(Variant::Raw) {
                table.add(
                    &figure,
                    Variant::Raw.label(),
                    &a[i],
                    Unit::Micros,
                    String::new(),
                );
            }
            if on(Variant::Service) {
                let mut notes = Vec::new();
                if on(Variant::Raw) {
                    let r = ratio(&c[i], &a[i]);
                    notes.push(format!("c/a {r:.2}"));
                    if let Some(limit) = limits[i] {
                        notes.push(table.target(
                            format!(
                                "round trip p{p} ≤ {limit}×raw, {} ({r:.2})",
                                placement.label()
                            ),
                            r <= limit,
                        ));
                    }
                }
                if on(Variant::ZmqRs) {
                    notes.push(format!("c/z {:.2}", ratio(&c[i], &z[i])));
                }
                table.add(
                    &figure,
                    Variant::Service.label(),
                    &c[i],
                    Unit::Micros,
                    notes.join("; "),
                );
            }
            if on(Variant::ZmqRs) {
                let note = if on(Variant::Raw) {
                    format!("z/a {:.2}", ratio(&z[i], &a[i]))
                } else {
                    String::new()
                };
                table.add(&figure, Variant::ZmqRs.label(), &z[i], Unit::Micros, note);
            }
        }
    }
}

/// Handles this binary's child-process modes of this section; `false` if `args` ask for none.
///
/// - `--rtt-child <a|c|z> <tasks> <results>`: the worker of a two-process run (never returns).
/// - `--rtt-selftest`: runs just this section and prints its table, a quick way to look at it:
///   `COMPARE_SCALE=0.1 target/release/deps/compare-<hash> --rtt-selftest`.
pub(crate) fn child(args: &[String]) -> bool {
    if let Some(at) = args.iter().position(|a| a == CHILD) {
        serve(&args[at + 1..]);
    }
    if args.iter().any(|a| a == SELFTEST) {
        let rt = super::runtime();
        let mut table = Table::default();
        rtt(&rt, &mut table);
        table.print();
        return true;
    }
    false
}
